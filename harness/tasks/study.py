"""``tdbench`` / ``tdbench task=study``: run the study, write its report, print the scorecard."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from harness.config import load_study
from harness.report.document import finish_study, report_settings
from harness.run.study import run_study


def validate(cfg: DictConfig) -> None:
    report_settings(cfg, load_study(cfg).seeds)


def run(cfg: DictConfig, out_dir: Path) -> int:
    study = load_study(cfg)
    result = run_study(study, out_dir)
    report = finish_study(study, result, report_settings(cfg, study.seeds))
    print(result.scorecard_text)
    print(f"\n{result.status_line}")
    print(f"results: {result.run_dir} (summary.csv, wilcoxon.csv, first_alert.csv: see README)")
    if report is not None:
        print(f"report: {report}")
    if result.failed:
        kinds = ", ".join(f"{n} {status}" for status, n in result.failures.items())
        print(f"{result.failed} cell(s) failed ({kinds}): see cells.parquet (status, error)")
    return 1 if result.failed else 0
