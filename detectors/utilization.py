"""The utilization module: system-wide rho over a trailing window, in the module's colour bands."""

from __future__ import annotations

from collections import deque

import numpy as np

from detectors.base import Detector, Reading, check_choice, check_param
from scenarios.trace import Layout, Observation

BANDS = ("GREEN", "YELLOW", "ORANGE", "RED", "BLACK")
BAND_LIMITS = (0.70, 0.80, 0.90, 0.95)  # lower bound of YELLOW, ORANGE, RED, BLACK (inclusive)
BASES = ("demand", "busy")


def band(rho: float) -> int:
    """Band index of a utilization: GREEN 0 < 0.70 <= YELLOW 1 < 0.80 <= ORANGE 2 < 0.90 <= RED 3
    < 0.95 <= BLACK 4.

    >>> [BANDS[band(x)] for x in (0.69, 0.70, 0.80, 0.95)]
    ['GREEN', 'YELLOW', 'ORANGE', 'BLACK']
    """
    return int(np.searchsorted(BAND_LIMITS, rho, side="right"))


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

    def __init__(self, window_h: float = 1.0, basis: str = "demand") -> None:
        check_param(self.name, "window_h", window_h, 0.0, strict=True)
        check_choice(self.name, "basis", basis, BASES)
        self.window_h = window_h
        self.basis = basis

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
        if self.basis == "demand":
            work = float(obs.arrivals @ self._mean_service)
        else:
            work = float(obs.busy_hours.sum())
        self._work.append(work)
        self._capacity.append(float(obs.staff_on_duty.sum()) * self.layout.dt_h)
        work, capacity = sum(self._work), sum(self._capacity)
        rho = work / capacity if capacity > 0 else (np.inf if work > 0 else 0.0)
        return Reading(rho, band(rho), (), {"rho": rho})
