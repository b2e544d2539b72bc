"""Pooled metrics per detector and scenario (summary.csv), with bootstrap CIs over seeds.

Reset times are right-censored (the alert still on at the run's end), so their median is the
Kaplan-Meier median over the events with a reset time (detected and ended), and
``reset_censored_share`` is the censored share of those.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.scoring import median_lead
from harness.analysis.statistics import (
    StatisticsSpec,
    by_seed,
    km_median,
    median_lead_ci,
    ratio_ci,
    sums_by_seed,
)
from scenarios.truth import TARGETS

ALL = "ALL"


def alarm_rates(cells: pd.DataFrame) -> dict[str, float]:
    """The FP rate (false episodes / episodes) and the share of quiet time spent alerting, pooled
    over ``cells`` (counts add up first)."""
    n_episodes, quiet_h = cells["n_episodes"].sum(), cells["quiet_h"].sum()
    return {
        "fp_rate": cells["n_false"].sum() / n_episodes if n_episodes else np.nan,
        "quiet_alert_fraction": cells["alert_quiet_h"].sum() / quiet_h if quiet_h else np.nan,
    }


def pooled(
    cells: pd.DataFrame, events: pd.DataFrame, stats: StatisticsSpec | None = None, grace_h: float = 1.0
) -> pd.Series:
    """Metrics pooled over a group of runs: counts add up before any ratio is taken.

    ``*_lo`` / ``*_hi`` columns bound the metric before them with a bootstrap CI over seeds.
    """
    stats = stats or StatisticsSpec()
    seeds = sorted(set(cells["seed"])) if len(cells) else []
    n_episodes = cells["n_episodes"].sum()
    quiet_h = cells["quiet_h"].sum()
    rates = alarm_rates(cells)
    null = cells[cells["null_control"].astype(bool)] if "null_control" in cells else cells.iloc[:0]
    fp_ci = ratio_ci(sums_by_seed(cells, seeds, "n_false"), sums_by_seed(cells, seeds, "n_episodes"), stats)
    out = {
        "runs": len(cells),
        "episodes": int(n_episodes),
        "false_episodes": int(cells["n_false"].sum()),
        "fp_rate": rates["fp_rate"],
        "fp_rate_lo": fp_ci[0],
        "fp_rate_hi": fp_ci[1],
        "false_per_1000_quiet_h": 1000 * cells["n_false"].sum() / quiet_h if quiet_h else np.nan,
        "quiet_alert_fraction": rates["quiet_alert_fraction"],
        "runs_with_alert": float((cells["n_episodes"] > 0).mean()) if len(cells) else np.nan,
        "null_control_runs": len(null),
        "null_alarm_rate": float((null["n_episodes"] > 0).mean()) if len(null) else np.nan,
    }
    for target in TARGETS:
        of_target = events[events["target"] == target] if len(events) else events
        n = len(of_target)
        leads = of_target["lead_h"].to_numpy(float) if n else np.zeros(0)
        counts = np.array([len(g) for g in by_seed(of_target, seeds, "lead_h")], float)
        recall_ci = (
            ratio_ci(sums_by_seed(of_target, seeds, "detected"), counts, stats) if n else (np.nan,) * 2
        )
        lead_ci = median_lead_ci(by_seed(of_target, seeds, "lead_h"), -grace_h, stats) if n else (np.nan,) * 2
        out[f"events_{target}"] = n
        out[f"recall_{target}"] = of_target["detected"].mean() if n else np.nan
        out[f"recall_{target}_lo"], out[f"recall_{target}_hi"] = recall_ci
        out[f"median_lead_h_{target}"] = median_lead(leads) if n else np.nan
        out[f"median_lead_h_{target}_lo"], out[f"median_lead_h_{target}_hi"] = lead_ci
        for h in stats.coverage_h:
            out[f"lead_coverage_{h:g}h_{target}"] = float((leads >= h).mean()) if n else np.nan
        resets = of_target[of_target["reset_h"].notna()] if n else of_target
        censored = resets["reset_censored"].to_numpy(bool) if len(resets) else np.zeros(0, bool)
        times = resets["reset_h"].to_numpy(float) if len(resets) else np.zeros(0)
        out[f"median_reset_h_{target}"] = float(km_median(times, censored))
        out[f"reset_censored_share_{target}"] = float(censored.mean()) if len(censored) else np.nan
        jac = of_target["jaccard"].dropna() if n else pd.Series(dtype=float)
        out[f"mean_jaccard_{target}"] = float(jac.mean()) if len(jac) else np.nan
    return pd.Series(out)


def summarize(
    cells: pd.DataFrame,
    events: pd.DataFrame,
    stats: StatisticsSpec | None = None,
    grace_h: float = 1.0,
) -> pd.DataFrame:
    """One row per (detector, scenario), plus each detector's ALL row over every scenario."""
    stats = stats or StatisticsSpec()
    ok = cells[cells["status"] == "ok"]
    events = events[events["key"].isin(set(ok["key"]))] if len(events) else events
    rows = []
    for detector, of_detector in ok.groupby("detector", sort=True):
        det_events = events[events["detector"] == detector] if len(events) else events
        for scenario, of_scenario in of_detector.groupby("scenario", sort=True):
            sc_events = det_events[det_events["scenario"] == scenario] if len(det_events) else det_events
            rows.append(
                {"detector": detector, "scenario": scenario, **pooled(of_scenario, sc_events, stats, grace_h)}
            )
        rows.append(
            {"detector": detector, "scenario": ALL, **pooled(of_detector, det_events, stats, grace_h)}
        )
    return pd.DataFrame(rows)
