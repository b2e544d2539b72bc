"""The roadmap's success criteria per detector (DESIGN section 5), PASS or FAIL, with bootstrap CIs.

Verdicts compare the point estimates with the bars; the CIs (resampling seeds, harness.analysis.statistics)
say how firm each verdict is, and a verdict whose CI crosses its bar is marked as uncertain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.scoring import median_lead
from harness.analysis.statistics import (
    StatisticsSpec,
    by_seed,
    median_ci,
    median_lead_ci,
    ratio_ci,
    seed_bootstrap,
    sums_by_seed,
)
from harness.config import Criteria

MODULES = ("utilization", "spc", "seismic", "burnout")  # the roadmap's "other modules"


def rivals(detector: str, detectors: list[str], families: dict[str, str]) -> list[str]:
    """The detectors ``detector``'s unique detection is judged against: every selected variant of
    the four existing modules, except its own module's (a variant does not compete with itself)."""
    own = families.get(detector)
    return [d for d in detectors if d != detector and families.get(d) in MODULES and families.get(d) != own]


def unique_detections(
    events: pd.DataFrame, detectors: list[str], families: dict[str, str], min_recall: float
) -> dict[str, list[str]]:
    """Scenarios each detector catches (recall >= min_recall) while every rival (:func:`rivals`)
    misses them (recall < min_recall). ``families``: detector -> its module (class ``name``)."""
    recall = events.groupby(["scenario", "detector"])["detected"].mean().unstack("detector")
    found: dict[str, list[str]] = {d: [] for d in detectors}
    for scenario, row in recall.iterrows():
        for detector in detectors:
            mine = row.get(detector, np.nan)
            others = rivals(detector, detectors, families)
            if mine >= min_recall and all(not (row.get(o, 0.0) >= min_recall) for o in others):
                found[detector].append(str(scenario))
    return found


def unique_detection_cis(
    events: pd.DataFrame,
    detectors: list[str],
    families: dict[str, str],
    min_recall: float,
    seeds: list[int],
    stats: StatisticsSpec,
) -> dict[str, tuple[float, float]]:
    """CI of each detector's number of uniquely detected scenarios, resampling seeds."""
    scenarios = sorted(set(events["scenario"])) if len(events) else []
    if not scenarios:
        return {d: (np.nan, np.nan) for d in detectors}
    shape = (len(seeds), len(scenarios), len(detectors))
    detected, counts = np.zeros(shape), np.zeros(shape)
    where = (
        {s: i for i, s in enumerate(seeds)},
        {s: i for i, s in enumerate(scenarios)},
        {d: i for i, d in enumerate(detectors)},
    )
    grouped = events.groupby(["seed", "scenario", "detector"])["detected"].agg(["sum", "count"])
    for (seed, scenario, detector), row in grouped.iterrows():
        if seed in where[0] and detector in where[2]:
            at = (where[0][seed], where[1][scenario], where[2][detector])
            detected[at], counts[at] = row["sum"], row["count"]

    def count_for(d: int):
        others = np.isin(detectors, rivals(detectors[d], detectors, families))

        def statistic(idx: np.ndarray) -> np.ndarray:
            n = counts[idx].sum(axis=-3)
            recall = np.divide(detected[idx].sum(axis=-3), n, out=np.full(n.shape, np.nan), where=n > 0)
            hit = recall >= min_recall
            return (hit[..., d] & ~(hit & others).any(axis=-1)).sum(axis=-1).astype(float)

        return statistic

    return {d: seed_bootstrap(len(seeds), count_for(i), stats) for i, d in enumerate(detectors)}


def build_scorecard(
    cells: pd.DataFrame,
    events: pd.DataFrame,
    overhead: pd.DataFrame,
    criteria: Criteria,
    families: dict[str, str] | None = None,
    stats: StatisticsSpec | None = None,
    grace_h: float = 1.0,
    null_controls: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """One row per detector: each criterion's measured value, its CI (``*_lo``, ``*_hi``), and
    whether it passes. ``families``: detector -> module (class ``name``; default: the detector's
    own name), for unique detection, which ignores the ``null_controls`` scenarios (their events
    are chance breaches). ``grace_h`` is the scoring's G: lead times below -G mean "missed"."""
    stats = stats or StatisticsSpec()
    ok = cells[cells["status"] == "ok"]
    keys = set(ok["key"])
    events = events[events["key"].isin(keys)]
    overhead = overhead[overhead["key"].isin(keys)]
    detectors = sorted(ok["detector"].unique())
    seeds = sorted(set(ok["seed"]))
    families = {d: (families or {}).get(d, d) for d in detectors}
    signal = events[~events["scenario"].isin(null_controls)]
    unique = unique_detections(signal, detectors, families, criteria.unique_recall)
    unique_ci = unique_detection_cis(signal, detectors, families, criteria.unique_recall, seeds, stats)
    run = set(ok["scenario"])
    lead_scenarios = [s for s in criteria.lead_scenarios if s in run]
    rows = []
    for detector in detectors:
        mine = ok[ok["detector"] == detector]
        lead_events = events[
            (events["detector"] == detector)
            & (events["target"] == criteria.lead_target)
            & events["scenario"].isin(lead_scenarios)
        ]
        lead = median_lead(lead_events["lead_h"].to_numpy(float))
        lead_ci = median_lead_ci(by_seed(lead_events, seeds, "lead_h"), -grace_h, stats)
        n_episodes = mine["n_episodes"].sum()
        fp = mine["n_false"].sum() / n_episodes if n_episodes else np.nan
        fp_ci = ratio_ci(sums_by_seed(mine, seeds, "n_false"), sums_by_seed(mine, seeds, "n_episodes"), stats)
        quiet_h = mine["quiet_h"].sum()
        quiet_alerting = mine["alert_quiet_h"].sum() / quiet_h if quiet_h else np.nan
        costs = overhead[overhead["detector"] == detector]
        cost = float(costs["wall_p99_ms"].median()) if len(costs) else np.nan
        cost_ci = median_ci(by_seed(costs, seeds, "wall_p99_ms"), stats)
        rows.append(
            {
                "detector": detector,
                "lead_h": lead,
                "lead_lo": lead_ci[0],
                "lead_hi": lead_ci[1],
                "lead_events": len(lead_events),
                "lead_scenarios": ", ".join(lead_scenarios),
                "lead_pass": bool(lead >= criteria.lead_h),
                "fp_rate": fp,
                "fp_lo": fp_ci[0],
                "fp_hi": fp_ci[1],
                "episodes": int(n_episodes),
                "fp_pass": bool(fp < criteria.fp_rate) if n_episodes else True,
                "quiet_alert_fraction": quiet_alerting,
                "unique_scenarios": ",".join(unique[detector]),
                "unique_n": len(unique[detector]),
                "unique_lo": unique_ci[detector][0],
                "unique_hi": unique_ci[detector][1],
                "unique_pass": len(unique[detector]) >= 1,
                "overhead_p99_ms": cost,
                "overhead_lo": cost_ci[0],
                "overhead_hi": cost_ci[1],
                "overhead_pass": bool(cost < criteria.overhead_ms),
            }
        )
    card = pd.DataFrame(rows)
    card["passed"] = card[["lead_pass", "fp_pass", "unique_pass", "overhead_pass"]].sum(axis=1)
    return card


def _verdict(ok: bool, lo: float, hi: float, bar: float) -> str:
    """PASS/FAIL, marked with a dagger when the CI crosses the bar (the verdict could flip)."""
    return ("PASS" if ok else "FAIL") + ("†" if lo < bar <= hi else "")


def _hours(x: float) -> str:
    return "missed" if x == -np.inf else ("n/a" if np.isnan(x) else f"{x:.2f} h")


def _share(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{x:.0%}"


def _interval(lo: float, hi: float, fmt) -> str:
    return "" if np.isnan(lo) or np.isnan(hi) else f" [{fmt(lo)}, {fmt(hi)}]"


def render_scorecard(
    card: pd.DataFrame, criteria: Criteria, failed_cells: int = 0, stats: StatisticsSpec | None = None
) -> str:
    """The scorecard as a markdown table: value [CI] verdict per criterion."""
    stats = stats or StatisticsSpec()
    scenarios = card["lead_scenarios"].iloc[0] if len(card) else ""
    head = (
        f"| detector | lead >= {criteria.lead_h:g} h ({criteria.lead_target}; "
        f"{scenarios or 'none of ' + ', '.join(criteria.lead_scenarios) + ' run'}) | "
        f"FP rate < {criteria.fp_rate:.0%} | unique detection >= 1 scenario | "
        f"p99 update < {criteria.overhead_ms:g} ms | passed | alerting in quiet time |"
    )
    lines = [head, "|---|---|---|---|---|---|---|"]
    hours = lambda x: _hours(x).removesuffix(" h")  # noqa: E731
    for r in card.itertuples():
        fp = (
            "no alerts"
            if np.isnan(r.fp_rate)
            else f"{r.fp_rate:.1%}{_interval(r.fp_lo, r.fp_hi, '{:.1%}'.format)}"
        )
        fp += "" if np.isnan(r.fp_rate) else f" of {r.episodes}"
        unique = f"{r.unique_n}{_interval(r.unique_lo, r.unique_hi, '{:.0f}'.format)}"
        unique += f" ({r.unique_scenarios})" if r.unique_scenarios else ""
        lines.append(
            f"| {r.detector} | {_hours(r.lead_h)}{_interval(r.lead_lo, r.lead_hi, hours)} "
            f"(n={r.lead_events}) {_verdict(r.lead_pass, r.lead_lo, r.lead_hi, criteria.lead_h)} "
            f"| {fp} {_verdict(r.fp_pass, r.fp_lo, r.fp_hi, criteria.fp_rate)} "
            f"| {unique} {_verdict(r.unique_pass, r.unique_lo, r.unique_hi, 1)} "
            f"| {r.overhead_p99_ms:.3f}{_interval(r.overhead_lo, r.overhead_hi, '{:.3f}'.format)} ms "
            f"{_verdict(r.overhead_pass, r.overhead_lo, r.overhead_hi, criteria.overhead_ms)} "
            f"| {r.passed}/4 | {_share(r.quiet_alert_fraction)} |"
        )
    bounds = [c for c in card.columns if c.endswith(("_lo", "_hi"))]
    has_ci = bool(len(card)) and card[bounds].notna().to_numpy().any()
    notes = [
        f"Brackets: {stats.label}. Verdicts compare the point estimate with the bar; † marks a verdict "
        "whose CI crosses the bar."
        if has_ci
        else "No confidence intervals (fewer than two seeds): verdicts compare point estimates with the bars."
    ]
    notes.append(
        "Unique detection: recall >= "
        f"{criteria.unique_recall:g} in a scenario where every variant of the other existing modules "
        f"({', '.join(MODULES)}) selected in this study has less; null-control scenarios do not count "
        "(their events are chance breaches)."
    )
    notes.append(
        "The last column is not a criterion: the share of quiet time (outside every event window and "
        "critical period) spent alerting. A detector that alerts most of the time can pass the "
        "episode-based FP rate with a few long episodes."
    )
    lines.append("\n" + " ".join(notes))
    if failed_cells:
        lines.append(f"\n{failed_cells} cell(s) failed and are left out; see cells.parquet (status, error).")
    return "\n".join(lines)
