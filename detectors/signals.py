"""Signals the module adapters and baselines derive from observations, and their shared baseline rule."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from scenarios.params import param
from scenarios.trace import FIELD_INDEX, Layout, Observation

HOURS_PER_WEEK = 168.0
HoursMode = Literal["scaled", "absolute"]
DEFAULT_BASELINE_H = 24.0  # baseline of a run that has no warm-up
STAFF, BUSY_HOURS, QUEUE = (FIELD_INDEX[f] for f in ("staff_on_duty", "busy_hours", "queue"))


def system_utilization(obs: Observation, dt_h: float) -> float:
    """Busy staff-hours over staff-hours on duty, all units together, capped at 1.

    With nobody on duty it is 1 when tasks wait and 0 otherwise (the transport detector's convention).
    Sums are exactly rounded (``math.fsum``), so the value does not depend on how units are numbered.
    """
    values = obs.values
    duty = math.fsum(values[STAFF].tolist()) * dt_h
    if duty > 0:
        return min(1.0, math.fsum(values[BUSY_HOURS].tolist()) / duty)
    return 1.0 if values[QUEUE].sum() > 0 else 0.0


def system_utilization_over(values: np.ndarray, dt_h: float) -> np.ndarray:
    """``system_utilization`` of every step of a trace's values (T, F, N)."""
    return np.array([system_utilization(Observation(0.0, row), dt_h) for row in values])


def busy_fraction(busy_hours: np.ndarray, duty_hours: np.ndarray) -> np.ndarray:
    """Per-unit busy fraction of the staff on duty; 0 for a unit nobody was on duty in.

    >>> busy_fraction(np.array([3.0, 0.0]), np.array([4.0, 0.0])).tolist()
    [0.75, 0.0]
    """
    return np.divide(busy_hours, duty_hours, out=np.zeros(busy_hours.shape), where=duty_hours > 0)


def baseline_length_h(layout: Layout, baseline_h: float | None) -> float:
    """Hours at the start of a run a detector may learn its baseline from: ``baseline_h`` when given,
    else the run's warm-up, else DEFAULT_BASELINE_H."""
    if baseline_h is not None:
        return baseline_h
    return layout.warmup_h if layout.warmup_h > 0 else DEFAULT_BASELINE_H


def baseline_param() -> Any:
    """The ``baseline_h`` setting of every detector that learns a baseline (``baseline_length_h``)."""
    return param(
        None, "hours the baseline is learned from; null: the warm-up (24 h without one)", unit="hours", gt=0
    )


def hours_param(target: str) -> Any:
    """The ``hours`` setting of the charts of hours worked (spc, burnout): how busy fractions become
    weekly hours."""
    return param(
        "scaled",
        f"scaled: weekly hours scaled so that the baseline's system mean is {target}; "
        "absolute: 168 x busy fraction",
    )


def steps_of(hours: float, dt_h: float) -> int:
    """Whole health checks in ``hours`` (at least one).

    >>> steps_of(8.0, 0.25), steps_of(0.1, 0.25)
    (32, 1)
    """
    return max(1, int(round(hours / dt_h)))
