"""Operating curves: recall and median lead against quiet-time alerting over score thresholds.

Both axes are monotone in the threshold (a lower threshold alerts at least as much and detects at
least as early), so a curve never folds back: an always-on threshold sits at the right edge, not
in the ideal corner as it does against the episode-based FP rate (one endless episode is "true").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report.figures.style import (
    CRITERION_COLOR,
    MUTED,
    colors_for,
    empty_panel,
    margins,
    save,
    styled,
)

CURVE_COLUMNS = ("detector", "threshold", "recall", "quiet_alert_fraction", "median_lead_h")
FLOOR = 1e-4  # quiet alert fractions below this (including 0) are drawn at it, on the log axis


@styled
def operating_curves(
    curve: pd.DataFrame,
    path: str | Path,
    *,
    chosen: pd.DataFrame | None = None,
    budget: float | None = 0.01,
    lead_h: float | None = 2.0,
    grace_h: float = 1.0,
    colors: dict[str, Any] | None = None,
) -> Path:
    """Recall (top row) and median lead (bottom row) against the share of quiet time spent alerting
    (log axis), one line per detector, one column per ``split`` (e.g. calibration, test).

    ``chosen`` (detector, threshold) marks each detector's calibrated threshold with a star, at the
    curve's point with the same alerts (the smallest swept threshold >= the chosen one); the
    threshold is named in the legend, not on the plot. A median lead of -inf (at least half the
    events missed) is drawn on the "missed" line at the bottom. ``budget``: a vertical line at the
    headline's quiet-alerting budget.
    """
    missing = [c for c in CURVE_COLUMNS if c not in curve.columns]
    if missing:
        raise ValueError(f"operating curve table lacks column(s) {', '.join(missing)}")
    detectors = sorted(curve["detector"].unique())
    colors = colors_for(detectors, colors)
    splits = list(dict.fromkeys(curve["split"])) if "split" in curve.columns else [None]
    fig = Figure(figsize=(5.2 * len(splits) + 3.4, 7.2))
    axes = fig.subplots(2, len(splits), sharex=True, sharey="row", squeeze=False)
    margins(fig, left=0.85, right=3.4, top=0.75, bottom=0.7, wspace=0.08, hspace=0.12)
    fig.suptitle(
        "Operating curves: recall and median lead against quiet-time alerting as the threshold varies",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=11,
    )
    floor = -grace_h - 2.0  # where "missed" medians are drawn
    picks = _picks(chosen)
    for col, split in enumerate(splits):
        top, bottom = axes[0, col], axes[1, col]
        rows = curve if split is None else curve[curve["split"] == split]
        if split is not None:
            top.set_title(f"{split} seeds", loc="left")
        if rows.empty:
            empty_panel(top, "no rows")
            empty_panel(bottom, "no rows")
            continue
        for detector in detectors:
            mine = rows[rows["detector"] == detector].sort_values("threshold")
            if mine.empty:
                continue
            x = np.maximum(mine["quiet_alert_fraction"].fillna(0.0).to_numpy(float), FLOOR)
            lead = np.where(np.isneginf(mine["median_lead_h"]), floor, mine["median_lead_h"])
            color = colors[detector]
            top.step(x, mine["recall"], where="post", color=color, lw=1.3)
            bottom.step(x, lead, where="post", color=color, lw=1.3)
            if detector in picks:
                i = int(np.searchsorted(mine["threshold"].to_numpy(float), picks[detector], side="left"))
                if i < len(mine):
                    for ax, y in ((top, mine["recall"].iloc[i]), (bottom, lead[i])):
                        ax.scatter(x[i], y, marker="*", s=150, color=color, edgecolor="black", zorder=5)
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_xlim(FLOOR * 0.8, 1.05)
            if budget is not None and budget > 0:
                ax.axvline(budget, color=CRITERION_COLOR, ls=":", lw=1.0)
        if lead_h is not None:
            bottom.axhline(lead_h, color=CRITERION_COLOR, ls="--", lw=1.0)
        bottom.axhline(floor, color=MUTED, lw=0.8)
        bottom.set_xlabel(f"share of quiet time spent alerting (log; < {FLOOR:g} drawn at {FLOOR:g})")
    axes[0, 0].set_ylabel("recall")
    axes[0, 0].set_ylim(-0.03, 1.03)
    axes[1, 0].set_ylabel("median lead time (h)")
    ticks = [t for t in axes[1, 0].get_yticks() if t > floor + 0.5]
    axes[1, 0].set_yticks([floor, *ticks], ["missed", *[f"{t:g}" for t in ticks]])
    axes[1, 0].set_ylim(floor - 1.0, None)
    handles = [axes[0, 0].plot([], [], color=colors[d], lw=2)[0] for d in detectors]
    labels = [f"{d} (>= {picks[d]:.3g})" if d in picks else d for d in detectors]
    if picks:
        handles.append(axes[0, 0].scatter([], [], marker="*", s=140, color="white", edgecolor="black"))
        labels.append("calibrated threshold")
    if budget is not None and budget > 0:
        handles.append(axes[0, 0].plot([], [], color=CRITERION_COLOR, ls=":", lw=1.0)[0])
        labels.append(f"budget: {budget:.0%} quiet alerting")
    if lead_h is not None:
        handles.append(axes[0, 0].plot([], [], color=CRITERION_COLOR, ls="--", lw=1.0)[0])
        labels.append(f"criterion: lead {lead_h:g} h")
    axes[0, -1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return save(fig, path)


def _picks(chosen: pd.DataFrame | None) -> dict[str, float]:
    if chosen is None or chosen.empty:
        return {}
    return {str(d): float(t) for d, t in zip(chosen["detector"], chosen["threshold"], strict=True)}
