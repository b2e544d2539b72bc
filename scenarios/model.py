"""The SimPy organisation model (DESIGN section 3).

Tasks arrive at units, wait in the unit's queue and are served one at a time by the unit's staff.
A coordinator moves waiting tasks from backed-up units to quieter ones; staff call in sick more
often when their unit has been busy; units file swap requests when their backlog grows. Every
``dt_h`` the health check records what a scheduler could observe.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator

import numpy as np
import simpy

from scenarios.catalogue import Plan, StaffShock
from scenarios.org import OrgConfig
from scenarios.trace import FIELD_INDEX, FIELDS

ARRIVALS, COMPLETIONS, TRANSFERS_OUT, TRANSFERS_IN, SWAP_REQUESTS, ABSENCES = range(6)
FATIGUE_ONSET, FATIGUE_SPAN = 0.7, 0.3  # busy fraction where absences start to rise, and its scale
TRAILING_H = 24.0  # window of the busy fraction that drives absences


class Unit:
    """A work unit: tasks waiting (as remaining service hours) and the staff who serve them."""

    def __init__(self, env: simpy.Environment, index: int, n_staff: int) -> None:
        self.env = env
        self.index = index
        self.waiting: deque[float] = deque()
        self.idle: list[StaffMember] = []
        self.on_duty = n_staff
        self.busy = 0
        self.busy_hours = 0.0  # staff-hours served in the current interval
        self._since = 0.0
        self.counts = [0] * 6  # interval counters, indexed by ARRIVALS ... ABSENCES
        self.staff = [StaffMember(env, self) for _ in range(n_staff)]

    def receive(self, task_h: float, counter: int = ARRIVALS) -> None:
        """A task joins the back of the queue; an idle staff member is called to it."""
        self.counts[counter] += 1
        self.waiting.append(task_h)
        self.call_idle_member()

    def hand_back(self, task_h: float) -> None:
        """An interrupted task returns to the head of the queue."""
        self.waiting.appendleft(task_h)
        self.call_idle_member()

    def call_idle_member(self) -> None:
        if self.idle:
            self.idle.pop().wake_up()

    def set_busy(self, delta: int) -> None:
        now = self.env.now
        self.busy_hours += self.busy * (now - self._since)
        self._since = now
        self.busy += delta

    def close_interval(self) -> tuple[list[int], float]:
        """Return and reset the interval counters and busy staff-hours."""
        self.set_busy(0)
        counts, hours = self.counts, self.busy_hours
        self.counts, self.busy_hours = [0] * 6, 0.0
        return counts, hours


class StaffMember:
    """Serves the unit's queue one task at a time; goes home when called in sick."""

    def __init__(self, env: simpy.Environment, unit: Unit) -> None:
        self.env = env
        self.unit = unit
        self.state = "idle"  # idle (waiting for work), called, serving, home
        self.task_h = 0.0
        self.started = 0.0
        self.wake: simpy.Event | None = None
        self.process = env.process(self.work())

    def work(self) -> Generator[simpy.Event, None, None]:
        unit, env = self.unit, self.env
        while True:
            try:
                while not unit.waiting:
                    self.state = "idle"
                    self.wake = env.event()
                    unit.idle.append(self)
                    yield self.wake
                self.state = "serving"
                self.task_h = unit.waiting.popleft()
                self.started = env.now
                unit.set_busy(+1)
                yield env.timeout(self.task_h)
                unit.set_busy(-1)
                unit.counts[COMPLETIONS] += 1
            except simpy.Interrupt as call:
                yield env.timeout(call.cause)
                self.state = "called"
                unit.on_duty += 1

    def wake_up(self) -> None:
        self.state = "called"
        self.wake.succeed()

    def call_in_sick(self, hours: float) -> None:
        """Leave now for ``hours``: the current task goes back to the head of the queue."""
        unit = self.unit
        if self.state == "serving":
            unit.set_busy(-1)
            unit.hand_back(self.task_h - (self.env.now - self.started))
        elif self.state == "idle":
            unit.idle.remove(self)
        else:  # called to a task it has not started: someone else must take it
            unit.call_idle_member()
        self.state = "home"
        unit.on_duty -= 1
        unit.counts[ABSENCES] += 1
        self.process.interrupt(hours)


class Organisation:
    """The units, their graph, the coordinator's transfers in transit and the health-check record."""

    def __init__(
        self, org: OrgConfig, plan: Plan, rng: np.random.Generator, env: simpy.Environment | None = None
    ) -> None:
        self.org, self.plan, self.rng = org, plan, rng
        self.env = env if env is not None else simpy.Environment()
        self.units = [Unit(self.env, i, org.staff_per_unit) for i in range(org.n_units)]
        self.distance = org.distance()
        self.in_transit = np.zeros(org.n_units, dtype=int)  # tasks on their way to each unit
        self.n_steps = int(round(org.duration_h / org.dt_h))
        self.record = np.zeros((self.n_steps, len(FIELDS), org.n_units))
        # running totals of busy and on-duty staff-hours, for the trailing busy fraction
        self.served_total = np.zeros((self.n_steps + 1, org.n_units))
        self.duty_total = np.zeros((self.n_steps + 1, org.n_units))
        self.window = max(1, int(round(TRAILING_H / org.dt_h)))
        self.step = 0

    # --- the processes -------------------------------------------------------------------------

    def arrivals(self, times: np.ndarray, units: np.ndarray, service_h: np.ndarray):
        """Tasks arrive at their units at pre-drawn times (a non-homogeneous Poisson stream)."""
        env = self.env
        for t, unit, task_h in zip(times.tolist(), units.tolist(), service_h.tolist(), strict=True):
            yield env.timeout(t - env.now)
            self.units[unit].receive(task_h)

    def health_check(self):
        """Every dt: sick calls and swap requests are filed, then the scheduler records the state."""
        dt = self.org.dt_h
        while self.step < self.n_steps:
            yield self.env.timeout(dt)
            self.sick_calls()
            self.swap_requests()
            self.observe()

    def coordinator(self):
        """Every interval the coordinator moves waiting tasks from backed-up to quieter units."""
        org, env = self.org, self.env
        budget = 0.0
        while True:
            yield env.timeout(org.rebalance_interval_h)
            allowance = org.rebalance_capacity_per_h * self.plan.rebalance_factor(env.now)
            per_round = allowance * org.rebalance_interval_h
            budget = min(budget + per_round, max(per_round, 1.0)) if per_round > 0 else 0.0
            budget -= self.rebalance(int(budget))

    def transfer(self, source: int, target: int, task_h: float):
        """A task travels between units for ``transfer_delay_h`` per hop."""
        yield self.env.timeout(self.org.transfer_delay_h * self.distance[source, target])
        self.in_transit[target] -= 1
        self.units[target].receive(task_h, TRANSFERS_IN)

    def staff_shock(self, shock: StaffShock):
        """Part of a unit's staff leaves at once (the staff_loss scenario)."""
        yield self.env.timeout(shock.time_h - self.env.now)
        present = [m for m in self.units[shock.unit].staff if m.state != "home"]
        for member in present[: shock.n_staff]:
            member.call_in_sick(shock.duration_h)

    # --- what happens at each health check -------------------------------------------------------

    def sick_calls(self) -> None:
        org = self.org
        lo = max(0, self.step - self.window)
        served = self.served_total[self.step] - self.served_total[lo]
        on_duty = self.duty_total[self.step] - self.duty_total[lo]
        busy_fraction = np.divide(served, on_duty, out=np.zeros_like(served), where=on_duty > 0)
        fatigue = np.maximum(0.0, busy_fraction - FATIGUE_ONSET) / FATIGUE_SPAN
        hazard = org.absence_hazard_per_h * (1.0 + org.absence_beta * fatigue)
        on_duty_now = np.array([u.on_duty for u in self.units])
        calls = self.rng.binomial(on_duty_now, -np.expm1(-hazard * org.dt_h))
        for unit, n_calls in zip(self.units, calls.tolist(), strict=True):
            if n_calls:
                present = [m for m in unit.staff if m.state != "home"]
                chosen = self.rng.choice(len(present), size=n_calls, replace=False)
                for j in sorted(chosen.tolist()):
                    present[j].call_in_sick(org.absence_duration_h)

    def swap_requests(self) -> None:
        org = self.org
        queue = np.array([len(u.waiting) for u in self.units], dtype=float)
        on_duty = np.array([max(u.on_duty, 1) for u in self.units], dtype=float)
        rate = org.swap_base_rate_per_h + org.swap_kappa * np.maximum(0.0, queue / on_duty - 1.0)
        for unit, n in zip(self.units, self.rng.poisson(rate * org.dt_h).tolist(), strict=True):
            unit.counts[SWAP_REQUESTS] += n

    def observe(self) -> None:
        counts, state = [], []
        for unit in self.units:
            interval, hours = unit.close_interval()
            counts.append(interval)
            state.append((len(unit.waiting), unit.busy, unit.on_duty, hours))
        row = self.record[self.step]
        row[:6] = np.array(counts).T
        row[6:] = np.array(state).T
        k = self.step
        self.served_total[k + 1] = self.served_total[k] + row[FIELD_INDEX["busy_hours"]]
        self.duty_total[k + 1] = self.duty_total[k] + row[FIELD_INDEX["staff_on_duty"]] * self.org.dt_h
        self.step += 1

    def rebalance(self, allowance: int) -> int:
        """Move up to ``allowance`` tasks, each from the most to the least loaded unit; return moves."""
        if allowance <= 0:
            return 0
        waiting = [len(u.waiting) for u in self.units]
        staffed = [u.on_duty for u in self.units]
        total_duty = sum(staffed)
        if total_duty == 0:
            return 0
        mean = (sum(waiting) + int(self.in_transit.sum())) / total_duty
        bar = mean + self.org.rebalance_margin
        in_transit = self.in_transit.tolist()
        if not any(  # the usual case: nobody is backed up, nothing to move
            q > 0 and (d == 0 or (q + t) / d > bar)
            for q, d, t in zip(waiting, staffed, in_transit, strict=True)
        ):
            return 0
        queue = np.array(waiting, dtype=float)
        on_duty = np.array(staffed, dtype=float)
        load = queue + self.in_transit
        moves = 0
        while moves < allowance:
            per_staff = np.divide(load, on_duty, out=np.where(load > 0, np.inf, 0.0), where=on_duty > 0)
            donors = np.flatnonzero(queue > 0)
            if donors.size == 0:
                break
            source = donors[np.argmax(per_staff[donors])]
            if per_staff[source] <= bar:
                break
            candidates = np.flatnonzero(on_duty > 0)
            nearest = np.lexsort((self.distance[source, candidates], per_staff[candidates]))
            target = candidates[nearest[0]]
            if target == source or per_staff[target] >= mean:
                break
            task_h = self.units[source].waiting.pop()
            self.units[source].counts[TRANSFERS_OUT] += 1
            queue[source] -= 1
            load[source] -= 1
            load[target] += 1
            self.in_transit[target] += 1
            self.env.process(self.transfer(source, target, task_h))
            moves += 1
        return moves


def draw_arrivals(
    plan: Plan, org: OrgConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival times, target units and service times, by thinning a bounding Poisson stream."""
    capacity = float((org.staff * org.service_rate).sum())
    horizon = org.duration_h
    grid = np.linspace(0.0, horizon, int(horizon * 60) + 1)
    rates = unit_rates(plan, org, grid)
    bound = rates.max(axis=0) * 1.05 + 1e-12  # per unit; profiles vary slowly between grid points
    counts = rng.poisson(bound * horizon) if capacity > 0 else np.zeros(org.n_units, dtype=int)
    units = np.repeat(np.arange(org.n_units), counts)
    times = rng.uniform(0.0, horizon, size=units.size)
    order = np.argsort(times, kind="stable")
    times, units = times[order], units[order]
    accept = (
        rng.uniform(size=times.size) * bound[units]
        < unit_rates(plan, org, times)[np.arange(times.size), units]
    )
    times, units = times[accept], units[accept]
    return times, units, draw_service(org, rng, times.size)


def unit_rates(plan: Plan, org: OrgConfig, t: np.ndarray) -> np.ndarray:
    """True arrival rate lambda_i(t) (tasks per hour), shape (len(t), N)."""
    capacity = org.staff * org.service_rate
    total = plan.rho(t) * capacity.sum()
    if plan.weights is None:
        share = capacity / capacity.sum() if capacity.sum() > 0 else np.zeros_like(capacity)
        return total[:, None] * share[None, :]
    return total[:, None] * plan.weights(t)


def draw_service(org: OrgConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Service times in hours: exponential, or lognormal with coefficient of variation service_cv."""
    mean = org.service_mean_h
    if org.service_cv is None:
        return rng.exponential(mean, size=n)
    sigma2 = np.log1p(org.service_cv**2)
    return rng.lognormal(np.log(mean) - sigma2 / 2.0, np.sqrt(sigma2), size=n)


def start_model(
    org: OrgConfig, plan: Plan, rng: np.random.Generator, env: simpy.Environment | None = None
) -> Organisation:
    """The organisation with its processes started in ``env`` (default: a new simulation clock).

    Advance it with ``env.run(until=...)``; health check k (time ``(k + 1) * dt_h``) is
    ``model.record[k]`` once ``model.step > k``. Any environment gives the same observations, a
    ``simpy.rt.RealtimeEnvironment`` only paces them.
    """
    model = Organisation(org, plan, rng, env)
    env = model.env
    env.process(model.arrivals(*draw_arrivals(plan, org, rng)))
    env.process(model.health_check())
    env.process(model.coordinator())
    for shock in plan.shocks:
        env.process(model.staff_shock(shock))
    return model


def run_model(org: OrgConfig, plan: Plan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one run; return the health-check times (T,) and observations (T, F, N)."""
    model = start_model(org, plan, rng)
    model.env.run(until=org.duration_h + org.dt_h / 2)
    time_h = org.dt_h * np.arange(1, model.n_steps + 1)
    return time_h, model.record
