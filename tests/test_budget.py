"""Fail fast: the memory estimate of a job against what a small job really allocates (tracemalloc
counts numpy's arrays), and the study's own rows against the tables a small study keeps."""

from __future__ import annotations

import tracemalloc

import pytest
from studies import raw_config, study_config

from detectors.base import Detector
from harness.config import build_as
from harness.run.budget import (
    DRIVER_BYTES_PER_CELL,
    GB,
    Limits,
    check_budget,
    detector_bytes,
    machine_memory,
)
from harness.run.jobs import run_job
from harness.run.ledger import ROW_TABLES as TABLES
from harness.run.plan import plan_jobs
from harness.run.study import run_study
from scenarios import cell_rng
from scenarios.catalogue import Scenario
from scenarios.errors import InputError
from scenarios.model import simulation_bytes, trace_bytes
from scenarios.org import OrgConfig

FACTOR = 2.0  # the estimate must be within this factor of the measured peak, either way
DETECTORS = "detector=[transport,burnout]"  # the plain and the hungriest state


def peak_of(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "overrides",
    [
        ("scenario=[ramp]", "org.n_units=150", "org.warmup_days=1", "org.scenario_days=2"),
        ("scenario=[uneven]", "org.n_units=12", "org.warmup_days=3", "org.scenario_days=5"),
        ("scenario=[spike]", "org.n_units=8", "scenario.spike.spike_rho=20", "org.scenario_days=6"),
    ],
)
def test_job_estimate_is_within_a_factor_of_the_measured_peak(overrides):
    study = study_config("seeds=1", DETECTORS, *overrides)
    org = OrgConfig(**study.org)
    (job,) = plan_jobs(study)
    scenario = build_as(Scenario, job.scenario_spec, "scenario")
    simulation = simulation_bytes(org, scenario.plan(cell_rng(scenario.name, job.seed), org))
    detectors = [build_as(Detector, spec, name) for name, spec, _ in job.detectors]
    replay = trace_bytes(org) + max(detector_bytes(d, org) for d in detectors)
    measured = peak_of(lambda: run_job(job))
    assert 1 / FACTOR <= max(simulation, replay) / measured <= FACTOR


def test_per_cell_rows_of_the_study_process_are_a_lower_bound(tmp_path):
    study = study_config(
        "seeds=2", "scenario=[ramp,steady]", "detector=[transport,utilization]", "executor=serial"
    )
    result = run_study(study, tmp_path)
    frames = [result.cells, result.events, result.episodes, result.overhead]
    per_cell = sum(int(f.memory_usage(deep=True).sum()) for f in frames) / len(result.cells)
    assert DRIVER_BYTES_PER_CELL <= per_cell <= 20 * DRIVER_BYTES_PER_CELL
    assert set(TABLES) >= {"cells", "events", "episodes", "overhead"}


def test_machine_memory_is_read_from_the_system():
    with open("/proc/meminfo") as meminfo:
        total_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    assert 0 < machine_memory() <= total_kb * 1024 * 1.01


def without_search(spec: dict) -> dict:
    """A detector's YAML without its tuning space (harness.config strips it the same way)."""
    return {k: v for k, v in spec.items() if k != "search"}


def budget(*overrides: str) -> None:
    """check_budget on the composed config, with a 1 GB job limit and 2 GB for the study process."""
    raw = raw_config("scenario=[steady]", "detector=[transport]", *overrides)
    scenarios = {n: build_as(Scenario, s, n) for n, s in raw["scenario"].items()}
    detectors = {n: build_as(Detector, without_search(s), n) for n, s in raw["detector"].items()}
    limits = Limits(1 * GB, "a test", 2 * GB)
    check_budget(scenarios, detectors, OrgConfig(**raw["org"]), raw["seeds"], 0, limits)


def test_a_small_study_fits():
    budget("seeds=100")


@pytest.mark.parametrize(
    ("override", "named", "what"),
    [
        ("scenario.steady.rho=1e4", "scenario.steady.rho=10000.0", "one job of scenario steady"),
        ("org.n_units=60000", "org.n_units=60000", "one job's observations"),
        ("org.scenario_days=1e5", "org.scenario_days=100000.0", "one job's observations"),
        ("seeds=10000000", "seeds=10000000", "the study's 1e+07 cells (10000000 seeds x 1 scenarios"),
    ],
)
def test_a_study_too_large_names_the_settings_that_drive_it(override, named, what):
    with pytest.raises(InputError) as error:
        budget(override)
    assert named in error.value.field
    assert what in error.value.problem and "would need about" in error.value.problem
