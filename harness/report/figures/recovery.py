"""Recovery: how the scores come down after the load is removed, and the reset times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report.figures.style import MUTED, TARGET_COLORS, colors_for, jitter, margins, save, styled

RELIEF = "relief"
TARGET = "utilization_breach"
FLOOR = 0.01  # score / threshold ratios below this are drawn at it (log axis)


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
    label_in = 0.075 * max((len(d) for d in detectors), default=8) + 0.4
    fig = Figure(figsize=(12, 4.6 + 0.28 * len(detectors) + 1.2))
    left, right = fig.subplots(
        2, 1, gridspec_kw={"height_ratios": [4.0, 0.28 * max(len(detectors), 3) + 0.6]}
    )
    margins(fig, left=max(0.9, label_in), right=3.1, top=0.7, bottom=0.6, hspace=0.45)
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
        ratio = np.clip(mine["score"].to_numpy(float) / t, FLOOR, None)
        left.plot(mine["time_h"] - relief_h, ratio, color=colors[detector], lw=1.1, label=detector)
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
    left.set_yscale("log")
    left.set_ylim(FLOOR, None)
    left.set_xlabel("hours since the load was removed")
    left.set_ylabel(f"score / alert threshold (log; floor {FLOOR:g})")
    left.set_title("one run (representative seed)", loc="left")
    left.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)

    right.set_title(
        "reset times of every breach, all seeds (at right: censored = still alerting at run end; "
        "no alert = none overlapped the breach)",
        loc="left",
        fontsize=9,
    )
    top = 0.0
    for i, detector in enumerate(detectors):
        mine = reset_events[(reset_events["detector"] == detector) & (reset_events["target"] == TARGET)]
        reset = mine["reset_h"].to_numpy(float)
        shown = np.isfinite(reset)
        lower_bound = mine["reset_censored"].to_numpy(bool)[shown]
        y = i + jitter(int(shown.sum()), seed=i)
        right.scatter(
            reset[shown][~lower_bound], y[~lower_bound], s=14, color=colors[detector], alpha=0.8, lw=0
        )
        right.scatter(
            reset[shown][lower_bound], y[lower_bound], s=16, facecolor="none", edgecolor=colors[detector]
        )
        if shown.any():
            right.vlines(np.median(reset[shown]), i - 0.3, i + 0.3, color="black", lw=1.5)
            top = max(top, float(reset[shown].max()))
        censored = int(mine["reset_censored"].sum())
        no_alert = int((~shown & ~mine["reset_censored"].to_numpy(bool)).sum())
        right.text(
            1.01,
            i,
            f"censored {censored}, no alert {no_alert}",
            transform=right.get_yaxis_transform(),
            va="center",
            fontsize=8,
            color=MUTED,
        )
    right.set_yticks(range(len(detectors)), detectors)
    right.set_ylim(len(detectors) - 0.5, -0.5)
    right.set_xlim(-0.02 * (top or 1.0) - 0.5, (top or 1.0) * 1.05 + 0.5)
    right.set_xlabel("reset time (h after the breach ended); bar: median; hollow: censored (a lower bound)")
    return save(fig, path)


def _breach_at(events: pd.DataFrame, relief_h: float) -> dict | None:
    """The utilization breach in progress when the load was removed (or the last one before it)."""
    rows = events[(events["target"] == TARGET) & (events["onset_h"] <= relief_h)]
    rows = rows.drop_duplicates(["onset_h", "end_h"]).sort_values("onset_h")
    return rows.iloc[-1][["onset_h", "end_h"]].to_dict() if len(rows) else None
