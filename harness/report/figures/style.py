"""One look for every figure: sizes, fonts, colours, and the helpers the figure functions share."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titley": 1.0,  # a fixed title position: matplotlib skips its costly automatic placement
    "axes.titlepad": 5.0,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
}
TARGET_COLORS = {"utilization_breach": "#c0392b", "unit_saturation": "#8e44ad"}
CRITERION_COLOR = "#c0392b"
MUTED = "#7f8c8d"


def styled(plot: Callable[..., Path]) -> Callable[..., Path]:
    """Run a figure function inside the shared style."""

    @wraps(plot)
    def wrapper(*args: Any, **kwargs: Any) -> Path:
        with mpl.rc_context(STYLE):
            return plot(*args, **kwargs)

    return wrapper


def palette(detectors: Iterable[str]) -> dict[str, Any]:
    """A fixed colour per detector, by sorted name, so a detector looks the same in every figure.

    >>> list(palette(["b", "a"]))
    ['a', 'b']
    """
    names = sorted(set(detectors))
    cmap = mpl.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def colors_for(names: Iterable[str], given: dict[str, Any] | None) -> dict[str, Any]:
    """``given`` when it covers every name, else a palette of the names."""
    names = list(names)
    if given and all(n in given for n in names):
        return given
    return palette(names)


def margins(
    fig: Figure,
    left: float = 1.0,
    right: float = 0.3,
    top: float = 0.45,
    bottom: float = 0.6,
    hspace: float | None = None,
    wspace: float | None = None,
) -> None:
    """Fixed margins in inches (a fixed layout renders once, unlike a tight bounding box)."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        hspace=hspace,
        wspace=wspace,
    )


def save(fig: Figure, path: str | Path) -> Path:
    """Write the figure as PNG, atomically (a temporary file, then a rename), and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", metadata={"Software": None})
    os.replace(tmp, path)
    return path


def empty_panel(ax: Axes, text: str) -> None:
    """A panel that says why it has nothing to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def spans(ax: Axes, starts: np.ndarray, ends: np.ndarray, **style: Any) -> None:
    """Shade the x-intervals [starts, ends) over the panel's full height, as one collection."""
    starts, ends = np.asarray(starts, float), np.asarray(ends, float)
    if starts.size == 0:
        return
    boxes = [[(a, 0.0), (b, 0.0), (b, 1.0), (a, 1.0)] for a, b in zip(starts, ends, strict=True)]
    ax.add_collection(PolyCollection(boxes, transform=ax.get_xaxis_transform(), lw=0, **style))


def vlines(ax: Axes, xs: np.ndarray, **style: Any) -> None:
    """Vertical lines at ``xs`` over the panel's full height, as one collection."""
    xs = np.asarray(xs, float)
    if xs.size:
        ax.vlines(xs, 0.0, 1.0, transform=ax.get_xaxis_transform(), **style)


def box_strip(
    ax: Axes, samples: list[np.ndarray], colors: list[Any], width: float = 0.55, horizontal: bool = False
) -> None:
    """At positions 0, 1, ...: every value as a jittered dot over a box (quartiles, median in black)
    with whiskers to the furthest values within 1.5 IQR; drawn as a few collections, not one artist
    per element (much faster than ``Axes.boxplot``). ``horizontal`` puts the values on the x axis."""
    polys, faces, edges, lines, line_colors, pos, vals, dot_colors = [], [], [], [], [], [], [], []
    for i, (values, color) in enumerate(zip(samples, colors, strict=True)):
        values = np.asarray(values, float)
        if values.size == 0:
            continue
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        reach = 1.5 * (q3 - q1)
        low, high = values[values >= q1 - reach].min(), values[values <= q3 + reach].max()
        half = width / 2
        polys.append([(i - half, q1), (i + half, q1), (i + half, q3), (i - half, q3)])
        faces.append((*mpl.colors.to_rgb(color), 0.18))
        edges.append(color)
        lines += [[(i - half, median), (i + half, median)], [(i, q1), (i, low)], [(i, q3), (i, high)]]
        lines += [[(i - half / 2, low), (i + half / 2, low)], [(i - half / 2, high), (i + half / 2, high)]]
        line_colors += ["black"] + [color] * 4
        pos.append(i + jitter(values.size, seed=i))
        vals.append(values)
        dot_colors += [color] * values.size
    if not polys:
        return
    if horizontal:
        polys = [[(v, p) for p, v in poly] for poly in polys]
        lines = [[(v, p) for p, v in line] for line in lines]
        pos, vals = vals, pos
    ax.add_collection(PolyCollection(polys, facecolors=faces, edgecolors=edges, lw=1.0, zorder=2))
    ax.add_collection(LineCollection(lines, colors=line_colors, lw=1.0, zorder=2))
    ax.scatter(np.concatenate(pos), np.concatenate(vals), s=10, c=dot_colors, alpha=0.75, lw=0, zorder=3)


def jitter(n: int, width: float = 0.22, seed: int = 0) -> np.ndarray:
    """Deterministic horizontal offsets for strip plots."""
    return np.random.default_rng(seed).uniform(-width, width, n)
