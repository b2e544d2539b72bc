"""``tdbench task=report run_dir=FOLDER``: rebuild summary.csv, scorecard.md, the headline, report.md
and figures/ of a finished run from its saved tables and config.yaml, without simulating anything
(the headline's per-step scores come from the run's scores.parquet).

The report lands in ``run_dir``; Hydra's own folder for this command (which would only hold this
command's config and log) is removed afterwards, so results/runs/ keeps one folder per run.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import replace
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.config import StudyConfig, load_study
from harness.report.document import write_report
from harness.run.store import ResultStore
from harness.run.study import summarise_run
from harness.tasks.calibrate import collect_scores, load_runs
from scenarios.errors import InputError

HYDRA_ONLY = {".hydra", "config.yaml", "cli.log"}


def run_folder(cfg: DictConfig) -> Path:
    value = cfg.get("run_dir")
    if not value:
        raise InputError(
            "run_dir", "give the run folder to rebuild, e.g. run_dir=results/runs/2025-01-31/12-00-00"
        )
    path = Path(str(value))
    for needed in ("cells.parquet", "config.yaml"):
        if not (path / needed).is_file():
            raise InputError("run_dir", f"{str(path)!r} is not a run folder (no {needed})")
    return path


def saved_study(run_dir: Path) -> StudyConfig:
    """The study as the run's saved config.yaml describes it (``task=evaluate`` runs included)."""
    try:
        saved = OmegaConf.load(run_dir / "config.yaml")
    except (OSError, OmegaConfBaseException) as error:
        raise InputError("run_dir", f"cannot read its config.yaml: {error}") from None
    if saved.get("task") == "evaluate":
        from harness.tasks.evaluate import evaluation_study

        return evaluation_study(saved)
    return load_study(saved)


def saved_task(run_dir: Path) -> str:
    return str(OmegaConf.load(run_dir / "config.yaml").get("task", "study"))


def intro_of(run_dir: Path) -> str:
    saved = OmegaConf.load(run_dir / "config.yaml")
    if saved.get("task") == "evaluate":
        from harness.tasks.evaluate import intro

        return intro(saved)
    return ""


def selected_keys(store: ResultStore, study: StudyConfig) -> set[str]:
    """Keys of the stored cells the saved config selects; one result per (scenario, seed, detector)."""
    cells = store.load("cells")
    chosen = cells[
        cells["scenario"].isin(list(study.scenarios))
        & cells["seed"].isin(list(study.seeds))
        & cells["detector"].isin(list(study.detectors))
    ]
    if chosen.empty:
        raise InputError(
            "run_dir", "holds no results for the scenarios, seeds and detectors of its config.yaml"
        )
    twice = chosen.duplicated(["scenario", "seed", "detector"], keep=False)
    if twice.any():
        row = chosen[twice].iloc[0]
        raise InputError(
            "run_dir",
            f"holds more than one result for ({row['scenario']}, seed {row['seed']}, {row['detector']}), "
            "from runs with different settings or code in the same folder; rebuild from a folder of one run",
        )
    return set(chosen["key"])


def validate(cfg: DictConfig) -> None:
    run_dir = run_folder(cfg)
    selected_keys(ResultStore(run_dir), saved_study(run_dir))
    load_study(cfg)  # this command's own settings (the executor that draws the figures)


def run(cfg: DictConfig, out_dir: Path) -> int:
    run_dir = run_folder(cfg)
    study = saved_study(run_dir)
    store = ResultStore(run_dir)
    runs = None
    if saved_task(run_dir) != "evaluate" and len(study.seeds) >= 2:
        runs = load_runs(collect_scores(replace(study, progress=False), run_dir))
    result = summarise_run(store, selected_keys(store, study), study, runs)
    path = write_report(result, study, load_study(cfg).executor, intro_of(run_dir))
    print(result.scorecard_text)
    print(f"\nreport: {path}")
    out_dir = Path(out_dir)
    if out_dir.resolve() != run_dir.resolve() and {p.name for p in out_dir.iterdir()} <= HYDRA_ONLY:
        shutil.rmtree(out_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            out_dir.parent.rmdir()  # the date folder, when this was its only run
    return 0
