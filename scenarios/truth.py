"""Ground-truth targets (DESIGN section 3), computed from the true state after the run."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar, Literal, get_args

import numpy as np
from pydantic import model_validator

from scenarios.errors import InputError
from scenarios.params import Section, param
from scenarios.trace import Event, Layout

Target = Literal["utilization_breach", "unit_saturation"]
TARGETS: tuple[Target, ...] = get_args(Target)


class TruthSpec(Section):
    """Thresholds of the two targets. Hours are durations; utilization is a fraction of staff."""

    section: ClassVar[str] = "scoring.truth"

    utilization_on: float = param(0.80, "utilization_breach starts at a trailing mean >= this", ge=0)
    utilization_off: float = param(0.75, "... and ends once it stays < this (<= utilization_on)", ge=0)
    utilization_window_h: float = param(1.0, "window of the trailing mean utilization", unit="hours", ge=0)
    utilization_sustain_h: float = param(1.0, "how long it must hold >= utilization_on", unit="hours", ge=0)
    utilization_clear_h: float = param(1.0, "how long it must stay < utilization_off", unit="hours", ge=0)
    backlog_on_h: float = param(2.0, "unit_saturation starts at a unit backlog >= this", unit="hours", ge=0)
    backlog_sustain_h: float = param(0.5, "how long it must hold >= backlog_on_h", unit="hours", ge=0)
    backlog_off_h: float = param(0.5, "... ends once it stays < this (<= backlog_on_h)", unit="hours", ge=0)
    backlog_clear_h: float = param(1.0, "how long it must stay < backlog_off_h", unit="hours", ge=0)

    @model_validator(mode="after")
    def _off_below_on(self) -> TruthSpec:
        for low, high in (("utilization_off", "utilization_on"), ("backlog_off_h", "backlog_on_h")):
            if getattr(self, low) > getattr(self, high):
                raise InputError(f"scoring.truth.{low}", f"must be <= scoring.truth.{high}")
        return self


def runs(mask: np.ndarray, min_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in ``mask`` that last at least ``min_len``.

    >>> runs(np.array([1, 1, 0, 1, 1, 1, 0], dtype=bool), 2)
    (array([0, 3]), array([2, 3]))
    """
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    keep = stops - starts >= max(min_len, 1)
    return starts[keep], (stops - starts)[keep]


def hysteresis(high: np.ndarray, low: np.ndarray, sustain: int, clear: int) -> list[tuple[int, int, bool]]:
    """Critical periods: start where ``high`` holds for ``sustain`` steps, end where ``low`` then
    holds for ``clear`` steps. Returns (onset index, end index, ended) triples.

    >>> x = np.array([0, 9, 9, 9, 5, 0, 0, 9, 9])
    >>> hysteresis(x >= 8, x < 2, sustain=2, clear=2)
    [(1, 5, True), (7, 8, False)]
    """
    hi_starts, _ = runs(high, sustain)
    lo_starts, _ = runs(low, clear)
    periods: list[tuple[int, int, bool]] = []
    pos = 0
    while True:
        i = np.searchsorted(hi_starts, pos)
        if i == hi_starts.size:
            return periods
        onset = int(hi_starts[i])
        j = np.searchsorted(lo_starts, onset, side="right")
        if j == lo_starts.size:
            periods.append((onset, len(high) - 1, False))
            return periods
        end = int(lo_starts[j])
        periods.append((onset, end, True))
        pos = end


def steps(hours: float, dt_h: float) -> int:
    return max(1, int(round(hours / dt_h)))


def utilization_ratio(busy: np.ndarray, staff_on_duty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """System utilization per step as (numerator, denominator): sum(busy) / sum(staff_on_duty), and
    1 / 1 when nobody is on duty but work is in service (0 / 1 when idle)."""
    busy_sum, duty_sum = busy.sum(axis=1), staff_on_duty.sum(axis=1)
    empty = duty_sum <= 0
    return np.where(empty, (busy_sum > 0).astype(float), busy_sum), np.where(empty, 1.0, duty_sum)


def system_utilization(busy: np.ndarray, staff_on_duty: np.ndarray) -> np.ndarray:
    """sum(busy) / sum(staff_on_duty) per step; 1 when nobody is on duty but work is in service."""
    num, den = utilization_ratio(busy, staff_on_duty)
    return num / den


def _window_sums(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the last ``window`` values (fewer at the start), each summed directly (never as a
    difference of a long cumulative sum), and how many values each holds."""
    padded = np.concatenate((np.zeros(window - 1), np.asarray(x, float)))
    sums = np.lib.stride_tricks.sliding_window_view(padded, window).sum(axis=1)
    return sums, np.minimum(np.arange(1, len(x) + 1), window)


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values (fewer at the start)."""
    sums, counts = _window_sums(x, window)
    return sums / counts


def trailing_mean_at_least(num: np.ndarray, den: np.ndarray, window: int, level: float) -> np.ndarray:
    """Whether the trailing mean of the ratios num / den is >= ``level``, exactly: busy and staff
    are small integers, so a window mean of exactly 0.75 or 0.80 is common. Windows within 1e-9 of
    the level are decided in rational arithmetic (``level`` read as its decimal text, 0.8 = 4/5).

    >>> num, den = np.array([3.0, 5, 4, 4]), np.array([5.0, 5, 5, 5])  # 0.6, 1.0, 0.8, 0.8
    >>> trailing_mean_at_least(num, den, 2, 0.8).tolist()
    [False, True, True, True]
    """
    mean = trailing_mean(num / den, window)
    out = mean >= level
    near = np.flatnonzero(np.abs(mean - level) <= 1e-9)
    if near.size:
        exact_level = Fraction(repr(float(level)))
        for k in near.tolist():
            lo = max(0, k - window + 1)
            total = sum(
                Fraction(float(n)) / Fraction(float(d))
                for n, d in zip(num[lo : k + 1], den[lo : k + 1], strict=True)
            )
            out[k] = total >= exact_level * (k + 1 - lo)
    return out


def backlog_hours(queue: np.ndarray, staff_on_duty: np.ndarray, service_rate: np.ndarray) -> np.ndarray:
    """Hours of work waiting per unit: queue / (staff on duty * mu); inf with a queue and no staff."""
    capacity = staff_on_duty * service_rate[None, :]
    fallback = np.where(queue > 0, np.inf, 0.0)
    return np.divide(queue, capacity, out=fallback, where=capacity > 0)


def derive_events(
    time_h: np.ndarray,
    busy: np.ndarray,
    queue: np.ndarray,
    staff_on_duty: np.ndarray,
    layout: Layout,
    spec: TruthSpec,
) -> list[Event]:
    """Both targets' events, from the state arrays (each (T, N))."""
    dt = layout.dt_h
    events: list[Event] = []
    num, den = utilization_ratio(busy, staff_on_duty)
    window = steps(spec.utilization_window_h, dt)
    all_units = tuple(range(layout.n_units))
    for onset, end, ended in hysteresis(
        trailing_mean_at_least(num, den, window, spec.utilization_on),
        ~trailing_mean_at_least(num, den, window, spec.utilization_off),
        steps(spec.utilization_sustain_h, dt),
        steps(spec.utilization_clear_h, dt),
    ):
        events.append(Event("utilization_breach", float(time_h[onset]), float(time_h[end]), all_units, ended))

    backlog = backlog_hours(queue, staff_on_duty, layout.service_rate)
    periods = []  # (onset, end, ended, unit)
    for unit in range(layout.n_units):
        for onset, end, ended in hysteresis(
            backlog[:, unit] >= spec.backlog_on_h,
            backlog[:, unit] < spec.backlog_off_h,
            steps(spec.backlog_sustain_h, dt),
            steps(spec.backlog_clear_h, dt),
        ):
            periods.append((onset, end, ended, unit))
    events.extend(merge_unit_periods(periods, time_h))
    return events


def merge_unit_periods(periods: list[tuple[int, int, bool, int]], time_h: np.ndarray) -> list[Event]:
    """Overlapping per-unit saturation periods form one system event implicating all their units."""
    merged: list[Event] = []
    group: list[tuple[int, int, bool, int]] = []
    end = -1  # the group's latest end (kept as it grows: a group can hold thousands of periods)
    for period in sorted(periods):
        if group and period[0] > end:
            merged.append(_saturation_event(group, time_h))
            group = []
        end = max(end, period[1]) if group else period[1]
        group.append(period)
    if group:
        merged.append(_saturation_event(group, time_h))
    return merged


def _saturation_event(group: list[tuple[int, int, bool, int]], time_h: np.ndarray) -> Event:
    end = max(p[1] for p in group)
    ended = all(p[2] for p in group if p[1] == end)
    units = tuple(sorted({p[3] for p in group}))
    return Event("unit_saturation", float(time_h[group[0][0]]), float(time_h[end]), units, ended)
