"""One health check at 1,000 units through the monitor's own path, as ``monitor.from_run`` sets it up.

``Monitor.health_check`` is what ``tdbench task=monitor`` runs per observation: validation, every
monitored detector's update, the phase-3 alert dict, the Prometheus snapshot and histogram, the
study's threshold episodes and their alert lines. The monitor is prepared by the task's own
``prepare`` from a study folder whose headline chooses every default detector but the baselines, at
thresholds that alert on about 1% of the checks (each detector's 99th percentile score on this
stream), as a study's budget would. The roadmap's criterion is p99 < 50 ms. The yardstick, timed on
the same observations, is the bare detectors' ``step()`` calls alone: their ratio is the monitor's
own overhead.
Figures: .benchmarks/figures/monitor.json.
Run with: python -m pytest -m bench tests/bench_monitor.py
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from bench_detectors import WARMUP_STEPS, observations
from monitoring import study_folder
from studies import compose_config
from yardstick import write_figures

from harness.config import build
from harness.live.alerts import AlertSink
from harness.live.choice import BASELINES
from harness.live.exporter import PrometheusExporter
from harness.live.runner import Monitor
from harness.live.service import ResilienceService
from harness.tasks.monitor import alerting, prepare
from scenarios.trace import Observation

pytestmark = pytest.mark.bench
N_UNITS = 1_000
P99_MS = 50.0  # the roadmap's criterion
OVERHEAD_RATIO = 1.5  # the monitor's path at most 1.5 x the bare detectors' p50


def built(specs: dict) -> dict:
    return {name: build(spec, f"detector.{name}") for name, spec in specs.items()}


def chosen_study(folder, layout, stream) -> dict:
    """A study folder choosing every default detector but the baselines, each at its 99th percentile
    score over ``stream``; the task's plan for ``monitor.from_run`` of it."""
    names = [name for name in compose_config().detector if name not in BASELINES]
    detectors = built(prepare(compose_config("task=monitor", "monitor.port=0")).detectors)
    for detector in detectors.values():
        detector.reset(layout)
    scores = {name: [detectors[name].step(obs).score for obs in stream] for name in names}
    thresholds = {name: float(np.nanpercentile(values, 99)) for name, values in scores.items()}
    study_folder(folder, thresholds=thresholds, feasible=names)
    return prepare(compose_config("task=monitor", f"monitor.from_run={folder}", "monitor.port=0"))


class Idle:
    """A source the benchmark feeds by hand."""

    layout = None
    description = "benchmark"

    def poll(self):
        return []


def test_health_check_of_every_default_detector(benchmark, tmp_path):
    layout, time_h, values = observations(N_UNITS)
    stream = [Observation(float(t), v) for t, v in zip(time_h, values, strict=True)]
    plan = chosen_study(tmp_path / "study", layout, stream)
    detectors = built(plan.detectors)
    service = ResilienceService(detectors, transport="transport")
    policy, _ = alerting(plan, service.transport)
    monitor = Monitor(
        service,
        Idle(),
        PrometheusExporter(list(detectors), "transport", thresholds=policy.thresholds),
        AlertSink(tmp_path / "alerts.jsonl"),
        log=print,
        alerting=policy,
    )
    service.reset(layout)
    feed = iter(stream)
    benchmark.group = f"monitor health check at {N_UNITS} units"
    benchmark.pedantic(
        monitor.health_check,
        setup=lambda: ((next(feed),), {}),
        rounds=len(stream) - WARMUP_STEPS,
        warmup_rounds=WARMUP_STEPS,
        iterations=1,
    )
    monitor.sink.close()
    times_ms = np.asarray(benchmark.stats.stats.data) * 1e3
    p50, p99 = np.percentile(times_ms, [50, 99])

    bare = built(plan.detectors)  # the yardstick: the same detectors' step() alone, same observations
    for detector in bare.values():
        detector.reset(layout)
    bare_ms = []
    for k, obs in enumerate(stream):
        start = time.perf_counter()
        for detector in bare.values():
            detector.step(obs)
        if k >= WARMUP_STEPS:
            bare_ms.append((time.perf_counter() - start) * 1e3)
    bare_p50 = float(np.percentile(bare_ms, 50))
    benchmark.extra_info.update(
        n_units=N_UNITS,
        detectors=len(detectors),
        alert_lines=len((tmp_path / "alerts.jsonl").read_text().splitlines()),
        p50_ms=round(p50, 3),
        p99_ms=round(p99, 3),
        bare_detectors_p50_ms=round(bare_p50, 3),
        overhead_ratio=round(p50 / bare_p50, 3),
    )
    passed = bool(p99 < P99_MS and p50 <= OVERHEAD_RATIO * bare_p50)
    target = f"p99 < {P99_MS} ms, p50 <= {OVERHEAD_RATIO} x bare detectors"
    write_figures("monitor", dict(benchmark.extra_info), target, passed)
    assert p99 < P99_MS, f"monitor health check p99 {p99:.2f} ms at {N_UNITS} units (target {P99_MS} ms)"
    assert p50 <= OVERHEAD_RATIO * bare_p50, f"monitor p50 {p50:.2f} ms vs bare detectors {bare_p50:.2f} ms"
