"""The utilization module: system-wide rho over a trailing window, in the module's colour bands.

The band limits are parameters, as in the module's ``UtilizationThreshold`` config, under its names
and with its defaults: ``warning_threshold`` 0.70 (YELLOW), ``max_utilization`` 0.80 (ORANGE),
``critical_threshold`` 0.90 (RED), ``emergency_threshold`` 0.95 (BLACK), each a lower bound,
inclusive. With no capacity the module reads rho 1.0 (BLACK) when work is required and 0.0
(GREEN) when none is, whatever the limits; so does the adapter.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import numpy as np

from detectors.base import Detector, Level, Reading, Readings
from scenarios.params import param
from scenarios.trace import FIELD_INDEX, Layout, Observation, Trace, check_values

BANDS = ("GREEN", "YELLOW", "ORANGE", "RED", "BLACK")
BAND_LIMITS = (0.70, 0.80, 0.90, 0.95)  # the module's lower bounds of YELLOW, ORANGE, RED, BLACK
LIMIT_NAMES = ("warning_threshold", "max_utilization", "critical_threshold", "emergency_threshold")
ARRIVALS, BUSY_HOURS, STAFF = (FIELD_INDEX[f] for f in ("arrivals", "busy_hours", "staff_on_duty"))


def band(rho: float, limits: tuple[float, ...] = BAND_LIMITS) -> int:
    """Band index of a utilization: GREEN 0 < 0.70 <= YELLOW 1 < 0.80 <= ORANGE 2 < 0.90 <= RED 3
    < 0.95 <= BLACK 4 with the module's limits.

    >>> [BANDS[band(x)] for x in (0.69, 0.70, 0.80, 0.95)]
    ['GREEN', 'YELLOW', 'ORANGE', 'BLACK']
    >>> BANDS[band(0.80, (0.75, 0.85, 0.90, 0.95))]
    'YELLOW'
    """
    return int(np.searchsorted(limits, rho, side="right"))


class UtilizationDetector(Detector):
    """rho = required work / capacity over the trailing ``window_h``, system-wide; score = rho.

    ``basis='demand'`` (the module's meaning) counts arrived work (arrivals / mu); ``'busy'`` counts
    staff-hours actually served. Capacity is staff on duty times the window. Bands map to levels
    GREEN 0, YELLOW 1, ORANGE 2, RED 3, BLACK 4.

    >>> from scenarios import simulate
    >>> trace = simulate("ramp", seed=0, n_units=4, warmup_days=0.25, scenario_days=0.25)
    >>> readings = UtilizationDetector(basis="busy").run(trace)
    >>> bool(readings.score.max() <= 1.0)
    True
    """

    name = "utilization"

    window_h: float = param(1.0, "trailing window rho is measured over", unit="hours", gt=0)
    basis: Literal["demand", "busy"] = param(
        "demand", "work counted: arrived work (demand, the module's) or staff-hours served (busy)"
    )
    warning_threshold: float = param(BAND_LIMITS[0], "lowest rho of YELLOW (level WATCH)", ge=0)
    max_utilization: float = param(BAND_LIMITS[1], "lowest rho of ORANGE (level WARNING)", ge=0)
    critical_threshold: float = param(BAND_LIMITS[2], "lowest rho of RED (level CRITICAL)", ge=0)
    emergency_threshold: float = param(BAND_LIMITS[3], "lowest rho of BLACK (level EMERGENCY)", ge=0)

    def __post_init__(self) -> None:
        limits = self._limits = tuple(getattr(self, name) for name in LIMIT_NAMES)
        for i in range(1, len(limits)):
            lower = f"must be greater than {LIMIT_NAMES[i - 1]} ({limits[i - 1]})"
            self.require(limits[i] > limits[i - 1], LIMIT_NAMES[i], lower)
        # utilization_breach is the trailing busy fraction >= 0.8 (scenarios.truth): on basis busy the
        # score is the target's own defining quantity
        self.defines = ("utilization_breach",) if self.basis == "busy" else ()

    @property
    def score_label(self) -> str:
        if self.basis == "busy":
            return "ρ: busy hours / staff-hours on duty (fraction)"
        return "ρ: arrived work / capacity (fraction)"

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        steps = max(1, int(round(self.window_h / layout.dt_h)))
        self._work: deque[float] = deque(maxlen=steps)
        self._capacity: deque[float] = deque(maxlen=steps)
        self._mean_service = np.divide(
            1.0, layout.service_rate, out=np.zeros(layout.n_units), where=layout.service_rate > 0
        )

    def step(self, obs: Observation) -> Reading:
        values = obs.values
        if self.basis == "demand":
            work = float(values[ARRIVALS] @ self._mean_service)
        else:
            work = float(np.add.reduce(values[BUSY_HOURS]))
        self._work.append(work)
        self._capacity.append(float(np.add.reduce(values[STAFF])) * self.layout.dt_h)
        work, capacity = sum(self._work), sum(self._capacity)
        if capacity > 0:
            rho = work / capacity
            return Reading(rho, band(rho, self._limits), (), {"rho": rho})
        rho, level = (1.0, Level.EMERGENCY) if work > 0 else (0.0, Level.OK)  # the module's BLACK / GREEN
        return Reading(rho, int(level), (), {"rho": rho})

    def run(self, trace: Trace) -> Readings:
        """Reset plus ``update`` at every step: the same per-step sums, and each window summed
        oldest first from 0 as ``sum`` does, for all steps at once."""
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        values = trace.values
        if self.basis == "demand":
            work = np.array([row @ self._mean_service for row in values[:, ARRIVALS]])
        else:
            work = np.add.reduce(values[:, BUSY_HOURS], axis=1)
        capacity = np.add.reduce(values[:, STAFF], axis=1) * self.layout.dt_h
        work, capacity = _window_sum(work, self._work.maxlen), _window_sum(capacity, self._capacity.maxlen)
        with np.errstate(all="ignore"):
            rho = np.where(capacity > 0, work / capacity, np.where(work > 0, 1.0, 0.0))
        level = np.where(
            capacity > 0,
            np.searchsorted(self._limits, rho, side="right"),
            np.where(work > 0, Level.EMERGENCY, 0),
        )
        t = len(trace)
        units = np.zeros((t, trace.layout.n_units), dtype=bool)
        detail = {"rho": rho} if t else {}
        return Readings(
            np.asarray(trace.time_h, dtype=float), rho.copy(), level.astype(np.int8), units, detail
        )


def _window_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Per step, the sum of the last ``window`` values (fewer at the start), oldest first from 0."""
    total = np.zeros(len(x))
    for lag in range(window - 1, -1, -1):
        total[lag:] += x[: len(x) - lag]
    return total
