"""``tdbench task=overhead``: per-update cost against the number of units, a small dedicated
streaming replay at each N of ``overhead.units``, written to ``overhead_scan.parquet``,
``overhead.md`` and ``figures/overhead.png``.

A study's own cells all share one organisation size, so they measure the cost at a single N (the
report shows those). The scan simulates one short ``steady`` run (2 days, seed 0) of the study's
organisation and resizes it to each N of ``overhead.units`` by repeating its units (or keeping the
first N), on a complete graph: the observations stay realistic per unit, and a detector's cost
depends on N, not on which unit is which. Every detector of the study is then replayed over each size in this
process, one after another, timing each ``update()`` call exactly as the study's replay does.
Before each replay the garbage collector runs, over a heap whose older objects are frozen
(``gc.freeze``), so no replay pays for the garbage of the previous one or for the harness's heap.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from harness.config import OverheadSpec, build, load_study
from harness.report import figures
from harness.report.document import markdown_table
from harness.report.screen import fit
from harness.run.files import write_parquet, write_text
from harness.run.replay import overhead_row, replay
from scenarios import simulate
from scenarios.graph import CompleteGraph
from scenarios.trace import Layout, Trace, Truth

SCAN_SCENARIO = "steady"
SCAN_DAYS = 1.0  # warm-up days and scenario days of the scan run


def resized(trace: Trace, n: int) -> Trace:
    """The run with ``n`` units: unit j of the result is unit j mod N of ``trace``.

    >>> from scenarios import simulate
    >>> trace = simulate("steady", seed=0, n_units=2, warmup_days=0.25, scenario_days=0.25)
    >>> big = resized(trace, 5)
    >>> big.values.shape[2], bool((big.values[:, :, 4] == trace.values[:, :, 0]).all())
    (5, True)
    """
    take = np.arange(n) % trace.layout.n_units
    layout = Layout(
        staff=trace.layout.staff[take],
        service_rate=trace.layout.service_rate[take],
        graph=CompleteGraph(n),
        dt_h=trace.layout.dt_h,
        warmup_h=trace.layout.warmup_h,
    )
    truth = Truth(trace.truth.arrival_rate[:, take], [])
    return Trace(trace.time_h, trace.values[:, :, take], layout, dict(trace.meta), truth)


def overhead_scan(
    detectors: dict[str, dict], n_units: Sequence[int], org: dict | None = None
) -> pd.DataFrame:
    """One row per (detector, N): the overhead columns of ``overhead.parquet`` for a 2-day replay,
    and ``error`` (empty, or why the detector failed at that N).

    ``org`` holds organisation settings to keep; its duration is replaced by the scan's.
    """
    base = {k: v for k, v in (org or {}).items() if k not in ("warmup_days", "scenario_days")}
    trace = simulate(SCAN_SCENARIO, 0, warmup_days=SCAN_DAYS, scenario_days=SCAN_DAYS, **base)
    rows = []
    gc.collect()
    gc.freeze()  # what exists now is never collected again: collections during the replays stay small
    try:
        for n in sorted(set(n_units)):
            rows += _replays(detectors, resized(trace, int(n)))
    finally:
        gc.unfreeze()
    return pd.DataFrame(rows)


def _replays(detectors: dict[str, dict], trace: Trace) -> list[dict]:
    n, rows = trace.layout.n_units, []
    for name, spec in detectors.items():
        gc.collect()
        try:
            _, wall_ms, cpu_ms = replay(build(spec, f"detector.{name}"), trace)
        except Exception as error:  # recorded, not raised: the report lists it
            rows.append({"detector": name, "n_units": n, "error": f"{type(error).__name__}: {error}"})
            continue
        rows.append({"detector": name, "n_units": n, "error": "", **overhead_row(wall_ms, cpu_ms)})
    return rows


def scan_units(cfg: DictConfig) -> tuple[int, ...]:
    """The validated ``overhead.units``."""
    return OverheadSpec(**(cfg.get("overhead") or {})).units


def validate(cfg: DictConfig) -> None:
    load_study(cfg)
    scan_units(cfg)


def render(scan: pd.DataFrame) -> str:
    """p99 wall time per update, detectors as rows and N as columns."""
    sizes = sorted(scan["n_units"].unique())
    rows = []
    for detector, mine in scan.groupby("detector", sort=True):
        row = [detector]
        for n in sizes:
            hit = mine[mine["n_units"] == n]
            row.append("failed" if hit["error"].iloc[0] else f"{hit['wall_p99_ms'].iloc[0]:.3f}")
        rows.append(row)
    return markdown_table(["detector", *[f"p99 at N={n} (ms)" for n in sizes]], rows)


def run(cfg: DictConfig, out_dir: Path) -> int:
    study = load_study(cfg)
    scan = overhead_scan(study.detectors, scan_units(cfg), study.org)
    write_parquet(out_dir / "overhead_scan.parquet", scan)
    empty = pd.DataFrame(columns=["detector", "n_units", "wall_p99_ms"])
    figures.overhead(scan, empty, out_dir / "figures" / "overhead.png", limit_ms=study.criteria.overhead_ms)
    table = render(scan)
    write_text(out_dir / "overhead.md", f"# Overhead against the number of units\n\n{table}\n")
    print(fit(table, "overhead.md"))
    print(f"\nresults: {out_dir} (overhead_scan.parquet, overhead.md, figures/overhead.png)")
    failed = scan["error"].astype(bool)
    if failed.any():
        print(f"{int(failed.sum())} replay(s) failed: see overhead_scan.parquet (error)")
    return 1 if failed.any() else 0
