"""Streaming replay: feed a trace to ``update()`` one health check at a time, timing each call."""

from __future__ import annotations

import time

import numpy as np

from detectors.base import Detector, Readings
from scenarios.trace import Trace


def replay(detector: Detector, trace: Trace) -> tuple[Readings, np.ndarray, np.ndarray]:
    """Readings plus per-update wall and CPU time in milliseconds, as a deployment would call it."""
    detector.reset(trace.layout)
    detector.use_stream(trace.stream)
    n = len(trace)
    wall = np.empty(n)
    cpu = np.empty(n)
    readings = []
    for k in range(n):
        obs = trace.observation(k)
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        readings.append(detector.update(obs))
        wall[k], cpu[k] = time.perf_counter_ns() - w0, time.thread_time_ns() - c0
    return Readings.from_list(trace.time_h, readings, trace.layout.n_units), wall / 1e6, cpu / 1e6


def overhead_row(wall_ms: np.ndarray, cpu_ms: np.ndarray) -> dict[str, float]:
    """Per-update cost summary of one replay."""
    return {
        "n_updates": int(wall_ms.size),
        "wall_p50_ms": float(np.percentile(wall_ms, 50)),
        "wall_p99_ms": float(np.percentile(wall_ms, 99)),
        "wall_max_ms": float(wall_ms.max()),
        "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
        "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
    }
