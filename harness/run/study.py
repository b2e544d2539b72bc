"""The study runner: cells = scenarios x seeds x detectors, executed, stored, summarised."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from harness.analysis.alerts import first_alert_comparison
from harness.analysis.calibrate import Run
from harness.analysis.headline import Fold, Headline, build_headline, make_folds, render_headline
from harness.analysis.scorecard import build_scorecard, render_scorecard
from harness.analysis.scoring import EVENT_COLUMNS
from harness.analysis.summary import summarize
from harness.config import ExecutorSpec, StudyConfig, build, demand_label, resolve
from harness.report.exports import csv_text
from harness.report.screen import announce
from harness.run.executors import execute, job_runner
from harness.run.files import remove_temporaries, write_parquet, write_text
from harness.run.jobs import Job, Tables
from harness.run.ledger import ROW_TABLES, Ledger
from harness.run.plan import pending, plan_jobs
from harness.run.signals import Stopped, signal_of

STATUSES = ("ok", "error", "timeout")


class Interrupted(Stopped):
    """A study stopped by a signal (harness.run.signals): every job committed so far is kept."""

    def __init__(self, stored: int, total: int, signum: int) -> None:
        message = f"interrupted: {stored} of {total} jobs stored; run the same command again to finish"
        super().__init__(signum, message)


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
    first_alert: pd.DataFrame = field(default_factory=pd.DataFrame)
    headline: Headline | None = None
    headline_text: str = ""  # headline.md, or the line saying why there is none
    matched_scorecard_text: str = ""  # the scorecard at the headline's thresholds (every seed out of fold)

    @property
    def tables(self) -> Tables:
        """The study's stored rows: cells, events, episodes, overhead."""
        return {
            "cells": self.cells,
            "events": self.events,
            "episodes": self.episodes,
            "overhead": self.overhead,
        }

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


def run_study(
    study: StudyConfig, run_dir: str | Path, beside: Callable[[Tables, Headline | None], object] | None = None
) -> StudyResult:
    """Run every job of the study the ledger of ``run_dir`` lacks (or holds as failed), then export
    the tables and write summary.csv, scorecard.md and first_alert.csv (``beside``:
    as in ``summarise_run``)."""
    with Ledger(run_dir) as ledger:
        jobs = plan_jobs(study)
        store_jobs(study, jobs, ledger)
        keys = {key for job in jobs for _, _, key in job.detectors}
        return summarise_run(ledger, keys, study, beside=beside)


def store_jobs(study: StudyConfig, jobs: list[Job], ledger: Ledger) -> None:
    """Compute the jobs' missing or failed cells and commit each job to the ledger as it finishes.
    A stopping signal raises Interrupted, saying how many of the jobs are stored."""
    remove_temporaries(ledger.run_dir)  # what a killed write left behind
    todo = pending(jobs, ledger.ok_keys())
    job_of = {key: job.key for job in todo for _, _, key in job.detectors}
    present = ledger.stored_keys()
    complete = {job.key for job in jobs if all(key in present for _, _, key in job.detectors)}
    n_cells = sum(len(job.detectors) for job in todo)
    failures = 0
    try:  # on a signal, closing() stops the workers before the study says what is stored
        with (
            tqdm(
                total=n_cells,
                desc="cells",
                unit="cell",
                disable=not study.progress or not n_cells,
                dynamic_ncols=True,
            ) as bar,
            closing(execute(job_runner(study.executor), todo, study.executor)) as results,
        ):
            for tables in results:
                job = job_of[tables["cells"]["key"].iloc[0]]
                ledger.commit_job(job, tables)
                complete.add(job)
                failures += int((tables["cells"]["status"] != "ok").sum())
                bar.set_postfix(failed=failures, refresh=False)
                bar.update(len(tables["cells"]))
    except KeyboardInterrupt as stop:
        raise Interrupted(len(complete), len(jobs), signal_of(stop)) from None


def export_tables(ledger: Ledger) -> Tables:
    """cells/events/episodes/overhead.parquet from the ledger (every stored cell), each atomically;
    returns the tables."""
    tables = {}
    for table in ROW_TABLES:
        tables[table] = ledger.load(table)
        write_parquet(ledger.run_dir / f"{table}.parquet", tables[table])
    return tables


def summarise_run(
    ledger: Ledger,
    keys: set[str],
    study: StudyConfig,
    executor: ExecutorSpec | None = None,
    beside: Callable[[Tables, Headline | None], object] | None = None,
) -> StudyResult:
    """Export the tables, then write this study's summary.csv, scorecard.md,
    first_alert.csv and the headline (headline.csv, headline.md, headline_pairs.csv, from the
    stored readings) from its rows in the ledger. The headline's detectors are worked out in
    parallel through ``executor`` (default: the study's). ``beside`` is work on the study's
    exported rows and its headline that does not need the summary (the report's figures): it runs
    once the headline is done, while this thread still summarises, and an error in it is raised
    here."""
    ok = ledger.ok_keys() & keys
    runs = ledger.runs(ok) if len(study.seeds) >= 2 else None
    # A background thread waits on the executor's workers (the headline's parts, then ``beside``:
    # one executor call at a time) while this one exports and summarises.
    with ThreadPoolExecutor(max_workers=1) as background:
        later = background.submit(study_headline, study, runs, executor or study.executor)
        rows = stored_rows(ledger, keys)
        alongside = background.submit(lambda: beside(rows, later.result()[0])) if beside else None
        try:
            result = write_summary(ledger.run_dir, study, rows, later)
        except BaseException:
            if alongside is not None:
                alongside.cancel()  # not started yet (the headline still running): never start it
            raise
        if alongside is not None:
            alongside.result()  # its error, if any, raised here
    return result


def stored_rows(ledger: Ledger, keys: set[str]) -> Tables:
    """Export the tables, then this study's rows of them (its events with their columns even when
    it has none)."""
    stored = export_tables(ledger)
    if not keys.issuperset(stored["cells"]["key"]):  # other cells share the folder: this study's only
        stored = {table: ledger.load(table, keys) for table in ROW_TABLES}
    if stored["events"].empty:
        stored["events"] = pd.DataFrame(columns=["key", "scenario", "seed", "detector", *EVENT_COLUMNS])
    return stored


def write_summary(run_dir: Path, study: StudyConfig, rows: Tables, headline: Future) -> StudyResult:
    """summary.csv, scorecard.md (as shipped, and at the headline's thresholds),
    first_alert.csv and the headline's files from the study's rows; ``headline``: the future of
    ``study_headline``, awaited once the rest is done."""
    announce(study.progress, "summary: summary.csv, scorecards")
    cells, events, episodes, overhead = (rows[table] for table in ROW_TABLES)
    stats = study.stats
    summary = summarize(cells, events, stats, study.scoring.grace_h)
    write_text(run_dir / "summary.csv", csv_text(summary))
    families = {
        name: resolve(spec["_target_"], f"detector.{name}").name for name, spec in study.detectors.items()
    }
    failed = int((cells["status"] != "ok").sum())
    if failed == len(cells):  # nothing to score
        card = pd.DataFrame()
        text = f"No cell succeeded: {failed} cell(s) failed; see cells.parquet (status, error)."
    else:
        grace = study.scoring.grace_h
        nulls = null_controls(study)
        card = build_scorecard(cells, events, overhead, study.criteria, families, stats, grace, nulls)
        text = render_scorecard(card, study.criteria, failed, stats)
    firsts = first_alert_comparison(cells, episodes, stats.baseline, stats)
    best, best_text = headline.result()
    matched = matched_scorecard(best, overhead, study, families) if best is not None else ""
    sections = [f"# Scorecard as shipped\n\n{text}\n"]
    if matched:
        sections.append(f"# Scorecard at the headline's thresholds\n\n{matched}\n")
    write_text(run_dir / "scorecard.md", "\n".join(sections))
    for name in HEADLINE_FILES:
        (run_dir / name).unlink(missing_ok=True)  # never leave another run's headline behind
    if best is not None:
        for name, frame in (
            ("headline.csv", best.table),
            ("headline_pairs.csv", best.pairs),
            ("headline_scenarios.csv", best.scenarios),
        ):
            write_text(run_dir / name, frame.replace([np.inf, -np.inf], np.nan).to_csv(index=False))
        label = demand_label(study)
        write_text(run_dir / "headline.md", f"# Headline{': ' + label if label else ''}\n\n{best_text}\n")
    write_text(run_dir / "first_alert.csv", csv_text(firsts))
    tables = (cells, events, episodes, overhead)
    return StudyResult(run_dir, *tables, summary, card, text, firsts, best, best_text, matched)


HEADLINE_FILES = ("headline.csv", "headline_pairs.csv", "headline_scenarios.csv", "headline.md")


def study_headline(
    study: StudyConfig, runs: Mapping[str, Mapping[tuple[str, int], Run]] | None, executor: ExecutorSpec
) -> tuple[Headline | None, str]:
    """The headline of the study's ok cells and its markdown, or (None, why there is none); each
    detector's part of it runs through ``executor``."""
    if len(study.seeds) < 2:
        return None, (
            f"No headline: it needs at least 2 seeds (calibration and test) and this study has "
            f"{len(study.seeds)}; the scorecard below is at the shipped thresholds."
        )
    if not runs:
        return None, "No headline: no cell succeeded."
    announce(study.progress, f"headline: choosing {len(runs)} detectors' thresholds across the seed folds")
    spec = study.headline
    folds = study_folds(study)
    circular = frozenset(
        name for name, s in study.detectors.items() if spec.target in build(s, f"detector.{name}").defines
    )
    mapper = partial(execute, spec=executor)
    headline = build_headline(
        runs, folds, study.scoring, spec, study.stats, null_controls(study), circular, mapper
    )
    return headline, render_headline(headline, study.stats)


def study_folds(study: StudyConfig) -> list[Fold]:
    """The headline's folds of the study's seeds (``headline.folds``, ``calibrate.*``); a
    stopping-rule study's fixed split is its one fold. Tuning uses the same folds."""
    if study.split:
        return [Fold(0, tuple(study.split[0]), tuple(study.split[1]))]
    cal = study.calibrate
    return make_folds(study.seeds, study.headline.folds, cal.calibration_fraction, cal.split_seed)


def null_controls(study: StudyConfig) -> frozenset[str]:
    """The study's scenarios whose events are chance breaches (``null_control`` on the class; a
    recorded trace, without a scenario class, is none)."""
    return frozenset(
        name
        for name, spec in study.scenarios.items()
        if "_target_" in spec
        and getattr(resolve(spec["_target_"], f"scenario.{name}"), "null_control", False)
    )


def matched_scorecard(
    headline: Headline, overhead: pd.DataFrame, study: StudyConfig, families: dict[str, str]
) -> str:
    """The roadmap's scorecard at the headline's thresholds: every seed scored at the threshold of its
    fold (chosen on the other folds' seeds), as the headline; infeasible detectors are left out."""
    feasible = headline.table.loc[headline.table["feasible"].astype(bool), "detector"].tolist()
    left_out = sorted(set(headline.table["detector"]) - set(feasible))
    note = (
        f"Each detector at its headline thresholds ({study.headline.label}), every seed "
        f"{headline.test_seeds} scored out of fold (at the threshold chosen without it); "
        "overhead as shipped (a threshold does not change it)."
    )
    if left_out:
        note += f" Left out, no threshold within the budget: {', '.join(left_out)}."
    if not feasible:
        return note
    key = lambda f: f["detector"] + "|" + f["scenario"] + "|" + f["seed"].astype(str)  # noqa: E731
    cells = headline.cells[headline.cells["detector"].isin(feasible)].assign(status="ok", key=key)
    events = headline.events[headline.events["detector"].isin(feasible)].assign(key=key)
    costs = overhead.assign(key=key) if len(overhead) else overhead
    grace = study.scoring.grace_h
    card = build_scorecard(
        cells, events, costs, study.criteria, families, study.stats, grace, null_controls(study)
    )
    return render_scorecard(card, study.criteria, 0, study.stats) + "\n\n" + note
