"""One job of a study: simulate a (scenario, seed) cell once, then replay and score every detector.

A job's rows are what the ledger stores for it (harness.run.ledger): the run's record (context,
truth, the system series a timeline draws) and, per detector, its cell's rows and readings.

A failure is recorded in the cell's row (status ``error`` with the traceback) and never escapes:
one failing detector or simulation cannot stop the study. ``job_stages`` yields the job one stage
at a time, so a supervisor (harness.run.isolation) can put a time limit on each stage.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from detectors.base import Readings, readings_of, shared_readings
from harness.analysis.scoring import ScoringSpec, score_run
from harness.config import build
from harness.run.replay import overhead_row, replay
from harness.run.version import MODEL_VERSION, code_version
from scenarios import simulate
from scenarios.org import OrgConfig
from scenarios.trace import Trace
from scenarios.truth import TruthSpec, steps, system_utilization, trailing_mean

Tables = dict[str, pd.DataFrame]
Stage = tuple[str, Any]  # ("simulated", (context, run tables)) | ("cell", tables) | ("failed", tables)


@dataclass(frozen=True)
class Job:
    scenario: str
    scenario_spec: dict
    seed: int
    org: dict
    truth: dict
    scoring: dict
    detectors: tuple[tuple[str, dict, str], ...]  # (name, spec, cell key)
    key: str = ""  # the run's content hash (job_key): what the ledger files its run record under
    overhead: bool = True  # also replay every detector's streaming update(), timed (overhead.parquet)


def job_key(scenario: str, scenario_spec: dict, seed: int, org: dict, truth: dict) -> str:
    """Content hash of everything that determines a job's simulated run and its truth."""
    content = {
        "scenario": [scenario, scenario_spec],
        "seed": seed,
        "org": org,
        "truth": truth,
        "model": MODEL_VERSION,
        "code": code_version(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:20]


def cell_key(
    scenario: str,
    scenario_spec: dict,
    seed: int,
    org: dict,
    truth: dict,
    scoring: dict,
    detector: str,
    detector_spec: dict,
) -> str:
    """Content hash of everything that determines a cell's rows."""
    thresholds = scoring.get("thresholds", {})
    scoring = {**scoring, "thresholds": {detector: thresholds[detector]} if detector in thresholds else {}}
    content = {
        "scenario": [scenario, scenario_spec],
        "seed": seed,
        "org": org,
        "truth": truth,
        "scoring": scoring,
        "detector": [detector, detector_spec],
        "model": MODEL_VERSION,
        "code": code_version(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:20]


def simulate_job(job: Job) -> tuple[Trace, dict[str, Any]]:
    """The job's trace, and the columns its cells share."""
    start = time.perf_counter()
    trace = simulate(
        build(job.scenario_spec, f"scenario.{job.scenario}"),
        job.seed,
        org=OrgConfig(**job.org),
        truth=TruthSpec(**job.truth),
    )
    context = {
        "scenario": job.scenario,
        "seed": job.seed,
        "null_control": bool(trace.meta["null_control"]),
        "n_units": trace.layout.n_units,
        "sim_seconds": time.perf_counter() - start,
    }
    return trace, context


def run_record(key: str, trace: Trace, truth: TruthSpec) -> Tables:
    """The run's rows: ``runs`` (context, step times, the offered load and the trailing system
    utilization a timeline draws, the scenario's onsets) and ``truth`` (its events)."""
    window = steps(truth.utilization_window_h, trace.layout.dt_h)
    run = {
        "job": key,
        "scenario": trace.meta["scenario"],
        "seed": int(trace.meta["seed"]),
        "dt_h": trace.layout.dt_h,
        "warmup_h": trace.layout.warmup_h,
        "null_control": bool(trace.meta.get("null_control", False)),
        "n_units": trace.layout.n_units,
        "onsets": dict(trace.meta.get("onsets_h", {})),
        "time_h": np.asarray(trace.time_h, float),
        "offered_load": np.asarray(trace.truth.offered_load(trace.layout), float),
        "utilization": trailing_mean(system_utilization(trace.busy, trace.staff_on_duty), window),
    }
    events = pd.DataFrame(
        [
            {
                "target": e.target,
                "onset_h": e.onset_h,
                "end_h": e.end_h,
                "ended": e.ended,
                "units": ",".join(map(str, e.units)),
            }
            for e in trace.truth.events
        ],
        columns=["target", "onset_h", "end_h", "ended", "units"],
    )
    return {"runs": pd.DataFrame([run]), "truth": events}


def score_cell(
    trace: Trace,
    context: dict,
    spec: ScoringSpec,
    name: str,
    detector_spec: dict,
    key: str,
    overhead: bool = True,
) -> tuple[Tables, Readings | None]:
    """Run one detector over the trace (its batch ``run``) and score it: its rows (``readings``
    among them), and its readings. With ``overhead`` the streaming ``update()`` is replayed too, timed
    per call, and must give the same readings. An exception becomes an ``error`` row (and no
    readings)."""
    ids = {"scenario": context["scenario"], "seed": context["seed"], "key": key, "detector": name}
    start = time.perf_counter()
    try:
        readings = readings_of(build(detector_spec, f"detector.{name}"), trace)
        score = score_run(trace, readings, spec, name)
        if overhead:
            streamed, wall_ms, cpu_ms = replay(build(detector_spec, f"detector.{name}"), trace)
            if not streamed.equals(readings):
                raise RuntimeError(f"{name}: batch run() differs from the streaming update() replay")
    except Exception:
        error = {**context, **ids, "status": "error", "error": traceback.format_exc()}
        return {"cells": pd.DataFrame([error])}, None
    row = {
        **context,
        **ids,
        "status": "ok",
        "error": "",
        "seconds": time.perf_counter() - start,
        **score.metrics,
    }
    tables = {
        "cells": pd.DataFrame([row]),
        "events": score.events.assign(**ids),
        "episodes": score.episodes.assign(**ids),
        "readings": pd.DataFrame(
            [
                {
                    "key": key,
                    "score": readings.score.astype(np.float32),
                    "level": readings.level.astype(np.int8),
                }
            ]
        ),
    }
    if overhead:
        tables["overhead"] = pd.DataFrame(
            [{**ids, "n_units": trace.layout.n_units, **overhead_row(wall_ms, cpu_ms)}]
        )
    return tables, readings


def failed_cells(
    job: Job,
    detectors: Iterable[tuple[str, dict, str]],
    status: str,
    error: str,
    context: dict | None = None,
    seconds: float | None = None,
) -> Tables:
    """Rows recording that these detectors' cells failed (``error``) or ran out of time (``timeout``)."""
    base = context or {"scenario": job.scenario, "seed": job.seed}
    extra = {} if seconds is None else {"seconds": seconds}
    rows = [
        {**base, "key": key, "detector": name, "status": status, "error": error, **extra}
        for name, _, key in detectors
    ]
    return {"cells": pd.DataFrame(rows)}


def job_stages(job: Job) -> Iterator[Stage]:
    """The job one stage at a time: ``("simulated", (context, run tables))``, then ``("cell", tables)``
    per detector in order. A simulation that raises yields ``("failed", tables)`` with an error row
    per detector."""
    try:
        trace, context = simulate_job(job)
        record = run_record(job.key, trace, TruthSpec(**job.truth))
    except Exception:
        yield "failed", failed_cells(job, job.detectors, "error", traceback.format_exc())
        return
    yield "simulated", (context, record)
    spec = ScoringSpec(**job.scoring)
    with shared_readings():  # a combination reuses its members' readings
        for name, detector_spec, key in job.detectors:
            yield "cell", score_cell(trace, context, spec, name, detector_spec, key, job.overhead)[0]


def merge(parts: Iterable[Tables]) -> Tables:
    """Concatenate tables by name."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for part in parts:
        for name, frame in part.items():
            frames.setdefault(name, []).append(frame)
    return {name: pd.concat(group, ignore_index=True) for name, group in frames.items()}


def run_job(job: Job) -> Tables:
    """All rows of one job, by table, computed in this process."""
    return merge(payload[1] if stage == "simulated" else payload for stage, payload in job_stages(job))
