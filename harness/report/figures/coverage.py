"""Lead-time coverage W(h): the share of events warned at least h hours ahead."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

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


KEY_COLUMNS = 7  # detectors per row of the line key under the panels


@styled
def lead_coverage(
    events: pd.DataFrame,
    path: str | Path,
    *,
    false_alarms: pd.DataFrame | None = None,
    title: str = "Lead-time coverage W(h), pooled over all scenarios and seeds",
    infeasible: Sequence[str] = (),
    budget: float | None = None,
    horizon_h: float = 24.0,
    grace_h: float = 1.0,
    criterion_h: float | None = 2.0,
    colors: dict[str, Any] | None = None,
) -> Path:
    """One panel per target, one line per detector, pooled over the scenarios and seeds of
    ``events``; beside them, what that coverage costs: each detector's share of quiet time spent
    alerting and its FP rate (``false_alarms``: one row per detector with ``quiet_alert_fraction``
    and ``fp_rate``, in the order listed, e.g. summary.csv's ALL rows or headline.csv). A detector
    that alerts all the time covers every event. ``infeasible`` detectors (no threshold within the
    ``budget``, drawn at their nearest point) are dashed, their bars hatched; ``budget``, a quiet
    alert fraction, is a line on the cost panel."""
    listed = list(false_alarms["detector"]) if false_alarms is not None and len(false_alarms) else []
    found = set(events["detector"].unique())
    detectors = [d for d in listed if d in found] + sorted(found - set(listed))
    colors = colors_for(detectors, colors)
    key_rows = -(-len(detectors) // KEY_COLUMNS)
    fig = Figure(figsize=(15, 4.6 + 0.12 * max(0, len(detectors) - 8) + 0.22 * key_rows))
    label_in = 0.075 * max((len(d) for d in detectors), default=8) + 0.3  # room for the names
    n = len(TARGETS)
    grid = fig.add_gridspec(1, n + 2, width_ratios=[4.0] * n + [label_in * 1.15, 3.0], wspace=0.08)
    axes = [fig.add_subplot(grid[0, i]) for i in range(n)] + [fig.add_subplot(grid[0, n + 1])]
    margins(fig, left=0.8, right=0.3, top=0.75, bottom=0.85 + 0.22 * key_rows, wspace=0.08)
    fig.suptitle(
        f"{title} (W({-grace_h:g} h) is the recall), and what it costs in false alarms",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=11,
    )
    h = np.linspace(-grace_h, horizon_h, 600)
    for ax, target in zip(axes, TARGETS, strict=False):
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
                style = {"ls": "--", "lw": 1.0, "alpha": 0.6} if detector in infeasible else {"ls": "-"}
                ax.plot(h, coverage_curve(lead, h), color=colors[detector], drawstyle="steps-post", **style)
        if criterion_h is not None:
            ax.axvline(criterion_h, color=CRITERION_COLOR, ls=":", lw=1.0)
            ax.annotate(
                f"criterion {criterion_h:g} h",
                (criterion_h, 0.02),
                xytext=(3, 0),
                textcoords="offset points",
                color=CRITERION_COLOR,
                fontsize=8,
            )
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_xlim(-grace_h, horizon_h)
        ax.set_ylim(0, 1.03)
        ax.set_xlabel("h: hours of warning before onset (negative: late)")
    axes[1].sharey(axes[0])
    axes[1].tick_params(labelleft=False)
    axes[0].set_ylabel("W(h): share of events warned ≥ h ahead")
    _false_alarm_panel(axes[-1], detectors, colors, false_alarms, set(infeasible), budget)
    handles = [
        Line2D(
            [],
            [],
            color=colors[d],
            ls="--" if d in infeasible else "-",
            lw=1.0 if d in infeasible else 1.5,
        )
        for d in detectors
    ]
    names = [f"{d} (infeasible)" if d in infeasible else d for d in detectors]
    fig.legend(handles, names, loc="lower left", bbox_to_anchor=(0.005, 0.0), ncol=KEY_COLUMNS, frameon=False,
               fontsize=8)  # fmt: skip
    return save(fig, path)


def _false_alarm_panel(
    ax: Any,
    detectors: list[str],
    colors: dict[str, Any],
    rates: pd.DataFrame | None,
    infeasible: set[str],
    budget: float | None,
) -> None:
    """Per detector (the colour key of the coverage panels): quiet alerting as a bar, FP rate as text;
    infeasible detectors hatched and named so."""
    ax.set_title("cost: share of quiet time alerting", loc="left")
    if not detectors:
        empty_panel(ax, "no events scored")
        return
    y = np.arange(len(detectors))
    rates = rates.set_index("detector") if rates is not None and len(rates) else pd.DataFrame()
    quiet = np.array(
        [rates["quiet_alert_fraction"].get(d, np.nan) if len(rates) else np.nan for d in detectors]
    )
    fp = np.array([rates["fp_rate"].get(d, np.nan) if len(rates) else np.nan for d in detectors])
    shown = np.nan_to_num(quiet) * 100
    within = [q for q, d in zip(shown, detectors, strict=True) if d not in infeasible]
    if budget is not None and infeasible:  # the budget's scale, not the always-on detector's
        limit = max(3 * 100 * budget, 1.15 * max(within, default=0.0))
        shown = np.minimum(shown, limit)  # a clipped bar keeps its true value in its text
    bars = ax.barh(y, shown, color=[colors[d] for d in detectors], height=0.65)
    for bar, detector in zip(bars, detectors, strict=True):
        if detector in infeasible:
            bar.set_hatch("///")
            bar.set_edgecolor("white")
    over = False
    for i, (q, f) in enumerate(zip(quiet, fp, strict=True)):
        text = "n/a" if not np.isfinite(q) else f"{q:.0%}" if q >= 0.01 or q == 0 else f"{q:.1%}"
        text += "" if not np.isfinite(f) else f" · FP {f:.0%}"
        if budget is not None and detectors[i] not in infeasible and np.isfinite(q) and q > budget:
            text += " · over*"
            over = True
        ax.annotate(
            text,
            (shown[i], i),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    if budget is not None:
        ax.axvline(100 * budget, color=CRITERION_COLOR, ls=":", lw=1.0)
    ax.set_yticks(y, [f"{d}\n(infeasible)" if d in infeasible else d for d in detectors])
    for tick, detector in zip(ax.get_yticklabels(), detectors, strict=True):
        tick.set_color(colors[detector])
        tick.set_fontweight("bold")
    ax.set_ylim(len(detectors) - 0.5, -0.5)
    top = max(np.max(shown, initial=0.0), 100 * (budget or 0.0), 1.0)
    ax.set_xlim(0, 1.7 * top)  # room for the text after the longest bar
    ax.set_xticks([t for t in ax.get_xticks() if t <= top])
    budget_text = "" if budget is None else f"\ndotted: the budget, {100 * budget:g}%"
    if over:
        budget_text += "\n* over it here; it binds on the calibration seeds"
    ax.set_xlabel(f"quiet time alerting (%) · FP rate{budget_text}")
    ax.grid(axis="y", visible=False)
