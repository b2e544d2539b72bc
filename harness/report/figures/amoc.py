"""The headline's threshold-free view: events warned against quiet-time alerting, one panel per
detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report.figures.style import (
    CRITERION_COLOR,
    MUTED,
    bare_inner_axes,
    colors_for,
    empty_panel,
    margins,
    save,
    styled,
)

LEADS = (
    ("recall_lead_0h", "-", "lead >= 0 h"),
    ("recall_lead_2h", "--", "lead >= 2 h"),
    ("recall_lead_8h", ":", "lead >= 8 h"),
)
FLOOR = 1e-4  # quiet alert fractions below this (including 0) are drawn at it, on the log axis


def _at(curve: pd.DataFrame, threshold: float) -> pd.Series | None:
    """The curve's point at ``score >= threshold``: its rows are change points, highest threshold
    first, so the point is the last row at or above the threshold."""
    above = curve[curve["threshold"] >= threshold]
    return None if above.empty else above.iloc[-1]


@styled
def amoc(
    curve: pd.DataFrame,
    table: pd.DataFrame,
    path: str | Path,
    *,
    budget: float = 0.01,
    area_to: float = 0.05,
    colors: dict[str, Any] | None = None,
    min_lead_h: float = 2.0,
) -> Path:
    """Per detector (in the headline's order), recall counting only warnings at least 0, 2 and 8 h
    ahead against the share of quiet time spent alerting (log axis), over every threshold on all
    seeds. Shaded: the range of the partial AUC; dotted: the budget; the dot: the deployable
    threshold on the line of warnings ``min_lead_h`` ahead (hollow when infeasible, at its nearest
    point)."""
    drawn = set(curve["detector"].unique()) if "detector" in curve else set()
    detectors = [d for d in table["detector"] if d in drawn]
    colors = colors_for(table["detector"], colors)
    n = max(len(detectors), 1)
    ncols = min(n, 4)
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(3.3 * ncols + 0.6, 2.6 * nrows + 1.6))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    margins(fig, left=0.75, right=0.2, top=1.25, bottom=0.65, hspace=0.45, wspace=0.1)
    fig.suptitle(
        "Events warned against quiet-time alerting over every threshold (all seeds); "
        f"shaded: the partial AUC's range 0..{area_to:.0%}; dotted red: the budget ({budget:.0%})",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=11,
    )
    rows = table.set_index("detector")
    warned = f"recall_lead_{min_lead_h:g}h"
    if detectors:  # the panels share both axes: scale and limits once, before anything is drawn
        axes[0].set_xscale("log")
        axes[0].set_xlim(FLOOR * 0.8, 1.1)
        axes[0].set_ylim(-0.03, 1.03)
    for ax, detector in zip(axes, detectors, strict=False):
        mine = curve[curve["detector"] == detector]
        color = colors[detector]
        row = rows.loc[detector]
        x = np.maximum(mine["quiet_alert_fraction"].fillna(0.0).to_numpy(float), FLOOR)
        ax.axvspan(FLOOR, area_to, color=MUTED, alpha=0.12, lw=0)
        ax.axvline(budget, color=CRITERION_COLOR, ls=":", lw=1.1)
        ax.step(x, mine["recall"], where="post", color=MUTED, lw=0.9)
        for column, style, _ in LEADS:
            ax.step(x, mine[column], where="post", color=color, ls=style, lw=1.4)
        point = _at(mine, row["threshold"]) if np.isfinite(row["threshold"]) else None
        if point is not None:
            feasible = bool(row["feasible"])
            ax.scatter(
                max(point["quiet_alert_fraction"], FLOOR),
                point[warned] if warned in point else point["recall"],
                s=42,
                zorder=5,
                facecolor=color if feasible else "white",
                edgecolor="black",
            )
        place = "infeasible" if pd.isna(row["rank"]) else f"#{int(row['rank'])}"
        auc = row["partial_auc"]
        auc_text = "n/a" if not np.isfinite(auc) else f"{auc:.2f}"
        if np.isfinite(row.get("partial_auc_lo", np.nan)):
            auc_text += f" [{row['partial_auc_lo']:.2f}, {row['partial_auc_hi']:.2f}]"
        ax.set_title(f"{place} {detector}\npartial AUC {auc_text}", loc="left", fontsize=9.5)
    for ax in axes[len(detectors) :]:
        if not detectors and ax is axes[0]:
            empty_panel(ax, "no curves")
        else:
            ax.set_visible(False)
    for ax in axes[max(len(detectors) - ncols, 0) : len(detectors)]:  # the lowest panel of each column
        ax.xaxis.set_tick_params(labelbottom=True)  # sharex labels only the bottom row's
        ax.set_xlabel(f"quiet alerting (log; 0 at {FLOOR:g})")
    for ax in axes[::ncols]:
        ax.set_ylabel("share of events")
    bare_inner_axes(axes, ncols, len(detectors))
    handles = [axes[0].plot([], [], color="black", ls=style, lw=1.4)[0] for _, style, _ in LEADS]
    labels = [label for *_, label in LEADS]
    handles.append(axes[0].plot([], [], color=MUTED, lw=0.9)[0])
    labels.append("detected at all (up to G late)")
    handles.append(axes[0].scatter([], [], s=42, facecolor="black", edgecolor="black"))
    labels.append(f"deployable threshold (lead >= {min_lead_h:g} h)")
    top = 1 - 0.45 / fig.get_size_inches()[1]
    fig.legend(handles, labels, loc="upper left", ncol=len(labels), bbox_to_anchor=(0.005, top))
    return save(fig, path)
