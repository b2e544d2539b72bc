"""The SPC module (spc_monitoring.py): Western Electric rules on each unit's hours worked per staff member.

Each unit is one control chart of its hours worked per staff member on duty, expressed as
weekly-equivalent hours (168 x the period's busy fraction). With ``hours='scaled'`` (default) the
hours are multiplied so that the baseline's system mean equals ``target_hours`` (simulated busy
hours are not residents' duty hours); ``'absolute'`` keeps 168 x busy fraction.

``variant='faithful'`` is the module's chart as the module defines it: one point per
non-overlapping 168 h week, centre line ``target_hours`` (60 h) and sigma ``sigma_hours`` (5 h),
the module's fixed weekly values, and the module's input check: a week outside 0..168 h is refused
(the module raises for it). The adapter does not chart a refused point: that unit's chart and
level stay as they were, and ``detail['refused']`` counts the refused points so far.

``variant='textbook'`` is an individuals chart on shorter periods (``period_h``, default 8 h) with
each unit's centre line (mean) and sigma estimated from its own baseline points (the warm-up by
default): the mean moving range / 1.128 (``sigma_estimator='moving_range'``) or the module's own
estimator, the sample standard deviation (``'stdev'``). A weekly sigma is never applied to
sub-weekly points. Rules are checked each time a period completes, on the latest points; the level
holds until the next period completes.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from detectors.base import Detector, Level, Reading, Readings, held_per_period, period_sums
from detectors.signals import (
    HOURS_PER_WEEK,
    HoursMode,
    baseline_length_h,
    baseline_param,
    busy_fraction,
    hours_param,
    steps_of,
)
from scenarios.params import param
from scenarios.trace import FIELD_INDEX, Layout, Observation, Trace, check_values

BUSY_HOURS, STAFF = FIELD_INDEX["busy_hours"], FIELD_INDEX["staff_on_duty"]

RULE_LEVELS = np.array([Level.CRITICAL, Level.WARNING, Level.WARNING, Level.WATCH])
MOVING_RANGE_D2 = 1.128  # d2 of moving ranges of two points: sigma = mean moving range / d2
WINDOW = 8  # the longest rule looks at the latest 8 points
MODULE_PERIOD_H = HOURS_PER_WEEK  # the module charts resident-weeks
MODULE_SIGMA_HOURS = 5.0
TEXTBOOK_PERIOD_H = 8.0


def western_electric(points: np.ndarray, centre: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Which rules fire on the latest point, per chart: (4, N) booleans for rules 1-4.

    ``points`` is (m, N), oldest first; NaN marks a chart's missing point. Comparisons are strict
    (a point on a limit is inside) and rules 2-4 count one side at a time. Rule 1: the point beyond
    3 sigma; rule 2: 2 of the latest 3 beyond 2 sigma; rule 3: 4 of the latest 5 beyond 1 sigma;
    rule 4: the latest 8 on one side of the centre line. A rule needs as many points as it looks at.

    >>> western_electric(np.array([[60.0], [71.0], [72.0]]), np.array([60.0]), np.array([5.0]))[:, 0].tolist()
    [False, True, False, False]
    >>> western_electric(np.array([[71.0], [49.0], [60.0]]), np.array([60.0]), np.array([5.0]))[:, 0].tolist()
    [False, False, False, False]
    >>> gap = np.array([[np.nan], [71.0], [72.0]])  # rule 2 needs three points
    >>> western_electric(gap, np.array([60.0]), np.array([5.0]))[:, 0].tolist()
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
            rules[row] = (above | below) & ~np.isnan(recent).any(axis=0)
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


def estimate_sigma(points: np.ndarray, estimator: str) -> np.ndarray:
    """Per-chart sigma of baseline points (m, N): mean moving range / 1.128, or the sample standard
    deviation (n - 1 denominator, the module's ``calculate_control_limits``).

    >>> estimate_sigma(np.array([[58.0], [62.0], [60.0], [64.0]]), "stdev").round(4).tolist()
    [2.582]
    >>> estimate_sigma(np.array([[58.0], [62.0], [60.0], [64.0]]), "moving_range").round(4).tolist()
    [2.9551]
    """
    if estimator == "stdev":
        return points.std(axis=0, ddof=1)
    return np.abs(np.diff(points, axis=0)).mean(axis=0) / MOVING_RANGE_D2


class SpcDetector(Detector):
    """Western Electric rules per unit; system level = max over units; score = max |z| of the latest point.

    Levels: rule 1 CRITICAL, rules 2-3 WARNING, rule 4 WATCH (the module's INFO). Units with no
    nominal staff are not charted. Until the baseline periods are complete the level is OK.
    ``period_h``, ``sigma_hours`` and ``sigma_estimator`` left at None take the variant's own:
    faithful 168 h and 5 h, textbook 8 h and the moving range. Faithful accepts only 168 h points
    and no estimator; textbook estimates sigma, so takes no ``sigma_hours``.

    >>> from scenarios import simulate
    >>> trace = simulate("ramp", seed=0, n_units=4, warmup_days=1, scenario_days=1)
    >>> readings = SpcDetector(variant="textbook").run(trace)
    >>> sorted(readings.detail)
    ['hours', 'refused', 'rule1', 'rule2', 'rule3', 'rule4']
    >>> SpcDetector(variant="faithful", period_h=8.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    scenarios.errors.InputError: detector.spc.period_h: the faithful chart's points are the module's 168 h...
    """

    name = "spc"
    score_label = "max |z| of the latest point (σ)"

    variant: Literal["faithful", "textbook"] = param(
        "faithful",
        "faithful: the module's weekly chart, fixed limits; textbook: shorter periods, fitted limits",
    )
    period_h: float | None = param(
        None,
        "length of a charted period; null: the variant's, 168 (faithful, its only one) or 8 (textbook)",
        unit="hours",
        gt=0,
    )
    target_hours: float = param(
        60.0,
        "target weekly hours: the faithful centre line, and the scale of hours=scaled",
        unit="hours per week",
        gt=0,
    )
    sigma_hours: float | None = param(
        None, "sigma of the faithful chart; null: the module's 5 h", unit="hours per week", gt=0
    )
    sigma_estimator: Literal["moving_range", "stdev"] | None = param(
        None, "how the textbook chart estimates sigma from its baseline; null: moving_range"
    )
    hours: HoursMode = hours_param("target_hours")
    baseline_h: float | None = baseline_param()

    def __post_init__(self) -> None:
        faithful = self.variant == "faithful"
        weekly = "the faithful chart's points are the module's 168 h weeks (its sigma is weekly)"
        self.require(not faithful or self.period_h in (None, MODULE_PERIOD_H), "period_h", weekly)
        fitted = "the textbook chart estimates sigma from the baseline (sigma_estimator); leave it null"
        self.require(faithful or self.sigma_hours is None, "sigma_hours", fitted)
        fixed = "the faithful chart uses the module's fixed sigma (sigma_hours); leave it null"
        self.require(not faithful or self.sigma_estimator is None, "sigma_estimator", fixed)

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        n = layout.n_units
        faithful = self.variant == "faithful"
        default_period = MODULE_PERIOD_H if faithful else TEXTBOOK_PERIOD_H
        self._period = steps_of(self.period_h or default_period, layout.dt_h)
        baseline_steps = steps_of(baseline_length_h(layout, self.baseline_h), layout.dt_h)
        # the faithful chart only learns its hours scale; a textbook sigma needs two points
        self._n_baseline = max(1 if faithful else 2, baseline_steps // self._period)
        self._charted = layout.staff > 0
        self._busy = np.zeros(n)
        self._duty = np.zeros(n)
        self._k = 0
        self._window = np.full((WINDOW, n), np.nan)  # each unit's latest charted hours, oldest first
        self._refused = 0
        self._baseline: list[np.ndarray] = []
        self._baseline_busy = self._baseline_duty = 0.0
        self._factor = HOURS_PER_WEEK
        self._centre = self._sigma = np.zeros(n)
        self._reading = Reading(0.0, int(Level.OK), (), self._detail(0.0, np.zeros(4, dtype=int)))

    def step(self, obs: Observation) -> Reading:
        self._busy += obs.busy_hours
        self._duty += obs.staff_on_duty * self.layout.dt_h
        self._k += 1
        if self._k % self._period:
            return self._reading
        reading = self._on_period(self._busy, self._duty)
        self._busy[:] = 0.0
        self._duty[:] = 0.0
        return reading

    def run(self, trace: Trace) -> Readings:
        """Reset plus ``update`` at every step: each period's hours summed as the stream sums them,
        the chart stepped per period, each reading held until the next."""
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        busy = period_sums(trace.values[:, BUSY_HOURS], self._period)
        duty = period_sums(trace.values[:, STAFF] * self.layout.dt_h, self._period)
        return held_per_period(trace, self._period, self._reading, self._on_period, busy, duty)

    def _on_period(self, busy: np.ndarray, duty: np.ndarray) -> Reading:
        """The chart's reading after a period with these busy and duty hours per unit (unchanged
        while the baseline is still filling)."""
        fraction = busy_fraction(busy, duty)
        fitted = len(self._baseline) == self._n_baseline
        if not fitted:
            self._baseline.append(fraction)
            self._baseline_busy += math.fsum(busy)
            self._baseline_duty += math.fsum(duty)
        if fitted:
            self._chart(fraction * self._factor)
        elif len(self._baseline) == self._n_baseline:
            self._fit()
            for baseline_fraction in self._baseline:
                self._chart(baseline_fraction * self._factor)
        else:
            return self._reading
        self._reading = self._evaluate()
        return self._reading

    def _fit(self) -> None:
        """Hours scale, centre lines and sigmas from the baseline periods."""
        mean_fraction = self._baseline_busy / self._baseline_duty if self._baseline_duty > 0 else 0.0
        if self.hours == "scaled" and mean_fraction > 0:
            self._factor = self.target_hours / mean_fraction
        n = self.layout.n_units
        if self.variant == "faithful":
            sigma = MODULE_SIGMA_HOURS if self.sigma_hours is None else self.sigma_hours
            self._centre, self._sigma = np.full(n, self.target_hours), np.full(n, sigma)
        else:
            hours = np.array(self._baseline) * self._factor
            self._centre = hours.mean(axis=0)
            self._sigma = estimate_sigma(hours, self.sigma_estimator or "moving_range")

    def _chart(self, hours: np.ndarray) -> None:
        """Add one point per charted unit; faithful refuses a week outside 0..168 h (not charted)."""
        accepted = self._charted.copy()
        if self.variant == "faithful":
            valid = (hours >= 0.0) & (hours <= HOURS_PER_WEEK)
            self._refused += int(np.count_nonzero(accepted & ~valid))
            accepted &= valid
        shifted = np.vstack((self._window[1:], hours))
        self._window = np.where(accepted, shifted, self._window)

    def _evaluate(self) -> Reading:
        points = self._window
        rules = western_electric(points, self._centre, self._sigma)
        levels = rule_levels(rules)
        latest = points[-1]
        present = ~np.isnan(latest)
        z = np.abs(standardise(latest[present], self._centre[present], self._sigma[present]))
        score = float(z.max()) if z.size else 0.0
        hours = float(latest[present].max()) if present.any() else 0.0
        detail = self._detail(hours, rules.sum(axis=1))
        return Reading(score, int(levels.max()), tuple(np.flatnonzero(levels).tolist()), detail)

    def _detail(self, hours: float, rule_counts: np.ndarray) -> dict[str, float]:
        """Highest latest charted weekly-equivalent hours, the units breaking each rule, refused points."""
        rules = {f"rule{i + 1}": float(c) for i, c in enumerate(rule_counts)}
        return {"hours": hours, **rules, "refused": float(self._refused)}
