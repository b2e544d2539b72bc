"""The benchmarks' yardstick, and where they write their figures.

The yardstick is a bare SimPy M/M/c queue, timed in the same benchmark as what it measures:
``simpy.Resource`` with c = 48 servers at rho = 0.8, exponential service with mean 1 h, one process
per customer, run to 300,000 tasks. Every performance target is a ratio against its CPU time (or
its CPU time per task), so a loaded or a faster machine moves both sides alike.

Each benchmark writes its figures, target and verdict to ``.benchmarks/figures/<name>.json``
(git-ignored) before it asserts, so a missed target still leaves its numbers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from harness.run.files import write_text

TASKS = 300_000
SERVERS = 48
RHO = 0.8
SERVICE_MEAN_H = 1.0
FIGURES = Path(__file__).resolve().parent.parent / ".benchmarks" / "figures"


def bare_mmc(n_tasks: int = TASKS, seed: int = 0) -> int:
    """Run the M/M/c queue to ``n_tasks`` customers; return how many were served."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(SERVICE_MEAN_H / (RHO * SERVERS), n_tasks).tolist()
    service = rng.exponential(SERVICE_MEAN_H, n_tasks).tolist()
    env = simpy.Environment()
    staff = simpy.Resource(env, capacity=SERVERS)
    served = 0

    def customer(service_h: float):
        nonlocal served
        with staff.request() as request:
            yield request
            yield env.timeout(service_h)
        served += 1

    def source():
        for gap, service_h in zip(gaps, service, strict=True):
            yield env.timeout(gap)
            env.process(customer(service_h))

    env.process(source())
    env.run()
    return served


def cpu_seconds(rounds: int, fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """The least CPU time of ``rounds`` calls of ``fn(*args)`` in this process, and its last result."""
    best, out = np.inf, None
    for _ in range(rounds):
        start = time.process_time()
        out = fn(*args)
        best = min(best, time.process_time() - start)
    return best, out


def yardstick_cpu_per_task(rounds: int = 3) -> float:
    """CPU seconds per task of the bare M/M/c."""
    seconds, served = cpu_seconds(rounds, bare_mmc)
    assert served == TASKS
    return seconds / TASKS


def write_figures(name: str, figures: dict[str, Any], target: str | None, passed: bool | None) -> Path:
    """Write a benchmark's figures to ``.benchmarks/figures/<name>.json``, with its target and whether
    it was met (None: figures shown, nothing asserted), the 1-minute load average when written and
    the core count; return the path."""
    record = {
        "benchmark": name,
        "target": target,
        "passed": passed,
        "figures": figures,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
    path = FIGURES / f"{name}.json"
    write_text(path, json.dumps(record, indent=1, default=float) + "\n")
    return path
