"""The organisation model against the yardstick (tests/yardstick.py, a bare SimPy M/M/c).

- CPU per task of one default job's simulation (12 units x 4 staff, 7 + 14 days, end to end through
  ``scenarios.simulate``: arrivals drawn, SimPy run, health checks recorded, ground truth derived).
  Shown beside it, not asserted: the same job with one health check a day, whose difference per
  task is the 15-minute check's own cost.
- Replaying and scoring every default detector on that job against the job's simulation. Shown
  beside it, not asserted: each detector's bare ``step()`` over the trace (no clock, no readings
  kept, no scoring), the least that any replay calling every detector at every check can cost.
- A 21-day ramp job at 100, 1,000 and 10,000 units, each in its own process: the simulation, then
  transport's replay and scoring (not every default detector: that job at 10,000 units was never
  run to the end, see the README); peak memory and the exponent of CPU time against N.
Run with: .venv/bin/python -m pytest -m bench tests/bench_simulation.py
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
from yardstick import cpu_seconds, yardstick_cpu_per_task

import scenarios
from harness.analysis.scoring import ScoringSpec, score_run
from harness.config import build
from harness.run.replay import replay
from scenarios.trace import Observation

pytestmark = pytest.mark.bench
PER_TASK_TARGET = 1.0  # simulation CPU per task / the yardstick's
REPLAY_TARGET = 1.0  # replay + scoring of every default detector / the job's simulation
SCALING_EXPONENT = 1.1  # CPU time of a job ~ N^exponent from 100 to 10,000 units
MEMORY_GB = 4.0  # peak memory of the 10,000-unit job
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


def replay_and_score(trace: scenarios.Trace, names: tuple[str, ...] | None = None) -> None:
    """Replay and score the default detectors ``names`` (default: every one) on ``trace``."""
    spec = ScoringSpec()
    for name, detector_spec in default_detectors().items():
        if names is not None and name not in names:
            continue
        readings, _, _ = replay(build(detector_spec, f"detector.{name}"), trace)
        score_run(trace, readings, spec, name)


def bare_steps(trace: scenarios.Trace) -> dict[str, float]:
    """CPU seconds of each default detector's own ``step()`` over ``trace`` (best of ``ROUNDS``), its
    observations built beforehand; no clock is read and no reading kept."""
    observations = [Observation(t, v) for t, v in zip(trace.time_h.tolist(), trace.values, strict=True)]

    def steps(detector) -> None:
        detector.reset(trace.layout)
        detector.use_stream(trace.stream)
        for obs in observations:
            detector.step(obs)

    return {
        name: cpu_seconds(ROUNDS, steps, build(spec, f"detector.{name}"))[0]
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
        target=f"ratio_per_task <= {PER_TASK_TARGET}",
    )
    assert ratio <= PER_TASK_TARGET, f"simulation costs {ratio:.2f}x the yardstick per task"


@pytest.mark.parametrize("scenario", ["steady", "ramp"])
def test_replay_and_scoring_against_simulation(benchmark, scenario):
    benchmark.group = "job"
    sim, trace = cpu_seconds(ROUNDS, scenarios.simulate, scenario, 0)
    detectors, _ = cpu_seconds(ROUNDS, replay_and_score, trace)
    benchmark.pedantic(replay_and_score, args=(trace,), rounds=1, iterations=1)
    ratio = detectors / sim
    bare = bare_steps(trace)
    benchmark.extra_info.update(
        simulation_cpu_s=round(sim, 3),
        replay_and_scoring_cpu_s=round(detectors, 3),
        ratio=round(ratio, 3),
        bare_steps_ratio=round(sum(bare.values()) / sim, 3),
        bare_us_per_step={name: round(1e6 * cpu / len(trace), 1) for name, cpu in bare.items()},
        target=f"ratio <= {REPLAY_TARGET}",
    )
    assert ratio <= REPLAY_TARGET, f"replay and scoring cost {ratio:.2f}x the job's simulation"


SCALING_DETECTORS = ("transport",)  # replayed and scored in the scaling job

#: One job in a fresh process: CPU seconds and peak memory (VmHWM) as JSON on stdout.
JOB = """
import json, sys, time
import scenarios
from bench_simulation import replay_and_score
start = time.process_time()
trace = scenarios.simulate("ramp", 0, n_units=int(sys.argv[1]))
simulated = time.process_time() - start
replay_and_score(trace, tuple(sys.argv[2].split(",")))
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
        target=f"exponent <= {SCALING_EXPONENT}, peak < {MEMORY_GB} GB",
    )
    assert runs[-1]["peak_gb"] < MEMORY_GB, f"10,000 units peak at {runs[-1]['peak_gb']:.2f} GB"
    assert exponent <= SCALING_EXPONENT, f"CPU time grows as N^{exponent:.2f}"
