"""Recovery: how the scores come down after the load is removed, and the reset times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.plots.style import MUTED, TARGET_COLORS, colors_for, jitter, margins, save, styled

RELIEF = "relief"
TARGET = "utilization_breach"


@styled
def recovery(
    readings: pd.DataFrame,
    path: str | Path,
    *,
    relief_h: float,
    events: pd.DataFrame,
    thresholds: pd.DataFrame,
    reset_events: pd.DataFrame,
    before_h: float = 24.0,
    after_h: float = 72.0,
    colors: dict[str, Any] | None = None,
) -> Path:
    """Left: each detector's score over its alert threshold around the moment the load is removed
    (one run; 1 = threshold). Right: reset times of every utilization breach in ``reset_events``
    (all seeds), i.e. how long each detector kept alerting after the breach ended.

    ``readings`` are the run's rows of timeline.parquet and ``events`` its rows of events.parquet;
    ``relief_h`` is when the load dropped.
    """
    detectors = sorted(set(readings["detector"]) | set(reset_events["detector"]))
    colors = colors_for(detectors, colors)
    fig = Figure(figsize=(13, 5.0))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.7, 1]})
    margins(fig, left=0.8, right=0.3, top=0.75, bottom=1.25, wspace=0.22)
    fig.suptitle(
        "Recovery: scores after the overload is removed, and reset times",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=11,
    )
    theta = thresholds.set_index("detector")["threshold"] if len(thresholds) else pd.Series(dtype=float)
    run = readings[(readings["time_h"] >= relief_h - before_h) & (readings["time_h"] <= relief_h + after_h)]
    breach = _breach_at(events, relief_h)
    for i, detector in enumerate(detectors):
        t = theta.get(detector, np.nan)
        mine = run[run["detector"] == detector]
        if mine.empty or not np.isfinite(t) or t <= 0:
            continue
        left.plot(
            mine["time_h"] - relief_h, mine["score"] / t, color=colors[detector], lw=1.1, label=detector
        )
        if breach is not None:
            row = events[
                (events["detector"] == detector)
                & (events["target"] == TARGET)
                & (events["onset_h"] == breach["onset_h"])
            ]
            if len(row) and np.isfinite(row["reset_h"].iloc[0]):
                x = breach["end_h"] + row["reset_h"].iloc[0] - relief_h
                left.plot(
                    [x],
                    [0.03 + 0.05 * i],
                    marker="^",
                    ms=8,
                    color=colors[detector],
                    zorder=5,
                    transform=left.get_xaxis_transform(),
                )
    left.axhline(1.0, color="black", ls="--", lw=1.0, label="alert threshold (score / threshold = 1)")
    left.axvline(0.0, color=MUTED, ls="--", lw=1.2, label="load removed")
    if breach is not None:
        left.axvline(
            breach["end_h"] - relief_h,
            color=TARGET_COLORS[TARGET],
            ls=":",
            lw=1.2,
            label="utilization breach ends",
        )
        left.plot([], [], marker="^", ls="none", color="black", label="alert ends (breach end + reset time)")
    left.set_xlim(-before_h, after_h)
    left.set_ylim(0, None)
    left.set_xlabel("hours since the load was removed")
    left.set_ylabel("score / alert threshold")
    left.set_title("one run (representative seed)", loc="left")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=8)

    right.set_title("reset times of every breach, all seeds", loc="left")
    labels = []
    for i, detector in enumerate(detectors):
        mine = reset_events[(reset_events["detector"] == detector) & (reset_events["target"] == TARGET)]
        reset = mine["reset_h"].to_numpy(float)
        shown = np.isfinite(reset)
        lower_bound = mine["reset_censored"].to_numpy(bool)[shown]  # the alert was still on at run end
        x = i + jitter(int(shown.sum()), seed=i)
        right.scatter(
            x[~lower_bound], reset[shown][~lower_bound], s=14, color=colors[detector], alpha=0.8, lw=0
        )
        right.scatter(
            x[lower_bound], reset[shown][lower_bound], s=16, facecolor="none", edgecolor=colors[detector]
        )
        if shown.any():
            right.hlines(np.median(reset[shown]), i - 0.3, i + 0.3, color="black", lw=1.5)
        censored = int(mine["reset_censored"].sum())
        no_alert = int((~shown & ~mine["reset_censored"].to_numpy(bool)).sum())
        labels.append(f"{detector}\ncensored {censored}, no alert {no_alert}")
    right.set_xticks(
        range(len(detectors)), labels, rotation=30, ha="right", rotation_mode="anchor", fontsize=8
    )
    right.set_xlim(-0.6, len(detectors) - 0.4)
    right.set_ylim(bottom=-0.5)
    right.set_ylabel("reset time (h after the breach ended)")
    right.plot([], [], color="black", lw=1.5, label="median")
    right.scatter(
        [], [], s=16, facecolor="none", edgecolor="black", label="censored: still alerting at run end"
    )
    right.legend(loc="upper right", fontsize=8)
    return save(fig, path)


def _breach_at(events: pd.DataFrame, relief_h: float) -> dict | None:
    """The utilization breach in progress when the load was removed (or the last one before it)."""
    rows = events[(events["target"] == TARGET) & (events["onset_h"] <= relief_h)]
    rows = rows.drop_duplicates(["onset_h", "end_h"]).sort_values("onset_h")
    return rows.iloc[-1][["onset_h", "end_h"]].to_dict() if len(rows) else None
