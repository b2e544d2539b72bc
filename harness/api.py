"""The Python API: run a study (or any task), load a finished run folder, evaluate a frame of historical data.

Each call composes the config exactly as the ``tdbench`` command does (the same overrides, the same
validation: bad input raises the ``InputError`` the command would print) and returns a ``Run``,
whose tables are pandas frames read from the run folder when first asked for.
docs/how-to/python-api.md has a worked example (run by the tests).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf, open_dict

from scenarios.errors import InputError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SET_BY_EVALUATE = ("task", "data", "labels")


class Run:
    """A finished run folder. ``run["summary"]`` (or ``run.summary``) reads ``summary.csv``;
    any ``<name>.parquet`` or ``<name>.csv`` of the folder is a table by its name."""

    def __init__(self, run_dir: str | Path, exit_code: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.exit_code = exit_code  # None when loaded, else the task's exit code (0 ok, 1 failed cells)
        for needed in ("config.yaml", "cells.parquet"):
            if not (self.run_dir / needed).is_file():
                raise InputError("run_dir", f"{str(self.run_dir)!r} is not a run folder (no {needed})")
        self._tables: dict[str, pd.DataFrame] = {}

    @property
    def tables(self) -> list[str]:
        """Names of the tables in the folder."""
        files = [*self.run_dir.glob("*.parquet"), *self.run_dir.glob("*.csv")]
        return sorted({p.stem for p in files})

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            parquet, csv = self.run_dir / f"{name}.parquet", self.run_dir / f"{name}.csv"
            if parquet.is_file():
                self._tables[name] = pd.read_parquet(parquet)
            elif csv.is_file():
                # only empty cells are missing: the detector "null" is a name
                self._tables[name] = pd.read_csv(csv, keep_default_na=False, na_values=[""])
            else:
                raise KeyError(f"{name!r}: no such table in {self.run_dir}; tables: {', '.join(self.tables)}")
        return self._tables[name]

    cells = property(lambda self: self["cells"], doc="cells.parquet: one row per (scenario, seed, detector)")
    events = property(lambda self: self["events"], doc="events.parquet: scored event x detector")
    episodes = property(lambda self: self["episodes"], doc="episodes.parquet: one row per alert episode")
    summary = property(lambda self: self["summary"], doc="summary.csv: pooled metrics with bootstrap CIs")

    @property
    def headline(self) -> pd.DataFrame | None:
        """headline.csv (the comparison at a matched false-alarm budget) when the run has one."""
        return self["headline"] if (self.run_dir / "headline.csv").is_file() else None

    @property
    def scorecard(self) -> str:
        """scorecard.md: the roadmap's success criteria at the shipped thresholds."""
        return (self.run_dir / "scorecard.md").read_text()

    @property
    def config(self) -> DictConfig:
        """The run's resolved config (config.yaml)."""
        path = self.run_dir / "config.yaml"
        loaded = OmegaConf.load(path)
        if not isinstance(loaded, DictConfig):
            raise InputError(str(path), "a run's config is a mapping, not a list")
        return loaded

    @property
    def ok(self) -> bool:
        """Whether every cell succeeded."""
        return bool((self.cells["status"] == "ok").all())

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r}, {len(self.cells)} cells)"


def tdbench(overrides: Sequence[str] = (), run_dir: str | Path | None = None, quiet: bool = False) -> Run:
    """Run ``tdbench <overrides>`` in this process (any task) and return its run folder.

    (Not ``harness.run``: that name is the ``harness/run/`` package.)

    ``run_dir`` is the output folder (default: Hydra's ``results/runs/<date>/<time>/``, or
    ``hydra.run.dir=`` among the overrides). A sweep (``-m``) runs from the command line.
    ``quiet``: print nothing (no tables, no progress); the files are written all the same."""
    from harness.cli import check, compose_run, run_task

    args = _overrides(overrides, quiet)
    composed = compose_run(args)
    check(args, composed)
    [cfg], planned = composed
    out = _output_folder(planned, args, run_dir)
    with _silenced(quiet):
        return Run(out, run_task(cfg, out))


def load(run_dir: str | Path) -> Run:
    """A finished run folder (a study, a calibration, an evaluation, ...)."""
    return Run(run_dir)


def evaluate(
    frame: pd.DataFrame,
    labels: pd.DataFrame | None = None,
    *,
    name: str = "historical",
    overrides: Sequence[str] = (),
    run_dir: str | Path | None = None,
    quiet: bool = False,
) -> Run:
    """Score every configured detector on historical observations, as ``tdbench task=evaluate``.

    ``frame`` (and ``labels``) follow the schema of docs/how-to/evaluate-csv.md. They are validated,
    then saved into the run folder as ``<name>.parquet`` (and ``<name>_labels.parquet``), which the
    run's config points at, so ``tdbench task=report run_dir=...`` can rebuild it. ``name`` is the
    data's scenario name in the tables; ``overrides`` set anything else (``historical.warmup_h=24``,
    ``detector=[transport]``); ``quiet``: print nothing."""
    from harness.cli import compose_run, run_task
    from harness.run.files import write_parquet
    from harness.tasks.evaluate import evaluation_study, historical_spec
    from scenarios.historical import load_trace
    from scenarios.truth import TruthSpec

    if not isinstance(frame, pd.DataFrame) or not (labels is None or isinstance(labels, pd.DataFrame)):
        raise InputError("data", "frame and labels must be pandas DataFrames")
    if not isinstance(name, str) or not NAME.match(name):
        raise InputError("name", f"must be letters, digits, '_', '.' or '-'; got {name!r}")
    args = _overrides(overrides, quiet)
    for arg in args:
        key = arg.partition("=")[0].lstrip("+~")
        if key in SET_BY_EVALUATE:
            raise InputError(key, "is set by evaluate(): pass the frames and name instead")
    [cfg], planned = compose_run([*args, "task=evaluate"])
    out = _output_folder(planned, args, run_dir)
    data_path = out / f"{name}.parquet"
    labels_path = None if labels is None else out / f"{name}_labels.parquet"
    with open_dict(cfg):
        cfg.data = str(data_path)
        cfg.labels = None if labels_path is None else str(labels_path)
    study = evaluation_study(cfg)  # the config, validated as the command validates it
    load_trace(frame, labels, historical_spec(cfg), TruthSpec(**study.truth), name=name)  # the data
    write_parquet(data_path, frame)
    if labels_path is not None:
        write_parquet(labels_path, labels)
    with _silenced(quiet):
        return Run(out, run_task(cfg, out))


def _silenced(quiet: bool) -> contextlib.AbstractContextManager:
    return contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()


def _overrides(overrides: Sequence[str], quiet: bool = False) -> list[str]:
    from harness.cli import MULTIRUN_FLAGS, normalise

    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise InputError("overrides", f"must be a list of strings such as ['seeds=3']; got {overrides!r}")
    if any(o in MULTIRUN_FLAGS for o in overrides):
        raise InputError("overrides", "a sweep (-m) runs from the command line: tdbench -m ...")
    return normalise([*overrides, "progress=false"] if quiet else list(overrides))


def _output_folder(planned: str, args: list[str], run_dir: str | Path | None) -> Path:
    """``run_dir``, or Hydra's ``hydra.run.dir`` (``planned``) when it is None."""
    if run_dir is None:
        return Path(planned)
    if any(a.partition("=")[0].lstrip("+~") == "hydra.run.dir" for a in args):
        raise InputError("run_dir", "given twice: as run_dir and as hydra.run.dir; give one")
    return Path(run_dir)
