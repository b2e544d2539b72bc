"""``tdbench task=compare sweep_dir=FOLDER``: one table and figures across the jobs of a sweep.

Writes sweep.parquet, sweep.csv, figures/sweep_<parameter>.png and sweep.md into the sweep folder
(``harness.report.sweep``); every multirun also does this at its end (``harness.cli.SweepCompare``).
Hydra's own folder for this command is removed afterwards, as for ``task=report``.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from harness.analysis.sweep import collect
from harness.report.sweep import write_sweep
from harness.tasks.report import discard_own_folder
from scenarios.errors import InputError


def sweep_folder(cfg: DictConfig) -> Path:
    value = cfg.get("sweep_dir")
    if not value:
        raise InputError(
            "sweep_dir", "give the sweep folder, e.g. sweep_dir=results/sweeps/2025-01-31/12-00-00"
        )
    return Path(str(value))


def validate(cfg: DictConfig) -> None:
    collect(sweep_folder(cfg))


def run(cfg: DictConfig, out_dir: Path) -> int:
    folder = sweep_folder(cfg)
    print(f"sweep: {write_sweep(folder)}")
    discard_own_folder(Path(out_dir), folder)
    return 0
