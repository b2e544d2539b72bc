"""The organisation model and one job's readings against the yardstick (tests/yardstick.py, a bare
SimPy M/M/c), measured in the same benchmark. Targets: issue 25's table, rows 2, 3 and 6.

- CPU per task of one default job's simulation (12 units x 4 staff, 7 + 14 days, end to end through
  ``scenarios.simulate``: arrivals drawn, SimPy run, health checks recorded, ground truth derived),
  against the yardstick's per task. Shown beside it, not asserted: the same job with one health
  check a day, whose difference per task is the 15-minute check's own cost.
- One default job's readings and scoring, as a study computes them (every default detector's batch
  ``run()`` within ``shared_readings``, then ``score_run``), against the yardstick's CPU for the
  job's task count. Shown beside it, not asserted: each detector's readings alone.
- A 21-day ramp job at 100, 1,000 and 10,000 units, each in its own process: the simulation, then
  transport's readings and scoring; peak memory and the exponent of CPU time against N.
Figures: .benchmarks/figures/simulation_<scenario>.json, readings_<scenario>.json, scaling.json.
Run with: python -m pytest -m bench tests/bench_simulation.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from yardstick import cpu_seconds, write_figures, yardstick_cpu_per_task

import scenarios
from detectors.base import readings_of, shared_readings
from harness.analysis.scoring import ScoringSpec, score_run
from harness.config import build

pytestmark = pytest.mark.bench
PER_TASK_TARGET = 0.95  # simulation CPU per task / the yardstick's (row 2)
READINGS_TARGET = 0.75  # one job's readings + scoring / the yardstick's CPU for the job's tasks (row 3)
SCALING_EXPONENT = 1.1  # CPU time of a job ~ N^exponent from 100 to 10,000 units
MEMORY_GB = 4.0  # peak memory of the 10,000-unit, 21-day job (row 6)
ROUNDS = 3
DAY_H = 24.0
ROOT = Path(__file__).resolve().parent.parent


def default_selection(group: str) -> list[str]:
    """The default study's options of a config group (conf/config.yaml's list)."""
    config = yaml.safe_load((ROOT / "conf" / "config.yaml").read_text())
    return next(d[group] for d in config["defaults"] if isinstance(d, dict) and group in d)


def default_detectors() -> dict[str, dict]:
    """The default study's detector configurations, without the tuner's ``search`` grids (never
    passed to the class)."""
    names = default_selection("detector")
    specs = {n: yaml.safe_load((ROOT / "conf" / "detector" / f"{n}.yaml").read_text())[n] for n in names}
    return {n: {k: v for k, v in spec.items() if k != "search"} for n, spec in specs.items()}


def readings_and_scores(trace: scenarios.Trace, names: tuple[str, ...] | None = None) -> None:
    """Batch readings and scoring of the default detectors ``names`` (default: every one) on
    ``trace``, as a study's job computes them (a combination reuses its members' readings)."""
    spec = ScoringSpec()
    with shared_readings():
        for name, detector_spec in default_detectors().items():
            if names is None or name in names:
                score_run(trace, readings_of(build(detector_spec, f"detector.{name}"), trace), spec, name)


def readings_alone(trace: scenarios.Trace) -> dict[str, float]:
    """CPU seconds of each default detector's batch ``run()`` on ``trace`` alone (best of ``ROUNDS``)."""
    return {
        name: cpu_seconds(ROUNDS, lambda spec=spec, name=name: build(spec, f"detector.{name}").run(trace))[0]
        for name, spec in default_detectors().items()
    }


@pytest.mark.parametrize("scenario", ["steady", "ramp"])
def test_simulation_cpu_per_task(benchmark, scenario):
    benchmark.group = "simulation"
    load = os.getloadavg()[0]
    yard = yardstick_cpu_per_task()
    ours, trace = cpu_seconds(ROUNDS, scenarios.simulate, scenario, 0)
    benchmark.pedantic(scenarios.simulate, args=(scenario, 0), rounds=1, iterations=1)
    tasks = int(trace.arrivals.sum())
    ratio = (ours / tasks) / yard
    daily, daily_trace = cpu_seconds(ROUNDS, lambda: scenarios.simulate(scenario, 0, dt_h=DAY_H))
    daily_per_task = daily / int(daily_trace.arrivals.sum())
    benchmark.extra_info.update(
        tasks=tasks,
        cpu_s=round(ours, 3),
        us_per_task=round(1e6 * ours / tasks, 2),
        yardstick_us_per_task=round(1e6 * yard, 2),
        ratio_per_task=round(ratio, 3),
        one_check_a_day_ratio_per_task=round(daily_per_task / yard, 3),
        us_per_health_check=round(1e6 * (ours - daily_per_task * tasks) / len(trace), 1),
        load_before=round(load, 2),
    )
    target = f"ratio_per_task <= {PER_TASK_TARGET}"
    write_figures(f"simulation_{scenario}", dict(benchmark.extra_info), target, ratio <= PER_TASK_TARGET)
    assert ratio <= PER_TASK_TARGET, f"simulation costs {ratio:.2f}x the yardstick per task"


@pytest.mark.parametrize("scenario", ["steady", "ramp"])
def test_readings_and_scoring_against_yardstick(benchmark, scenario):
    benchmark.group = "job"
    load = os.getloadavg()[0]
    yard = yardstick_cpu_per_task()
    trace = scenarios.simulate(scenario, 0)
    tasks = int(trace.arrivals.sum())
    ours, _ = cpu_seconds(ROUNDS, readings_and_scores, trace)
    benchmark.pedantic(readings_and_scores, args=(trace,), rounds=1, iterations=1)
    ratio = ours / (yard * tasks)
    alone = readings_alone(trace)
    benchmark.extra_info.update(
        tasks=tasks,
        detectors=len(alone),
        readings_and_scoring_cpu_s=round(ours, 4),
        yardstick_cpu_s_for_the_tasks=round(yard * tasks, 4),
        ratio=round(ratio, 3),
        readings_cpu_ms={name: round(1e3 * cpu, 2) for name, cpu in alone.items()},
        load_before=round(load, 2),
    )
    target = f"ratio <= {READINGS_TARGET}"
    write_figures(f"readings_{scenario}", dict(benchmark.extra_info), target, ratio <= READINGS_TARGET)
    assert ratio <= READINGS_TARGET, (
        f"readings and scoring cost {ratio:.2f}x the yardstick for the job's tasks"
    )


SCALING_DETECTORS = ("transport",)  # read and scored in the scaling job

#: One job in a fresh process: CPU seconds and peak memory (VmHWM) as JSON on stdout.
JOB = """
import json, sys, time
import scenarios
from bench_simulation import readings_and_scores
start = time.process_time()
trace = scenarios.simulate("ramp", 0, n_units=int(sys.argv[1]))
simulated = time.process_time() - start
readings_and_scores(trace, tuple(sys.argv[2].split(",")))
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
print(json.dumps({"cpu_s": time.process_time() - start, "sim_cpu_s": simulated,
                  "tasks": int(trace.arrivals.sum()), "peak_gb": int(hwm) / 2**20}))
"""


def fitted_exponent(sizes: tuple[int, ...], seconds: list[float]) -> float:
    """The least-squares slope of log(seconds) against log(N): time ~ N^slope.

    >>> round(fitted_exponent((100, 1_000, 10_000), [1.0, 10.0, 100.0]), 6)
    1.0
    """
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_job_scales_to_10000_units(benchmark):
    benchmark.group = "scaling"
    sizes = (100, 1_000, 10_000)
    load = os.getloadavg()[0]

    def jobs() -> list[dict]:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
        return [
            json.loads(
                subprocess.check_output(
                    [sys.executable, "-c", JOB, str(n), ",".join(SCALING_DETECTORS)], cwd=ROOT, env=env
                )
            )
            for n in sizes
        ]

    runs = benchmark.pedantic(jobs, rounds=1, iterations=1)
    exponent = fitted_exponent(sizes, [r["cpu_s"] for r in runs])
    for n, run in zip(sizes, runs, strict=True):
        benchmark.extra_info[f"cpu_s_{n}"] = round(run["cpu_s"], 1)
        benchmark.extra_info[f"sim_cpu_s_{n}"] = round(run["sim_cpu_s"], 1)
        benchmark.extra_info[f"us_per_task_{n}"] = round(1e6 * run["cpu_s"] / run["tasks"], 2)
        benchmark.extra_info[f"peak_gb_{n}"] = round(run["peak_gb"], 2)
    benchmark.extra_info.update(
        detectors=",".join(SCALING_DETECTORS),
        exponent=round(exponent, 3),
        simulation_exponent=round(fitted_exponent(sizes, [r["sim_cpu_s"] for r in runs]), 3),
        load_before=round(load, 2),
    )
    passed = runs[-1]["peak_gb"] < MEMORY_GB and exponent <= SCALING_EXPONENT
    write_figures(
        "scaling",
        dict(benchmark.extra_info),
        f"exponent <= {SCALING_EXPONENT}, peak < {MEMORY_GB} GB",
        passed,
    )
    assert runs[-1]["peak_gb"] < MEMORY_GB, f"10,000 units peak at {runs[-1]['peak_gb']:.2f} GB"
    assert exponent <= SCALING_EXPONENT, f"CPU time grows as N^{exponent:.2f}"
