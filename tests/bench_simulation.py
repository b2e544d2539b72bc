"""Simulation cost per SimPy event: the organisation model against a bare SimPy M/M/c model.

The organisation model runs one default cell (12 units of 4 staff, 21 days) end to end through
``scenarios.simulate``: arrivals drawn, SimPy run, health checks recorded, ground truth derived. The
bare model is the textbook M/M/c queue (one ``simpy.Resource`` of c = 48 servers, a process per
customer, times drawn up front) at the same arrival and service rates, run for as many customers
as it takes to process the same number of SimPy events. Events are counted by the environment.
Run with: .venv/bin/python -m pytest -m bench tests/bench_simulation.py
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import simpy

import scenarios
from scenarios.org import OrgConfig

pytestmark = pytest.mark.bench
TARGET_RATIO = 1.5  # cost per event, organisation model / bare M/M/c
ROUNDS = 5


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that remembers itself, so its event count can be read after a run."""

    last: CountingEnvironment | None = None

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        CountingEnvironment.last = self

    def processed(self) -> int:
        """Events scheduled so far (a SimPy event id counter) less those still queued."""
        return next(self._eid) - len(self._queue)


def bare_mmc(n_customers: int, arrival_rate: float, service_rate: float, servers: int, seed: int) -> int:
    """Run an M/M/c queue for ``n_customers``; return the number of events processed."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / arrival_rate, n_customers).tolist()
    service = rng.exponential(1.0 / service_rate, n_customers).tolist()
    env = CountingEnvironment()
    staff = simpy.Resource(env, capacity=servers)

    def customer(service_h: float):
        with staff.request() as request:
            yield request
            yield env.timeout(service_h)

    def source():
        for gap, service_h in zip(gaps, service, strict=True):
            yield env.timeout(gap)
            env.process(customer(service_h))

    env.process(source())
    env.run()
    return env.processed()


def best_of(rounds: int, fn, *args) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


@pytest.mark.parametrize("scenario", ["steady", "ramp"])
def test_simulation_cost_per_event(benchmark, monkeypatch, scenario):
    monkeypatch.setattr(simpy, "Environment", CountingEnvironment)
    benchmark.group = "simulation"
    trace = benchmark.pedantic(scenarios.simulate, args=(scenario, 0), rounds=ROUNDS, iterations=1)
    events = CountingEnvironment.last.processed()
    ours_s = benchmark.stats.stats.min
    tasks = int(trace.arrivals.sum())

    org = OrgConfig()
    rate = tasks / org.duration_h
    servers = org.n_units * org.staff_per_unit
    pilot = bare_mmc(10_000, rate, org.service_rate, servers, seed=1) / 10_000  # events per customer
    customers = round(events / pilot)
    bare_s, bare_events = best_of(ROUNDS, bare_mmc, customers, rate, org.service_rate, servers, 0)

    per_event = (ours_s / events) / (bare_s / bare_events)
    benchmark.extra_info.update(
        events=events,
        tasks=tasks,
        us_per_event=round(1e6 * ours_s / events, 3),
        bare_events=bare_events,
        bare_customers=customers,
        bare_us_per_event=round(1e6 * bare_s / bare_events, 3),
        ratio_per_event=round(per_event, 3),
        ratio_per_task=round((ours_s / tasks) / (bare_s / customers), 3),
        target=f"ratio_per_event <= {TARGET_RATIO}",
    )
    assert per_event <= TARGET_RATIO, f"{per_event:.2f}x the cost per event of a bare SimPy M/M/c model"
