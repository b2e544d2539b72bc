"""The burnout module (burnout_fire_index.py): a multi-temporal fire-weather index of each unit's hours.

The module's formulas, per unit, from the hours worked per staff member on duty:

- FFMC = min(100, 100 (1 - e^(-3.5 x))), x = max(0, (W - T_w) / T_w): W = weekly hours (trailing 7 days)
- DMC, the same with k = 2.5 on the monthly load M (trailing mean over up to 90 days, 30-day months)
- DC = 100 (1 - s)^1.5 with satisfaction s (config)
- ISI = 0.35 FFMC max(0, 1 + v / 10), v = change of W over the last week (h/week)
- BUI = 0.9 DMC DC / (DMC + 0.4 DC) (0 if both are 0)
- fD = 0.626 BUI^0.809 + 2 if BUI <= 80, else 1000 / (25 + 108.64 e^(-0.023 BUI)); FWI = 0.12 ISI fD
- classes LOW < 20 <= MODERATE < 40 <= HIGH < 60 <= VERY_HIGH < 80 <= EXTREME, levels 0-4.

These are not the CFFDRS equations (Van Wagner 1987), whose codes are moisture bookkeeping driven by
daily weather: there FFMC comes from fine-fuel moisture content, ISI = 0.208 f(W) f(F) with
f(F) = 91.9 e^(-0.1386 m) (1 + m^5.31 / 4.93e7), BUI = 0.8 DMC DC / (DMC + 0.4 DC) only while
DMC <= 0.4 DC, fD is the same, and FWI = 0.1 ISI fD, log-transformed above 1. Both variants keep the
module's formulas; ``faithful`` also keeps its e = 2.71828, ``textbook`` uses the exact exponential
(they differ by about 1e-6 relative, so the default study runs one of them).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from detectors.base import Detector, Level, Reading, Readings
from detectors.signals import (
    HOURS_PER_WEEK,
    HoursMode,
    baseline_length_h,
    baseline_param,
    hours_param,
    steps_of,
)
from scenarios.params import param
from scenarios.trace import FIELD_INDEX, Layout, Observation, Trace, check_values

MODULE_E = 2.71828  # the module's value of e
FFMC_K, DMC_K = 3.5, 2.5
CLASS_LIMITS = (20.0, 40.0, 60.0, 80.0)  # lower bounds of MODERATE, HIGH, VERY_HIGH, EXTREME
CLASS_BOUNDS = np.array(CLASS_LIMITS)
CLASSES = ("LOW", "MODERATE", "HIGH", "VERY_HIGH", "EXTREME")
HOURS_PER_MONTH = 30 * 24.0
DETAIL = ("bui", "dmc", "ffmc", "isi", "weekly_hours")
BUSY_HOURS, STAFF = FIELD_INDEX["busy_hours"], FIELD_INDEX["staff_on_duty"]


def _exp(x: np.ndarray, variant: str) -> np.ndarray:
    return MODULE_E**x if variant == "faithful" else np.exp(x)


def moisture_code(hours, target: float, k: float, variant: str = "faithful") -> np.ndarray:
    """min(100, 100 (1 - e^(-k x))) with x = max(0, (hours - target) / target): FFMC (k 3.5), DMC (k 2.5).

    >>> ffmc, dmc = moisture_code(75.0, 60.0, FFMC_K), moisture_code(270.0, 240.0, DMC_K)
    >>> round(float(ffmc), 1), round(float(dmc), 1)
    (58.3, 26.8)
    """
    excess = np.maximum(0.0, (np.asarray(hours, dtype=float) - target) / target)
    return np.minimum(100.0, 100.0 * (1.0 - _exp(-k * excess, variant)))


def fire_weather_index(
    weekly_hours,
    monthly_load,
    satisfaction: float,
    velocity,
    ffmc_target: float = 60.0,
    dmc_target: float = 240.0,
    variant: str = "faithful",
) -> dict[str, np.ndarray]:
    """All codes and indices of the module, vectorised over units (DC, which has no hours, is a float).

    >>> fwi = fire_weather_index(75.0, 260.0, 0.4, 8.0)["fwi"]
    >>> round(float(fwi), 1), CLASSES[int(danger_class(fwi))]
    (41.3, 'HIGH')
    """
    ffmc = moisture_code(weekly_hours, ffmc_target, FFMC_K, variant)
    dmc = moisture_code(monthly_load, dmc_target, DMC_K, variant)
    dc = 100.0 * (1.0 - satisfaction) ** 1.5
    isi = 0.35 * ffmc * np.maximum(0.0, 1.0 + np.asarray(velocity, dtype=float) / 10.0)
    # BUI is 0 without drought (and the module's guard makes it 0 when DMC and DC are both 0)
    bui = 0.9 * dmc * dc / (dmc + 0.4 * dc) if dc > 0 else np.zeros(np.shape(dmc))
    fd = 0.626 * np.power(bui, 0.809) + 2.0
    high = bui > 80.0  # unreachable with the module's codes (BUI <= 64.3), kept as the module has it
    if np.any(high):
        fd = np.where(high, 1000.0 / (25.0 + 108.64 * _exp(-0.023 * bui, variant)), fd)
    return {"ffmc": ffmc, "dmc": dmc, "dc": dc, "isi": isi, "bui": bui, "fwi": 0.12 * isi * fd}


def danger_class(fwi) -> np.ndarray:
    """Class index of an FWI (lower bounds inclusive): LOW 0, MODERATE 1, HIGH 2, VERY_HIGH 3, EXTREME 4."""
    return CLASS_BOUNDS.searchsorted(fwi, side="right")


class BurnoutDetector(Detector):
    """The fire index per unit, recomputed at every health check; score = the highest FWI over units.

    Hours: weekly hours W = 168 x the busy fraction of the unit's staff on duty over the trailing week
    (over the history so far in the first week), monthly load M = 720 x the busy fraction over up to
    ``history_days``; with ``hours='scaled'`` (default) both are multiplied so that the baseline's
    system mean weekly hours equal ``ffmc_target`` (simulated busy hours are not duty hours).
    v = W now minus W a week ago, once both are whole weeks (0 before). Until the baseline (the
    warm-up by default) is complete the level is OK. Implicated units: those above LOW. Details are
    maxima over units.

    >>> from scenarios import simulate
    >>> trace = simulate("ramp", seed=0, n_units=4, warmup_days=1, scenario_days=1)
    >>> sorted(BurnoutDetector().run(trace).detail)
    ['bui', 'dmc', 'ffmc', 'isi', 'weekly_hours']
    """

    name = "burnout"
    score_label = "max FWI over units (index)"

    variant: Literal["faithful", "textbook"] = param(
        "faithful", "faithful: the module's e = 2.71828; textbook: the exact exponential"
    )
    ffmc_target: float = param(60.0, "weekly hours above which FFMC rises", unit="hours per week", gt=0)
    dmc_target: float = param(240.0, "monthly load above which DMC rises", unit="hours per month", gt=0)
    satisfaction: float = param(0.7, "staff satisfaction s, which sets DC = 100 (1 - s)^1.5", ge=0, le=1)
    week_h: float = param(
        HOURS_PER_WEEK, "length of the week of weekly hours and of their change v", unit="hours", gt=0
    )
    history_days: float = param(90.0, "history of the monthly load; at least a week", unit="days", gt=0)
    hours: HoursMode = hours_param("ffmc_target")
    baseline_h: float | None = baseline_param()

    def __post_init__(self) -> None:
        week_days = self.week_h / 24.0
        self.require(
            self.history_days >= week_days, "history_days", f"must be >= week_h / 24 ({week_days:g} days)"
        )

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        n = layout.n_units
        dt = layout.dt_h
        self._week = steps_of(self.week_h, dt)
        self._history = steps_of(24.0 * self.history_days, dt)
        self._baseline_steps = steps_of(baseline_length_h(layout, self.baseline_h), dt)
        # per step and unit, as rings over the history: busy hours, duty hours, weekly busy fraction
        self._size = max(self._history, self._week) + 1
        self._ring = np.zeros((3, self._size, n))
        self._sums = np.zeros((4, n))  # busy and duty over the week, busy and duty over the history
        self._k = 0
        self._base_busy = self._base_duty = 0.0
        self._factor: float | None = None if self.hours == "scaled" else HOURS_PER_WEEK
        self._charted = None if (layout.staff > 0).all() else layout.staff > 0
        self._quiet = Reading(0.0, int(Level.OK), (), dict.fromkeys(DETAIL, 0.0))

    def step(self, obs: Observation) -> Reading:
        k, ring, sums = self._k, self._ring, self._sums
        busy, duty = obs.values[BUSY_HOURS], obs.values[STAFF] * self.layout.dt_h
        size = self._size
        slot = k % size
        if k >= self._history:  # the oldest step leaves the history
            sums[2:] -= ring[:2, (k - self._history) % size]
        if k >= self._week:  # the step a week ago leaves the week
            sums[:2] -= ring[:2, (k - self._week) % size]
        sums[0::2] += busy
        sums[1::2] += duty
        ring[0, slot], ring[1, slot] = busy, duty
        weekly = _fraction(sums[0], sums[1])
        ring[2, slot] = weekly
        self._k = k + 1
        if self._factor is None:
            self._base_busy += math.fsum(busy)
            self._base_duty += math.fsum(duty)
            if self._k < self._baseline_steps:
                return self._quiet
            mean = self._base_busy / self._base_duty if self._base_duty > 0 else 0.0
            self._factor = self.ffmc_target / mean if mean > 0 else HOURS_PER_WEEK
        factor = self._factor
        full_weeks = k + 1 >= 2 * self._week  # v compares two whole weeks
        week_ago = ring[2, (k - self._week) % size] if full_weeks else weekly
        monthly = factor * _fraction(sums[2], sums[3]) * HOURS_PER_MONTH / HOURS_PER_WEEK
        index = fire_weather_index(
            factor * weekly,
            monthly,
            self.satisfaction,
            factor * (weekly - week_ago),
            self.ffmc_target,
            self.dmc_target,
            self.variant,
        )
        if self._charted is not None:  # leave out units without staff
            index = {key: np.where(self._charted, value, 0.0) for key, value in index.items()}
            weekly = np.where(self._charted, weekly, 0.0)
        fwi = index["fwi"]
        # maxima over units in one reduction (exact in any order); the class is monotone in FWI, so the
        # highest class is the class of the highest FWI, and units above LOW are those not below 20
        rows = (index["bui"], index["dmc"], index["ffmc"], index["isi"], weekly, fwi)
        bui, dmc, ffmc, isi, weekly_max, fwi_max = np.maximum.reduce(np.array(rows), axis=1).tolist()
        detail = {"bui": bui, "dmc": dmc, "ffmc": ffmc, "isi": isi, "weekly_hours": factor * weekly_max}
        units = (~(fwi < CLASS_LIMITS[0])).nonzero()[0]
        return Reading(fwi_max, int(danger_class(fwi_max)), tuple(units.tolist()), detail)

    def run(self, trace: Trace) -> Readings:
        """The same readings as reset plus ``update`` at every step, computed for all steps at once:
        the running sums as one cumulative sum of interleaved -old/+new terms (the same additions in
        the same order), the indices over (steps, units) arrays."""
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        t, n = len(trace), trace.layout.n_units
        busy = trace.values[:, BUSY_HOURS, :]
        duty = trace.values[:, STAFF, :] * self.layout.dt_h
        week_busy, week_duty = _running_sum(busy, self._week), _running_sum(duty, self._week)
        weekly = _fraction(week_busy, week_duty)
        start = 0  # first step with a reading: the baseline's last step
        factor = self._factor
        if factor is None:
            start = self._baseline_steps - 1
            if start < t:
                base_busy = np.cumsum([math.fsum(row) for row in busy[: start + 1]])[-1]
                base_duty = np.cumsum([math.fsum(row) for row in duty[: start + 1]])[-1]
                mean = base_busy / base_duty if base_duty > 0 else 0.0
                factor = self.ffmc_target / mean if mean > 0 else HOURS_PER_WEEK
        score = np.zeros(t)
        level = np.zeros(t, dtype=np.int8)
        units = np.zeros((t, n), dtype=bool)
        detail = {key: np.zeros(t) for key in DETAIL} if t else {}
        if start < t:
            k = np.arange(start, t)
            week_ago = np.where(
                (k + 1 >= 2 * self._week)[:, None], weekly[np.maximum(k - self._week, 0)], weekly[k]
            )
            history = _fraction(_running_sum(busy, self._history)[k], _running_sum(duty, self._history)[k])
            now = weekly[k]
            monthly = factor * history * HOURS_PER_MONTH / HOURS_PER_WEEK
            index = fire_weather_index(
                factor * now,
                monthly,
                self.satisfaction,
                factor * (now - week_ago),
                self.ffmc_target,
                self.dmc_target,
                self.variant,
            )
            if self._charted is not None:
                index = {key: np.where(self._charted, value, 0.0) for key, value in index.items()}
                now = np.where(self._charted, now, 0.0)
            fwi = np.broadcast_to(index["fwi"], now.shape)
            score[k] = fwi.max(axis=1)
            level[k] = danger_class(score[k])
            units[k] = ~(fwi < CLASS_LIMITS[0])
            for key in ("bui", "dmc", "ffmc", "isi"):
                detail[key][k] = np.broadcast_to(index[key], now.shape).max(axis=1)
            detail["weekly_hours"][k] = factor * now.max(axis=1)
        return Readings(np.asarray(trace.time_h, dtype=float), score, level, units, detail)


def _running_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Per step k, the sum of x over the last ``window`` steps as a stream keeps it: s_k = s_(k-1)
    - x_(k-window) (once k >= window) + x_k, in that order."""
    t = len(x)
    terms = np.zeros((2 * t, *x.shape[1:]))
    terms[1::2] = x
    terms[2 * window :: 2] = -x[: max(0, t - window)]
    return np.cumsum(terms, axis=0)[1::2]


def _fraction(busy: np.ndarray, duty: np.ndarray) -> np.ndarray:
    return np.divide(busy, duty, out=np.zeros(busy.shape), where=duty > 0)
