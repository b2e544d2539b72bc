"""The roadmap's success criteria per detector (DESIGN section 5), PASS or FAIL."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.config import Criteria
from harness.scoring import median_lead


def unique_detections(
    events: pd.DataFrame, detectors: list[str], combos: set[str], min_recall: float
) -> dict[str, list[str]]:
    """Scenarios each detector catches (recall >= min_recall) while every other non-combination
    detector misses them (recall < min_recall)."""
    singles = [d for d in detectors if d not in combos]
    recall = events.groupby(["scenario", "detector"])["detected"].mean().unstack("detector")
    found: dict[str, list[str]] = {d: [] for d in detectors}
    for scenario, row in recall.iterrows():
        for detector in detectors:
            others = [d for d in singles if d != detector]
            mine = row.get(detector, np.nan)
            if mine >= min_recall and all(not (row.get(o, 0.0) >= min_recall) for o in others):
                found[detector].append(str(scenario))
    return found


def build_scorecard(
    cells: pd.DataFrame,
    events: pd.DataFrame,
    overhead: pd.DataFrame,
    criteria: Criteria,
    combos: set[str] = frozenset(),
) -> pd.DataFrame:
    """One row per detector: each criterion's measured value and whether it passes."""
    ok = cells[cells["status"] == "ok"]
    keys = set(ok["key"])
    events = events[events["key"].isin(keys)]
    overhead = overhead[overhead["key"].isin(keys)]
    detectors = sorted(ok["detector"].unique())
    unique = unique_detections(events, detectors, combos, criteria.unique_recall)
    rows = []
    for detector in detectors:
        mine = ok[ok["detector"] == detector]
        lead_events = events[
            (events["detector"] == detector)
            & (events["target"] == criteria.lead_target)
            & events["scenario"].isin(criteria.lead_scenarios)
        ]
        lead = median_lead(lead_events["lead_h"].to_numpy(float))
        n_episodes = mine["n_episodes"].sum()
        fp = mine["n_false"].sum() / n_episodes if n_episodes else np.nan
        p99 = overhead.loc[overhead["detector"] == detector, "wall_p99_ms"]
        cost = float(p99.median()) if len(p99) else np.nan
        rows.append(
            {
                "detector": detector,
                "lead_h": lead,
                "lead_events": len(lead_events),
                "lead_pass": bool(lead >= criteria.lead_h),
                "fp_rate": fp,
                "episodes": int(n_episodes),
                "fp_pass": bool(fp < criteria.fp_rate) if n_episodes else True,
                "unique_scenarios": ",".join(unique[detector]),
                "unique_pass": len(unique[detector]) >= 1,
                "overhead_p99_ms": cost,
                "overhead_pass": bool(cost < criteria.overhead_ms),
            }
        )
    card = pd.DataFrame(rows)
    card["passed"] = card[["lead_pass", "fp_pass", "unique_pass", "overhead_pass"]].sum(axis=1)
    return card


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _hours(x: float) -> str:
    return "missed" if x == -np.inf else ("n/a" if np.isnan(x) else f"{x:.2f} h")


def render_scorecard(card: pd.DataFrame, criteria: Criteria, failed_cells: int = 0) -> str:
    """The scorecard as a markdown table."""
    head = (
        f"| detector | lead >= {criteria.lead_h:g} h ({criteria.lead_target}; "
        f"{', '.join(criteria.lead_scenarios)}) | FP rate < {criteria.fp_rate:.0%} | "
        f"unique detection >= 1 scenario | p99 update < {criteria.overhead_ms:g} ms | passed |"
    )
    lines = [head, "|---|---|---|---|---|---|"]
    for r in card.itertuples():
        fp = "no alerts" if np.isnan(r.fp_rate) else f"{r.fp_rate:.1%} of {r.episodes}"
        lines.append(
            f"| {r.detector} | {_hours(r.lead_h)} (n={r.lead_events}) {_verdict(r.lead_pass)} "
            f"| {fp} {_verdict(r.fp_pass)} "
            f"| {r.unique_scenarios or 'none'} {_verdict(r.unique_pass)} "
            f"| {r.overhead_p99_ms:.3f} ms {_verdict(r.overhead_pass)} | {r.passed}/4 |"
        )
    if failed_cells:
        lines.append(f"\n{failed_cells} cell(s) failed and are left out; see cells.parquet (status, error).")
    return "\n".join(lines)
