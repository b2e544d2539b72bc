"""Per-step readings of one representative seed per scenario, for the timeline and recovery figures.

A study stores per-run summaries, not per-step readings. When its cells are done, each scenario's
most typical seed (``representative_seed``) is simulated again and every detector re-run on it.
Simulation and detectors are deterministic, so these are exactly the readings the study scored;
they land in ``timeline.parquet`` (one row per scenario, seed, detector and step) and the
scenario's own marks (warm-up end, onsets, relief) in ``timeline_marks.parquet``. The report
reads both files and never simulates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detectors.base import Readings
from harness.analysis.scoring import ScoringSpec
from harness.config import StudyConfig, build
from scenarios import simulate
from scenarios.org import OrgConfig
from scenarios.trace import Trace
from scenarios.truth import TruthSpec, steps, system_utilization, trailing_mean

TIMELINE_COLUMNS = ["scenario", "seed", "detector", "time_h", "score", "level", "offered_load", "utilization"]
MARK_COLUMNS = ["scenario", "seed", "mark", "time_h"]
WARMUP_END = "warm-up end"


@dataclass(frozen=True)
class TimelineJob:
    scenario: str
    scenario_spec: dict
    seed: int
    org: dict
    truth: dict
    detectors: tuple[tuple[str, dict], ...]


def representative_seed(cells: pd.DataFrame) -> int | None:
    """The seed of one scenario's cells whose run looks most typical.

    Features per seed: the number of events of each target and, per detector, the number of alert
    episodes and the hours spent alerting (detectors that failed on some seed are left out). The
    chosen seed minimises the sum over features of |value - median| / range; ties go to the lowest.

    >>> cells = pd.DataFrame({"seed": [0, 1, 2], "detector": "d", "status": "ok", "n_episodes": [1, 5, 9],
    ...     "alert_h": [2.0, 4.0, 30.0], "n_events_utilization_breach": [1, 1, 1],
    ...     "n_events_unit_saturation": [0, 2, 2]})
    >>> representative_seed(cells)
    1
    """
    ok = cells[cells["status"] == "ok"]
    if ok.empty:
        return None
    per_detector = ok.pivot_table(index="seed", columns="detector", values=["n_episodes", "alert_h"])
    per_detector.columns = [f"{metric}:{detector}" for metric, detector in per_detector.columns]
    events = ok.groupby("seed")[[c for c in ok.columns if c.startswith("n_events_")]].first()
    features = per_detector.join(events).astype(float).sort_index().dropna(axis=1)
    spread = (features.max() - features.min()).replace(0.0, 1.0)
    distance = ((features - features.median()).abs() / spread).sum(axis=1)
    return int(distance.idxmin())


def plan_timelines(study: StudyConfig, cells: pd.DataFrame, seed: int | None = None) -> list[TimelineJob]:
    """One job per scenario: its representative seed (or ``seed`` when given) and every detector."""
    jobs = []
    for scenario, spec in study.scenarios.items():
        chosen = seed if seed is not None else representative_seed(cells[cells["scenario"] == scenario])
        if chosen is None:
            continue
        detectors = tuple(study.detectors.items())
        jobs.append(TimelineJob(scenario, spec, chosen, study.org, study.truth, detectors))
    return jobs


def run_timeline(job: TimelineJob) -> dict[str, pd.DataFrame]:
    """Simulate the job's run again and re-run every detector on it. A failing detector is left out
    (its cell recorded the error); if the simulation fails, the tables are empty."""
    truth = TruthSpec(**job.truth)
    try:
        scenario = build(job.scenario_spec, f"scenario.{job.scenario}")
        trace = simulate(scenario, job.seed, org=OrgConfig(**job.org), truth=truth)
    except Exception:
        return {
            "timeline": pd.DataFrame(columns=TIMELINE_COLUMNS),
            "timeline_marks": pd.DataFrame(columns=MARK_COLUMNS),
        }
    readings = {}
    for name, spec in job.detectors:
        try:
            readings[name] = build(spec, f"detector.{name}").run(trace)
        except Exception:  # the study recorded this cell's error; the figure shows the others
            continue
    return timeline_tables(trace, readings, truth)


def timeline_tables(trace: Trace, readings: dict[str, Readings], truth: TruthSpec) -> dict[str, pd.DataFrame]:
    """The ``timeline`` and ``timeline_marks`` rows of one run."""
    ids = {"scenario": trace.meta["scenario"], "seed": int(trace.meta["seed"])}
    load = trace.truth.offered_load(trace.layout)
    window = steps(truth.utilization_window_h, trace.layout.dt_h)
    utilization = trailing_mean(system_utilization(trace.busy, trace.staff_on_duty), window)
    frames = [
        pd.DataFrame(
            {
                **ids,
                "detector": name,
                "time_h": trace.time_h,
                "score": r.score,
                "level": r.level.astype(np.int8),
                "offered_load": load,
                "utilization": utilization,
            }
        )
        for name, r in readings.items()
    ]
    marks = {WARMUP_END: trace.layout.warmup_h, **trace.meta.get("onsets_h", {})}
    return {
        "timeline": pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=TIMELINE_COLUMNS),
        "timeline_marks": pd.DataFrame([{**ids, "mark": k, "time_h": float(v)} for k, v in marks.items()]),
    }


def score_thresholds(timeline: pd.DataFrame, spec: ScoringSpec) -> pd.DataFrame:
    """The score threshold drawn for each detector, with its source.

    A threshold from ``scoring.thresholds`` is exact. Otherwise alerts come from the detector's
    levels, which need not be a threshold on its score (transport also alerts on its gradient and
    boundary-layer rules). The drawn line is then the threshold theta for which "score >= theta"
    best reproduces "level >= alert level" over the stored readings, found in one sorted pass;
    ``agreement`` is the share of steps where the two agree (1.0: the levels are exactly a threshold
    on the score over these runs). No line when the detector never alerted.
    """
    rows = []
    for detector, of_detector in timeline.groupby("detector", sort=True):
        if detector in spec.thresholds:
            rows.append(
                {
                    "detector": detector,
                    "threshold": float(spec.thresholds[detector]),
                    "agreement": 1.0,
                    "source": "scoring.thresholds",
                }
            )
            continue
        alerting = of_detector["level"].to_numpy() >= spec.alert_level
        theta, agreement = best_threshold(of_detector["score"].to_numpy(float), alerting)
        rows.append({"detector": detector, "threshold": theta, "agreement": agreement, "source": "levels"})
    return pd.DataFrame(rows, columns=["detector", "threshold", "agreement", "source"])


def best_threshold(score: np.ndarray, alerting: np.ndarray) -> tuple[float, float]:
    """A threshold theta maximising the agreement of ``score >= theta`` with ``alerting``, and that
    agreement. Every theta between two consecutive observed scores gives the same agreement; of the
    best such interval (the lowest, on ties) the largest number with the fewest decimals is
    returned, so a detector that alerts from 0.8 reads 0.8, not the lowest score it alerted at.
    NaN scores never reach a threshold; (nan, nan) when nothing alerted.

    >>> best_threshold(np.array([0.2, 0.9, 0.5, 0.8137]), np.array([False, True, False, True]))
    (0.8, 1.0)
    >>> best_threshold(np.array([0.2, 0.5]), np.array([False, False]))
    (nan, nan)
    """
    if not alerting.any():
        return np.nan, np.nan
    score = np.where(np.isnan(score), -np.inf, score)
    order = np.argsort(score, kind="stable")
    s, a = score[order], alerting[order]
    values, first = np.unique(s, return_index=True)
    finite = np.isfinite(values)
    lower = np.concatenate(([-np.inf], values[:-1]))[finite]  # the next smaller observed score
    values, first = values[finite], first[finite]
    if values.size == 0:
        return np.nan, np.nan
    # theta in (lower, value] alerts on sorted steps first.. : agreement = alerts there + quiet below
    alerts_before = np.concatenate(([0], np.cumsum(a)))[first]
    agreement = (a.sum() - alerts_before + first - alerts_before) / len(s)
    best = int(np.argmax(agreement))
    return simplest_in(float(lower[best]), float(values[best])), float(agreement[best])


def simplest_in(low: float, high: float) -> float:
    """The largest number with the fewest decimals in the interval (low, high].

    >>> simplest_in(0.7917, 0.802), simplest_in(0.5, 0.8137), simplest_in(0.79981, 0.79983)
    (0.8, 0.8, 0.79983)
    """
    for decimals in range(0, 13):
        scale = 10.0**decimals
        candidate = round(float(np.floor(high * scale)) / scale, decimals)
        if low < candidate <= high:
            return candidate
    return high
