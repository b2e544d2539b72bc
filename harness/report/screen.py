"""What the terminal shows: markdown text made to fit a width, and one line per phase of work.

Files keep the full text; on screen a table too wide keeps its leading columns and names the file
holding the rest, and prose is wrapped.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

WIDTH = 100
BULLET = re.compile(r"^(\s*(?:[-*]|\d+\.)\s+)")


def fit(text: str, file: str, width: int = WIDTH) -> str:
    """``text`` (markdown) with no line wider than ``width``: wide tables keep their leading columns
    and say that the rest is in ``file``; long prose lines are wrapped.

    >>> print(fit("| a | b | c |\\n|---|---|---|\\n| 1 | 2 | 3333333 |", "t.md", width=12))
    | a | b |
    |---|---|
    | 1 | 2 |
    (1 more column in t.md)
    """
    out: list[str] = []
    table: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            out += fit_table(table, file, width)
            table = []
        out += wrap(line, width)
    return "\n".join(out[:-1])


def fit_table(lines: list[str], file: str, width: int) -> list[str]:
    """Keep the leading columns that fit in ``width`` (at least two; their cells cut if even they
    do not fit) and name the file holding the others."""
    if max(map(len, lines)) <= width:
        return lines
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    n = max(map(len, rows))
    keep = n
    while keep > 2 and max(len(render(row[:keep])) for row in rows) > width:
        keep -= 1
    shown = [render(row[:keep]) for row in rows]
    shown = [line if len(line) <= width else line[: width - 2] + "…|" for line in shown]
    dropped = n - keep
    if dropped:
        shown.append(f"({dropped} more column{'s' if dropped > 1 else ''} in {file})")
    return shown


def render(cells: list[str]) -> str:
    if all(cell and set(cell) <= set("-:") for cell in cells):  # the header's rule
        return "|" + "|".join(cells) + "|"
    return "| " + " | ".join(cells) + " |"


def wrap(line: str, width: int) -> list[str]:
    """A prose line wrapped at ``width``, list items indented under their text."""
    if len(line) <= width:
        return [line]
    bullet = BULLET.match(line)
    indent = " " * len(bullet.group(1)) if bullet else line[: len(line) - len(line.lstrip())]
    return textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [line]


def results_line(run_dir: str | Path, names: Iterable[str]) -> str:
    """Where the results are: the run folder, then those of ``names`` this run wrote into it."""
    written = [name for name in names if (Path(run_dir) / name).is_file()]
    return "\n".join([f"results: {run_dir}", *wrap(f"  {', '.join(written)}", WIDTH)])


def announce(enabled: bool, text: str) -> None:
    """One line on stderr as a phase of work begins (``enabled``: the run's ``progress`` setting)."""
    if enabled:
        print(f"tdbench: {text}", file=sys.stderr, flush=True)
