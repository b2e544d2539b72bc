"""The study runner: cells = scenarios x seeds x detectors, executed, stored, summarised."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from harness.analysis.alerts import first_alert_comparison
from harness.analysis.scorecard import build_scorecard, render_scorecard
from harness.analysis.scoring import EVENT_COLUMNS
from harness.analysis.statistics import wilcoxon_table
from harness.analysis.summary import summarize
from harness.config import StudyConfig, resolve
from harness.run.executors import execute, job_runner
from harness.run.plan import pending, plan_jobs
from harness.run.store import ResultStore, write_text

CONSOLIDATE_EVERY = 100  # jobs
STATUSES = ("ok", "error", "timeout")


@dataclass
class StudyResult:
    run_dir: Path
    cells: pd.DataFrame
    events: pd.DataFrame
    episodes: pd.DataFrame
    overhead: pd.DataFrame
    summary: pd.DataFrame
    scorecard: pd.DataFrame
    scorecard_text: str
    wilcoxon: pd.DataFrame = field(default_factory=pd.DataFrame)
    first_alert: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def failed(self) -> int:
        return int((self.cells["status"] != "ok").sum())

    @property
    def status_line(self) -> str:
        """Cells by status, e.g. ``cells: 96 ok, 0 error, 0 timeout``."""
        counts = self.cells["status"].value_counts()
        return "cells: " + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in STATUSES)

    @property
    def failures(self) -> dict[str, int]:
        """Failed cells by status (error, timeout)."""
        failed = self.cells.loc[self.cells["status"] != "ok", "status"]
        return {str(k): int(v) for k, v in failed.value_counts().sort_index().items()}


def run_study(study: StudyConfig, run_dir: str | Path) -> StudyResult:
    """Run every missing cell of the study into ``run_dir`` and write summary.csv and scorecard.md."""
    store = ResultStore(run_dir)
    store.consolidate()  # adopt what an interrupted run left behind
    jobs = plan_jobs(study)
    todo = pending(jobs, store.ok_keys())
    n_cells = sum(len(job.detectors) for job in todo)
    failures = 0
    with tqdm(
        total=n_cells,
        desc="cells",
        unit="cell",
        disable=not study.progress or not n_cells,
        dynamic_ncols=True,
    ) as bar:
        for done, tables in enumerate(execute(job_runner(study.executor), todo, study.executor), 1):
            store.append(tables)
            if done % CONSOLIDATE_EVERY == 0:  # keep the part files, and the memory to merge them, bounded
                store.consolidate()
            failures += int((tables["cells"]["status"] != "ok").sum())
            bar.set_postfix(failed=failures, refresh=False)
            bar.update(len(tables["cells"]))
    store.consolidate()
    keys = {key for job in jobs for _, _, key in job.detectors}
    return summarise_run(store, keys, study)


def summarise_run(store: ResultStore, keys: set[str], study: StudyConfig) -> StudyResult:
    """Load this study's rows and write summary.csv, scorecard.md, wilcoxon.csv and first_alert.csv."""
    stats = study.stats
    cells = store.load("cells", keys)
    events = store.load("events", keys)
    if events.empty:
        events = pd.DataFrame(columns=["key", "scenario", "seed", "detector", *EVENT_COLUMNS])
    episodes = store.load("episodes", keys)
    overhead = store.load("overhead", keys)
    summary = summarize(cells, events, stats, study.scoring.grace_h)
    write_text(store.run_dir / "summary.csv", summary.to_csv(index=False))
    combos = {
        name
        for name, spec in study.detectors.items()
        if getattr(resolve(spec["_target_"], f"detector.{name}"), "is_combination", False)
    }
    failed = int((cells["status"] != "ok").sum())
    if failed == len(cells):  # nothing to score
        card = pd.DataFrame()
        text = f"No cell succeeded: {failed} cell(s) failed; see cells.parquet (status, error)."
    else:
        card = build_scorecard(cells, events, overhead, study.criteria, combos, stats, study.scoring.grace_h)
        text = render_scorecard(card, study.criteria, failed, stats)
    write_text(store.run_dir / "scorecard.md", f"# Scorecard\n\n{text}\n")
    ok_events = events[events["key"].isin(set(cells.loc[cells["status"] == "ok", "key"]))]
    tests = wilcoxon_table(ok_events, stats.reference)
    write_text(store.run_dir / "wilcoxon.csv", tests.to_csv(index=False))
    firsts = first_alert_comparison(cells, episodes, stats.baseline, stats)
    write_text(store.run_dir / "first_alert.csv", firsts.to_csv(index=False))
    return StudyResult(store.run_dir, cells, events, episodes, overhead, summary, card, text, tests, firsts)
