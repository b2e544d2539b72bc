"""Timeline of one run: load, utilization, every detector's score and alerts, the ground truth."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

from harness.report.figures.style import (
    MUTED,
    TARGET_COLORS,
    alert_spans,
    bare_inner_axes,
    colors_for,
    key,
    margins,
    save,
    shade_alpha,
    spans,
    styled,
    vlines,
)
from harness.report.timelines import WARMUP_END

DAY_H = 24.0
LABEL_WIDTH = 52  # characters per line of a score label in the key
Y_TICKS = 3  # at most this many intervals between a panel's y ticks
PANEL_IN = 1.0  # height of a detector's panel, inches
#: The warm-up: hatched, so it never looks like an alert's shading (of a dark detector colour).
WARMUP: dict[str, Any] = {"facecolor": "none", "edgecolor": "#b8bcc0", "hatch": "///"}


@styled
def timeline(
    readings: pd.DataFrame,
    path: str | Path,
    *,
    events: pd.DataFrame,
    episodes: pd.DataFrame,
    marks: pd.DataFrame,
    thresholds: pd.DataFrame,
    title: str,
    breach_level: float = 0.8,
    load_label: str = "offered load ρ (work arriving / capacity)",
    colors: dict[str, Any] | None = None,
    score_labels: dict[str, str] | None = None,
    origin: str | None = None,
    order: list[str] | None = None,
    headline_thresholds: dict[str, tuple[float, bool]] | None = None,
) -> Path:
    """One panel of system load on top, then one panel per detector, sharing the time axis (hours;
    dates when ``origin``, the moment of time_h = 0, is given).

    ``readings`` are one run's rows of timeline.parquet; ``events`` and ``episodes`` that run's rows
    of events.parquet and episodes.parquet; ``marks`` its rows of timeline_marks.parquet;
    ``thresholds`` the output of ``harness.timeline.score_thresholds``; ``score_labels`` what each
    detector's score measures (its class's ``score_label``); ``order`` the panels' order (the
    headline's; others after it, by name); ``headline_thresholds`` each detector's headline threshold
    and whether it is feasible, drawn beside the shipped one.
    """
    present = set(readings["detector"].unique())
    detectors = [d for d in order or [] if d in present] + sorted(present - set(order or []))
    colors = colors_for(detectors, colors)
    events = events.drop_duplicates(["target", "onset_h", "end_h"]).sort_values("onset_h")
    warmup_h = float(marks.loc[marks["mark"] == WARMUP_END, "time_h"].max()) if len(marks) else 0.0

    n = len(detectors)
    fig = Figure(figsize=(13, 2.4 + PANEL_IN * n))
    axes = fig.subplots(n + 1, 1, sharex=True, gridspec_kw={"height_ratios": [1.5] + [1] * n})
    axes = np.atleast_1d(axes)
    margins(fig, left=0.8, right=4.1, top=0.4, bottom=0.6, hspace=0.1)
    system = readings[readings["detector"] == detectors[0]] if n else readings
    hours = system["time_h"].to_numpy(float)
    start = hours[0] - (hours[1] - hours[0]) if len(hours) > 1 else 0.0  # the first interval's start
    if len(hours):  # fixed before anything is drawn, so no artist added makes the shared axes rescale
        axes[-1].set_xlim(start, hours[-1])
        days_per_tick = max(1, int(np.ceil((hours[-1] - start) / DAY_H / 14)))
        axes[-1].xaxis.set_major_locator(MultipleLocator(DAY_H * days_per_tick))

    top = axes[0]
    breach = {"color": TARGET_COLORS["utilization_breach"], "ls": ":", "lw": 1.2}
    load, utilization = {"color": "black", "lw": 1.2}, {"color": "#2e86c1", "lw": 1.0}
    top.plot(hours, system["offered_load"].to_numpy(float), **load)
    top.plot(hours, system["utilization"].to_numpy(float), **utilization)
    top.axhline(breach_level, **breach)
    for target, color in TARGET_COLORS.items():
        of_target = events[events["target"] == target]
        spans(top, of_target["onset_h"], of_target["end_h"], color=color, alpha=0.13)
    top.set_ylabel("load, utilization\n(fraction of capacity)")
    top.set_ylim(0, max(1.2, float(np.nanmax(system["offered_load"])) * 1.1) if len(system) else 1.2)
    _scenario_marks(top, marks)
    entries: list[tuple[dict[str, Any], str]] = [
        (load, load_label),
        (utilization, "system utilization (trailing mean)"),
        (breach, f"breach level {breach_level:.2f}"),
    ]
    for target, color in TARGET_COLORS.items():
        count = int((events["target"] == target).sum())
        patch = {"facecolor": color, "alpha": 0.3, "lw": 0}
        entries.append((patch, f"{target.replace('_', ' ')}: {count} scored (onset solid, end dotted)"))
    entries.append((WARMUP, "warm-up (observed, not scored)"))
    key(top, entries)
    top.set_title(title, loc="left")

    theta = thresholds.set_index("detector") if len(thresholds) else pd.DataFrame()
    for ax, detector in zip(axes[1:], detectors, strict=True):
        mine = readings[readings["detector"] == detector]
        color = colors[detector]
        score = mine["score"].to_numpy(float)
        line = {"color": color, "lw": 1.0}
        ax.plot(mine["time_h"].to_numpy(float), score, **line)
        label = (score_labels or {}).get(detector, "score")
        entries = [(line, "\n".join(textwrap.wrap(label, LABEL_WIDTH)))]
        ax.text(0.004, 0.93, detector, transform=ax.transAxes, ha="left", va="top", fontsize=9,
                fontweight="bold", bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1})  # fmt: skip
        row = theta.loc[detector] if detector in theta.index else None
        if row is not None and np.isfinite(row["threshold"]):
            dashed = {"color": "black", "ls": "--", "lw": 1.0}
            ax.axhline(row["threshold"], **dashed)
            entries.append((dashed, _threshold_label(row)))
        chosen, feasible = (headline_thresholds or {}).get(detector, (np.nan, False))
        if np.isfinite(chosen):
            dashdot = {"color": "black", "ls": "-.", "lw": 1.2}
            ax.axhline(chosen, **dashdot)
            what = "headline threshold" if feasible else "nearest to the budget (infeasible)"
            entries.append((dashdot, f"{what} {chosen:.3g}"))
        ep = episodes[episodes["detector"] == detector]
        alert_spans(ax, ep["start_h"], ep["end_h"], color)
        shading = {"facecolor": mpl.colors.to_rgba(color, shade_alpha(color)), "edgecolor": color, "lw": 2}
        entries.append((shading, f"alert episodes ({len(ep)})"))
        key(ax, entries)
        _score_limits(ax, score, [None if row is None else row["threshold"], chosen])

    event_lines = _event_lines(events)
    for ax in axes:
        if warmup_h > 0:
            spans(ax, [start], [warmup_h], zorder=0, **WARMUP)
        vlines(ax, lw=0.9, alpha=0.8, **event_lines)
    bare_inner_axes(axes, 1, len(axes))  # the time axis's ticks and labels on the bottom panel only
    if origin is None:
        axes[-1].set_xlabel("time (h)" if start > 0 else "time since run start (h)")
    else:
        zero = pd.Timestamp(origin)
        axes[-1].xaxis.set_major_formatter(
            FuncFormatter(lambda h, _: (zero + pd.Timedelta(hours=h)).strftime("%d %b\n%H:%M"))
        )
        axes[-1].set_xlabel(f"date (time_h 0 = {zero.isoformat(sep=' ')})")
    axes[0].yaxis.set_label_coords(-0.045, 0.5)
    for ax in axes:
        ax.yaxis.set_major_locator(MaxNLocator(Y_TICKS))
    return save(fig, path)


def _event_lines(events: pd.DataFrame) -> dict[str, Any]:
    """``vlines`` arguments for every scored event's onset (solid) and end (dotted) in its target's
    colour."""
    known = events[events["target"].isin(list(TARGET_COLORS))]
    return {
        "xs": np.concatenate([known["onset_h"].to_numpy(float), known["end_h"].to_numpy(float)]),
        "colors": [TARGET_COLORS[target] for target in known["target"]] * 2,
        "linestyles": ["-"] * len(known) + [":"] * len(known),
    }


def _threshold_label(row: pd.Series) -> str:
    if row["source"] == "scoring.thresholds":
        return f"threshold {row['threshold']:.3g} (scoring.thresholds)"
    if row["agreement"] >= 1.0:
        return f"alert threshold {row['threshold']:.3g}"
    return f"≈ alert threshold {row['threshold']:.3g} (levels agree on {row['agreement']:.1%})"


def _score_limits(ax: Any, score: np.ndarray, thresholds: list[float | None]) -> None:
    """Robust y-limits that show the thresholds: infinite or extreme scores are clipped at the top and
    say so."""
    finite = score[np.isfinite(score)]
    if finite.size == 0:
        return
    high = float(np.percentile(finite, 99.9))
    for threshold in thresholds:
        if threshold is not None and np.isfinite(threshold):
            high = max(high, threshold)
    low = min(0.0, float(finite.min()))
    top = high * 1.15 if high > 0 else 1.0
    ax.set_ylim(low, top)
    if (score > top).any():
        ax.text(
            1.0,
            1.0,
            "scores above the axis are clipped",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color=MUTED,
        )


def _scenario_marks(ax: Any, marks: pd.DataFrame) -> None:
    """The scenario's own moments (onsets, relief) as labelled dashed lines."""
    for m in marks[marks["mark"] != WARMUP_END].itertuples():
        x = m.time_h
        ax.axvline(x, color=MUTED, ls="--", lw=1.0)
        ax.annotate(
            str(m.mark).replace("_", " "),
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=8,
            color="#34495e",
        )
