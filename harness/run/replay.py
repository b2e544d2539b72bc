"""Streaming replay: feed a trace to a detector one health check at a time, timing each call.

The trace is validated once, as a whole (the check ``update()`` repeats per observation), then each
health check goes to ``step()``. Every call is timed with one cheap clock (``perf_counter_ns``);
CPU time (``thread_time_ns``, a system call of about a microsecond) is read around every
``CPU_SAMPLE_EVERY``-th call only, outside its wall-clock reading, so neither clock inflates the other.
"""

from __future__ import annotations

import time

import numpy as np

from detectors.base import Detector, Readings
from scenarios.trace import Observation, Trace, check_values

CPU_SAMPLE_EVERY = 8  # calls


def replay(detector: Detector, trace: Trace) -> tuple[Readings, np.ndarray, np.ndarray]:
    """Readings, the wall time of every call and the CPU time of a sample of calls, in milliseconds.

    >>> from detectors.null import NullDetector
    >>> from scenarios import simulate
    >>> trace = simulate("steady", seed=0, n_units=2, warmup_days=0.25, scenario_days=0.25)
    >>> readings, wall_ms, cpu_ms = replay(NullDetector(), trace)
    >>> len(readings), wall_ms.size, cpu_ms.size
    (48, 48, 6)
    """
    detector.reset(trace.layout)
    detector.use_stream(trace.stream)
    check_values(trace.values, f"{detector.name}.update")
    n = len(trace)
    wall = np.empty(n, dtype=np.int64)
    cpu = np.empty(-(-n // CPU_SAMPLE_EVERY), dtype=np.int64)
    readings = []
    clock, cpu_clock, step = time.perf_counter_ns, time.thread_time_ns, detector.step
    for k, (time_h, values) in enumerate(zip(trace.time_h.tolist(), trace.values, strict=True)):
        obs = Observation(time_h, values)
        if k % CPU_SAMPLE_EVERY:
            w0 = clock()
            readings.append(step(obs))
            wall[k] = clock() - w0
        else:
            c0 = cpu_clock()
            w0 = clock()
            readings.append(step(obs))
            w1 = clock()
            cpu[k // CPU_SAMPLE_EVERY] = cpu_clock() - c0
            wall[k] = w1 - w0
    return Readings.from_list(trace.time_h, readings, trace.layout.n_units), wall / 1e6, cpu / 1e6


def overhead_row(wall_ms: np.ndarray, cpu_ms: np.ndarray) -> dict[str, float]:
    """Per-update cost summary of one replay (CPU quantiles over the sampled calls)."""
    return {
        "n_updates": int(wall_ms.size),
        "wall_p50_ms": float(np.percentile(wall_ms, 50)),
        "wall_p99_ms": float(np.percentile(wall_ms, 99)),
        "wall_max_ms": float(wall_ms.max()),
        "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
        "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
    }
