"""Per-update overhead against the number of units (log-log), with the 50 ms criterion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from harness.report.figures.style import CRITERION_COLOR, colors_for, empty_panel, margins, save, styled


@styled
def overhead(
    scan: pd.DataFrame | None,
    cells: pd.DataFrame,
    path: str | Path,
    *,
    limit_ms: float = 50.0,
    colors: dict[str, Any] | None = None,
) -> Path:
    """Wall time per ``update()`` call: p99 (solid) and p50 (dashed) of the overhead scan at each N,
    and the study's own cells (median over cells of their p99) as open circles. With one N only
    (a study), one column per detector instead of an axis of sizes; the key shows only what is drawn.

    ``scan`` is overhead_scan.parquet (or None), ``cells`` is overhead.parquet.
    """
    scan = scan if scan is not None and len(scan) else pd.DataFrame(columns=["detector", "n_units"])
    if "error" in scan.columns:
        scan = scan[scan["error"] == ""]
    detectors = sorted(set(scan["detector"]) | set(cells["detector"]))
    colors = colors_for(detectors, colors)
    sizes = sorted({int(n) for n in np.concatenate([scan["n_units"], cells["n_units"]]).astype(float)})
    single = len(sizes) == 1
    fig = Figure(figsize=(9.5, 5.0))
    ax = fig.subplots()
    margins(fig, left=0.9, right=3.0, top=0.45, bottom=1.5 if single else 0.7)
    title = "Cost of one health check (update call)"
    ax.set_title(
        f"{title} at N = {sizes[0]} units" if single else f"{title} against organisation size", loc="left"
    )
    if not detectors:
        empty_panel(ax, "no overhead measured")
        return save(fig, path)
    drawn: dict[str, Line2D] = {}
    for i, detector in enumerate(detectors):
        color = colors[detector]
        mine = scan[scan["detector"] == detector].sort_values("n_units")
        x = np.full(len(mine), i) if single else mine["n_units"]
        if len(mine):
            ax.plot(x, mine["wall_p99_ms"], color=color, marker="o", ms=4)
            drawn["p99, resized replay"] = Line2D([], [], color="black", marker="o", ms=4)
            ax.plot(
                x, mine["wall_p50_ms"], color=color, ls="--" if not single else "none", marker="_", lw=1.0
            )
            drawn["p50, resized replay"] = Line2D([], [], color="black", ls="--" if not single else "none",
                                                  marker="_", lw=1.0)  # fmt: skip
        study = cells[cells["detector"] == detector].groupby("n_units")["wall_p99_ms"].median()
        if len(study):
            xs = np.full(len(study), i) if single else study.index
            ax.scatter(xs, study.to_numpy(), s=70, facecolor="none", edgecolor=color, lw=1.5, zorder=4)
            drawn["p99, study cells (median)"] = Line2D(
                [], [], ls="none", marker="o", ms=9, mfc="none", mec="black"
            )
    ax.axhline(limit_ms, color=CRITERION_COLOR, ls=":", lw=1.2)
    drawn[f"criterion: {limit_ms:g} ms"] = Line2D([], [], color=CRITERION_COLOR, ls=":", lw=1.2)
    handles = [Line2D([], [], color=colors[d], lw=3) for d in detectors] + list(drawn.values())
    labels = [*detectors, *drawn]
    ax.set_yscale("log")
    values = pd.concat([scan.get("wall_p50_ms", pd.Series(dtype=float)), cells["wall_p99_ms"]]).to_numpy(
        float
    )
    values = values[np.isfinite(values) & (values > 0)]
    low = values.min() / 2 if values.size else 1e-3
    ax.set_ylim(low, max(limit_ms * 3, values.max() * 2 if values.size else limit_ms * 3))
    if single:
        ax.set_xticks(range(len(detectors)), detectors, rotation=40, ha="right")
        ax.set_xlim(-0.6, len(detectors) - 0.4)
    else:
        ax.set_xscale("log")
        ax.set_xlim(sizes[0] / 1.5, sizes[-1] * 1.5)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("number of units N")
    ax.set_ylabel("wall time per update (ms)")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return save(fig, path)
