"""Fail fast: before any work, each job's peak memory and the study's size, estimated from the
settings, against the memory there is.

A job simulates one (scenario, seed) and replays every detector over the trace, one at a time, so
its peak is the larger of the simulation's peak (``scenarios.model.simulation_bytes``: the arrays
the model allocates) and the trace plus the hungriest detector. A detector's state is measured, not
guessed: it is reset on a layout of 2 and of 4 units (same health-check interval and warm-up) and
its allocations scaled linearly to the study's units; its readings add a fixed cost per health
check. The study's process holds a plan entry and result rows for every cell.
"""

from __future__ import annotations

import copy
import os
import resource
import tracemalloc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.catalogue import Scenario
from scenarios.errors import InputError
from scenarios.model import simulation_bytes, trace_bytes
from scenarios.org import OrgConfig

GB = 2**30
READING_BYTES = 600  # one health check: its Reading (score, level, details), its row in Readings, timings
IMPLICATED_BYTES = 10  # per unit and health check: the implicated-unit tuple and mask
DRIVER_BYTES_PER_CELL = 500  # the study process: a cell's plan entry and its result rows, at least
#: A seed bootstrap holds its resampled seed indices and a few float arrays of the same shape
BOOTSTRAP_BYTES_PER_DRAW = 4 * 8
CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


def machine_memory() -> int:
    """Physical memory, or the container's limit when that is smaller."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = CGROUP_LIMIT.read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def process_bytes() -> int:
    """Peak resident size of this process so far: every worker starts with the same imports."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def allocated(fn: Any) -> int:
    """Bytes ``fn()`` leaves allocated and referenced (numpy arrays included), by tracemalloc."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fn()
    after = tracemalloc.get_traced_memory()[0]
    if started:
        tracemalloc.stop()
    return max(0, after - before)


def detector_bytes(detector: Any, org: OrgConfig) -> float:
    """Estimated peak bytes of one detector's replay over a trace of this organisation."""

    def state(n_units: int) -> int:
        layout = OrgConfig(**{**org.to_dict(), "n_units": n_units}).layout()
        fresh = copy.deepcopy(detector)  # never reset: what reset allocates is all its state
        return allocated(lambda: fresh.reset(layout))

    small, large = state(2), state(4)
    per_unit = max(0.0, (large - small) / 2)
    steps = int(round(org.duration_h / org.dt_h))
    return small + per_unit * (org.n_units - 2) + steps * (READING_BYTES + IMPLICATED_BYTES * org.n_units)


@dataclass(frozen=True)
class Limits:
    """Memory one job may use, and the study's own process."""

    job_bytes: float
    job_source: str  # where job_bytes comes from, for the error message
    machine_bytes: float


def changed(current: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str) -> list[str]:
    """``prefix.key=value`` for each setting that differs from its default."""
    return [f"{prefix}.{k}={v!r}" for k, v in current.items() if k in defaults and defaults[k] != v]


def refuse(settings: list[str], fallback: str, what: str, need: float, limits: str) -> InputError:
    named = ", ".join(settings) if settings else fallback
    return InputError(named, f"{what} would need about {human(need)} of memory; {limits}")


def check_budget(
    scenarios: Mapping[str, Scenario],
    detectors: Mapping[str, Any],
    org: OrgConfig,
    n_seeds: int,
    first_seed: int,
    limits: Limits,
    n_resamples: int = 0,
) -> None:
    """Raise InputError, naming the settings that drive it, if one job or the study's own process
    (its cells, its seed bootstraps of ``n_resamples`` resamples) would not fit in memory.
    ``scenarios`` and ``detectors`` are built instances."""
    from scenarios import cell_rng, scenario_params

    base = process_bytes()
    cells = n_seeds * len(scenarios) * len(detectors)
    need = base + float(cells) * DRIVER_BYTES_PER_CELL
    if need > limits.machine_bytes:
        raise refuse(
            [f"seeds={n_seeds}"],
            "seeds",
            f"the study's {cells:.3g} cells ({n_seeds} seeds x {len(scenarios)} scenarios x "
            f"{len(detectors)} detectors), held by its own process,",
            need,
            f"this machine has {human(limits.machine_bytes)}",
        )
    need = base + float(n_resamples) * n_seeds * BOOTSTRAP_BYTES_PER_DRAW
    if need > limits.machine_bytes:
        raise refuse(
            [f"statistics.n_resamples={n_resamples}", f"seeds={n_seeds}"],
            "statistics.n_resamples",
            f"a bootstrap of {n_resamples} resamples of {n_seeds} seeds",
            need,
            f"this machine has {human(limits.machine_bytes)}",
        )
    job_limit = f"a job may use {human(limits.job_bytes)} ({limits.job_source})"
    org_settings = changed(org.to_dict(), OrgConfig().to_dict(), "org")
    need = base + trace_bytes(org)  # the observations alone, before any scenario is drawn
    if need > limits.job_bytes:
        raise refuse(org_settings, "executor.max_job_memory_gb", "one job's observations", need, job_limit)
    sims = {"": 0.0}
    for name, scenario in scenarios.items():
        try:
            plan = scenario.plan(cell_rng(scenario.name, first_seed), org)
        except InputError:
            raise
        except Exception:  # noqa: BLE001 - a plan that fails fails its cells, as in the study
            continue
        sims[name] = simulation_bytes(org, plan)
    worst = max(sims, key=sims.__getitem__)
    replay = trace_bytes(org) + max(detector_bytes(d, org) for d in detectors.values())
    if base + max(sims[worst], replay) <= limits.job_bytes:
        return
    if replay >= sims[worst]:
        raise refuse(org_settings, "executor.max_job_memory_gb", "one job's replay", base + replay, job_limit)
    scenario = scenarios[worst]
    params = {k: getattr(scenario, k) for k in scenario_params(type(scenario)) if hasattr(scenario, k)}
    settings = org_settings + changed(params, scenario_params(type(scenario)), f"scenario.{worst}")
    need = base + sims[worst]
    raise refuse(settings, "executor.max_job_memory_gb", f"one job of scenario {worst}", need, job_limit)


def human(n_bytes: float) -> str:
    """
    >>> human(1.5 * 2**30), human(3e15)
    ('1.5 GB', '2.79e+06 GB')
    """
    return f"{n_bytes / GB:.3g} GB"
