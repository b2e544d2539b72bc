"""The scenario catalogue (DESIGN section 3): load profiles, routing and shocks, jittered per seed.

Each scenario is a small class that declares its knobs once with ``param`` (the keyword-only
constructor a Hydra ``_target_`` calls derives from them). ``plan(rng, org)`` draws one seed's
realisation. Scenario days count from the end of the warm-up; during warm-up every scenario runs at
its starting load.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from scenarios.errors import InputError
from scenarios.org import OrgConfig
from scenarios.params import Declared, param

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

    def _onset(self, rng: np.random.Generator, org: OrgConfig, day: float, jitter_h: float) -> float:
        return org.warmup_h + 24.0 * day + rng.uniform(-jitter_h, jitter_h)

    def _hot_units(self, rng: np.random.Generator, org: OrgConfig, n_hot: int) -> tuple[int, ...]:
        if n_hot > org.n_units:
            raise InputError(
                f"scenario.{self.name}.n_hot", f"must be <= org.n_units ({org.n_units}); got {n_hot}"
            )
        return tuple(sorted(int(u) for u in rng.choice(org.n_units, size=n_hot, replace=False)))


class Jittered(Scenario):
    """A scenario whose onset moves by up to ``jitter_h`` either way, drawn per seed."""

    jitter_h: float = param(12.0, "the onset moves up to this much either way, per seed", unit="hours", ge=0)


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

    rho: float = param(0.6, "offered load (1: capacity)", ge=0)

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        return Plan(rho=constant(self.rho))


class Diurnal(Scenario):
    """A daily cycle around a safe mean: the null control with seasonality."""

    name = "diurnal"
    null_control = True

    rho: float = param(0.6, "mean offered load (1: capacity)", ge=0)
    amplitude: float = param(0.12, "half the daily swing of the offered load (at most rho)", ge=0)
    period_h: float = param(24.0, "length of one cycle", unit="hours", gt=0)

    def __post_init__(self) -> None:
        if self.amplitude > self.rho:
            raise InputError(
                "scenario.diurnal.amplitude", f"must be <= rho ({self.rho}); got {self.amplitude}"
            )

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        rho, amp, period = self.rho, self.amplitude, self.period_h
        return Plan(rho=lambda t: rho + amp * np.sin(2 * np.pi * np.asarray(t) / period))


class Ramp(Jittered):
    """Load rises linearly from ``rho_start`` to ``rho_end`` over ``ramp_days``, then holds."""

    name = "ramp"

    rho_start: float = param(0.6, "offered load (1: capacity) before the ramp", ge=0)
    rho_end: float = param(1.05, "offered load (1: capacity) at the end of the ramp", ge=0)
    start_day: float = param(0.5, "scenario day the ramp starts", unit="days", ge=0)
    ramp_days: float = param(7.0, "length of the ramp", unit="days", gt=0)

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        start = self._onset(rng, org, self.start_day, self.jitter_h)
        end = start + 24.0 * self.ramp_days
        a, b = self.rho_start, self.rho_end
        return Plan(rho=lambda t: np.interp(t, [start, end], [a, b]), onsets_h={"ramp_start": start})


class Spike(Jittered):
    """A sudden surge to ``spike_rho`` for ``duration_h`` hours, then back to ``base_rho``."""

    name = "spike"

    base_rho: float = param(0.6, "offered load (1: capacity) outside the spike", ge=0)
    spike_rho: float = param(1.3, "offered load (1: capacity) during the spike", ge=0)
    onset_day: float = param(3.0, "scenario day the spike starts", unit="days", ge=0)
    duration_h: float = param(6.0, "length of the spike", unit="hours", ge=0)

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        on = self._onset(rng, org, self.onset_day, self.jitter_h)
        off = on + self.duration_h
        base, peak = self.base_rho, self.spike_rho
        return Plan(
            rho=lambda t: np.where((np.asarray(t) >= on) & (np.asarray(t) < off), peak, base),
            onsets_h={"spike": on},
        )


class Uneven(Jittered):
    """System load stays moderate, but ``n_hot`` units run above capacity from ``onset_day``."""

    name = "uneven"

    rho: float = param(0.65, "system offered load (1: capacity)", ge=0)
    hot_rho: float = param(1.1, "offered load (1: capacity) of each hot unit from the onset", ge=0)
    n_hot: int = param(3, "hot units, drawn per seed (at most org.n_units)", ge=1)
    onset_day: float = param(2.0, "scenario day the routing turns uneven", unit="days", ge=0)

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


class Recovery(Jittered):
    """Overload at ``high_rho`` for ``high_days``, then relief at ``low_rho``: how fast do scores reset?"""

    name = "recovery"

    base_rho: float = param(0.6, "offered load (1: capacity) before the overload", ge=0)
    high_rho: float = param(1.1, "offered load (1: capacity) during the overload", ge=0)
    low_rho: float = param(0.5, "offered load (1: capacity) after the overload (the relief)", ge=0)
    onset_day: float = param(1.0, "scenario day the overload starts", unit="days", ge=0)
    high_days: float = param(2.0, "length of the overload", unit="days", ge=0)

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        on = self._onset(rng, org, self.onset_day, self.jitter_h)
        off = on + 24.0 * self.high_days
        base, high, low = self.base_rho, self.high_rho, self.low_rho

        def rho(t: np.ndarray) -> np.ndarray:
            t = np.asarray(t)
            return np.where(t < on, base, np.where(t < off, high, low))

        return Plan(rho=rho, onsets_h={"overload": on, "relief": off})


class RebalancingFailure(Jittered):
    """Mildly hot units kept stable by rebalancing, until rebalancing capacity drops at ``failure_day``."""

    name = "rebalancing_failure"

    rho: float = param(0.7, "system offered load (1: capacity)", ge=0)
    hot_rho: float = param(0.95, "offered load (1: capacity) of each hot unit", ge=0)
    n_hot: int = param(3, "hot units, drawn per seed (at most org.n_units)", ge=1)
    failure_day: float = param(3.0, "scenario day rebalancing fails", unit="days", ge=0)
    remaining_capacity: float = param(0.0, "share of rebalancing capacity left after the failure", ge=0, le=1)

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


class StaffLoss(Jittered):
    """At ``onset_day`` one unit loses ``lost_fraction`` of its staff for ``duration_h`` hours."""

    name = "staff_loss"

    rho: float = param(0.6, "system offered load (1: capacity)", ge=0)
    onset_day: float = param(3.0, "scenario day the staff leave", unit="days", ge=0)
    lost_fraction: float = param(0.5, "share of the unit's staff that leave", ge=0, le=1)
    duration_h: float = param(48.0, "how long they stay away", unit="hours", ge=0)

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        on = self._onset(rng, org, self.onset_day, self.jitter_h)
        (unit,) = self._hot_units(rng, org, 1)
        n_lost = int(round(self.lost_fraction * org.staff_per_unit))
        shock = StaffShock(on, unit, n_lost, self.duration_h)
        return Plan(rho=constant(self.rho), shocks=(shock,), onsets_h={"staff_loss": on}, units=(unit,))


CATALOGUE: dict[str, type[Scenario]] = {
    cls.name: cls for cls in (Ramp, Spike, Uneven, Recovery, RebalancingFailure, StaffLoss, Steady, Diurnal)
}
