"""CUSUM on system utilization: Page's one-sided upper cumulative sum of standardised deviations."""

from __future__ import annotations

import math

from detectors.base import Detector, Level, Reading, Readings, held_per_period, period_sums
from detectors.signals import (
    baseline_length_h,
    baseline_param,
    steps_of,
    system_utilization,
    system_utilization_over,
)
from scenarios.params import param
from scenarios.trace import Layout, Observation, Trace, check_values


class CusumDetector(Detector):
    """S = max(0, S + (x - mean) / sigma - k_sigma) on samples x of system utilization; WARNING while
    S > h_sigma; score = S.

    A sample is the mean system utilization (busy staff-hours over staff-hours on duty) of
    ``sample_h`` hours. ``mean`` and ``sigma`` default to the sample mean and standard deviation of
    the baseline samples (the warm-up by default; at least two samples); until then the level is OK.
    S is not reset after an alarm: the alert lasts while the excess persists. The level holds
    between samples. System-level only: no units are implicated.

    >>> from scenarios import simulate
    >>> trace = simulate("ramp", seed=0, n_units=4, warmup_days=1, scenario_days=2)
    >>> readings = CusumDetector().run(trace)
    >>> bool(readings.score.min() >= 0.0), int(readings.level.max())
    (True, 2)
    """

    name = "cusum"
    score_label = "CUSUM S (baseline σ)"

    k_sigma: float = param(0.5, "allowance per sample", unit="baseline σ", ge=0)
    h_sigma: float = param(5.0, "decision interval: WARNING while S > h_sigma", unit="baseline σ", gt=0)
    sample_h: float = param(1.0, "samples are the mean utilization over this many hours", unit="hours", gt=0)
    mean: float | None = param(None, "in-control mean utilization; null: the baseline's mean", ge=0, le=1)
    sigma: float | None = param(None, "in-control sigma; null: the baseline's standard deviation", gt=0)
    baseline_h: float | None = baseline_param()

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        self._sample = steps_of(self.sample_h, layout.dt_h)
        baseline = steps_of(baseline_length_h(layout, self.baseline_h), layout.dt_h)
        self._n_baseline = max(2, baseline // self._sample)
        self._sum = 0.0
        self._k = 0
        self._baseline: list[float] = []
        self._mean, self._sigma = self.mean, self.sigma
        self._s = 0.0
        self._reading = Reading(0.0, int(Level.OK), (), {"utilization": 0.0, "z": 0.0})

    def step(self, obs: Observation) -> Reading:
        self._sum += system_utilization(obs, self.layout.dt_h)
        self._k += 1
        if self._k % self._sample:
            return self._reading
        x = self._sum / self._sample
        self._sum = 0.0
        return self._on_sample(x)

    def _on_sample(self, x: float) -> Reading:
        """The chart's reading after sample ``x`` (unchanged while the baseline is still filling)."""
        if self._mean is None or self._sigma is None:
            self._baseline.append(x)
            if len(self._baseline) < self._n_baseline:
                return self._reading
            self._fit()
        deviation = x - self._mean
        if self._sigma > 0:
            z = deviation / self._sigma
        else:
            z = 0.0 if deviation == 0 else math.copysign(math.inf, deviation)
        self._s = max(0.0, self._s + z - self.k_sigma)
        level = Level.WARNING if self._s > self.h_sigma else Level.OK
        self._reading = Reading(self._s, int(level), (), {"utilization": x, "z": z})
        return self._reading

    def run(self, trace: Trace) -> Readings:
        """Reset plus ``update`` at every step: the samples summed as the stream sums them, the chart
        stepped over samples only, each reading held until the next."""
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        sums = period_sums(system_utilization_over(trace.values, self.layout.dt_h), self._sample)
        return held_per_period(trace, self._sample, self._reading, self._on_sum, sums)

    def _on_sum(self, total: float) -> Reading:
        return self._on_sample(total / self._sample)

    def _fit(self) -> None:
        n = len(self._baseline)
        mean = math.fsum(self._baseline) / n
        if self._mean is None:
            self._mean = mean
        if self._sigma is None:
            self._sigma = math.sqrt(math.fsum((x - mean) ** 2 for x in self._baseline) / (n - 1))
        self._baseline = []
