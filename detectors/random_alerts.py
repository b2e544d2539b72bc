"""The random baseline: alerts that ignore the data, at a fixed rate."""

from __future__ import annotations

import math

import numpy as np

from detectors.base import Detector, Level, Reading, Readings
from detectors.signals import steps_of
from scenarios.params import param
from scenarios.trace import Layout, Observation, Trace, check_values


class RandomDetector(Detector):
    """Alert episodes start as a Poisson process at ``rate_per_day`` and last ``duration_h`` each.

    While not alerting, each health check starts an episode with probability
    1 - exp(-rate_per_day * dt / 24); an episode holds WARNING (score 1) for ``duration_h``. The draws
    come from ``numpy.random.default_rng([seed, stream])``: ``reset`` restarts them from ``seed``
    alone, and the harness then hands over the run's stream (``use_stream``, derived from the cell's
    (scenario, seed)), so every cell of a study gets its own schedule, the same on every rerun. The
    alert times never depend on the observations.

    >>> from scenarios import simulate
    >>> trace = simulate("steady", seed=0, n_units=3, warmup_days=1, scenario_days=1)
    >>> other = simulate("steady", seed=1, n_units=3, warmup_days=1, scenario_days=1)
    >>> readings = RandomDetector(rate_per_day=4.0).run(trace)
    >>> bool(readings.level.max() == 2), readings.equals(RandomDetector(rate_per_day=4.0).run(trace))
    (True, True)
    >>> readings.equals(RandomDetector(rate_per_day=4.0).run(other))
    False
    """

    name = "random"
    score_label = "1 while alerting (ignores the data)"

    rate_per_day: float = param(1.0, "rate at which alert episodes start", unit="episodes per day", ge=0)
    duration_h: float = param(2.0, "length of each alert episode", unit="hours", gt=0)
    seed: int = param(0, "seed of the draws, combined with each run's stream", ge=0)

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        self._rng = np.random.default_rng(self.seed)
        self._start = -math.expm1(-self.rate_per_day * layout.dt_h / 24.0)
        self._steps = steps_of(self.duration_h, layout.dt_h)
        self._left = 0  # health checks left in the current episode

    def use_stream(self, stream: int) -> None:
        self._rng = np.random.default_rng([self.seed, stream])

    def step(self, obs: Observation) -> Reading:
        draw = self._rng.random()
        if self._left == 0 and draw < self._start:
            self._left = self._steps
        if self._left:
            self._left -= 1
            return Reading(1.0, int(Level.WARNING))
        return Reading(0.0, int(Level.OK))

    def run(self, trace: Trace) -> Readings:
        """Reset plus ``update`` at every step: the same draws, taken at once."""
        self.reset(trace.layout)
        self.use_stream(trace.stream)
        check_values(trace.values, f"{self.name}.run")
        t = len(trace)
        starts = (self._rng.random(t) < self._start).tolist()
        alerting = np.zeros(t, dtype=bool)
        left = 0
        for k, start in enumerate(starts):
            if left == 0 and start:
                left = self._steps
            if left:
                left -= 1
                alerting[k] = True
        self._left = left
        return Readings(
            np.asarray(trace.time_h, dtype=float),
            alerting.astype(float),
            np.where(alerting, Level.WARNING, Level.OK).astype(np.int8),
            np.zeros((t, trace.layout.n_units), dtype=bool),
            {},
        )
