"""Per-step readings of one representative seed per scenario, for the timeline and recovery figures.

Everything comes from the ledger: the readings the study stored for each cell, and the run's
system series (offered load, trailing utilization) and onsets, stored by the job that simulated
it. Nothing is simulated again. ``timeline_tables`` gives the rows of ``timeline.parquet`` (one
per scenario, seed, detector and step) and ``timeline_marks.parquet`` (warm-up end, onsets).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.scoring import ScoringSpec
from harness.run.ledger import Ledger, sort_rows, stored_score

TIMELINE_COLUMNS = ["scenario", "seed", "detector", "time_h", "score", "level", "offered_load", "utilization"]
MARK_COLUMNS = ["scenario", "seed", "mark", "time_h"]
WARMUP_END = "warm-up end"


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


def timeline_tables(
    ledger: Ledger, scenarios: list[str], detectors: list[str], cells: pd.DataFrame, seed: int | None = None
) -> dict[str, pd.DataFrame]:
    """The ``timeline`` and ``timeline_marks`` rows of each scenario's representative seed (or
    ``seed``), from the ledger. Detectors whose cell failed are left out."""
    frames, marks = [], []
    for scenario in scenarios:
        mine = cells[cells["scenario"] == scenario]
        chosen = seed if seed is not None else representative_seed(mine)
        if chosen is None:  # no cell of the scenario ran
            continue
        ok = mine[(mine["seed"] == chosen) & (mine["status"] == "ok") & mine["detector"].isin(detectors)]
        if ok.empty:
            continue
        readings = ledger.readings(ok["key"])
        series = ledger.series(ok["key"])
        if len(series) != 1:
            continue
        run = next(iter(series.values()))
        ids = {"scenario": scenario, "seed": int(chosen)}
        for key, detector in zip(ok["key"], ok["detector"], strict=True):
            _, score, level = readings[key]
            frames.append(
                pd.DataFrame(
                    {
                        **ids,
                        "detector": detector,
                        "time_h": run["time_h"],
                        "score": stored_score(score),
                        "level": level,
                        "offered_load": run["offered_load"],
                        "utilization": run["utilization"],
                    }
                )
            )
        moments = {WARMUP_END: run["warmup_h"], **run["onsets"]}
        marks += [{**ids, "mark": k, "time_h": float(v)} for k, v in moments.items()]
    timeline = (
        sort_rows(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame(columns=TIMELINE_COLUMNS)
    )
    return {"timeline": timeline, "timeline_marks": pd.DataFrame(marks, columns=MARK_COLUMNS)}


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
