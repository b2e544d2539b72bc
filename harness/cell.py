"""One job of a study: simulate a (scenario, seed) cell once, then replay and score every detector.

A failure is recorded in the cell's row (status ``error`` with the traceback) and never escapes:
one failing detector or simulation cannot stop the study.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import dataclass

import pandas as pd

from harness.config import build
from harness.replay import overhead_row, replay
from harness.scoring import ScoringSpec, score_run
from harness.version import code_version
from scenarios import simulate
from scenarios.org import OrgConfig
from scenarios.truth import TruthSpec


@dataclass(frozen=True)
class Job:
    scenario: str
    scenario_spec: dict
    seed: int
    org: dict
    truth: dict
    scoring: dict
    detectors: tuple[tuple[str, dict, str], ...]  # (name, spec, cell key)


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
        "code": code_version(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:20]


def run_job(job: Job) -> dict[str, pd.DataFrame]:
    """All rows of one job, by table."""
    base = {"scenario": job.scenario, "seed": job.seed}
    start = time.perf_counter()
    try:
        trace = simulate(
            build(job.scenario_spec, f"scenario.{job.scenario}"),
            job.seed,
            org=OrgConfig(**job.org),
            truth=TruthSpec(**job.truth),
        )
    except Exception:
        error = traceback.format_exc()
        cells = [
            {**base, "key": key, "detector": name, "status": "error", "error": error}
            for name, _, key in job.detectors
        ]
        return {"cells": pd.DataFrame(cells)}
    sim_seconds = time.perf_counter() - start
    spec = ScoringSpec(**job.scoring)
    context = {
        **base,
        "null_control": bool(trace.meta["null_control"]),
        "n_units": trace.layout.n_units,
        "sim_seconds": sim_seconds,
    }
    tables: dict[str, list[pd.DataFrame]] = {"cells": [], "events": [], "episodes": [], "overhead": []}
    for name, detector_spec, key in job.detectors:
        ids = {**base, "key": key, "detector": name}
        start = time.perf_counter()
        try:
            detector = build(detector_spec, f"detector.{name}")
            readings, wall_ms, cpu_ms = replay(detector, trace)
            score = score_run(trace, readings, spec, name)
        except Exception:
            tables["cells"].append(
                pd.DataFrame([{**context, **ids, "status": "error", "error": traceback.format_exc()}])
            )
            continue
        row = {
            **context,
            **ids,
            "status": "ok",
            "error": "",
            "seconds": time.perf_counter() - start,
            **score.metrics,
        }
        tables["cells"].append(pd.DataFrame([row]))
        tables["events"].append(score.events.assign(**ids))
        tables["episodes"].append(score.episodes.assign(**ids))
        tables["overhead"].append(
            pd.DataFrame([{**ids, "n_units": trace.layout.n_units, **overhead_row(wall_ms, cpu_ms)}])
        )
    return {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items() if frames}
