"""The roadmap's two follow-up questions, answered from a study's runs.

* False-positive analysis ("how often does Pe > 0.8 not lead to a problem?"): at each score
  threshold, the share of alert episodes that are false, i.e. followed by no critical event
  within the horizon (no overlap with any event's window [onset - H, onset + G] or critical
  period), per scenario and pooled, with bootstrap CIs over seeds. Uses the exact sweep of
  harness.analysis.calibrate, so it needs per-step scores (``tdbench task=calibrate`` writes it).
* First-alert comparison with the utilization module ("Pe should warn before 80%"): per run, the
  start of each detector's first alert episode after warm-up, paired with the baseline's in the
  same run; the difference baseline - detector (positive = the detector warned first), per
  scenario and pooled, with an interval over seeds for the median difference (descriptive: no test
  that would treat runs as independent).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from harness.analysis.calibrate import Run, operating_curve
from harness.analysis.scoring import ScoringSpec
from harness.analysis.statistics import StatisticsSpec, median_ci, ratio_ci

ALL = "ALL"


def false_alarm_analysis(
    runs: Mapping[tuple[str, int], Run],
    spec: ScoringSpec,
    thresholds: np.ndarray,
    target: str,
    stats: StatisticsSpec,
    detector: str = "",
) -> pd.DataFrame:
    """Per scenario (and ``ALL``) and threshold: episodes, false ones, their share with its CI,
    false alarms per 1,000 quiet hours and the recall of ``target`` events. ``runs`` maps
    (scenario, seed) to one detector's run."""
    grid = np.asarray(thresholds, float)
    per_run = []
    for (scenario, seed), run in sorted(runs.items()):
        curve = operating_curve([run], spec, target, grid)
        per_run.append(curve.assign(scenario=scenario, seed=seed))
    if not per_run:
        return pd.DataFrame()
    table = pd.concat(per_run, ignore_index=True)
    rows = []
    for scenario, group in [*table.groupby("scenario", sort=True), (ALL, table)]:
        for threshold, at in group.groupby("threshold", sort=True):
            by_seed = at.groupby("seed")[["n_false", "n_episodes", "n_detected", "n_events"]].sum()
            episodes, false = int(at["n_episodes"].sum()), int(at["n_false"].sum())
            quiet_h, events = float(at["quiet_h"].sum()), int(at["n_events"].sum())
            lo, hi = ratio_ci(by_seed["n_false"].to_numpy(), by_seed["n_episodes"].to_numpy(), stats)
            rows.append(
                {
                    "detector": detector,
                    "scenario": scenario,
                    "threshold": threshold,
                    "runs": len(at),
                    "episodes": episodes,
                    "false_episodes": false,
                    "not_followed_share": false / episodes if episodes else np.nan,
                    "not_followed_lo": lo,
                    "not_followed_hi": hi,
                    "false_per_1000_quiet_h": 1000 * false / quiet_h if quiet_h else np.nan,
                    f"recall_{target}": at["n_detected"].sum() / events if events else np.nan,
                }
            )
    return pd.DataFrame(rows)


def first_alerts(cells: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """(scenario, seed, detector, first_alert_h) for every ok cell; NaN when it never alerted."""
    ok = cells.loc[cells["status"] == "ok", ["key", "scenario", "seed", "detector"]]
    starts = episodes.groupby("key")["start_h"].min() if len(episodes) else pd.Series(dtype=float)
    return ok.assign(first_alert_h=ok["key"].map(starts).astype(float)).drop(columns="key")


def first_alert_comparison(
    cells: pd.DataFrame, episodes: pd.DataFrame, baseline: str, stats: StatisticsSpec
) -> pd.DataFrame:
    """Every detector's first alert against ``baseline``'s in the same run, per scenario and ALL."""
    columns = [
        "detector",
        "baseline",
        "scenario",
        "runs",
        "both_alerted",
        "only_detector",
        "only_baseline",
        "neither",
        "median_diff_h",
        "diff_lo",
        "diff_hi",
        "detector_first_share",
    ]
    firsts = first_alerts(cells, episodes)
    if firsts.empty or baseline not in set(firsts["detector"]):
        return pd.DataFrame(columns=columns)
    base = firsts[firsts["detector"] == baseline].drop(columns="detector")
    rows = []
    for detector in sorted(set(firsts["detector"]) - {baseline}):
        mine = firsts[firsts["detector"] == detector].drop(columns="detector")
        pairs = mine.merge(base, on=["scenario", "seed"], suffixes=("", "_base"))
        for scenario, group in [*pairs.groupby("scenario", sort=True), (ALL, pairs)]:
            a, b = group["first_alert_h"].to_numpy(float), group["first_alert_h_base"].to_numpy(float)
            both = ~np.isnan(a) & ~np.isnan(b)
            diff = b[both] - a[both]
            seeds = group["seed"].to_numpy()[both]
            lo, hi = median_ci([diff[seeds == s] for s in np.unique(seeds)], stats)
            rows.append(
                {
                    "detector": detector,
                    "baseline": baseline,
                    "scenario": scenario,
                    "runs": len(group),
                    "both_alerted": int(both.sum()),
                    "only_detector": int((~np.isnan(a) & np.isnan(b)).sum()),
                    "only_baseline": int((np.isnan(a) & ~np.isnan(b)).sum()),
                    "neither": int((np.isnan(a) & np.isnan(b)).sum()),
                    "median_diff_h": float(np.median(diff)) if diff.size else np.nan,
                    "diff_lo": lo,
                    "diff_hi": hi,
                    "detector_first_share": float((diff > 0).mean()) if diff.size else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=columns)
