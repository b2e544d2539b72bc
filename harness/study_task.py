"""``tdbench`` / ``tdbench task=study``: run the study and print the scorecard."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from harness.config import load_study
from harness.executors import check_spec
from harness.study import run_study


def validate(cfg: DictConfig) -> None:
    check_spec(load_study(cfg).executor)


def run(cfg: DictConfig, out_dir: Path) -> int:
    result = run_study(load_study(cfg), out_dir)
    print(result.scorecard_text)
    print(f"\nresults: {result.run_dir}")
    if result.failed:
        kinds = ", ".join(f"{n} {status}" for status, n in result.failures.items())
        print(f"{result.failed} cell(s) failed ({kinds}): see cells.parquet (status, error)")
    return 1 if result.failed else 0
