"""Parameters of the simulated organisation (DESIGN section 3) and its org graph."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from scenarios.errors import InputError
from scenarios.graph import GRAPHS, Graph, make_graph
from scenarios.trace import Layout

MIN_STEP_H = 1 / 60  # health checks and rebalancing rounds at most once a minute (the arrival grid)


@dataclass(frozen=True)
class OrgConfig:
    """Every model parameter, with DESIGN's defaults. Time is in hours unless the name says days."""

    n_units: int = 12
    staff_per_unit: int = 4
    service_mean_h: float = 1.0
    service_cv: float | None = None  # None: exponential service; else lognormal with this CV
    graph: str = "complete"
    rebalance_interval_h: float = 0.25
    rebalance_capacity_per_h: float = 8.0
    rebalance_margin: float = 1.0  # queue per staff above the system mean before tasks move
    transfer_delay_h: float = 0.25  # per hop
    absence_hazard_per_h: float = 0.002
    absence_beta: float = 2.0
    absence_duration_h: float = 12.0
    swap_base_rate_per_h: float = 0.05
    swap_kappa: float = 1.0
    dt_h: float = 0.25
    warmup_days: float = 7.0
    scenario_days: float = 14.0

    def __post_init__(self) -> None:
        self._check_int("n_units", 1)
        # no staff means no capacity, hence no arrivals (they scale with capacity): nothing to study
        self._check_int("staff_per_unit", 1)
        for name in ("service_mean_h", "dt_h", "rebalance_interval_h"):
            self._check_number(name, positive=True)
        for name in (
            "rebalance_capacity_per_h",
            "rebalance_margin",
            "transfer_delay_h",
            "absence_hazard_per_h",
            "absence_beta",
            "absence_duration_h",
            "swap_base_rate_per_h",
            "swap_kappa",
            "warmup_days",
        ):
            self._check_number(name, positive=False)
        self._check_number("scenario_days", positive=True)
        if self.service_cv is not None:
            self._check_number("service_cv", positive=True)
        if self.graph not in GRAPHS:
            raise InputError("org.graph", f"must be one of {', '.join(GRAPHS)}; got {self.graph!r}")
        for name in ("dt_h", "rebalance_interval_h"):
            value = getattr(self, name)
            if value < MIN_STEP_H:
                raise InputError(f"org.{name}", f"must be >= 1/60 h (one minute); got {value!r}")
        if self.dt_h > self.duration_h:
            raise InputError(
                "org.dt_h",
                f"must be <= the run's length, 24 x (warmup_days + scenario_days) = {self.duration_h:g} h; "
                f"got {self.dt_h!r}",
            )

    def _check_int(self, name: str, low: int) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"org.{name}", f"must be an integer >= {low}; got {value!r}")

    def _check_number(self, name: str, positive: bool) -> None:
        value = getattr(self, name)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
        if not ok or value < 0 or (positive and value == 0):
            bound = "> 0" if positive else ">= 0"
            raise InputError(f"org.{name}", f"must be a finite number {bound}; got {value!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def warmup_h(self) -> float:
        return 24.0 * self.warmup_days

    @property
    def duration_h(self) -> float:
        return 24.0 * (self.warmup_days + self.scenario_days)

    @property
    def staff(self) -> np.ndarray:
        return np.full(self.n_units, self.staff_per_unit, dtype=float)

    @property
    def service_rate(self) -> float:
        return 1.0 / self.service_mean_h

    def org_graph(self) -> Graph:
        """The org graph, with implicit hop distances."""
        return make_graph(self.graph, self.n_units)

    def layout(self) -> Layout:
        return Layout(
            staff=self.staff,
            service_rate=np.full(self.n_units, self.service_rate),
            graph=self.org_graph(),
            dt_h=self.dt_h,
            warmup_h=self.warmup_h,
        )
