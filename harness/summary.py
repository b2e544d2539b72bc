"""Pooled metrics per detector and scenario (summary.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.scoring import median_lead
from scenarios.truth import TARGETS

ALL = "ALL"


def pooled(cells: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Metrics pooled over a group of runs: counts add up before any ratio is taken."""
    n_episodes = cells["n_episodes"].sum()
    quiet_h = cells["quiet_h"].sum()
    out = {
        "runs": len(cells),
        "episodes": int(n_episodes),
        "false_episodes": int(cells["n_false"].sum()),
        "fp_rate": cells["n_false"].sum() / n_episodes if n_episodes else np.nan,
        "false_per_1000_quiet_h": 1000 * cells["n_false"].sum() / quiet_h if quiet_h else np.nan,
        "quiet_alert_fraction": cells["alert_quiet_h"].sum() / quiet_h if quiet_h else np.nan,
        "runs_with_alert": float((cells["n_episodes"] > 0).mean()) if len(cells) else np.nan,
    }
    for target in TARGETS:
        of_target = events[events["target"] == target] if len(events) else events
        n = len(of_target)
        out[f"events_{target}"] = n
        out[f"recall_{target}"] = of_target["detected"].mean() if n else np.nan
        out[f"median_lead_h_{target}"] = median_lead(of_target["lead_h"].to_numpy(float)) if n else np.nan
        out[f"lead_coverage_2h_{target}"] = (of_target["lead_h"] >= 2.0).mean() if n else np.nan
        resets = of_target["reset_h"].dropna() if n else of_target.get("reset_h", pd.Series(dtype=float))
        out[f"median_reset_h_{target}"] = float(resets.median()) if len(resets) else np.nan
        jac = of_target["jaccard"].dropna() if n else pd.Series(dtype=float)
        out[f"mean_jaccard_{target}"] = float(jac.mean()) if len(jac) else np.nan
    return pd.Series(out)


def summarize(cells: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One row per (detector, scenario), plus each detector's ALL row over every scenario."""
    ok = cells[cells["status"] == "ok"]
    events = events[events["key"].isin(set(ok["key"]))] if len(events) else events
    rows = []
    for detector, of_detector in ok.groupby("detector", sort=True):
        det_events = events[events["detector"] == detector] if len(events) else events
        for scenario, of_scenario in of_detector.groupby("scenario", sort=True):
            sc_events = det_events[det_events["scenario"] == scenario] if len(det_events) else det_events
            rows.append({"detector": detector, "scenario": scenario, **pooled(of_scenario, sc_events)})
        rows.append({"detector": detector, "scenario": ALL, **pooled(of_detector, det_events)})
    return pd.DataFrame(rows)
