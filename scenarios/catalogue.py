"""The scenario catalogue (DESIGN section 3): load profiles, routing and shocks, jittered per seed.

Each scenario is a small class whose explicit keyword parameters are its knobs (so a Hydra
``_target_`` can build it). ``plan(rng, org)`` draws one seed's realisation. Scenario days count
from the end of the warm-up; during warm-up every scenario runs at its starting load.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from scenarios.errors import InputError
from scenarios.org import OrgConfig
from scenarios.params import Declared

Profile = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class StaffShock:
    """At ``time_h``, ``n_staff`` staff of ``unit`` leave for ``duration_h`` hours."""

    time_h: float
    unit: int
    n_staff: int
    duration_h: float


@dataclass(frozen=True, eq=False)
class Routing:
    """Shares of the arrivals routed to each unit: ``before`` until ``switch_h``, ``after`` from then on.

    >>> routing = Routing(np.array([0.5, 0.5]), np.array([0.9, 0.1]), switch_h=2.0)
    >>> routing.shares(np.array([1.0, 3.0])).tolist()
    [[0.5, 0.5], [0.9, 0.1]]
    >>> routing.shares_of(np.array([3.0]), np.array([1])).tolist()
    [0.1]
    """

    before: np.ndarray  # (N,)
    after: np.ndarray  # (N,)
    switch_h: float = np.inf

    @classmethod
    def fixed(cls, shares: np.ndarray) -> Routing:
        return cls(shares, shares)

    def shares(self, t: np.ndarray) -> np.ndarray:
        """(len(t), N) shares at each time."""
        return np.where(np.asarray(t)[:, None] >= self.switch_h, self.after[None, :], self.before[None, :])

    def shares_of(self, t: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Share of unit units[k] at time t[k], without building a (len(t), N) array."""
        return np.where(np.asarray(t) >= self.switch_h, self.after[units], self.before[units])

    def peak_rates(self, t: np.ndarray, total: np.ndarray) -> np.ndarray:
        """max over t of total(t) * share_i(t) per unit, from the total rates at times t."""
        peak = np.zeros(len(self.before))
        for chosen, shares in ((t < self.switch_h, self.before), (t >= self.switch_h, self.after)):
            if chosen.any():
                peak = np.maximum(peak, total[chosen].max() * shares)
        return peak


@dataclass(frozen=True)
class Plan:
    """One seed's realisation of a scenario, in absolute hours since the run started."""

    rho: Profile  # system offered load rho(t)
    routing: Routing | None = None  # None routes by staff share
    rebalance_factor: Callable[[float], float] = lambda t: 1.0
    shocks: tuple[StaffShock, ...] = ()
    onsets_h: dict[str, float] = field(default_factory=dict)
    units: tuple[int, ...] = ()  # units the scenario singles out (hot, short-staffed)


class Scenario(Declared, ABC):
    """A named load story. Subclasses set ``name``, declare their knobs with
    ``scenarios.params.param`` and implement ``plan``."""

    name: ClassVar[str]
    null_control: ClassVar[bool] = False  # every alert in this scenario should be false

    @classmethod
    def settings_section(cls) -> str:
        return f"scenario.{cls.name}"

    @abstractmethod
    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan: ...

    @property
    def label(self) -> str:
        """What reports say about this scenario's demand in their title; empty for a drawn profile."""
        return ""

    def _check(self, **bounds: tuple[float, float | None]) -> None:
        for attr, (low, high) in bounds.items():
            value = getattr(self, attr)
            if not np.isfinite(value) or value < low or (high is not None and value > high):
                allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
                raise InputError(f"scenario.{self.name}.{attr}", f"must be {allowed}; got {value!r}")

    def _onset(self, rng: np.random.Generator, org: OrgConfig, day: float, jitter_h: float) -> float:
        return org.warmup_h + 24.0 * day + rng.uniform(-jitter_h, jitter_h)

    def _hot_units(self, rng: np.random.Generator, org: OrgConfig, n_hot: int) -> tuple[int, ...]:
        if n_hot > org.n_units:
            raise InputError(
                f"scenario.{self.name}.n_hot", f"must be <= org.n_units ({org.n_units}); got {n_hot}"
            )
        return tuple(sorted(int(u) for u in rng.choice(org.n_units, size=n_hot, replace=False)))


def constant(value: float) -> Profile:
    return lambda t: np.full(np.shape(t), value, dtype=float)


def hot_weights(org: OrgConfig, hot: tuple[int, ...], hot_rho: float, rho: float) -> np.ndarray:
    """Routing weights giving ``hot`` units offered load ``hot_rho`` at system load ``rho``.

    The remaining work is shared by the other units in proportion to their staff.

    >>> org = OrgConfig(n_units=4, staff_per_unit=1)
    >>> hot_weights(org, (0,), 1.0, 0.5).round(3).tolist()
    [0.5, 0.167, 0.167, 0.167]
    """
    capacity = org.staff * org.service_rate
    rate = np.zeros(org.n_units)
    hot_mask = np.zeros(org.n_units, dtype=bool)
    hot_mask[list(hot)] = True
    rate[hot_mask] = hot_rho * capacity[hot_mask]
    rest = max(0.0, rho * capacity.sum() - rate.sum())
    cold_capacity = capacity[~hot_mask].sum()
    if cold_capacity > 0:
        rate[~hot_mask] = rest * capacity[~hot_mask] / cold_capacity
    total = rate.sum()
    return rate / total if total > 0 else np.full(org.n_units, 1.0 / org.n_units)


def switch_routing(org: OrgConfig, at_h: float, after: np.ndarray) -> Routing:
    """Staff-share routing before ``at_h``, ``after`` from then on."""
    before = org.staff / org.staff.sum() if org.staff.sum() > 0 else np.full(org.n_units, 1 / org.n_units)
    return Routing(before, after, at_h)


class Steady(Scenario):
    """Constant load: the null control, so every alert is false."""

    name = "steady"
    null_control = True

    def __init__(self, rho: float = 0.6) -> None:
        self.rho = rho
        self._check(rho=(0.0, None))

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        return Plan(rho=constant(self.rho))


class Diurnal(Scenario):
    """A daily cycle around a safe mean: the null control with seasonality."""

    name = "diurnal"
    null_control = True

    def __init__(self, rho: float = 0.6, amplitude: float = 0.12, period_h: float = 24.0) -> None:
        self.rho, self.amplitude, self.period_h = rho, amplitude, period_h
        self._check(rho=(0.0, None), amplitude=(0.0, None), period_h=(1e-9, None))
        if amplitude > rho:
            raise InputError("scenario.diurnal.amplitude", f"must be <= rho ({rho}); got {amplitude}")

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        rho, amp, period = self.rho, self.amplitude, self.period_h
        return Plan(rho=lambda t: rho + amp * np.sin(2 * np.pi * np.asarray(t) / period))


class Ramp(Scenario):
    """Load rises linearly from ``rho_start`` to ``rho_end`` over ``ramp_days``, then holds."""

    name = "ramp"

    def __init__(
        self,
        rho_start: float = 0.6,
        rho_end: float = 1.05,
        start_day: float = 0.5,
        ramp_days: float = 7.0,
        jitter_h: float = 12.0,
    ) -> None:
        self.rho_start, self.rho_end = rho_start, rho_end
        self.start_day, self.ramp_days, self.jitter_h = start_day, ramp_days, jitter_h
        self._check(
            rho_start=(0.0, None),
            rho_end=(0.0, None),
            start_day=(0.0, None),
            ramp_days=(1e-9, None),
            jitter_h=(0.0, None),
        )

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        start = self._onset(rng, org, self.start_day, self.jitter_h)
        end = start + 24.0 * self.ramp_days
        a, b = self.rho_start, self.rho_end
        return Plan(rho=lambda t: np.interp(t, [start, end], [a, b]), onsets_h={"ramp_start": start})


class Spike(Scenario):
    """A sudden surge to ``spike_rho`` for ``duration_h`` hours, then back to ``base_rho``."""

    name = "spike"

    def __init__(
        self,
        base_rho: float = 0.6,
        spike_rho: float = 1.3,
        onset_day: float = 3.0,
        duration_h: float = 6.0,
        jitter_h: float = 12.0,
    ) -> None:
        self.base_rho, self.spike_rho = base_rho, spike_rho
        self.onset_day, self.duration_h, self.jitter_h = onset_day, duration_h, jitter_h
        self._check(
            base_rho=(0.0, None),
            spike_rho=(0.0, None),
            onset_day=(0.0, None),
            duration_h=(0.0, None),
            jitter_h=(0.0, None),
        )

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        on = self._onset(rng, org, self.onset_day, self.jitter_h)
        off = on + self.duration_h
        base, peak = self.base_rho, self.spike_rho
        return Plan(
            rho=lambda t: np.where((np.asarray(t) >= on) & (np.asarray(t) < off), peak, base),
            onsets_h={"spike": on},
        )


class Uneven(Scenario):
    """System load stays moderate, but ``n_hot`` units run above capacity from ``onset_day``."""

    name = "uneven"

    def __init__(
        self,
        rho: float = 0.65,
        hot_rho: float = 1.1,
        n_hot: int = 3,
        onset_day: float = 2.0,
        jitter_h: float = 12.0,
    ) -> None:
        self.rho, self.hot_rho, self.n_hot = rho, hot_rho, n_hot
        self.onset_day, self.jitter_h = onset_day, jitter_h
        self._check(
            rho=(0.0, None),
            hot_rho=(0.0, None),
            n_hot=(1, None),
            onset_day=(0.0, None),
            jitter_h=(0.0, None),
        )

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        on = self._onset(rng, org, self.onset_day, self.jitter_h)
        hot = self._hot_units(rng, org, self.n_hot)
        after = hot_weights(org, hot, self.hot_rho, self.rho)
        return Plan(
            rho=constant(self.rho),
            routing=switch_routing(org, on, after),
            onsets_h={"uneven": on},
            units=hot,
        )


class Recovery(Scenario):
    """Overload at ``high_rho`` for ``high_days``, then relief at ``low_rho``: how fast do scores reset?"""

    name = "recovery"

    def __init__(
        self,
        base_rho: float = 0.6,
        high_rho: float = 1.1,
        low_rho: float = 0.5,
        onset_day: float = 1.0,
        high_days: float = 2.0,
        jitter_h: float = 12.0,
    ) -> None:
        self.base_rho, self.high_rho, self.low_rho = base_rho, high_rho, low_rho
        self.onset_day, self.high_days, self.jitter_h = onset_day, high_days, jitter_h
        self._check(
            base_rho=(0.0, None),
            high_rho=(0.0, None),
            low_rho=(0.0, None),
            onset_day=(0.0, None),
            high_days=(0.0, None),
            jitter_h=(0.0, None),
        )

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        on = self._onset(rng, org, self.onset_day, self.jitter_h)
        off = on + 24.0 * self.high_days
        base, high, low = self.base_rho, self.high_rho, self.low_rho

        def rho(t: np.ndarray) -> np.ndarray:
            t = np.asarray(t)
            return np.where(t < on, base, np.where(t < off, high, low))

        return Plan(rho=rho, onsets_h={"overload": on, "relief": off})


class RebalancingFailure(Scenario):
    """Mildly hot units kept stable by rebalancing, until rebalancing capacity drops at ``failure_day``."""

    name = "rebalancing_failure"

    def __init__(
        self,
        rho: float = 0.7,
        hot_rho: float = 0.95,
        n_hot: int = 3,
        failure_day: float = 3.0,
        remaining_capacity: float = 0.0,
        jitter_h: float = 12.0,
    ) -> None:
        self.rho, self.hot_rho, self.n_hot = rho, hot_rho, n_hot
        self.failure_day, self.remaining_capacity, self.jitter_h = failure_day, remaining_capacity, jitter_h
        self._check(
            rho=(0.0, None),
            hot_rho=(0.0, None),
            n_hot=(1, None),
            failure_day=(0.0, None),
            remaining_capacity=(0.0, 1.0),
            jitter_h=(0.0, None),
        )

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        failure = self._onset(rng, org, self.failure_day, self.jitter_h)
        hot = self._hot_units(rng, org, self.n_hot)
        weights = hot_weights(org, hot, self.hot_rho, self.rho)
        remaining = self.remaining_capacity
        return Plan(
            rho=constant(self.rho),
            routing=Routing.fixed(weights),
            rebalance_factor=lambda t: remaining if t >= failure else 1.0,
            onsets_h={"failure": failure},
            units=hot,
        )


class StaffLoss(Scenario):
    """At ``onset_day`` one unit loses ``lost_fraction`` of its staff for ``duration_h`` hours."""

    name = "staff_loss"

    def __init__(
        self,
        rho: float = 0.6,
        onset_day: float = 3.0,
        lost_fraction: float = 0.5,
        duration_h: float = 48.0,
        jitter_h: float = 12.0,
    ) -> None:
        self.rho, self.onset_day, self.lost_fraction = rho, onset_day, lost_fraction
        self.duration_h, self.jitter_h = duration_h, jitter_h
        self._check(
            rho=(0.0, None),
            onset_day=(0.0, None),
            lost_fraction=(0.0, 1.0),
            duration_h=(0.0, None),
            jitter_h=(0.0, None),
        )

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        on = self._onset(rng, org, self.onset_day, self.jitter_h)
        (unit,) = self._hot_units(rng, org, 1)
        n_lost = int(round(self.lost_fraction * org.staff_per_unit))
        shock = StaffShock(on, unit, n_lost, self.duration_h)
        return Plan(rho=constant(self.rho), shocks=(shock,), onsets_h={"staff_loss": on}, units=(unit,))


CATALOGUE: dict[str, type[Scenario]] = {
    cls.name: cls for cls in (Ramp, Spike, Uneven, Recovery, RebalancingFailure, StaffLoss, Steady, Diurnal)
}
