"""The comparison of a sweep, written into its folder: sweep.parquet and sweep.csv (one row per job
and detector), figures/sweep_<parameter>.png for each numeric swept parameter, and sweep.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.sweep import HEADLINE, METRICS, Sweep, collect
from harness.report.document import markdown_table
from harness.report.exports import csv_text
from harness.report.figures.sweep import sweep_curves
from harness.report.palette import palette
from harness.run.files import write_parquet, write_text

FIGURES = "figures"


def write_sweep(sweep_dir: str | Path) -> Path:
    """Collect the sweep's headline rows and write its tables, figures and sweep.md; the path of sweep.md."""
    sweep = collect(sweep_dir)
    folder = sweep.folder
    write_parquet(folder / "sweep.parquet", sweep.rows)
    write_text(folder / "sweep.csv", csv_text(sweep.rows))
    colors = palette(sweep.rows["detector"])
    drawn = []
    for parameter in sweep.numeric:
        others = [p for p in sweep.parameters if p != parameter]
        path = folder / FIGURES / f"sweep_{safe(parameter)}.png"
        sweep_curves(sweep.rows, path, parameter=parameter, metrics=METRICS, others=others, colors=colors)
        drawn.append((parameter, path))
    text = render(sweep, drawn)
    write_text(folder / "sweep.md", text)
    return folder / "sweep.md"


def safe(name: str) -> str:
    """A parameter name as part of a file name.

    >>> safe("org.rebalance_capacity_per_h")
    'org.rebalance_capacity_per_h'
    >>> safe("detector=[a,b]")
    'detector__a_b_'
    """
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def render(sweep: Sweep, drawn: list[tuple[str, Path]]) -> str:
    rows = sweep.rows
    jobs = rows["job"].nunique()
    ordered = lambda p: sorted(rows[p].unique(), key=None if p in sweep.numeric else str)  # noqa: E731
    values = "; ".join(f"`{p}` = {', '.join(str(v) for v in ordered(p))}" for p in sweep.parameters)
    lines = [
        "# Sweep comparison",
        "",
        f"Sweep folder `{sweep.folder}`: {jobs} job(s) with a {HEADLINE}, {rows['detector'].nunique()} "
        f"detector(s). Swept: {values or 'nothing (every job has the same overrides)'}.",
        "",
        "Each row is one job's headline (every seed out of fold, at the matched false-alarm budget); "
        "brackets are its intervals over seeds. `sweep.csv` / `sweep.parquet` hold every headline column.",
        "",
    ]
    if "feasible" in rows and not rows["feasible"].astype(bool).all():
        lines += [
            "An infeasible row had no threshold within the budget on its calibration seeds: its numbers are "
            "at the nearest threshold, for information, and `budget xN` says by how much the budget would "
            "have to grow to admit it. Small studies often have too little quiet time and too few events to "
            "resolve the budget: more seeds, longer runs (`org.scenario_days`) or a looser "
            "`headline.budget` make it reachable.",
            "",
        ]
    if sweep.missing:
        lines += ["Left out: " + "; ".join(sweep.missing) + ".", ""]
    order = [*sweep.parameters, "job"]
    table = rows.sort_values(["detector", *order], kind="stable")
    header = ["detector", *[f"`{p}`" for p in sweep.parameters], "job", "within budget", *METRICS.values()]
    body = [
        [
            str(r["detector"]),
            *[str(r[p]) for p in sweep.parameters],
            str(r["job"]),
            within(r),
            *[cell(r, m) for m in METRICS],
        ]
        for _, r in table.iterrows()
    ]
    lines += [markdown_table(header, body), ""]
    for parameter, path in drawn:
        lines += [
            f"## Against `{parameter}`",
            "",
            "Recall at the budget, median lead and quiet alert fraction of each detector against "
            f"`{parameter}`; bands: 95% CIs where the headline gives them{styles(sweep, parameter)}.",
            "",
            f"![{parameter}]({FIGURES}/{path.name})",
            "",
        ]
    skipped = [p for p in sweep.parameters if p not in sweep.numeric]
    if skipped:
        lines += [f"No figure for {', '.join(f'`{p}`' for p in skipped)}: not numeric.", ""]
    return "\n".join(lines)


def within(row: pd.Series) -> str:
    """Whether the job's headline found a threshold within the budget for the detector."""
    if "feasible" not in row or bool(row["feasible"]):
        return "yes"
    use = row.get("budget_use", np.nan)
    return f"no (budget x{use:.3g})" if isinstance(use, int | float) and np.isfinite(use) else "no"


def styles(sweep: Sweep, parameter: str) -> str:
    others = [p for p in sweep.parameters if p != parameter]
    return f"; line styles: the other swept parameters ({', '.join(others)})" if others else ""


def cell(row: pd.Series, metric: str) -> str:
    """``value [lo, hi]`` with the metric's CI columns when present."""
    value = row.get(metric, np.nan)
    fmt = (
        (lambda x: f"{x:.1%}")
        if metric != "median_lead_h"
        else (lambda x: "missed" if x == -np.inf else f"{x:.2f} h")
    )
    if not isinstance(value, int | float) or np.isnan(value):
        return "n/a"
    lo, hi = row.get(f"{metric}_lo", np.nan), row.get(f"{metric}_hi", np.nan)
    bracket = (
        f" [{fmt(lo)}, {fmt(hi)}]"
        if isinstance(lo, int | float) and not np.isnan(lo) and not np.isnan(hi)
        else ""
    )
    return fmt(value) + bracket
