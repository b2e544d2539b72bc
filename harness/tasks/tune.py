"""``tdbench task=tune``: each detector's declared search space, chosen over the headline's folds.

Every (scenario, seed) of the study is simulated once, and every configuration of every selected
detector runs in batch on that one trace (``Detector.run``); scores are read to float32 precision,
as the ledger stores them, so the shipped configuration sees exactly the headline's runs. The seeds
fall in the headline's folds (``headline.folds``, ``calibrate.calibration_fraction``,
``calibrate.split_seed``). The headline's rule (``headline.budget``, ``headline.target``,
``headline.min_lead_h``; harness.analysis.tuning) chooses each fold's configuration and threshold on
the other folds and scores the fold's seeds at it, beside the shipped configuration (its threshold
chosen the same way), with the headline's intervals and the paired difference; apart and labelled,
the oracle chosen on the scored seeds. With ``headline.folds=1`` this is one calibration/test split.
Detectors without ``search:`` take part with their shipped configuration only. A study with
``headline.tune=true`` runs the same tuning of its detectors that declare ``search:`` into its own
folder (``study_tuning``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import traceback
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from tqdm.auto import tqdm

from harness.analysis.calibrate import Run
from harness.analysis.headline import Fold
from harness.analysis.headline.render import hours, percent, with_ci
from harness.analysis.tuning import (
    ORACLE,
    ORACLE_LABEL,
    SHIPPED,
    TUNED,
    Folded,
    configurations,
    report,
    search_rows,
)
from harness.config import StudyConfig, TuneSpec, build, load_study, resolve
from harness.report.exports import csv_text, read_back
from harness.report.screen import fit
from harness.run.executors import execute
from harness.run.files import write_text
from harness.run.jobs import Job, simulate_job
from harness.run.ledger import stored_score
from harness.run.plan import plan_jobs
from harness.run.study import study_folds
from scenarios.errors import InputError

TUNING_FILES = ("tuning.csv", "search.csv", "tuning.md")
TUNING_KEY = "tuning.key"  # written last: the content hash of the tuning the files above hold


@dataclass(frozen=True)
class Plan:
    study: StudyConfig  # its detectors: every configuration, named "<detector>[<label>]"
    tune: TuneSpec
    folds: list[Fold]  # the headline's
    configs: dict[str, list[tuple[str, str, dict]]]  # detector -> (config name, label, spec)


def config_name(detector: str, label: str) -> str:
    return detector if label == SHIPPED else f"{detector}[{label}]"


def plan_for(study: StudyConfig, tune: TuneSpec, searched_only: bool = False) -> Plan:
    """Every configuration of the study's detectors (only those declaring ``search:`` when
    ``searched_only``), each built once before any work; the seeds in the headline's folds."""
    if study.executor.cell_timeout_s is not None:
        raise InputError("executor.cell_timeout_s", "tuning runs without a time limit; leave it null")
    folds = study_folds(study)
    configs: dict[str, list[tuple[str, str, dict]]] = {}
    for name, spec in study.detectors.items():
        where = f"detector.{name}.search"
        search = study.searches.get(name)
        if search is None:
            if not searched_only:
                configs[name] = [(name, SHIPPED, spec)]
            continue
        pairs = configurations(spec, search, resolve(spec["_target_"], where), where)
        for label, candidate in pairs:
            build(candidate, f"{where}[{label}]")  # every configuration must be valid before any work
        configs[name] = [(config_name(name, label), label, candidate) for label, candidate in pairs]
    expanded = {cname: cspec for entries in configs.values() for cname, _, cspec in entries}
    return Plan(replace(study, detectors=expanded), tune, folds, configs)


def _plan(cfg: DictConfig) -> Plan:
    return plan_for(load_study(cfg), TuneSpec.from_config(cfg))


def validate(cfg: DictConfig) -> None:
    _plan(cfg)


def score_job(job: Job) -> dict:
    """One simulation, every configuration's per-step scores on it (or its error)."""
    out: dict = {"scenario": job.scenario, "seed": job.seed, "scores": {}, "errors": {}}
    try:
        trace, _ = simulate_job(job)
    except Exception:
        out["errors"] = {name: traceback.format_exc() for name, _, _ in job.detectors}
        return out
    out.update(
        time_h=trace.time_h,
        dt_h=trace.layout.dt_h,
        warmup_h=trace.layout.warmup_h,
        events=tuple(trace.truth.events),
    )
    for name, spec, _ in job.detectors:
        try:
            out["scores"][name] = stored_score(build(spec, f"detector.{name}").run(trace).score)
        except Exception:
            out["errors"][name] = traceback.format_exc()
    return out


Runs = dict[str, dict[tuple[str, int], Run]]  # config name -> (scenario, seed) -> its run


def announce(plan: Plan) -> None:
    for detector, entries in plan.configs.items():
        if len(entries) > plan.tune.announce_above:
            print(
                f"tune: {detector} searches {len(entries)} configurations (more than "
                f"tune.announce_above={plan.tune.announce_above}), each run on every (scenario, seed)",
                file=sys.stderr,
            )


def collect(plan: Plan) -> tuple[Runs, dict[str, str]]:
    """Every configuration's runs; and config name -> its first error."""
    jobs = plan_jobs(plan.study)
    runs: Runs = {}
    errors: dict[str, str] = {}
    with (
        tqdm(total=len(jobs), desc="tuning jobs", unit="job", disable=not plan.study.progress) as bar,
        closing(execute(score_job, jobs, plan.study.executor)) as results,  # a signal stops the workers
    ):
        for result in results:
            for name, error in result["errors"].items():
                errors.setdefault(name, f"{result['scenario']} seed {result['seed']}: {error}")
            for name, score in result["scores"].items():
                run = Run(result["time_h"], score, result["dt_h"], result["warmup_h"], result["events"])
                runs.setdefault(name, {})[(result["scenario"], result["seed"])] = run
            bar.update(1)
    return runs, errors


def folded_of(plan: Plan, detector: str, runs: Runs, errors: Mapping[str, str]) -> Folded:
    """The detector's configurations (by label) that ran without error, over the plan's folds."""
    entries = [(n, label) for n, label, _ in plan.configs[detector] if n not in errors and n in runs]
    return Folded({label: runs[n] for n, label in entries}, plan.folds)


def tune_detector(
    plan: Plan, detector: str, runs: Runs, errors: Mapping[str, str]
) -> tuple[list[dict], list[dict]]:
    """The detector's rows (shipped, tuned, oracle) and every configuration's search row."""
    study = plan.study
    folded = folded_of(plan, detector, runs, errors)
    rows = report(detector, folded, study.scoring, study.headline, study.stats)
    search = search_rows(detector, folded, study.scoring, study.headline)
    for name, label, _ in plan.configs[detector]:
        if name in errors:
            search.append({"detector": detector, "config": label, "feasible": False, "error": errors[name]})
    return rows, search


def run_tuning(plan: Plan) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """(tuning table, search table, errors) of the whole plan."""
    announce(plan)
    runs, errors = collect(plan)
    rows, search = [], []
    for detector in plan.configs:
        mine, searched = tune_detector(plan, detector, runs, errors)
        rows += mine
        search += searched
    return pd.DataFrame(rows), pd.DataFrame(search), errors


# ------------------------------------------------------------------------------------- markdown


def _num(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.2f}"


def _config(row: Mapping) -> str:
    return row["config"] if isinstance(row.get("config"), str) else "n/a"


def _threshold(row: Mapping) -> str:
    if pd.isna(row.get("threshold", np.nan)):
        return "none (no score)"
    if not row["feasible"]:
        return f"infeasible; nearest {row['threshold']:.4g} (budget x{row['budget_use']:.3g})"
    return f"{row['threshold']:.4g}"


def _table(rows: list[dict]) -> list[str]:
    lines = [
        "| detector | choice | configuration | threshold | warned | median lead | quiet alerting "
        "| false / quiet week |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['detector']} | {r['choice']} | {_config(r)} | {_threshold(r)} "
            f"| {with_ci(r, 'warned', percent)} | {with_ci(r, 'median_lead_h', hours)} "
            f"| {with_ci(r, 'quiet_alert_fraction', lambda x: percent(x, 1))} "
            f"| {with_ci(r, 'false_per_quiet_week', _num)} |"
        )
    return lines


def _fold_choices(records: list[dict], folds: list[Fold]) -> list[str]:
    """Each fold's configuration and threshold, chosen on the other folds (cross-fitted only)."""
    if len(folds) == 1:
        return []
    lines = ["Each fold's choice (configuration @ threshold), made on the other folds:", ""]
    for r in records:
        if r["choice"] in (SHIPPED, TUNED) and isinstance(r.get("fold_choices"), str):
            lines.append(f"- {r['detector']} ({r['choice']}): {r['fold_choices']}")
    return [*lines, ""]


def _warned_and_lead(row: Mapping) -> str:
    return f"warned {with_ci(row, 'warned', percent)}, lead {with_ci(row, 'median_lead_h', hours)}"


def _records(table: pd.DataFrame) -> list[dict]:
    return table.to_dict("records") if len(table) else []


def how_chosen(folds: list[Fold]) -> str:
    """Which seeds choose and which report, in words."""
    if len(folds) == 1:
        return (
            f"on the calibration seeds {list(folds[0].calibration)}; every number below is measured on "
            f"the test seeds {list(folds[0].test)} (one split, headline.folds=1)"
        )
    seeds = sorted(s for fold in folds for s in fold.test)
    return (
        f"for each of {len(folds)} seed folds on the other folds' seeds, as the headline's thresholds; "
        f"each fold's seeds are scored at its own choice, so every number below is measured out of fold "
        f"on the seeds {seeds} and compares with the headline's row of the shipped configuration. "
        "The configuration and threshold shown are the ones the same rule chooses on all seeds (what a "
        "user deploys; they score nothing); each fold's choice is listed after the table"
    )


def render(table: pd.DataFrame, study: StudyConfig, folds: list[Fold]) -> str:
    """tuning.md's body: shipped and tuned reported out of fold, each fold's choice, the pairs, then
    the oracle apart."""
    spec = study.headline
    records = _records(table)
    lines = [
        f"Each configuration of a detector's search: space at the headline's budget, {spec.label} "
        f"(target {spec.target}): the headline's rule chooses the configuration and threshold "
        f"({spec.warned_label}, then median lead, then the earlier configuration; shipped first) "
        f"{how_chosen(folds)}. Brackets: {study.stats.label}.",
        "",
        *_table([r for r in records if r["choice"] in (SHIPPED, TUNED)]),
        "",
        *_fold_choices(records, folds),
        "Tuned vs shipped, paired by seed (the same scored events; warned in points, median lead in hours; "
        "Holm within each detector's single pair):",
        "",
    ]
    for r in records:
        if r["choice"] == TUNED:
            sentence = r.get("pair_sentence")
            if not isinstance(sentence, str):
                sentence = f"{r['detector']}: not paired (shipped or tuned infeasible at this budget)."
            lines.append(f"- {sentence}")
    lines += ["", f"**{ORACLE_LABEL[0].upper()}{ORACLE_LABEL[1:]}.**", ""]
    lines += _table([r for r in records if r["choice"] == ORACLE])
    return "\n".join(lines)


def short_text(table: pd.DataFrame) -> str:
    """One line per detector: the tuned choice against the shipped one, both reported out of fold."""
    lines = []
    records = _records(table)
    for r in records:
        if r["choice"] != TUNED:
            continue
        shipped = next(s for s in records if s["detector"] == r["detector"] and s["choice"] == SHIPPED)
        head = f"{r['detector']}: tuned {_config(r)} ({_threshold(r)})"
        line = f"{head}: {_warned_and_lead(r)}; shipped ({_threshold(shipped)}): {_warned_and_lead(shipped)}"
        lines.append(line)
        if isinstance(r.get("pair_sentence"), str):
            lines.append(f"  {r['pair_sentence']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ the study


def tuning_key(plan: Plan) -> str:
    """Content hash of everything the tuning files depend on: every configuration's cell keys (the
    code version, scenario, seed, organisation, truth, scoring and detector spec), the headline's
    budget and target, the seed split and the intervals."""
    cells = sorted(key for job in plan_jobs(plan.study) for _, _, key in job.detectors)
    spec = plan.study.headline
    content = {
        "cells": cells,
        "rule": [spec.quiet_alert_fraction, spec.false_per_quiet_week, spec.target],
        "folds": [[list(f.calibration), list(f.test)] for f in plan.folds],
        "stats": repr(plan.study.stats),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]


def read_tuning(path: Path) -> pd.DataFrame:
    """A stored tuning.csv as computed: only empty fields are missing (a detector may be "null"), and
    a missed median lead is -inf again."""
    return read_back(pd.read_csv(path, keep_default_na=False, na_values=[""]))


def write_tuning(out_dir: Path, table: pd.DataFrame, search: pd.DataFrame, text: str) -> None:
    write_text(out_dir / "tuning.csv", csv_text(table))
    write_text(out_dir / "search.csv", csv_text(search))
    write_text(out_dir / "tuning.md", f"# Tuning\n\n{text}\n")


def study_plan(study: StudyConfig, tune: TuneSpec) -> Plan:
    """The tuning of a study with ``headline.tune=true``: its detectors that declare ``search:``."""
    plan = plan_for(study, tune, searched_only=True)
    if not plan.configs:
        raise InputError(
            "headline.tune", "no selected detector declares search:; select one that does or leave it false"
        )
    return plan


def study_tuning(study: StudyConfig, out_dir: Path, tune: TuneSpec) -> tuple[str, int]:
    """After a study's headline: with ``headline.tune``, the tuning files in ``out_dir`` (kept from
    an earlier run when their key is this tuning's), the short text and the number of failed
    configurations; otherwise no tuning files, ("", 0)."""
    out_dir = Path(out_dir)
    stored = out_dir / TUNING_KEY
    if not study.headline.tune:
        for name in (TUNING_KEY, *TUNING_FILES):
            (out_dir / name).unlink(missing_ok=True)  # never leave another run's tuning behind
        return "", 0
    plan = study_plan(study, tune)
    key = tuning_key(plan)
    errors: dict[str, str] = {}
    done = (
        stored.is_file() and stored.read_text() == key and all((out_dir / n).is_file() for n in TUNING_FILES)
    )
    if not done:
        stored.unlink(missing_ok=True)  # the files are this key's only once the key is written
        table, search, errors = run_tuning(plan)
        write_tuning(out_dir, table, search, render(table, study, plan.folds))
        if not errors:  # a failed configuration is tried again by the next run
            write_text(stored, key)
    table = read_tuning(out_dir / "tuning.csv")  # the short text reads what is stored, as the report
    text = (
        short_text(table)
        + "\n\nFull table, each fold's choice and the oracle (chosen on the scored seeds): tuning.md"
    )
    if errors:
        text += f"\n{len(errors)} configuration(s) failed on some run: see search.csv (error)"
    return text, len(errors)


def run(cfg: DictConfig, out_dir: Path) -> int:
    plan = _plan(cfg)
    out_dir = Path(out_dir)
    table, search, errors = run_tuning(plan)
    text = render(table, plan.study, plan.folds)
    write_tuning(out_dir, table, search, text)
    print(fit(text, "tuning.md"))
    print(f"\nresults: {out_dir} (tuning.csv, search.csv, tuning.md)")
    if errors:
        print(f"{len(errors)} configuration(s) failed on some run: see search.csv (error)")
    return 1 if errors else 0
