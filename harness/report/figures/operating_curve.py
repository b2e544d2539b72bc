"""Operating curves: median lead time against FP rate over score thresholds, one line per detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report.figures.style import CRITERION_COLOR, colors_for, empty_panel, margins, save, styled

CURVE_COLUMNS = ("detector", "threshold", "recall", "fp_rate", "median_lead_h")


@styled
def operating_curves(
    curve: pd.DataFrame,
    path: str | Path,
    *,
    chosen: pd.DataFrame | None = None,
    fp_limit: float | None = 0.15,
    lead_h: float | None = 2.0,
    grace_h: float = 1.0,
    colors: dict[str, Any] | None = None,
) -> Path:
    """Median lead (y) against FP rate (x) as the threshold sweeps, one line per detector.

    ``curve`` has columns detector, threshold, recall, fp_rate, median_lead_h and optionally
    ``split`` (one panel per split, e.g. calibration and test). ``chosen`` (detector, threshold,
    optionally split) marks each detector's calibrated threshold with a star on every panel, at the
    curve's point with the same alerts (the smallest swept threshold >= the chosen one).
    A median lead of -inf (at least half the events missed) is drawn on the "missed" line at the
    bottom; thresholds with no alerts at all (FP rate undefined) are left out.
    """
    missing = [c for c in CURVE_COLUMNS if c not in curve.columns]
    if missing:
        raise ValueError(f"operating curve table lacks column(s) {', '.join(missing)}")
    detectors = sorted(curve["detector"].unique())
    colors = colors_for(detectors, colors)
    splits = list(dict.fromkeys(curve["split"])) if "split" in curve.columns else [None]
    fig = Figure(figsize=(5.6 * len(splits) + 2.8, 4.8))
    axes = np.atleast_1d(fig.subplots(1, len(splits), sharey=True, squeeze=False)).ravel()
    margins(fig, left=0.85, right=2.8, top=0.75, bottom=0.7, wspace=0.08)
    fig.suptitle(
        "Operating curves: median lead time against false-positive rate as the threshold varies",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=11,
    )
    floor = -grace_h - 2.0  # where "missed" medians are drawn
    for ax, split in zip(axes, splits, strict=True):
        rows = curve if split is None else curve[curve["split"] == split]
        if split is not None:
            ax.set_title(f"{split} seeds", loc="left")
        if rows.empty:
            empty_panel(ax, "no rows")
            continue
        for detector in detectors:
            mine = rows[(rows["detector"] == detector) & rows["fp_rate"].notna()].sort_values("threshold")
            if mine.empty:
                continue
            y = np.where(np.isneginf(mine["median_lead_h"]), floor, mine["median_lead_h"])
            marker = "." if len(mine) <= 60 else None
            ax.plot(mine["fp_rate"], y, color=colors[detector], marker=marker, ms=4, lw=1.2, label=detector)
            if chosen is not None:
                _mark_chosen(ax, mine, y, chosen, detector, split, colors[detector])
        if fp_limit is not None:
            ax.axvline(
                fp_limit, color=CRITERION_COLOR, ls=":", lw=1.0, label=f"criterion: FP rate {fp_limit:.0%}"
            )
        if lead_h is not None:
            ax.axhline(lead_h, color=CRITERION_COLOR, ls="--", lw=1.0, label=f"criterion: lead {lead_h:g} h")
        ax.axhline(floor, color="#7f8c8d", lw=0.8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("false-positive rate (false episodes / episodes)")
    axes[0].set_ylabel("median lead time (h)")
    ticks = [t for t in axes[0].get_yticks() if t > floor + 0.5]
    axes[0].set_yticks([floor, *ticks], ["missed", *[f"{t:g}" for t in ticks]])
    axes[0].set_ylim(floor - 1.0, None)
    handles, labels = axes[0].get_legend_handles_labels()
    if chosen is not None:
        handles.append(axes[0].scatter([], [], marker="*", s=140, color="white", edgecolor="black"))
        labels.append("calibrated threshold")
    axes[-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return save(fig, path)


def _mark_chosen(
    ax: Any, mine: pd.DataFrame, y: np.ndarray, chosen: pd.DataFrame, detector: str, split: Any, color: Any
) -> None:
    pick = chosen[chosen["detector"] == detector]
    if "split" in chosen.columns and split is not None:
        pick = pick[pick["split"] == split]
    thresholds = mine["threshold"].to_numpy(float)  # ascending
    for threshold in pick["threshold"]:
        # score >= threshold alerts exactly where score >= the smallest swept threshold above it does
        i = int(np.searchsorted(thresholds, float(threshold), side="left"))
        if i == thresholds.size:
            continue  # above every swept threshold: no alerts, no point
        ax.scatter(mine["fp_rate"].iloc[i], y[i], marker="*", s=160, color=color, edgecolor="black", zorder=5)
        ax.annotate(
            f"{float(threshold):.3g}",
            (mine["fp_rate"].iloc[i], y[i]),
            xytext=(6, 4),
            textcoords="offset points",
            fontsize=8,
        )
