"""``tdbench task=evaluate data=FILE [labels=FILE]``: score every detector on historical observations.

The file (schema: ``scenarios.historical``, README "Historical data") becomes one Trace, named after
the file, scored like one simulated run: the same tables, summary, scorecard (its lead-time
criterion measured on this data's events), report and figures, in Hydra's output folder.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from detectors.base import Readings
from harness.config import StudyConfig, load_study
from harness.report.document import report_settings, write_report
from harness.report.exports import csv_text
from harness.report.screen import fit
from harness.run.files import write_text
from harness.run.jobs import cell_key, merge, run_record, score_cell
from harness.run.ledger import Ledger
from harness.run.study import summarise_run
from scenarios.errors import InputError
from scenarios.historical import HistoricalSpec, load_trace
from scenarios.trace import Trace
from scenarios.truth import TruthSpec


def paths(cfg: DictConfig) -> tuple[Path, Path | None]:
    data = cfg.get("data")
    if not data:
        raise InputError(
            "data", "give the observations file, e.g. tdbench task=evaluate data=examples/historical.csv"
        )
    labels = cfg.get("labels")
    return Path(str(data)), Path(str(labels)) if labels else None


def historical_spec(cfg: DictConfig) -> HistoricalSpec:
    return HistoricalSpec(**(cfg.get("historical") or {}))


def evaluation_study(cfg: DictConfig) -> StudyConfig:
    """The configured detectors and scoring, with the data file as the one scenario and seed 0.
    The scorecard's lead-time criterion is measured on this data's events."""
    base = load_study(cfg)
    data, labels = paths(cfg)
    origin = historical_spec(cfg).origin
    scenario = {"data": str(data), "labels": None if labels is None else str(labels), "origin": origin}
    return replace(
        base,
        scenarios={data.stem: scenario},
        seeds=(0,),
        criteria=base.criteria.model_copy(update={"lead_scenarios": (data.stem,)}),
    )


def intro(cfg: DictConfig) -> str:
    """The report's opening lines for an evaluation."""
    data, labels = paths(cfg)
    spec = historical_spec(cfg)
    truth = (
        f"event labels `{labels}`" if labels else "derived from the observations with the target definitions"
    )
    return (
        f"Historical data `{data}`; ground truth: {truth}. The first {spec.warmup_h:g} h are warm-up "
        "(observed, not scored). Unit numbers in the tables index `units.csv`."
    )


def digest(path: Path | None) -> str | None:
    return None if path is None else hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def load(cfg: DictConfig) -> tuple[StudyConfig, Trace]:
    study = evaluation_study(cfg)
    data, labels = paths(cfg)
    trace = load_trace(data, labels, historical_spec(cfg), TruthSpec(**study.truth), name=data.stem)
    return study, trace


def validate(cfg: DictConfig) -> None:
    load(cfg)
    report_settings(cfg)


def score_trace(
    trace: Trace, study: StudyConfig, source: dict
) -> tuple[dict[str, pd.DataFrame], dict[str, Readings]]:
    """Replay and score every detector on the trace: rows for each results table, and the readings.

    A failing detector gets an ``error`` row, as in a study."""
    name = trace.meta["scenario"]
    scoring = study.scoring.to_dict()
    context = {"scenario": name, "seed": 0, "null_control": False, "n_units": trace.layout.n_units}
    parts, readings = [], {}
    for detector, spec in study.detectors.items():
        key = cell_key(name, source, 0, {}, study.truth, scoring, detector, spec)
        tables, readings[detector] = score_cell(trace, context, study.scoring, detector, spec, key)
        parts.append(tables)
    return merge(parts), {d: r for d, r in readings.items() if r is not None}


def run(cfg: DictConfig, out_dir: Path) -> int:
    start = time.perf_counter()
    study, trace = load(cfg)
    load_seconds = time.perf_counter() - start
    data, labels = paths(cfg)
    settings = {k: v for k, v in vars(historical_spec(cfg)).items() if k != "origin"}  # origin: axes only
    source = {"data": digest(data), "labels": digest(labels), "historical": settings}
    tables, _ = score_trace(trace, study, source)
    tables["cells"]["sim_seconds"] = load_seconds  # for evaluations: reading and validating the data
    job = hashlib.sha256(json.dumps([source, study.truth], sort_keys=True).encode()).hexdigest()[:20]
    tables.update(run_record(job, trace, TruthSpec(**study.truth)))
    with Ledger(out_dir) as ledger:
        done = ledger.ok_keys()  # rerun into the same folder: keep what is stored
        fresh = {
            name: frame if "key" not in frame else frame[~frame["key"].isin(done)]
            for name, frame in tables.items()
        }
        if len(fresh["cells"]):
            ledger.commit_job(job, fresh)
        result = summarise_run(ledger, set(tables["cells"]["key"]), study)
    units = pd.DataFrame(
        {
            "unit": range(trace.layout.n_units),
            "label": trace.meta["unit_labels"],
            "staff": trace.layout.staff,
            "service_rate": trace.layout.service_rate,
        }
    )
    write_text(Path(out_dir) / "units.csv", csv_text(units))
    report = write_report(result, study, intro=intro(cfg)) if report_settings(cfg).enabled else None
    print(fit(result.scorecard_text, "scorecard.md"))
    print(f"\nresults: {result.run_dir}" + (f"\nreport: {report}" if report else ""))
    if result.failed:
        print(f"{result.failed} detector(s) failed: see cells.parquet (status, error)")
    return 1 if result.failed else 0
