"""A fixed colour per detector, the same in every figure of every report (and of sweep comparisons).

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


def palette(detectors: Iterable[str]) -> dict[str, str]:
    """A fixed colour per detector, by sorted name, so a detector looks the same in every figure;
    beyond 16 detectors the colours repeat.

    >>> palette(["b", "a"])
    {'a': '#77AADD', 'b': '#D55E00'}
    """
    names = sorted(set(detectors))
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
