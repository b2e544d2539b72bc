"""Lead-time coverage W(h): the share of events warned at least h hours ahead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report.figures.style import CRITERION_COLOR, colors_for, empty_panel, margins, save, styled
from scenarios.truth import TARGETS


def coverage_curve(lead_h: np.ndarray, h: np.ndarray) -> np.ndarray:
    """W(h) = #{lead >= h} / #events; missed events (NaN) count in the denominator only.

    >>> coverage_curve(np.array([3.0, np.nan, 1.0, 5.0]), np.array([0.0, 2.0, 6.0])).tolist()
    [0.75, 0.5, 0.0]
    """
    if lead_h.size == 0:
        return np.full(h.shape, np.nan)
    found = np.sort(lead_h[np.isfinite(lead_h)])
    return (found.size - np.searchsorted(found, h, side="left")) / lead_h.size


@styled
def lead_coverage(
    events: pd.DataFrame,
    path: str | Path,
    *,
    horizon_h: float = 24.0,
    grace_h: float = 1.0,
    criterion_h: float | None = 2.0,
    colors: dict[str, Any] | None = None,
) -> Path:
    """One panel per target, one line per detector, pooled over every scenario and seed."""
    detectors = sorted(events["detector"].unique())
    colors = colors_for(detectors, colors)
    fig = Figure(figsize=(13, 4.6))
    axes = fig.subplots(1, len(TARGETS), sharey=True)
    margins(fig, left=0.8, right=2.3, top=0.75, bottom=0.7, wspace=0.08)
    fig.suptitle(
        f"Lead-time coverage W(h), pooled over all scenarios and seeds (W({-grace_h:g} h) is the recall)",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=11,
    )
    h = np.linspace(-grace_h, horizon_h, 600)
    for ax, target in zip(axes, TARGETS, strict=True):
        rows = events[events["target"] == target]
        per_detector = rows.groupby("detector").size()
        count = f" ({per_detector.max()} events)" if len(per_detector) else ""
        ax.set_title(target.replace("_", " ") + count, loc="left")
        if rows.empty:
            empty_panel(ax, "no events scored")
            continue
        for detector in detectors:
            lead = rows.loc[rows["detector"] == detector, "lead_h"].to_numpy(float)
            if lead.size:
                ax.plot(
                    h,
                    coverage_curve(lead, h),
                    color=colors[detector],
                    drawstyle="steps-post",
                    label=detector,
                )
        if criterion_h is not None:
            ax.axvline(
                criterion_h,
                color=CRITERION_COLOR,
                ls=":",
                lw=1.0,
                label=f"criterion: {criterion_h:g} h ahead",
            )
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_xlim(-grace_h, horizon_h)
        ax.set_ylim(0, 1.03)
        ax.set_xlabel("h: hours of warning before onset (negative: late)")
    handles, labels = next(
        (ax.get_legend_handles_labels() for ax in axes if ax.get_legend_handles_labels()[0]), ([], [])
    )
    if handles:
        axes[-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    axes[0].set_ylabel("W(h): share of events warned ≥ h ahead")
    return save(fig, path)
