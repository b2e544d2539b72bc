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
from harness.run.files import remove_temporaries, write_parquet, write_text
from harness.run.jobs import Job
from harness.run.ledger import ROW_TABLES, Ledger
from harness.run.plan import pending, plan_jobs


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a study: every job committed so far is kept."""

    def __init__(self, stored: int, total: int) -> None:
        super().__init__(
            f"interrupted: {stored} of {total} jobs stored; run the same command again to finish"
        )


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
    def failures(self) -> dict[str, int]:
        """Failed cells by status (error, timeout)."""
        failed = self.cells.loc[self.cells["status"] != "ok", "status"]
        return {str(k): int(v) for k, v in failed.value_counts().sort_index().items()}


def run_study(study: StudyConfig, run_dir: str | Path) -> StudyResult:
    """Run every job of the study the ledger of ``run_dir`` lacks (or holds as failed), then export
    the tables and write summary.csv, scorecard.md, wilcoxon.csv and first_alert.csv."""
    with Ledger(run_dir) as ledger:
        jobs = plan_jobs(study)
        store_jobs(study, jobs, ledger)
        keys = {key for job in jobs for _, _, key in job.detectors}
        return summarise_run(ledger, keys, study)


def store_jobs(study: StudyConfig, jobs: list[Job], ledger: Ledger) -> None:
    """Compute the jobs' missing or failed cells and commit each job to the ledger as it finishes.
    Ctrl-C raises Interrupted, saying how many of the jobs are stored."""
    remove_temporaries(ledger.run_dir)  # what a killed write left behind
    todo = pending(jobs, ledger.ok_keys())
    job_of = {key: job.key for job in todo for _, _, key in job.detectors}
    present = ledger.stored_keys()
    complete = {job.key for job in jobs if all(key in present for _, _, key in job.detectors)}
    n_cells = sum(len(job.detectors) for job in todo)
    failures = 0
    try:
        with tqdm(
            total=n_cells,
            desc="cells",
            unit="cell",
            disable=not study.progress or not n_cells,
            dynamic_ncols=True,
        ) as bar:
            for tables in execute(job_runner(study.executor), todo, study.executor):
                job = job_of[tables["cells"]["key"].iloc[0]]
                ledger.commit_job(job, tables)
                complete.add(job)
                failures += int((tables["cells"]["status"] != "ok").sum())
                bar.set_postfix(failed=failures, refresh=False)
                bar.update(len(tables["cells"]))
    except KeyboardInterrupt:
        raise Interrupted(len(complete), len(jobs)) from None


def export_tables(ledger: Ledger) -> None:
    """cells/events/episodes/overhead.parquet from the ledger (every stored cell), each atomically."""
    for table in ROW_TABLES:
        write_parquet(ledger.run_dir / f"{table}.parquet", ledger.load(table))


def summarise_run(ledger: Ledger, keys: set[str], study: StudyConfig) -> StudyResult:
    """Export the tables, then write this study's summary.csv, scorecard.md, wilcoxon.csv and
    first_alert.csv from its rows in the ledger."""
    export_tables(ledger)
    run_dir = ledger.run_dir
    stats = study.stats
    cells = ledger.load("cells", keys)
    events = ledger.load("events", keys)
    if events.empty:
        events = pd.DataFrame(columns=["key", "scenario", "seed", "detector", *EVENT_COLUMNS])
    episodes = ledger.load("episodes", keys)
    overhead = ledger.load("overhead", keys)
    summary = summarize(cells, events, stats, study.scoring.grace_h)
    write_text(run_dir / "summary.csv", summary.to_csv(index=False))
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
    write_text(run_dir / "scorecard.md", f"# Scorecard\n\n{text}\n")
    ok_events = events[events["key"].isin(set(cells.loc[cells["status"] == "ok", "key"]))]
    tests = wilcoxon_table(ok_events, stats.reference)
    write_text(run_dir / "wilcoxon.csv", tests.to_csv(index=False))
    firsts = first_alert_comparison(cells, episodes, stats.baseline, stats)
    write_text(run_dir / "first_alert.csv", firsts.to_csv(index=False))
    return StudyResult(run_dir, cells, events, episodes, overhead, summary, card, text, tests, firsts)
