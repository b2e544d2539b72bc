"""``tdbench task=bench``: run the performance benchmarks (tests/bench_*.py, pytest-benchmark) and
write their figures to ``bench.json`` and ``bench.md`` in the run folder.

The same as ``python -m pytest -m bench --benchmark-json=...`` from the repository root; the exit
code is pytest's, so a missed target (an assertion in a benchmark) exits non-zero.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig

from harness.report.screen import fit
from harness.run.files import write_text
from scenarios.errors import InputError

TESTS = Path(__file__).resolve().parents[2] / "tests"


def validate(cfg: DictConfig) -> None:
    if importlib.util.find_spec("pytest_benchmark") is None:
        raise InputError("task", "bench needs the test extra: pip install -e '.[test]'")
    if not any(TESTS.glob("bench_*.py")):
        raise InputError(
            "task", f"bench runs the benchmarks in {TESTS}; run it from a clone of the repository"
        )


def run(cfg: DictConfig, out_dir: Path) -> int:
    report = out_dir / "bench.json"
    command = [sys.executable, "-m", "pytest", "-m", "bench", "-q", f"--benchmark-json={report}", str(TESTS)]
    code = subprocess.call(command, cwd=TESTS.parent)
    if report.exists():
        table = render(json.loads(report.read_text()))
        write_text(out_dir / "bench.md", f"# Benchmarks\n\n{table}\n")
        print(fit(table, "bench.md"))
    print(f"\nresults: {out_dir}")
    return code


def render(report: dict) -> str:
    """One row per benchmark: its median time and the figures it recorded."""
    machine = report["machine_info"]
    lines = [
        f"{machine.get('cpu', {}).get('brand_raw', machine['processor'])}, {machine['system']}, "
        f"Python {machine['python_version']}",
        "",
        "| benchmark | median | figures |",
        "|---|---|---|",
    ]
    for bench in report["benchmarks"]:
        figures = ", ".join(f"{k} {v}" for k, v in bench["extra_info"].items())
        lines.append(f"| {bench['name']} | {bench['stats']['median'] * 1e3:.3f} ms | {figures} |")
    return "\n".join(lines)
