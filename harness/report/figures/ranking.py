"""The headline's ranking: each detector's ``warned`` with its interval, in rank order, and which of
its paired comparisons are decided at family-wise 5%."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report.figures.style import MUTED, colors_for, empty_panel, margins, save, styled

ALPHA = 0.05  # family-wise level of the pairs (harness.analysis.headline.inference.FAMILY_ALPHA)


def verdicts(detector: str, pairs: pd.DataFrame) -> str:
    """The detector's decided comparisons on warned ("> transport", "< utilization") and how many
    of its pairs are not distinguishable."""
    if pairs.empty:
        return ""
    mine = pairs[(pairs["detector"] == detector) | (pairs["reference"] == detector)]
    ahead: list[str] = []
    behind: list[str] = []
    undecided = 0
    for r in mine.to_dict("records"):
        other = r["reference"] if r["detector"] == detector else r["detector"]
        sign = 1 if r["detector"] == detector else -1
        if r["warned_p_holm"] < ALPHA:
            (ahead if sign * r["warned_diff"] > 0 else behind).append(other)
        else:
            undecided += 1
    said = [f"{mark} {short(names)}" for mark, names in ((">", ahead), ("<", behind)) if names]
    if undecided:
        said.append(f"{undecided} undecided")
    return "; ".join(said)


def short(names: list[str], shown: int = 2) -> str:
    """The first ``shown`` names and how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" +{more}" if more > 0 else "")


@styled
def ranking(
    table: pd.DataFrame,
    pairs: pd.DataFrame,
    path: str | Path,
    *,
    min_lead_h: float = 2.0,
    target: str = "utilization_breach",
    colors: dict[str, Any] | None = None,
    confidence: float = 0.95,
) -> Path:
    """One row per detector (rank order, infeasible ones last and hollow): ``warned`` with its
    interval; on the right the pairs decided on warned at family-wise 5% (">": warns ahead of more
    events than; the first names and how many more) and the count of undecided ones. Flags follow
    the name."""
    rows = table.reset_index(drop=True)
    colors = colors_for(rows["detector"], colors)
    n = max(len(rows), 1)
    fig = Figure(figsize=(11.5, 0.38 * n + 1.5))
    ax = fig.subplots()
    margins(fig, left=2.9, right=4.4, top=0.75, bottom=0.6)
    fig.suptitle(
        f"Share of {target} events warned >= {min_lead_h:g} h ahead at the budget (macro over scenarios, "
        "out of fold)",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=11,
    )
    if rows.empty:
        empty_panel(ax, "no detectors")
        return save(fig, path)
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows.to_dict("records"), strict=True):
        feasible = bool(r["feasible"])
        value, lo, hi = (float(r.get(k, np.nan)) for k in ("warned", "warned_lo", "warned_hi"))
        color = colors[r["detector"]]
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [yi, yi], color=color if feasible else MUTED, lw=2.2, solid_capstyle="butt")
        if np.isfinite(value):
            ax.scatter(value, yi, s=46, zorder=5, facecolor=color if feasible else "white", edgecolor="black")
        note = verdicts(r["detector"], pairs)
        ax.text(1.03, yi, note, va="center", fontsize=8.5, transform=ax.get_yaxis_transform())
    labels = []
    for r in rows.to_dict("records"):
        place = "–" if pd.isna(r["rank"]) else f"#{int(r['rank'])}"
        flagged = (("circular", r.get("circular")), ("over budget", r.get("over_budget_test")))
        tags = [t for t, on in flagged if on]
        tags += [] if bool(r["feasible"]) else ["infeasible"]
        labels.append(f"{place} {r['detector']}" + (f" ({', '.join(tags)})" if tags else ""))
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"warned >= {min_lead_h:g} h ahead (dot) and {confidence:.0%} interval over seeds (bar)")
    ax.grid(axis="x", color=MUTED, alpha=0.25)
    return save(fig, path)
