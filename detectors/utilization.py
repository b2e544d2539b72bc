"""The utilization module: system-wide rho over a trailing window, in the module's colour bands.

The band limits are parameters, as in the module's ``UtilizationThreshold`` config, under its names
and with its defaults: ``warning_threshold`` 0.70 (YELLOW), ``max_utilization`` 0.80 (ORANGE),
``critical_threshold`` 0.90 (RED), ``emergency_threshold`` 0.95 (BLACK), each a lower bound,
inclusive. With no capacity the module reads rho 1.0 (BLACK) when work is required and 0.0
(GREEN) when none is, whatever the limits; so does the adapter.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from detectors.base import Detector, Level, Reading, check_choice, check_param
from scenarios.errors import InputError
from scenarios.trace import FIELD_INDEX, Layout, Observation

BANDS = ("GREEN", "YELLOW", "ORANGE", "RED", "BLACK")
BAND_LIMITS = (0.70, 0.80, 0.90, 0.95)  # the module's lower bounds of YELLOW, ORANGE, RED, BLACK
LIMIT_NAMES = ("warning_threshold", "max_utilization", "critical_threshold", "emergency_threshold")
BASES = ("demand", "busy")
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

    def __init__(
        self,
        window_h: float = 1.0,
        basis: str = "demand",
        warning_threshold: float = BAND_LIMITS[0],
        max_utilization: float = BAND_LIMITS[1],
        critical_threshold: float = BAND_LIMITS[2],
        emergency_threshold: float = BAND_LIMITS[3],
    ) -> None:
        check_param(self.name, "window_h", window_h, 0.0, strict=True)
        check_choice(self.name, "basis", basis, BASES)
        limits = (warning_threshold, max_utilization, critical_threshold, emergency_threshold)
        for key, value in zip(LIMIT_NAMES, limits, strict=True):
            check_param(self.name, key, value, 0.0)
        for i in range(1, len(limits)):
            if limits[i] <= limits[i - 1]:
                raise InputError(
                    f"detector.{self.name}.{LIMIT_NAMES[i]}",
                    f"must be greater than {LIMIT_NAMES[i - 1]} ({limits[i - 1]}); got {limits[i]!r}",
                )
        self.window_h = window_h
        self.basis = basis
        # utilization_breach is the trailing busy fraction >= 0.8 (scenarios.truth): on basis busy the
        # score is the target's own defining quantity
        self.defines = ("utilization_breach",) if basis == "busy" else ()
        self.warning_threshold = warning_threshold
        self.max_utilization = max_utilization
        self.critical_threshold = critical_threshold
        self.emergency_threshold = emergency_threshold

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
        self._limits = (
            self.warning_threshold,
            self.max_utilization,
            self.critical_threshold,
            self.emergency_threshold,
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
