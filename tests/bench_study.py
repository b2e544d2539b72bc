"""Whole studies through the ``tdbench`` command: the default study's wall time and its scaling from
one to two workers, and the peak memory of a 1,000-cell study against a 10-cell one.
Run with: .venv/bin/python -m pytest -m bench tests/bench_study.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from joblib import cpu_count

pytestmark = pytest.mark.bench
TDBENCH = str(Path(sys.executable).with_name("tdbench"))
SCALING_TARGET = 1.7  # wall time with 1 worker / with 2 workers
MEMORY_TARGET = 1.5  # peak RSS of the 1,000-cell study / the 10-cell study
#: Small cells for the memory comparison: 3 units, 12 hours, one detector, serial (one process).
TINY = (
    "executor=serial",
    "scenario=[steady]",
    "detector=[utilization]",
    "org.n_units=3",
    "org.warmup_days=0.25",
    "org.scenario_days=0.25",
)


def tdbench(run_dir: Path, *overrides: str) -> os.wait4:
    """Run a study to completion; return its resource usage (its own, not the test process's)."""
    proc = subprocess.Popen(
        [TDBENCH, "progress=false", f"hydra.run.dir={run_dir}", *overrides],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read().decode()
    proc.stderr.close()
    return usage


@pytest.mark.skipif(cpu_count() < 2, reason="needs two cores")
def test_default_study_scaling(benchmark, tmp_path):
    load = os.getloadavg()[0]
    benchmark.group = "default study"
    benchmark.pedantic(tdbench, args=(tmp_path / "one", "executor.n_jobs=1"), rounds=1, iterations=1)
    one = benchmark.stats.stats.min
    from time import perf_counter

    start = perf_counter()
    tdbench(tmp_path / "two", "executor.n_jobs=2")
    two = perf_counter() - start
    speedup = one / two
    benchmark.extra_info.update(
        wall_s_1_worker=round(one, 2),
        wall_s_2_workers=round(two, 2),
        speedup=round(speedup, 2),
        load_before=round(load, 2),
        target=f"speedup >= {SCALING_TARGET}",
    )
    assert speedup >= SCALING_TARGET, f"{speedup:.2f}x faster on 2 workers ({one:.1f} s -> {two:.1f} s)"


def test_peak_memory_does_not_grow_with_cells(benchmark, tmp_path):
    benchmark.group = "memory"
    small = tdbench(tmp_path / "small", *TINY, "seeds=10").ru_maxrss / 1024  # MiB
    usage = benchmark.pedantic(
        tdbench, args=(tmp_path / "large", *TINY, "seeds=1000"), rounds=1, iterations=1
    )
    large = usage.ru_maxrss / 1024
    benchmark.extra_info.update(
        peak_rss_mib_10_cells=round(small, 1),
        peak_rss_mib_1000_cells=round(large, 1),
        ratio=round(large / small, 3),
        target=f"ratio <= {MEMORY_TARGET}",
    )
    assert large / small <= MEMORY_TARGET, f"peak RSS {small:.0f} MiB -> {large:.0f} MiB"
