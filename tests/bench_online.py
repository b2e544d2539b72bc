"""Cost of the phase-4 tuner per health check at 1,000 units, against transport on the same stream.

The roadmap admits phase 4 into the default study only under 50 ms per health check; transport,
which it extends, is the yardstick the ratio is reported against.
Figures: .benchmarks/figures/online_tuner.json.
Run with: python -m pytest -m bench tests/bench_online.py
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from bench_detectors import WARMUP_STEPS, observations
from yardstick import write_figures

import detectors
from scenarios.trace import Observation

pytest.importorskip("river", reason="needs the optional extra 'online'")
pytestmark = pytest.mark.bench
N_UNITS = 1_000
ROADMAP_MS = 50.0  # the roadmap's overhead criterion, per health check


def update_ms(name: str) -> np.ndarray:
    """Wall time of each update() after a day of untimed warm-up, in ms."""
    layout, time_h, values = observations(N_UNITS)
    detector = detectors.make(name)
    detector.reset(layout)
    times = []
    for k, (t, v) in enumerate(zip(time_h, values, strict=True)):
        obs = Observation(float(t), v)
        start = time.perf_counter()
        detector.update(obs)
        if k >= WARMUP_STEPS:
            times.append(time.perf_counter() - start)
    return np.asarray(times) * 1e3


def test_tuner_cost_per_health_check(benchmark):
    online = benchmark.pedantic(update_ms, args=("transport_online",), rounds=1, iterations=1)
    transport = update_ms("transport")
    p50, p99 = np.percentile(online, [50, 99])
    ratio = p99 / np.percentile(transport, 99)
    benchmark.extra_info.update(
        n_units=N_UNITS, p50_ms=round(p50, 4), p99_ms=round(p99, 4), p99_over_transport=round(ratio, 2)
    )
    write_figures(
        "online_tuner", dict(benchmark.extra_info), f"p99 < {ROADMAP_MS} ms", bool(p99 < ROADMAP_MS)
    )
    assert p99 < ROADMAP_MS, f"transport_online p99 {p99:.3f} ms at {N_UNITS} units (roadmap {ROADMAP_MS})"
