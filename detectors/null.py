"""The null baseline: never alerts. Its scores show what a study counts when nothing is detected."""

from __future__ import annotations

import numpy as np

from detectors.base import Detector, Level, Reading, Readings
from scenarios.trace import Observation, Trace, check_values


class NullDetector(Detector):
    """Score 0 and level OK at every health check.

    >>> from scenarios import simulate
    >>> trace = simulate("spike", seed=0, n_units=3, warmup_days=0.25, scenario_days=0.25)
    >>> int(NullDetector().run(trace).level.max())
    0
    """

    name = "null"
    score_label = "constant 0 (never alerts)"

    def step(self, obs: Observation) -> Reading:
        return Reading(0.0, int(Level.OK))

    def run(self, trace: Trace) -> Readings:
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        t, n = len(trace), trace.layout.n_units
        return Readings(
            np.asarray(trace.time_h, dtype=float),
            np.zeros(t),
            np.zeros(t, np.int8),
            np.zeros((t, n), bool),
            {},
        )
