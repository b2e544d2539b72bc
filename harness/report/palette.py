"""A fixed colour per detector name, the same in every figure of every run and task (and of sweep
comparisons).

It needs no matplotlib, so the study can plan its figures without importing it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: 16 colours that stay apart for normal vision and for deuteranopia, protanopia and tritanopia
#: (every pair at least 10 CIELAB units apart in each, Machado et al. 2009 simulations), all dark
#: enough (L* <= 72) to read as lines on white; picked from Okabe & Ito's and Paul Tol's
#: colour-blind-safe sets by greedy max-min distance. Any first k of them are as far apart as
#: possible, so small studies get the most distinct colours.
PALETTE = (
    "#77AADD",
    "#D55E00",
    "#000000",
    "#225555",
    "#666633",
    "#AA4499",
    "#222255",
    "#EE8866",
    "#CC79A7",
    "#999933",
    "#AA3377",
    "#663333",
    "#EE3377",
    "#44BB99",
    "#E69F00",
    "#0077BB",
)


#: The default study's detectors, each with its colour for good: a detector looks the same in every
#: figure of every run and task. Families share a hue (transport orange, utilization blue, spc pink).
FIXED = {
    "transport": "#D55E00",
    "transport_online": "#EE8866",
    "utilization": "#0077BB",
    "utilization_busy": "#77AADD",
    "spc_faithful": "#AA4499",
    "spc_textbook": "#CC79A7",
    "seismic_faithful": "#225555",
    "seismic_textbook": "#44BB99",
    "burnout": "#E69F00",
    "csd": "#999933",
    "cusum": "#222255",
    "null": "#000000",
    "random": "#666633",
}
#: The colours no default detector has, for other detectors (plugins, variants, combinations).
SPARE = tuple(c for c in PALETTE if c not in FIXED.values())


def palette(detectors: Iterable[str]) -> dict[str, str]:
    """A colour per detector: the default detectors' fixed ones, then the spare colours for the
    others by sorted name (repeating beyond three of them).

    >>> palette(["transport", "mine"])
    {'mine': '#AA3377', 'transport': '#D55E00'}
    >>> palette(["utilization", "transport"])["transport"] == palette(["transport"])["transport"]
    True
    """
    names = sorted(set(detectors))
    others = [name for name in names if name not in FIXED]
    spare = {name: SPARE[i % len(SPARE)] for i, name in enumerate(others)}
    return {name: FIXED.get(name) or spare[name] for name in names}
