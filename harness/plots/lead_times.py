"""Lead-time distributions per detector and scenario, with missed events counted."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.plots.style import (
    CRITERION_COLOR,
    MUTED,
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
    width = max(9.0, 3.4 * ncols + 0.8)
    note = "dots: detected events; box: their quartiles and median; missed events have no lead time"
    note += " (counted under each detector)"
    if criterion_h is not None:
        note += f"; red dotted line: the {criterion_h:g} h criterion"
    note = textwrap.fill(note, width=int(width * 13))
    top = 0.95 + 0.17 * note.count("\n")
    fig = Figure(figsize=(width, 3.1 * nrows + top + 0.9))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
    margins(fig, left=0.9, right=0.25, top=top, bottom=0.85, hspace=0.65, wspace=0.12)
    height = fig.get_size_inches()[1]
    fig.suptitle(
        f"Lead time before {target.replace('_', ' ')} onset, per event",
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
    for ax, scenario in zip(axes, order, strict=False):
        of_scenario = rows[rows["scenario"] == scenario]
        leads = [of_scenario.loc[of_scenario["detector"] == d, "lead_h"].to_numpy(float) for d in detectors]
        box_strip(ax, [lead[np.isfinite(lead)] for lead in leads], [colors[d] for d in detectors])
        labels = [
            f"{detector}\nmissed {int(np.isnan(lead).sum())}/{len(lead)}"
            for detector, lead in zip(detectors, leads, strict=True)
        ]
        ax.set_xticks(range(len(detectors)), labels, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.6, len(detectors) - 0.4)
        ax.set_title(scenario, loc="left")
        ax.axhline(0.0, color=MUTED, lw=0.9)
        if criterion_h is not None:
            ax.axhline(criterion_h, color=CRITERION_COLOR, ls=":", lw=1.0)
    for ax in axes[len(order) :] if order else axes[1:]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel("lead time (h before onset)")
    axes[0].set_ylim(-grace_h - 1.0, horizon_h + 1.5)
    return save(fig, path)
