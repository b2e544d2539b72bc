"""Lead-time distributions per detector and scenario, with missed events counted."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report.figures.style import (
    CRITERION_COLOR,
    MUTED,
    bare_inner_axes,
    box_strip,
    colors_for,
    empty_panel,
    margins,
    save,
    styled,
)


@styled
def lead_times(
    events: pd.DataFrame,
    path: str | Path,
    *,
    target: str,
    horizon_h: float = 24.0,
    grace_h: float = 1.0,
    criterion_h: float | None = 2.0,
    scenarios: list[str] | None = None,
    colors: dict[str, Any] | None = None,
) -> Path:
    """One panel per scenario; per detector a box over detected events' lead times with every event
    as a dot, and the missed events counted under the detector's name (they have no lead time).

    ``events`` are rows of events.parquet (any targets; ``target`` selects one).
    """
    rows = events[events["target"] == target]
    detectors = sorted(events["detector"].unique())
    colors = colors_for(detectors, colors)
    order = [s for s in (scenarios or sorted(events["scenario"].unique())) if s in set(rows["scenario"])]
    n = max(1, len(order))
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    label_in = 0.075 * max(len(d) for d in detectors) + 0.3 if detectors else 1.0
    width = max(9.0, 3.3 * ncols + label_in)
    note = "dots: detected events; box: their quartiles and median; missed events have no lead time"
    note += " and are counted at the right of each panel (missed / events)"
    if criterion_h is not None:
        note += f"; red dotted line: the {criterion_h:g} h criterion"
    note = textwrap.fill(note, width=int(width * 13))
    top = 0.95 + 0.17 * note.count("\n")
    panel_h = max(2.2, 0.6 + 0.24 * len(detectors))
    fig = Figure(figsize=(width, panel_h * nrows + top + 0.7))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    margins(fig, left=label_in, right=0.25, top=top, bottom=0.6, hspace=0.35, wspace=0.08)
    height = fig.get_size_inches()[1]
    fig.suptitle(
        f"Lead time before {target.replace('_', ' ')} onset, per event, at the shipped thresholds",
        x=0.01,
        y=1 - 0.1 / height,
        ha="left",
        va="top",
        fontweight="bold",
        fontsize=11,
    )
    fig.text(0.01, 1 - 0.38 / height, note, ha="left", va="top", fontsize=9, color=MUTED)
    if not order:
        empty_panel(axes[0], f"no {target.replace('_', ' ')} events were scored")
    right = horizon_h + 1.5
    for ax, scenario in zip(axes, order, strict=False):
        of_scenario = rows[rows["scenario"] == scenario]
        leads = [of_scenario.loc[of_scenario["detector"] == d, "lead_h"].to_numpy(float) for d in detectors]
        box_strip(
            ax, [lead[np.isfinite(lead)] for lead in leads], [colors[d] for d in detectors], horizontal=True
        )
        for i, lead in enumerate(leads):
            missed = int(np.isnan(lead).sum())
            ax.text(
                right + 0.4,
                i,
                f"{missed}/{lead.size}",
                ha="left",
                va="center",
                fontsize=7,
                color=CRITERION_COLOR if missed else MUTED,
            )
        ax.set_title(scenario, loc="left")
        ax.axvline(0.0, color=MUTED, lw=0.9)
        if criterion_h is not None:
            ax.axvline(criterion_h, color=CRITERION_COLOR, ls=":", lw=1.0)
    for ax in axes[len(order) :] if order else axes[1:]:
        ax.set_visible(False)
    axes[0].set_yticks(range(len(detectors)), detectors)
    axes[0].set_ylim(len(detectors) - 0.4, -0.6)  # first detector on top
    axes[0].set_xlim(-grace_h - 1.0, right + 5.5)
    axes[0].set_xticks([t for t in (0, 6, 12, 18, 24) if t <= horizon_h])
    for ax in axes[(nrows - 1) * ncols :]:
        ax.set_xlabel("lead time (h before onset)")
    bare_inner_axes(axes, ncols, len(order))
    return save(fig, path)
