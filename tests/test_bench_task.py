"""``tdbench task=bench``: checked before it runs, and its figures rendered as a table."""

from __future__ import annotations

import pytest

from harness.tasks import bench as bench_task
from scenarios.errors import InputError


def test_bench_needs_pytest_benchmark(monkeypatch):
    monkeypatch.setattr(bench_task.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match=r"pip install -e '\.\[test\]'"):
        bench_task.validate({})


def test_bench_figures_render_as_a_table():
    report = {
        "machine_info": {"processor": "x86_64", "system": "Linux", "python_version": "3.11.7"},
        "benchmarks": [
            {
                "name": "test_update_latency[transport-1000]",
                "stats": {"median": 0.00028},
                "extra_info": {"n_units": 1000, "p99_ms": 0.41},
            },
        ],
    }
    lines = bench_task.render(report).splitlines()
    assert lines[0] == "x86_64, Linux, Python 3.11.7"
    assert lines[-1] == "| test_update_latency[transport-1000] | 0.280 ms | n_units 1000, p99_ms 0.41 |"


def test_bench_finds_the_repository_benchmarks():
    bench_task.validate({})
    assert bench_task.TESTS.name == "tests" and (bench_task.TESTS.parent / "pyproject.toml").is_file()
