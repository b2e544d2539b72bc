"""``tdbench`` / ``tdbench task=study``: run the study and print the scorecard."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from harness.config import load_study
from harness.statistics import StatisticsSpec
from harness.study import run_study


def validate(cfg: DictConfig) -> None:
    load_study(cfg)
    StatisticsSpec.from_config(cfg)


def run(cfg: DictConfig, out_dir: Path) -> int:
    result = run_study(load_study(cfg), out_dir, StatisticsSpec.from_config(cfg))
    print(result.scorecard_text)
    print(f"\nresults: {result.run_dir} (summary.csv, wilcoxon.csv, first_alert.csv: see README)")
    if result.failed:
        print(f"{result.failed} cell(s) failed: see cells.parquet (status, error)")
    return 1 if result.failed else 0
