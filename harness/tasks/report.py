"""``tdbench task=report run_dir=FOLDER``: rebuild the exported tables, summary.csv, scorecard.md,
the headline, report.md and figures/ of a run from its ledger and config.yaml, without simulating
anything. Headline settings on the command line (``headline.*``, ``calibrate.split_seed``,
``calibrate.calibration_fraction``) re-derive the headline with them; the run's config.yaml then
records them.

The report lands in ``run_dir``; Hydra's own folder for this command (which would only hold this
command's config and log) is removed afterwards, so results/runs/ keeps one folder per run.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from harness.analysis.calibrate import CalibrationSpec
from harness.config import StudyConfig, load_study
from harness.report.document import ReportFigures, report_settings, write_report
from harness.report.screen import announce
from harness.run.files import write_text
from harness.run.ledger import LEDGER_FILE, Ledger
from harness.run.lock import HYDRA_ONLY, check_free, hold
from harness.run.saved import saved_config
from harness.run.stopping import stopped_split
from harness.run.study import summarise_run
from harness.tasks.study import printed
from scenarios.errors import InputError
from scenarios.params import config_dict

REDERIVED = ("calibrate.split_seed", "calibrate.calibration_fraction")


def run_folder(cfg: DictConfig) -> Path:
    value = cfg.get("run_dir")
    if not value:
        raise InputError(
            "run_dir", "give the run folder to rebuild, e.g. run_dir=results/runs/2025-01-31/12-00-00"
        )
    path = Path(str(value))
    for needed in (LEDGER_FILE, "config.yaml"):
        if not (path / needed).is_file():
            raise InputError("run_dir", f"{str(path)!r} is not a run folder (no {needed})")
    return path


def headline_changes(cfg: DictConfig) -> dict[str, Any]:
    """The headline settings this command line gives (``headline.*``, ``calibrate.split_seed``,
    ``calibrate.calibration_fraction``), by dotted key, with their values: the report re-derives the
    headline with them instead of the run's own."""
    if not HydraConfig.initialized():
        return {}
    keys = [line.lstrip("+~").split("=", 1)[0] for line in HydraConfig.get().overrides.task]
    chosen = [k for k in keys if k.split(".")[0] == "headline" or k in REDERIVED]
    return {key: OmegaConf.select(cfg, key) for key in chosen}


def changed_config(run_dir: Path, changes: dict[str, Any] | None = None) -> DictConfig:
    """The run's config.yaml (read as data: harness.run.saved), with ``changes`` (dotted key: value)."""
    saved = saved_config(run_dir)
    for key, value in (changes or {}).items():
        OmegaConf.update(saved, key, value, force_add=True)
    return saved


def saved_study(run_dir: Path, changes: dict[str, Any] | None = None) -> StudyConfig:
    """The study as the run's saved config.yaml describes it (``task=evaluate`` runs included), with
    ``changes`` (dotted key: value) to its headline settings; a stopping-rule study keeps the seed
    split its rule used (stopping.csv)."""
    saved = changed_config(run_dir, changes)
    if saved.get("task") == "evaluate":
        from harness.tasks.evaluate import evaluation_study

        return evaluation_study(saved)
    study = load_study(saved)
    stop = saved.get("stop")
    return replace(study, split=stopped_split(run_dir)) if stop and stop.get("compare") else study


def intro_of(run_dir: Path) -> str:
    saved = saved_config(run_dir)
    if saved.get("task") == "evaluate":
        from harness.tasks.evaluate import intro

        return intro(saved)
    return ""


def timeline_seed_of(run_dir: Path, study: StudyConfig) -> int | None:
    """The ``report.timeline_seed`` the run was reported with."""
    return report_settings(saved_config(run_dir), study.seeds).timeline_seed


def selected_keys(ledger: Ledger, study: StudyConfig) -> set[str]:
    """Keys of the stored cells the saved config selects; one result per (scenario, seed, detector)."""
    cells = ledger.load("cells")
    if "scenario" not in cells:
        raise InputError("run_dir", "its ledger holds no results yet; run the study into it first")
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


@contextlib.contextmanager
def reading(run_dir: Path) -> Iterator[None]:
    """Any failure to read the run folder (a corrupt or unreadable table) is one InputError line."""
    try:
        yield
    except InputError:
        raise
    except (OSError, ValueError, pa.ArrowException) as error:
        text = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError("run_dir", f"cannot read the run folder {str(run_dir)!r}: {text}") from None


def check_calibrate(cfg: DictConfig) -> None:
    """Of ``calibrate``, the report reads only the seed split (REDERIVED): refuse any other change."""
    given = config_dict(cfg.get("calibrate") or {})
    spec = CalibrationSpec.from_config(given, list(cfg.get("detector") or {}))
    default = CalibrationSpec()
    for name in CalibrationSpec.model_fields:
        if f"calibrate.{name}" not in REDERIVED and getattr(spec, name) != getattr(default, name):
            reads = ", ".join(REDERIVED)
            problem = f"task=report does not read it; of calibrate it reads {reads}"
            raise InputError(f"calibrate.{name}", problem)


def validate(cfg: DictConfig) -> None:
    check_calibrate(cfg)
    run_dir = run_folder(cfg)
    check_free(run_dir)
    with reading(run_dir), Ledger.open_existing(run_dir) as ledger:
        selected_keys(ledger, saved_study(run_dir, headline_changes(cfg)))
    load_study(cfg)  # this command's own settings (the executor that draws the figures)


def run(cfg: DictConfig, out_dir: Path) -> int:
    run_dir = run_folder(cfg)
    changes = headline_changes(cfg)
    study = saved_study(run_dir, changes)
    announce(study.progress, f"report: rebuilding {run_dir} from its ledger")
    with hold(run_dir), Ledger.open_existing(run_dir) as ledger:  # no study may write it meanwhile
        if changes:  # the folder's files follow the settings they are derived with
            write_text(run_dir / "config.yaml", OmegaConf.to_yaml(changed_config(run_dir, changes)))
        executor = load_study(cfg).executor  # this command's, not the saved run's
        seed = timeline_seed_of(run_dir, study)
        drawn = ReportFigures(run_dir, study, executor, seed)  # beside the summary
        result = summarise_run(ledger, selected_keys(ledger, study), study, executor, beside=drawn)
        path = write_report(result, study, executor, intro_of(run_dir), seed, drawn)
    print(printed(result))
    print(f"\nreport: {path}")
    discard_own_folder(Path(out_dir), run_dir)
    return 0


def discard_own_folder(out_dir: Path, kept: Path) -> None:
    """Remove Hydra's output folder of a command that wrote into another folder (``kept``), when it
    holds only Hydra's files, so results/runs/ keeps one folder per run."""
    if out_dir.resolve() != kept.resolve() and {p.name for p in out_dir.iterdir()} <= HYDRA_ONLY:
        shutil.rmtree(out_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            out_dir.parent.rmdir()  # the date folder, when this was its only run
