"""The SimPy organisation model (DESIGN section 3).

Tasks arrive at units, wait in the unit's queue and are served one at a time by the unit's staff.
A coordinator moves waiting tasks from backed-up units to quieter ones; staff call in sick more
often when their unit has been busy; units file swap requests when their backlog grows. Every
``dt_h`` the health check records what a scheduler could observe.

The units' numbers live in one (quantities x units) float array, ``Organisation.state``: the
record's fields (interval counters, busy and on-duty staff, busy hours), the start of the current
busy-hours stretch and the tasks in transit. Events update single entries through a memoryview of
each row (Python-speed indexing, no numpy scalar per event); the health check reads, records and
resets every unit in a handful of array operations, with no list converted to an array.

Staff, arrivals, transfers and the periodic processes are SimPy events with callbacks; an absence
is a SimPy process (it starts at the moment of the sick call, as an interrupt would, and ends when
the member returns).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Iterator
from functools import partial

import numpy as np
import simpy

from scenarios.catalogue import Plan, Routing, StaffShock
from scenarios.org import OrgConfig
from scenarios.trace import FIELDS

ARRIVALS, COMPLETIONS, TRANSFERS_OUT, TRANSFERS_IN, SWAP_REQUESTS, ABSENCES = range(6)
QUEUE, BUSY, STAFF_ON_DUTY, BUSY_HOURS = range(6, 10)
SINCE, IN_TRANSIT = range(len(FIELDS), len(FIELDS) + 2)  # rows of the state beyond the record's fields
FATIGUE_ONSET, FATIGUE_SPAN = 0.7, 0.3  # busy fraction where absences start to rise, and its scale
TRAILING_H = 24.0  # window of the busy fraction that drives absences
CHUNK = 1 << 16  # arrivals converted to Python numbers at a time


class StaffMember:
    """Serves its unit's queue one task at a time; goes home when called in sick.

    ``state`` is idle (waiting for work), called (woken, starting at this instant), serving or home.
    ``pending`` is the event the member waits for; a callback of any other event is stale.
    """

    __slots__ = ("org", "unit", "state", "task_h", "started", "pending")

    def __init__(self, org: Organisation, unit: int) -> None:
        self.org, self.unit = org, unit
        self.state = "idle"
        self.task_h = 0.0
        self.started = 0.0
        self.pending: simpy.Event | None = None

    def wake_up(self) -> None:
        """Called to the queue: starts at this instant, after the events already due now."""
        self.state = "called"
        self.pending = self.org.env.timeout(0)
        self.pending.callbacks.append(self._woken)

    def _woken(self, event: simpy.Event) -> None:
        if event is self.pending:
            self.seek_work()

    def seek_work(self) -> None:
        """Serve the task at the head of the queue, or wait among the idle staff."""
        org, unit = self.org, self.unit
        queue = org.waiting[unit]
        if not queue:
            self.state = "idle"
            self.pending = None
            org.idle[unit].append(self)
            return
        self.state = "serving"
        self.task_h = queue.popleft()
        self.started = org.env.now
        org.set_busy(unit, +1)
        self.pending = org.env.timeout(self.task_h)
        self.pending.callbacks.append(self._done)

    def _done(self, event: simpy.Event) -> None:
        if event is self.pending:
            org = self.org
            org.set_busy(self.unit, -1)
            org.counts[COMPLETIONS][self.unit] += 1
            self.seek_work()

    def call_in_sick(self, hours: float) -> None:
        """Leave now for ``hours``: the current task goes back to the head of the queue."""
        org, unit = self.org, self.unit
        if self.state == "serving":
            org.set_busy(unit, -1)
            org.hand_back(unit, self.task_h - (org.env.now - self.started))
        elif self.state == "idle":
            org.idle[unit].remove(self)
        else:  # called to a task it has not started: someone else must take it
            org.call_idle_member(unit)
        self.state = "home"
        self.pending = None
        org.on_duty[unit] -= 1
        org.away += 1
        org.counts[ABSENCES][unit] += 1
        org.env.process(self._absence(hours))

    def _absence(self, hours: float) -> Generator[simpy.Event, None, None]:
        yield self.org.env.timeout(hours)
        self.state = "called"
        self.org.on_duty[self.unit] += 1
        self.org.away -= 1
        self.seek_work()


class Organisation:
    """The units' state, their graph, the coordinator's transfers in transit and the record."""

    def __init__(
        self, org: OrgConfig, plan: Plan, rng: np.random.Generator, env: simpy.Environment | None = None
    ) -> None:
        self.org, self.plan, self.rng = org, plan, rng
        self.env = env if env is not None else simpy.Environment()
        n = org.n_units
        self.graph = org.org_graph()
        self.waiting: list[deque[float]] = [deque() for _ in range(n)]  # remaining service hours
        self.staff = [[StaffMember(self, u) for _ in range(org.staff_per_unit)] for u in range(n)]
        self.idle = [list(members) for members in self.staff]  # the last one is called first
        self.state = np.zeros((IN_TRANSIT + 1, n))  # rows: FIELDS, then SINCE and IN_TRANSIT
        self.state[STAFF_ON_DUTY] = org.staff_per_unit
        self.full_staff, self.away = n * org.staff_per_unit, 0  # staff, and those called in sick
        # per-event access to single entries (numpy's stubs: ndarray is a buffer from Python 3.12 on)
        rows: list[memoryview[float]] = [memoryview(row) for row in self.state]  # type: ignore[arg-type]
        self.counts = rows[ARRIVALS : ABSENCES + 1]  # interval counters
        self.busy, self.on_duty = rows[BUSY], rows[STAFF_ON_DUTY]
        self.busy_hours = rows[BUSY_HOURS]  # staff-hours served in the current interval, up to `since`
        self.since = rows[SINCE]
        self.in_transit = rows[IN_TRANSIT]  # tasks on their way to each unit
        self.n_steps = int(round(org.duration_h / org.dt_h))
        self.record = np.zeros((self.n_steps, len(FIELDS), n))
        # running totals of busy and of on-duty staff-hours since the start, for the trailing busy
        # fraction: a ring holding the last `window` + 1 steps' totals
        self.window = max(1, int(round(TRAILING_H / org.dt_h)))
        self.totals = np.zeros((self.window + 1, 2, n))
        self.step = 0
        self.budget = 0.0  # the coordinator's transfer allowance
        # what the swap-request formula gives for a unit that is not backed up
        self.base_swap_lam = (org.swap_base_rate_per_h + org.swap_kappa * 0.0) * org.dt_h

    # --- the units -------------------------------------------------------------------------------

    def receive(self, unit: int, task_h: float, counter: int) -> None:
        """A task joins the back of the unit's queue and an idle staff member is called to it."""
        self.counts[counter][unit] += 1
        self.waiting[unit].append(task_h)
        self.call_idle_member(unit)

    def hand_back(self, unit: int, task_h: float) -> None:
        """An interrupted task returns to the head of the queue."""
        self.waiting[unit].appendleft(task_h)
        self.call_idle_member(unit)

    def call_idle_member(self, unit: int) -> None:
        """The idle member called starts after every other event due at this instant; when there is
        none (as for an arrival at a random time), that is at once, without an event of its own."""
        idle = self.idle[unit]
        if idle:
            if self.env.peek() > self.env.now:
                idle.pop().seek_work()
            else:
                idle.pop().wake_up()

    def set_busy(self, unit: int, delta: int) -> None:
        now = self.env.now
        self.busy_hours[unit] += self.busy[unit] * (now - self.since[unit])
        self.since[unit] = now
        self.busy[unit] += delta

    # --- the processes ---------------------------------------------------------------------------

    def start(self, times: np.ndarray, units: np.ndarray, service_h: np.ndarray) -> None:
        """Schedule the first arrival, health check, coordinator round and staff shocks."""
        env = self.env
        self.tasks = pre_drawn(times, units, service_h)
        self.next_arrival(None)
        if self.n_steps:
            env.timeout(self.org.dt_h).callbacks.append(self.health_check)
        env.timeout(self.org.rebalance_interval_h).callbacks.append(self.coordinator)
        for shock in self.plan.shocks:
            env.timeout(shock.time_h - env.now).callbacks.append(partial(self.staff_shock, shock))

    def next_arrival(self, event: simpy.Event | None) -> None:
        """Tasks arrive at their units at pre-drawn times (a non-homogeneous Poisson stream)."""
        if event is not None:
            unit, task_h = event.value  # type: ignore[misc]  # simpy types Event.value Optional[Any]
            self.receive(unit, task_h, ARRIVALS)
        arrival = next(self.tasks, None)
        if arrival is not None:
            t, unit, task_h = arrival
            self.env.timeout(t - self.env.now, (unit, task_h)).callbacks.append(self.next_arrival)

    def health_check(self, event: simpy.Event) -> None:
        """Every dt: sick calls and swap requests are filed, then the scheduler records the state."""
        self.sick_calls()
        state = self.state
        state[QUEUE] = np.fromiter(map(len, self.waiting), dtype=float, count=len(self.waiting))
        state[SWAP_REQUESTS] = self.swap_requests(state[QUEUE], state[STAFF_ON_DUTY])
        self.observe()
        if self.step < self.n_steps:
            self.env.timeout(self.org.dt_h).callbacks.append(self.health_check)

    def coordinator(self, event: simpy.Event) -> None:
        """Every interval the coordinator moves waiting tasks from backed-up to quieter units."""
        org, env = self.org, self.env
        env.timeout(org.rebalance_interval_h).callbacks.append(self.coordinator)
        allowance = org.rebalance_capacity_per_h * self.plan.rebalance_factor(env.now)
        per_round = allowance * org.rebalance_interval_h
        budget = min(self.budget + per_round, max(per_round, 1.0)) if per_round > 0 else 0.0
        self.budget = budget - self.rebalance(int(budget))

    def transfer(self, source: int, target: int, task_h: float) -> None:
        """A task travels between units for ``transfer_delay_h`` per hop."""
        delay = self.org.transfer_delay_h * self.graph.distance(source, target)
        self.env.timeout(delay, (target, task_h)).callbacks.append(self.transfer_arrives)

    def transfer_arrives(self, event: simpy.Event) -> None:
        target, task_h = event.value  # type: ignore[misc]  # simpy types Event.value Optional[Any]
        self.in_transit[target] -= 1
        self.receive(target, task_h, TRANSFERS_IN)

    def staff_shock(self, shock: StaffShock, event: simpy.Event) -> None:
        """Part of a unit's staff leaves at once (the staff_loss scenario); the callback of the shock's
        timeout ``event``."""
        present = [m for m in self.staff[shock.unit] if m.state != "home"]
        for member in present[: shock.n_staff]:
            member.call_in_sick(shock.duration_h)

    # --- what happens at each health check, for every unit at once --------------------------------

    def sick_calls(self) -> None:
        """Each member on duty calls in sick with the unit's fatigue hazard. The thinning draw needs
        the highest probability, and each candidate's own only when there is a candidate."""
        k, ring = self.step, len(self.totals)
        served, duty = self.totals[k % ring] - self.totals[max(0, k - self.window) % ring]
        busy_fraction = np.divide(served, duty, out=np.zeros(len(served)), where=duty > 0)
        top = float(busy_fraction.max())

        def p_of(units: np.ndarray) -> np.ndarray:
            return np.array([self.absence_p(b) for b in busy_fraction[units].tolist()])

        units, positions = draw_sick_calls(
            self.rng,
            self.state[STAFF_ON_DUTY],
            self.full_staff - self.away,
            self.absence_p(top),
            p_of if top > FATIGUE_ONSET else None,  # below the onset every unit has the base hazard
        )
        if len(units):
            present = {u: [m for m in self.staff[u] if m.state != "home"] for u in set(units.tolist())}
            for member in [present[u][j] for u, j in zip(units.tolist(), positions.tolist(), strict=True)]:
                member.call_in_sick(self.org.absence_duration_h)

    def absence_p(self, busy_fraction: float) -> float:
        """A member's probability of calling in sick within one dt, at this trailing busy fraction:
        the hazard rises linearly from ``absence_hazard_per_h`` above the fatigue onset."""
        org = self.org
        fatigue = max(0.0, busy_fraction - FATIGUE_ONSET) / FATIGUE_SPAN
        return -math.expm1(-org.absence_hazard_per_h * (1.0 + org.absence_beta * fatigue) * org.dt_h)

    def swap_requests(self, queue: np.ndarray, on_duty: np.ndarray) -> np.ndarray:
        """Swap requests of the interval: Poisson, faster as the backlog per staff member grows."""
        org = self.org
        excess = queue / np.maximum(on_duty, 1) - 1.0
        if excess.max() > 0:
            rate = org.swap_base_rate_per_h + org.swap_kappa * np.maximum(0.0, excess)
            return self.rng.poisson(rate * org.dt_h)
        return draw_poisson(self.rng, self.base_swap_lam, len(queue))  # nobody is backed up

    def observe(self) -> None:
        """Record the interval's counters and the state, and start the next interval."""
        state, now, k = self.state, self.env.now, self.step
        state[BUSY_HOURS] += state[BUSY] * (now - state[SINCE])
        row = self.record[k]
        row[:] = state[: len(FIELDS)]
        state[ARRIVALS : ABSENCES + 1] = 0.0
        state[BUSY_HOURS] = 0.0
        state[SINCE] = now
        ring = len(self.totals)
        total = self.totals[(k + 1) % ring]
        np.add(self.totals[k % ring, 0], row[BUSY_HOURS], out=total[0])
        np.add(self.totals[k % ring, 1], row[STAFF_ON_DUTY] * self.org.dt_h, out=total[1])
        self.step += 1

    def rebalance(self, allowance: int) -> int:
        """Move up to ``allowance`` tasks, each from the most to the least loaded unit; return moves."""
        if allowance <= 0:
            return 0
        waiting = list(map(len, self.waiting))
        total_duty = sum(self.on_duty)
        if total_duty == 0:
            return 0
        mean = (sum(waiting) + sum(self.in_transit)) / total_duty
        bar = mean + self.org.rebalance_margin
        if not any(  # the usual case: nobody is backed up, nothing to move
            q > 0 and (d == 0 or (q + t) / d > bar)
            for q, d, t in zip(waiting, self.on_duty, self.in_transit, strict=True)
        ):
            return 0
        queue = np.array(waiting, dtype=float)
        on_duty = self.state[STAFF_ON_DUTY]  # no event happens during the round
        load = queue + self.state[IN_TRANSIT]
        staffed = on_duty > 0
        per_staff = np.divide(load, on_duty, out=np.where(load > 0, np.inf, 0.0), where=staffed)
        as_source = np.where(queue > 0, per_staff, -np.inf)  # a source needs a waiting task
        as_target = np.where(staffed, per_staff, np.inf)  # a target needs staff
        moves = 0
        while moves < allowance:
            source = int(as_source.argmax())  # the first of the most loaded
            if as_source[source] <= bar:  # (-inf when no unit has a waiting task)
                break
            target = self.least_loaded(source, as_target)
            if target == source or as_target[target] >= mean:
                break
            self.counts[TRANSFERS_OUT][source] += 1
            queue[source] -= 1
            for unit, change in ((source, -1), (target, +1)):
                load[unit] += change
                per_staff[unit] = (
                    load[unit] / on_duty[unit] if staffed[unit] else (np.inf if load[unit] > 0 else 0.0)
                )
                as_source[unit] = per_staff[unit] if queue[unit] > 0 else -np.inf
                as_target[unit] = per_staff[unit] if staffed[unit] else np.inf
            self.in_transit[target] += 1
            self.transfer(source, target, self.waiting[source].pop())
            moves += 1
        return moves

    def least_loaded(self, source: int, as_target: np.ndarray) -> int:
        """The unit with the least load per staff member among those with staff (the others are
        inf in ``as_target``); ties: nearest to ``source``, then the lowest index."""
        tied = np.flatnonzero(as_target == as_target.min())
        return int(tied[0]) if len(tied) == 1 else int(tied[np.argmin(self.graph.distances(source, tied))])


def draw_sick_calls(
    rng: np.random.Generator,
    on_duty: np.ndarray,
    total: int,
    p_max: float,
    p_of: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Who calls in sick: each of unit u's ``on_duty[u]`` members (``total`` in all) independently
    with probability ``p_of(u)`` (at most ``p_max``; None: ``p_max`` for every unit), as (unit,
    position among the unit's members on duty) pairs, in order.

    A thinning draw, exact in distribution: candidates are spaced geometrically at ``p_max`` along
    the staff of all units in a row, and a candidate of unit u stays with probability
    ``p_of(u) / p_max``. Each member is thus chosen with probability ``p_of(u)``, independently, so
    a unit's count is Binomial(on_duty[u], p_of(u)) and, given the count, every set of its members
    is equally likely. With a small ``p_max`` this costs one scalar draw, and ``p_of`` is called
    only for candidates.

    >>> units, positions = draw_sick_calls(np.random.default_rng(3), np.array([4.0, 0.0, 4.0]), 8, 0.4)
    >>> bool(np.isin(units, [0, 2]).all() and (positions < 4).all())
    True
    """
    none = np.zeros(0, dtype=np.int64)
    if p_max <= 0.0 or total == 0:
        return none, none
    candidates = []
    position = int(rng.geometric(p_max)) - 1
    while position < total:
        candidates.append(position)
        position += int(rng.geometric(p_max))
    if not candidates:
        return none, none
    chosen = np.array(candidates, dtype=np.int64)
    ends = np.cumsum(on_duty)
    units = np.searchsorted(ends, chosen, side="right")
    if p_of is not None:
        keep = rng.uniform(size=chosen.size) * p_max < p_of(units)
        chosen, units = chosen[keep], units[keep]
    return units, chosen - (ends[units] - on_duty[units]).astype(np.int64)


def draw_poisson(rng: np.random.Generator, lam: float, size: int) -> np.ndarray:
    """``size`` Poisson counts of mean ``lam``: the same numbers as ``rng.poisson(np.full(size, lam))``.

    >>> a = draw_poisson(np.random.default_rng(1), 0.7, 4)
    >>> a.tolist() == np.random.default_rng(1).poisson(np.full(4, 0.7)).tolist()
    True
    """
    return rng.poisson(lam, size=size)


def pre_drawn(times: np.ndarray, units: np.ndarray, service_h: np.ndarray) -> Iterator[tuple]:
    """(time, unit, service hours) of each task as Python numbers, converted a chunk at a time."""
    for lo in range(0, len(times), CHUNK):
        hi = lo + CHUNK
        yield from zip(times[lo:hi].tolist(), units[lo:hi].tolist(), service_h[lo:hi].tolist(), strict=True)


def routing(plan: Plan, org: OrgConfig) -> Routing:
    """The plan's routing, or routing by each unit's share of the capacity."""
    if plan.routing is not None:
        return plan.routing
    capacity = org.staff * org.service_rate
    share = capacity / capacity.sum() if capacity.sum() > 0 else np.zeros_like(capacity)
    return Routing.fixed(share)


def draw_arrivals(
    plan: Plan, org: OrgConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival times, target units and service times, by thinning a bounding Poisson stream.

    Each candidate is tested against its own unit's rate only, so memory grows with the number of
    tasks, never with tasks x units.
    """
    capacity_total = float((org.staff * org.service_rate).sum())
    horizon = org.duration_h
    route = routing(plan, org)
    grid = np.linspace(0.0, horizon, int(horizon * 60) + 1)
    peak = route.peak_rates(grid, total_rate(plan, org, grid))
    bound = peak * 1.05 + 1e-12  # per unit; profiles vary slowly between grid points
    counts = rng.poisson(bound * horizon) if capacity_total > 0 else np.zeros(org.n_units, dtype=int)
    units = np.repeat(np.arange(org.n_units), counts)
    times = rng.uniform(0.0, horizon, size=units.size)
    order = np.argsort(times, kind="stable")
    times, units = times[order], units[order]
    accept = rng.uniform(size=times.size) * bound[units] < total_rate(plan, org, times) * route.shares_of(
        times, units
    )
    times, units = times[accept], units[accept]
    return times, units, draw_service(org, rng, times.size)


def total_rate(plan: Plan, org: OrgConfig, t: np.ndarray) -> np.ndarray:
    """System arrival rate rho(t) * capacity, tasks per hour."""
    return plan.rho(t) * (org.staff * org.service_rate).sum()


def unit_rates(plan: Plan, org: OrgConfig, t: np.ndarray) -> np.ndarray:
    """True arrival rate lambda_i(t) (tasks per hour), shape (len(t), N)."""
    return total_rate(plan, org, t)[:, None] * routing(plan, org).shares(t)


def draw_service(org: OrgConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Service times in hours: exponential, or lognormal with coefficient of variation service_cv."""
    mean = org.service_mean_h
    if org.service_cv is None:
        return rng.exponential(mean, size=n)
    sigma2 = np.log1p(org.service_cv**2)
    return rng.lognormal(np.log(mean) - sigma2 / 2.0, np.sqrt(sigma2), size=n)


FLOAT = 8  # bytes of a float64 or int64
ARRIVAL_GRID_PER_H = 60  # draw_arrivals bounds the rates on a one-minute grid
THINNING_MARGIN = 1.05
STAFF_OBJECT_BYTES = 2048  # a StaffMember, its SimPy process and generator
TASK_BYTES = 3 * FLOAT + 2 * 32  # the accepted arrays, and the Python floats arrivals() iterates over
CANDIDATE_BYTES = 8 * FLOAT  # times, units, sort order, sorted copies, uniforms, bounds per candidate


def expected_tasks(org: OrgConfig, plan: Plan) -> tuple[float, float]:
    """Expected thinning candidates and accepted tasks of one run (draw_arrivals), from the load
    profile sampled on up to 4,097 points and each unit's peak routing share."""
    horizon = org.duration_h
    capacity = float((org.staff * org.service_rate).sum())
    t = np.linspace(0.0, horizon, min(int(horizon * ARRIVAL_GRID_PER_H) + 1, 4097))
    rho = np.asarray(plan.rho(t), dtype=float)
    peak_share = 1.0
    if plan.routing is not None:
        peak_share = float(np.maximum(plan.routing.before, plan.routing.after).sum())
    candidates = THINNING_MARGIN * float(rho.max(initial=0.0)) * capacity * peak_share * horizon
    return candidates, float(rho.mean()) * capacity * horizon


def simulation_bytes(org: OrgConfig, plan: Plan) -> float:
    """Estimated peak bytes of one simulation (arrivals, model, truth), counting the arrays each
    phase holds at once: N units, T health checks, G grid minutes, C thinning candidates, A tasks.
    The org graphs (complete, ring) are implicit: no N x N matrix."""
    n, steps = org.n_units, int(round(org.duration_h / org.dt_h))
    grid = int(org.duration_h * ARRIVAL_GRID_PER_H) + 1
    candidates, tasks = expected_tasks(org, plan)
    arrivals = 2 * FLOAT * n * grid + CANDIDATE_BYTES * candidates  # peak rates on the grid, bounds
    record = FLOAT * len(FIELDS) * steps * n
    model = record + TASK_BYTES * tasks + STAFF_OBJECT_BYTES * n * org.staff_per_unit
    truth = record + 5 * FLOAT * steps * n  # backlog, shares and rates of every unit per step
    return max(arrivals, model, truth)


def trace_bytes(org: OrgConfig) -> float:
    """Bytes a finished trace holds: observations and true rates."""
    n, steps = org.n_units, int(round(org.duration_h / org.dt_h))
    return FLOAT * (len(FIELDS) + 1) * steps * n


def start_model(
    org: OrgConfig, plan: Plan, rng: np.random.Generator, env: simpy.Environment | None = None
) -> Organisation:
    """The organisation with its arrivals, staff and health checks started in ``env`` (default: a
    new simulation clock).

    Advance it with ``env.run(until=...)``; health check k (time ``(k + 1) * dt_h``) is
    ``model.record[k]`` once ``model.step > k``. Any environment gives the same observations, a
    ``simpy.rt.RealtimeEnvironment`` only paces them.
    """
    model = Organisation(org, plan, rng, env)
    model.start(*draw_arrivals(plan, org, rng))
    return model


def run_model(org: OrgConfig, plan: Plan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one run; return the health-check times (T,) and observations (T, F, N)."""
    model = start_model(org, plan, rng)
    model.env.run(until=org.duration_h + org.dt_h / 2)
    time_h = org.dt_h * np.arange(1, model.n_steps + 1)
    return time_h, model.record
