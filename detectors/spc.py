"""The SPC module (spc_monitoring.py): Western Electric rules on each unit's hours worked per staff member.

Each unit is one control chart. A point is the unit's hours worked per staff member on duty over one
period (default 8 h), expressed as weekly-equivalent hours (168 x the period's busy fraction), so
the module's weekly limits apply unchanged: target +/- k sigma with target 60 h and sigma 5 h is the
same chart as the module's limits scaled linearly to the period. With ``hours='scaled'`` (default)
the hours are multiplied so that the baseline's system mean equals ``target_hours`` (simulated
busy hours are not residents' duty hours); ``'absolute'`` keeps 168 x busy fraction.

``variant='faithful'`` charts against the module's fixed centre line and sigma; ``'textbook'``
estimates each unit's centre line (mean) and sigma (mean moving range / 1.128) from the baseline
periods (the warm-up by default). Rules are checked each time a period completes, on the latest
points; the level holds until the next period completes.
"""

from __future__ import annotations

import math

import numpy as np

from detectors.base import Detector, Level, Reading, check_choice, check_param
from detectors.signals import (
    HOURS_MODES,
    HOURS_PER_WEEK,
    baseline_length_h,
    busy_fraction,
    check_baseline,
    steps_of,
)
from scenarios.trace import Layout, Observation

VARIANTS = ("faithful", "textbook")
RULE_LEVELS = np.array([Level.CRITICAL, Level.WARNING, Level.WARNING, Level.WATCH])
MOVING_RANGE_D2 = 1.128  # d2 of moving ranges of two points: sigma = mean moving range / d2
WINDOW = 8  # the longest rule looks at the latest 8 points


def western_electric(points: np.ndarray, centre: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Which rules fire on the latest point, per chart: (4, N) booleans for rules 1-4.

    ``points`` is (m, N), oldest first. Comparisons are strict (a point on a limit is inside) and
    rules 2-4 count one side at a time. Rule 1: the point beyond 3 sigma; rule 2: 2 of the latest 3
    beyond 2 sigma; rule 3: 4 of the latest 5 beyond 1 sigma; rule 4: the latest 8 on one side of the
    centre line. A rule needs as many points as it looks at.

    >>> western_electric(np.array([[60.0], [71.0], [72.0]]), np.array([60.0]), np.array([5.0]))[:, 0].tolist()
    [False, True, False, False]
    >>> western_electric(np.array([[71.0], [49.0], [60.0]]), np.array([60.0]), np.array([5.0]))[:, 0].tolist()
    [False, False, False, False]
    """
    m = len(points)
    last = points[-1]
    rules = np.zeros((4, points.shape[1]), dtype=bool)
    rules[0] = (last > centre + 3 * sigma) | (last < centre - 3 * sigma)
    for row, (n, k, needed) in enumerate(((3, 2, 2), (5, 1, 4)), start=1):
        if m >= n:
            recent = points[-n:]
            above = (recent > centre + k * sigma).sum(axis=0) >= needed
            below = (recent < centre - k * sigma).sum(axis=0) >= needed
            rules[row] = above | below
    if m >= WINDOW:
        recent = points[-WINDOW:]
        rules[3] = (recent > centre).all(axis=0) | (recent < centre).all(axis=0)
    return rules


def rule_levels(rules: np.ndarray) -> np.ndarray:
    """Per chart, the highest level among the rules that fire: 1 CRITICAL, 2-3 WARNING, 4 WATCH.

    >>> rule_levels(np.array([[False, True], [True, False], [False, False], [True, False]])).tolist()
    [2, 3]
    """
    return (rules * RULE_LEVELS[:, None]).max(axis=0)


def standardise(x: np.ndarray, centre: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(x - centre) / sigma; with sigma 0 it is 0 on the centre line and +/-inf off it."""
    deviation = x - centre
    fallback = np.where(deviation == 0, 0.0, np.copysign(np.inf, deviation))
    return np.divide(deviation, sigma, out=fallback, where=sigma > 0)


class SpcDetector(Detector):
    """Western Electric rules per unit; system level = max over units; score = max |z| of the latest point.

    Levels: rule 1 CRITICAL, rules 2-3 WARNING, rule 4 WATCH (the module's INFO). Units with no
    nominal staff are not charted. Until the baseline periods are complete the level is OK.

    >>> from scenarios import simulate
    >>> trace = simulate("ramp", seed=0, n_units=4, warmup_days=1, scenario_days=1)
    >>> readings = SpcDetector(variant="textbook").run(trace)
    >>> sorted(readings.detail)
    ['hours', 'rule1', 'rule2', 'rule3', 'rule4']
    """

    name = "spc"
    score_label = "max |z| of the latest point (σ)"

    def __init__(
        self,
        variant: str = "faithful",
        period_h: float = 8.0,
        target_hours: float = 60.0,
        sigma_hours: float = 5.0,
        hours: str = "scaled",
        baseline_h: float | None = None,
    ) -> None:
        check_choice(self.name, "variant", variant, VARIANTS)
        check_param(self.name, "period_h", period_h, 0.0, strict=True)
        check_param(self.name, "target_hours", target_hours, 0.0, strict=True)
        check_param(self.name, "sigma_hours", sigma_hours, 0.0, strict=True)
        check_choice(self.name, "hours", hours, HOURS_MODES)
        check_baseline(self.name, baseline_h)
        self.variant = variant
        self.period_h = period_h
        self.target_hours = target_hours
        self.sigma_hours = sigma_hours
        self.hours = hours
        self.baseline_h = baseline_h

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        n = layout.n_units
        self._period = steps_of(self.period_h, layout.dt_h)
        baseline_steps = steps_of(baseline_length_h(layout, self.baseline_h), layout.dt_h)
        self._n_baseline = max(2, baseline_steps // self._period)
        self._charted = layout.staff > 0
        self._busy = np.zeros(n)
        self._duty = np.zeros(n)
        self._k = 0
        self._window = np.zeros((WINDOW, n))  # busy fractions of the latest periods, oldest first
        self._n_points = 0
        self._baseline: list[np.ndarray] = []
        self._baseline_busy = self._baseline_duty = 0.0
        self._factor = HOURS_PER_WEEK
        self._centre = self._sigma = np.zeros(n)
        self._reading = Reading(0.0, int(Level.OK), (), self._detail(np.nan, np.zeros(4, dtype=int)))

    def step(self, obs: Observation) -> Reading:
        self._busy += obs.busy_hours
        self._duty += obs.staff_on_duty * self.layout.dt_h
        self._k += 1
        if self._k % self._period:
            return self._reading
        fraction = busy_fraction(self._busy, self._duty)
        if self._n_points < self._n_baseline:
            self._baseline.append(fraction)
            self._baseline_busy += math.fsum(self._busy)
            self._baseline_duty += math.fsum(self._duty)
        self._busy[:] = 0.0
        self._duty[:] = 0.0
        self._window[:-1] = self._window[1:]
        self._window[-1] = fraction
        self._n_points += 1
        if self._n_points == self._n_baseline:
            self._fit()
        if self._n_points >= self._n_baseline:
            self._reading = self._evaluate()
        return self._reading

    def _fit(self) -> None:
        """Hours scale, centre lines and sigmas from the baseline periods."""
        mean_fraction = self._baseline_busy / self._baseline_duty if self._baseline_duty > 0 else 0.0
        if self.hours == "scaled" and mean_fraction > 0:
            self._factor = self.target_hours / mean_fraction
        n = self.layout.n_units
        if self.variant == "faithful":
            self._centre, self._sigma = np.full(n, self.target_hours), np.full(n, self.sigma_hours)
        else:
            hours = np.array(self._baseline) * self._factor
            self._centre = hours.mean(axis=0)
            self._sigma = np.abs(np.diff(hours, axis=0)).mean(axis=0) / MOVING_RANGE_D2
        self._baseline = []

    def _evaluate(self) -> Reading:
        points = self._window[-min(self._n_points, WINDOW) :] * self._factor
        rules = western_electric(points, self._centre, self._sigma) & self._charted
        levels = rule_levels(rules)
        z = np.abs(standardise(points[-1], self._centre, self._sigma))[self._charted]
        score = float(z.max()) if z.size else 0.0
        latest = points[-1][self._charted]
        detail = self._detail(float(latest.max()) if latest.size else 0.0, rules.sum(axis=1))
        return Reading(score, int(levels.max()), tuple(np.flatnonzero(levels).tolist()), detail)

    @staticmethod
    def _detail(hours: float, rule_counts: np.ndarray) -> dict[str, float]:
        """Latest period's highest weekly-equivalent hours and the number of units breaking each rule."""
        return {"hours": hours, **{f"rule{i + 1}": float(c) for i, c in enumerate(rule_counts)}}
