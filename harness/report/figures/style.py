"""One look for every figure: sizes, fonts, colours, and the helpers the figure functions share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.transforms import Affine2D, ScaledTranslation
from PIL import Image

from harness.report.palette import palette
from harness.run.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.typing import ColorType, RcKeyType
    from numpy.typing import ArrayLike

STYLE: dict[RcKeyType, Any] = {
    "figure.dpi": 100,
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
#: zlib level of the PNGs: 1, the fastest, halves the encoding time of the default 6 for files
#: about 5% larger (on RGB; lossless either way)
PNG_COMPRESSION = 1


def styled(plot: Callable[..., Path]) -> Callable[..., Path]:
    """Run a figure function inside the shared style."""

    @wraps(plot)
    def wrapper(*args: Any, **kwargs: Any) -> Path:
        with mpl.rc_context(STYLE):
            return plot(*args, **kwargs)

    return wrapper


SHADE_LIGHTNESS = 90.0  # CIELAB L* of alert shading over white, whatever the detector's colour
BAND = 0.06  # height of the solid alert band at the bottom of a panel (fraction of the panel)


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIELAB L* (0 black .. 100 white) of sRGB colours in [0, 1], shape (..., 3).

    >>> lightness(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])).round(1).tolist()
    [100.0, 0.0]
    """
    rgb = np.asarray(rgb, float)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(y > 216 / 24389, 116 * np.cbrt(y) - 16, y * 24389 / 27)


def shade_alpha(color: Any) -> float:
    """The opacity at which ``color`` over white has L* = SHADE_LIGHTNESS (at most 0.9): pale colours
    get denser shading, dark ones lighter, so alert episodes are equally visible in every colour.

    >>> round(shade_alpha("#000000"), 2) < 0.2 < round(shade_alpha("#E69F00"), 2)
    True
    """
    alphas = np.linspace(0.02, 0.9, 89)
    rgb = np.asarray(mpl.colors.to_rgb(color))
    blended = lightness(alphas[:, None] * rgb + (1 - alphas[:, None]))
    reached = np.flatnonzero(blended <= SHADE_LIGHTNESS)
    return round(float(alphas[reached[0]] if reached.size else alphas[-1]), 2)


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
    """Render the figure and write it as an RGB PNG (the figures are opaque, so without an alpha
    channel) at zlib's fastest level (``PNG_COMPRESSION``), atomically; returns the path."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
    dpi = (fig.dpi, fig.dpi)
    path = Path(path)
    write_atomic(path, lambda tmp: image.save(tmp, format="png", compress_level=PNG_COMPRESSION, dpi=dpi))
    return path


def empty_panel(ax: Axes, text: str) -> None:
    """A panel that says why it has nothing to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def alert_spans(ax: Axes, starts: np.ndarray, ends: np.ndarray, color: Any) -> None:
    """Alert episodes: light shading (equally light in every colour, ``shade_alpha``) over the
    panel's height, and a solid band of the colour along its bottom, visible for any colour; one
    collection, the shading drawn first."""
    n = len(starts)
    faces = [mpl.colors.to_rgba(color, shade_alpha(color))] * n + [mpl.colors.to_rgba(color)] * n
    top = np.repeat([1.0, BAND], n)
    spans(ax, np.tile(starts, 2), np.tile(ends, 2), top=top, facecolors=faces)


def spans(ax: Axes, starts: ArrayLike, ends: ArrayLike, top: ArrayLike = 1.0, **style: Any) -> None:
    """Shade the x-intervals [starts, ends) from the panel's bottom to ``top`` (a fraction of its
    height, one for all or one per interval), as one collection."""
    starts, ends = np.asarray(starts, float), np.asarray(ends, float)
    if starts.size == 0:
        return
    boxes = np.zeros((starts.size, 4, 2))
    boxes[:, [0, 3], 0], boxes[:, [1, 2], 0] = starts[:, None], ends[:, None]
    boxes[:, 2:, 1] = np.broadcast_to(top, starts.shape)[:, None]
    # matplotlib's stubs want a sequence of vertex arrays; an (N, 4, 2) array is one
    shading = PolyCollection(boxes, transform=ax.get_xaxis_transform(), lw=0, **style)  # type: ignore[arg-type]
    ax.add_collection(shading)


def vlines(ax: Axes, xs: np.ndarray, **style: Any) -> None:
    """Vertical lines at ``xs`` over the panel's full height, as one collection (per-line
    ``colors`` and ``linestyles`` may be lists)."""
    xs = np.asarray(xs, float)
    if xs.size:
        segments = np.stack(
            [np.column_stack([xs, np.zeros_like(xs)]), np.column_stack([xs, np.ones_like(xs)])], 1
        )
        # matplotlib's stubs want a sequence of segments; an (N, 2, 2) array is one
        marks = LineCollection(segments, transform=ax.get_xaxis_transform(), **style)  # type: ignore[arg-type]
        ax.add_collection(marks)


def rc(key: str) -> Any:
    """The rc setting ``key``, named by a computed string (matplotlib's stubs take literal names only)."""
    return mpl.rcParams[key]  # type: ignore[index]


def bare_axis(ax: Axes, which: str, major: ArrayLike, minor: ArrayLike = ()) -> None:
    """Draw an unlabelled axis (a panel sharing its ``which`` = "x" or "y" axis with a labelled
    one) as three artists: the major grid as one collection and the major and minor tick marks as
    two lines of markers, instead of a tick object (five artists) per position. Only the ticks
    inside the view are given; the marks point outwards, in the style's sizes and colour."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_visible(False)
    grid = {key: rc(f"grid.{key}") for key in ("color", "linewidth", "linestyle", "alpha")}
    along = np.asarray(major, float)
    lines = np.zeros((along.size, 2, 2))
    lines[:, :, 0 if which == "x" else 1] = along[:, None]
    lines[:, 1, 1 if which == "x" else 0] = 1.0
    transform = ax.get_xaxis_transform() if which == "x" else ax.get_yaxis_transform()
    # matplotlib's stubs want a sequence of segments; an (N, 2, 2) array is one
    grid_lines = LineCollection(lines, transform=transform, zorder=1.5, **grid)  # type: ignore[arg-type]
    ax.add_collection(grid_lines, autolim=False)
    marker = mpl.markers.TICKDOWN if which == "x" else mpl.markers.TICKLEFT
    for size, at in (("major", along), ("minor", np.asarray(minor, float))):
        if at.size:
            xy = (at, np.zeros_like(at)) if which == "x" else (np.zeros_like(at), at)
            ax.add_artist(
                Line2D(
                    *xy,
                    transform=transform,
                    ls="none",
                    marker=marker,  # type: ignore[arg-type]  # the stubs type TICKDOWN and TICKLEFT int
                    ms=rc(f"{which}tick.{size}.size"),
                    mew=rc(f"{which}tick.{size}.width"),
                    color=rc(f"{which}tick.color"),
                    clip_on=False,
                    zorder=2.5,
                )
            )


def bare_inner_axes(axes: np.ndarray, ncols: int, shown: int) -> None:
    """In a grid of panels (``ncols`` wide, the first ``shown`` in use) sharing their x and y axes,
    the x axes with a panel in use below them and the y axes right of the first column carry no
    labels (matplotlib's ``label_outer``, which also keeps the x labels of a panel whose lower
    neighbour is unused): draw those bare (``bare_axis``). Call it once the limits and locators are
    set, just before saving."""
    x, y = axes[0].xaxis, axes[0].yaxis
    xs = (in_view(x, x.get_major_locator()), in_view(x, x.get_minor_locator()))
    ys = (in_view(y, y.get_major_locator()), in_view(y, y.get_minor_locator()))
    for i, ax in enumerate(axes[:shown]):
        if i + ncols < shown:
            bare_axis(ax, "x", *xs)
        if i % ncols:
            bare_axis(ax, "y", *ys)


def in_view(axis: Any, locator: Any) -> np.ndarray:
    """The positions ``locator`` gives inside ``axis``'s view."""
    low, high = sorted(axis.get_view_interval())
    at = np.asarray(locator(), float)
    return at[(at >= low) & (at <= high)]


#: A key's geometry in points, as matplotlib's frameless legend at the style's legend font size:
#: the inset from its corner, a handle's length and a box handle's height, the gap before a label,
#: a label's line height and the space between entries
KEY_INSET, KEY_HANDLE, KEY_BOX, KEY_GAP, KEY_LINE, KEY_SPACING = 8.1, 18.0, 6.3, 7.2, 1.2, 4.5


def key(
    ax: Axes, entries: list[tuple[dict[str, Any], str]], anchor: tuple[float, float] = (1.01, 1.0)
) -> None:
    """A legend to the right of the panel, below ``anchor`` (in axes fractions): each entry is a
    handle's style and its label, one under the other; the handle is a short line, or a box when
    its style has a ``facecolor``. It looks like ``Axes.legend`` without a frame but is drawn as
    plain artists placed in points, so nothing is packed or measured when the figure renders (a
    legend's layout is about a fifth of a timeline's rendering)."""
    size = mpl.rcParams["legend.fontsize"]
    # the stubs type transAxes a Transform; it is an affine one, as ScaledTranslation needs
    to_axes = ScaledTranslation(*anchor, ax.transAxes)  # type: ignore[arg-type]
    points = Affine2D().scale(1 / 72) + ax.figure.dpi_scale_trans + to_axes
    top = -KEY_INSET
    for style, label in entries:
        height = (label.count("\n") + 1) * KEY_LINE * size
        middle = top - height / 2
        if "facecolor" in style:
            box = (KEY_INSET, middle - KEY_BOX / 2)
            ax.add_artist(Rectangle(box, KEY_HANDLE, KEY_BOX, transform=points, clip_on=False, **style))
        else:
            ends = [KEY_INSET, KEY_INSET + KEY_HANDLE]
            ax.add_artist(Line2D(ends, [middle, middle], transform=points, clip_on=False, **style))
        ax.text(
            KEY_INSET + KEY_HANDLE + KEY_GAP,
            middle,
            label,
            va="center",
            fontsize=size,
            transform=points,
            clip_on=False,
        )
        top -= height + KEY_SPACING


def box_strip(
    ax: Axes, samples: list[np.ndarray], colors: list[Any], width: float = 0.55, horizontal: bool = False
) -> None:
    """At positions 0, 1, ...: every value as a jittered dot over a box (quartiles, median in black)
    with whiskers to the furthest values within 1.5 IQR; drawn as a few collections, not one artist
    per element (much faster than ``Axes.boxplot``). ``horizontal`` puts the values on the x axis."""
    polys: list[list[tuple[float, float]]] = []
    lines: list[list[tuple[float, float]]] = []
    faces: list[tuple[float, float, float, float]] = []
    edges: list[ColorType] = []
    line_colors: list[ColorType] = []
    dot_colors: list[ColorType] = []
    pos: list[np.ndarray] = []
    vals: list[np.ndarray] = []
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
