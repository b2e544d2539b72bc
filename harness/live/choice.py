"""What a finished study chose for live monitoring: the detectors its headline found feasible within
the false-alarm budget, their thresholds, and the scoring's refractory gap (DESIGN section 11).

A run folder is read as data only: ``headline.csv`` (columns ``detector``, ``threshold``,
``feasible`` and, when present, ``over_budget_test``) and the ``scoring``, ``org``, ``detector``,
``scenario`` and ``headline`` sections of its ``config.yaml``. Nothing in it is imported or
instantiated; the monitor builds each chosen detector from this config's detector group, by name, and
refuses a detector whose parameters differ from the ones the study ran (its threshold would mean
something else).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "headline.csv").write_text(
...     "rank,detector,threshold,feasible\\n1,transport,1.45,True\\n,null,0.0,False\\n")
>>> _ = (folder / "config.yaml").write_text(
...     "scoring: {refractory_h: 1.0}\\norg: {dt_h: 0.25}\\ndetector: {transport: {tau_h: 1.0}}\\n")
>>> choice = read_run(folder)
>>> choice.thresholds, choice.feasible, choice.refractory_h
({'transport': 1.45, 'null': 0.0}, ('transport',), 1.0)
>>> choice.select(None, {"transport": {"tau_h": 1.0}})
['transport']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from scenarios.errors import InputError

#: detectors that are controls of the comparison, never monitored unless named
BASELINES = ("null", "random")
HEADLINE = "headline.csv"
CONFIG = "config.yaml"
COLUMNS = ("detector", "threshold", "feasible")


@dataclass(frozen=True)
class RunChoice:
    """The thresholds a study's headline chose, per detector, and how it scored alerts."""

    run_dir: Path
    thresholds: dict[str, float]  # every detector of the headline -> its (median per-fold) threshold
    feasible: tuple[str, ...]  # in the headline's order
    over_budget: frozenset[str]  # over the budget on the study's test seeds (``over_budget_test``)
    refractory_h: float
    dt_h: float
    org: dict[str, Any]
    detectors: dict[str, dict]  # the run's detector specs, as data
    scenarios: dict[str, dict]  # the run's scenario specs, as data
    budget: dict[str, float] = field(default_factory=dict)

    def select(self, named: Sequence[str] | None, available: Mapping[str, Mapping]) -> list[str]:
        """The detectors to monitor: ``named`` (each must be in the headline), else the feasible ones
        without the baselines; each must be in ``available`` (this config's specs) with the run's
        parameters."""
        where = "monitor.detectors"
        if named is None:
            chosen = [name for name in self.feasible if name not in BASELINES]
            if not chosen:
                raise InputError(
                    "monitor.from_run",
                    f"{self.run_dir}'s headline found no detector feasible within its budget",
                )
        else:
            chosen = list(named)
            for name in chosen:
                if name not in self.thresholds:
                    raise InputError(
                        where,
                        f"{name!r} is not in {self.run_dir / HEADLINE}; it has: {', '.join(self.thresholds)}",
                    )
        for name in chosen:
            if name not in available:
                raise InputError(
                    "detector",
                    f"{name} (chosen from {self.run_dir}) is not selected; add it to detector=[...]",
                )
            differs = first_difference(self.detectors.get(name, {}), available[name])
            if differs:
                key, ran, here = differs
                raise InputError(
                    f"detector.{name}.{key}",
                    f"the study ran {ran!r}, this config has {here!r}: its threshold would not apply",
                )
        return chosen

    def describe(self, name: str) -> str:
        """One line: the detector, its threshold and where it came from."""
        flags = "" if name in self.feasible else " (NOT feasible within the budget: nearest point)"
        if name in self.over_budget:
            flags += " (over budget on the study's test seeds)"
        return f"{name}: score >= {self.thresholds[name]:.6g}{flags}"


def first_difference(ran: Mapping, here: Mapping) -> tuple[str, Any, Any] | None:
    """The first parameter (``_target_`` and the tuning ``search`` aside) whose value differs."""
    ignore = {"_target_", "search"}
    for key in sorted((set(ran) | set(here)) - ignore):
        if ran.get(key) != here.get(key):
            return key, ran.get(key), here.get(key)
    return None


def read_run(run_dir: str | Path, where: str = "monitor.from_run") -> RunChoice:
    """Read the headline and scoring of a finished study; one InputError naming ``where`` if it is not one."""
    folder = Path(run_dir)
    if not (folder / HEADLINE).is_file():
        raise InputError(where, f"no {HEADLINE} in {str(folder)!r}: give the folder of a finished study")
    try:
        table = pd.read_csv(folder / HEADLINE, dtype=str, keep_default_na=False)  # "null" is a name
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputError(where, f"cannot read {folder / HEADLINE}: {str(error).splitlines()[0]}") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(where, f"{folder / HEADLINE} has no column {missing[0]!r}")
    thresholds: dict[str, float] = {}
    for name, text in zip(table["detector"], table["threshold"], strict=True):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not name or not math.isfinite(value):
            raise InputError(where, f"{folder / HEADLINE}: bad threshold {text!r} for detector {name!r}")
        thresholds[name] = float(value)
    feasible = tuple(table.loc[table["feasible"].map(_true), "detector"])
    over = (
        frozenset(table.loc[table["over_budget_test"].map(_true), "detector"])
        if ("over_budget_test" in table.columns)
        else frozenset()
    )
    config = _config(folder / CONFIG, where)
    scoring, org = config.get("scoring") or {}, config.get("org") or {}
    refractory, dt = scoring.get("refractory_h"), org.get("dt_h")
    for key, value in (("scoring.refractory_h", refractory), ("org.dt_h", dt)):
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            raise InputError(where, f"{folder / CONFIG}: {key} must be a number >= 0; got {value!r}")
    detectors, scenarios = config.get("detector") or {}, config.get("scenario") or {}
    budget = (config.get("headline") or {}).get("budget") or {}
    return RunChoice(
        folder,
        thresholds,
        feasible,
        over,
        float(refractory),
        float(dt),
        dict(org),
        dict(detectors),
        dict(scenarios),
        dict(budget),
    )


def _true(text: str) -> bool:
    return text.strip().lower() in ("true", "1")


def _config(path: Path, where: str) -> dict:
    """The run's resolved config as plain data (YAML's safe loader: no object is ever built)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            where, f"no {CONFIG} in {str(path.parent)!r}: give the folder of a finished study"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError(where, f"cannot read {path}: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(where, f"{path} is not a study's config")
    return data
