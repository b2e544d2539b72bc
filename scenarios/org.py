"""Parameters of the simulated organisation (DESIGN section 3) and its org graph."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import model_validator

from scenarios.errors import InputError
from scenarios.graph import Graph, GraphName, make_graph
from scenarios.params import Section, param
from scenarios.trace import Layout

MIN_STEP_H = 1 / 60  # health checks and rebalancing rounds at most once a minute (the arrival grid)


class OrgConfig(Section):
    """Every model parameter, with DESIGN's defaults. Time is in hours unless the name says days."""

    section: ClassVar[str] = "org"

    n_units: int = param(12, "work units", ge=1)
    # no staff means no capacity, hence no arrivals (they scale with capacity): nothing to study
    staff_per_unit: int = param(4, "staff of each unit, each serving one task at a time", ge=1)
    service_mean_h: float = param(1.0, "mean service time of a task", unit="hours", gt=0)
    service_cv: float | None = param(
        None, "coefficient of variation of service times (lognormal); null: exponential", gt=0
    )
    graph: GraphName = param("complete", "org graph, whose hops set the transfer delays")
    rebalance_interval_h: float = param(
        0.25, "time between rebalancing rounds (at least one minute)", unit="hours", gt=0
    )
    rebalance_capacity_per_h: float = param(8.0, "queued tasks the coordinator may move per hour", ge=0)
    rebalance_margin: float = param(
        1.0, "queue per staff above the system mean before tasks move", unit="tasks", ge=0
    )
    transfer_delay_h: float = param(0.25, "time a moved task is in transit, per hop", unit="hours", ge=0)
    absence_hazard_per_h: float = param(0.002, "base hazard of a staff member's absence, per hour", ge=0)
    absence_beta: float = param(2.0, "how much a busy unit raises the absence hazard", ge=0)
    absence_duration_h: float = param(12.0, "length of an absence", unit="hours", ge=0)
    swap_base_rate_per_h: float = param(0.05, "swap requests per unit and hour at no backlog", ge=0)
    swap_kappa: float = param(1.0, "extra swap requests per hour per task of backlog per staff above 1", ge=0)
    dt_h: float = param(0.25, "time between health checks (at least one minute)", unit="hours", gt=0)
    warmup_days: float = param(7.0, "warm-up: observed by the detectors, not scored", unit="days", ge=0)
    scenario_days: float = param(14.0, "scored part of the run, after the warm-up", unit="days", gt=0)

    @model_validator(mode="after")
    def _steps_fit(self) -> OrgConfig:
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
        return self

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)

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
