"""Recovery: how the scores come down after the load is removed, and the reset times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report.figures.style import MUTED, TARGET_COLORS, colors_for, jitter, key, margins, save, styled

RELIEF = "relief"
TARGET = "utilization_breach"
FLOOR = 0.01  # score / threshold ratios below this are drawn at it (log axis)
COLUMNS = 4  # small panels per row, one per detector


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
    """Top: one small panel per detector, its score over its alert threshold around the moment the
    load is removed (one run; 1 = threshold). Bottom: reset times of every utilization breach in
    ``reset_events`` (all seeds), i.e. how long each detector kept alerting after the breach ended.

    ``readings`` are the run's rows of timeline.parquet and ``events`` its rows of events.parquet;
    ``relief_h`` is when the load dropped.
    """
    detectors = sorted(set(readings["detector"]) | set(reset_events["detector"]))
    colors = colors_for(detectors, colors)
    label_in = 0.075 * max((len(d) for d in detectors), default=8) + 0.4
    rows = -(-max(len(detectors), 1) // COLUMNS)
    reset_in = 0.28 * max(len(detectors), 3) + 0.6
    fig = Figure(figsize=(12, 1.5 * rows + reset_in + 2.2))
    grid = fig.add_gridspec(rows + 1, COLUMNS, height_ratios=[1.5] * rows + [reset_in])
    small = [fig.add_subplot(grid[k // COLUMNS, k % COLUMNS]) for k in range(rows * COLUMNS)]
    for ax in small[1:]:
        ax.sharex(small[0])
        ax.sharey(small[0])
    right = fig.add_subplot(grid[rows, :])
    margins(fig, left=max(0.9, label_in), right=2.2, top=0.75, bottom=0.6, hspace=0.55, wspace=0.08)
    fig.suptitle(
        "Recovery: each detector's score / its alert threshold around the moment the overload is removed "
        "(one run; log), and reset times",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=11,
    )
    theta = thresholds.set_index("detector")["threshold"] if len(thresholds) else pd.Series(dtype=float)
    run = readings[(readings["time_h"] >= relief_h - before_h) & (readings["time_h"] <= relief_h + after_h)]
    breach = _breach_at(events, relief_h)
    for k, ax in enumerate(small):
        if k >= len(detectors):
            ax.set_visible(False)
            continue
        detector = detectors[k]
        ax.set_title(detector, loc="left", fontsize=9, color=colors[detector], fontweight="bold")
        ax.axhline(1.0, color="black", ls="--", lw=0.9)
        ax.axvline(0.0, color=MUTED, ls="--", lw=1.0)
        if breach is not None:
            ax.axvline(breach["end_h"] - relief_h, color=TARGET_COLORS[TARGET], ls=":", lw=1.1)
        t = theta.get(detector, np.nan)
        mine = run[run["detector"] == detector]
        if mine.empty or not np.isfinite(t) or t <= 0:
            ax.text(
                0.5, 0.5, "no alert threshold", transform=ax.transAxes, ha="center", fontsize=8, color=MUTED
            )
            continue
        ratio = np.clip(mine["score"].to_numpy(float) / t, FLOOR, None)
        ax.plot(mine["time_h"] - relief_h, ratio, color=colors[detector], lw=1.1)
        if breach is not None:
            row = events[
                (events["detector"] == detector)
                & (events["target"] == TARGET)
                & (events["onset_h"] == breach["onset_h"])
            ]
            if len(row) and np.isfinite(row["reset_h"].iloc[0]):
                x = breach["end_h"] + row["reset_h"].iloc[0] - relief_h
                ax.plot([x], [0.08], marker="^", ms=7, color=colors[detector], zorder=5,
                        transform=ax.get_xaxis_transform(), clip_on=False)  # fmt: skip
    first = small[0]
    first.set_xlim(-before_h, after_h)
    first.set_yscale("log")
    first.set_ylim(FLOOR, None)
    for k, ax in enumerate(small):
        if k % COLUMNS:
            ax.tick_params(labelleft=False)
        if k + COLUMNS < len(detectors):
            ax.tick_params(labelbottom=False)
    small[(rows - 1) * COLUMNS].set_xlabel("hours since the load was removed")
    small[0].set_ylabel("score / threshold")
    key(
        small[COLUMNS - 1],
        [
            ({"color": "black", "ls": "--", "lw": 0.9}, "alert threshold (ratio 1)"),
            ({"color": MUTED, "ls": "--", "lw": 1.0}, "load removed"),
            ({"color": TARGET_COLORS[TARGET], "ls": ":", "lw": 1.1}, "utilization breach ends"),
            ({"color": "black", "marker": "^", "ls": "none"}, "alert ends\n(breach end + reset time)"),
        ],
        anchor=(1.03, 1.0),
    )

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
