"""A sweep's headline metrics against one swept parameter: one line per detector, CI bands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.report.figures.style import colors_for, empty_panel, margins, save, shade_alpha, styled

LINESTYLES = ("-", "--", ":", "-.")


@styled
def sweep_curves(
    rows: pd.DataFrame,
    path: str | Path,
    *,
    parameter: str,
    metrics: dict[str, str],
    others: Sequence[str] = (),
    colors: dict[str, Any] | None = None,
) -> Path:
    """One panel per metric (``metrics``: column -> axis label), x = ``parameter``; a line per detector
    (per detector and combination of the ``others`` swept parameters, told apart by line style),
    with a band from the metric's ``_lo`` to ``_hi`` column where the rows have them. Undefined or
    infinite values (a median lead of "missed") leave gaps; infeasible points (``feasible`` false)
    are hollow and off the line."""
    detectors = sorted(rows["detector"].unique())
    colors = colors_for(detectors, colors)
    fig = Figure(figsize=(15, 4.4))
    axes = fig.subplots(1, len(metrics))
    margins(fig, left=0.8, right=2.6, top=0.75, bottom=0.7, wspace=0.28)
    fig.suptitle(f"Headline metrics against {parameter}", x=0.01, ha="left", fontweight="bold", fontsize=11)
    groups = list(rows.groupby(list(others), sort=True)) if others else [((), rows)]
    for ax, (column, label) in zip(np.atleast_1d(axes), metrics.items(), strict=True):
        ax.set_title(label, loc="left")
        ax.set_xlabel(parameter)
        if column not in rows:
            empty_panel(ax, f"no {column} column")
            continue
        for style, (key, group) in zip(LINESTYLES * len(groups), groups, strict=False):
            for detector in detectors:
                mine = group[group["detector"] == detector].sort_values(parameter)
                x = mine[parameter].to_numpy(float)
                y = finite(mine[column])
                suffix = (
                    ""
                    if not others
                    else " (" + ", ".join(f"{o}={v}" for o, v in zip(others, _tuple(key), strict=True)) + ")"
                )
                feasible = mine["feasible"].to_numpy(bool) if "feasible" in mine else np.ones(len(x), bool)
                ax.plot(x, np.where(feasible, y, np.nan), color=colors[detector], ls=style, marker="o", ms=4,
                        label=detector + suffix)  # fmt: skip
                ax.plot(x[~feasible], y[~feasible], ls="none", marker="o", ms=6, mfc="white",
                        mec=colors[detector], zorder=4)  # fmt: skip
                if f"{column}_lo" in mine and f"{column}_hi" in mine:
                    lo, hi = finite(mine[f"{column}_lo"]), finite(mine[f"{column}_hi"])
                    ax.fill_between(
                        x, lo, hi, color=colors[detector], alpha=shade_alpha(colors[detector]) * 0.6, lw=0
                    )
        values = np.sort(rows[parameter].unique().astype(float))
        ax.set_xticks(values)
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    if "feasible" in rows and not rows["feasible"].astype(bool).all():
        handles.append(Line2D([], [], ls="none", marker="o", ms=6, mfc="white", mec="black"))
        labels.append("infeasible: no threshold within\nthe budget (its nearest point)")
    np.atleast_1d(axes)[-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return save(fig, path)


def finite(values: pd.Series) -> np.ndarray:
    """Values as floats, infinities as gaps."""
    out = values.to_numpy(float)
    return np.where(np.isfinite(out), out, np.nan)


def _tuple(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)
