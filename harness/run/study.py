"""The study runner: cells = scenarios x seeds x detectors, executed, stored, summarised."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from harness.analysis.alerts import first_alert_comparison
from harness.analysis.calibrate import Run, split_seeds
from harness.analysis.headline import Headline, build_headline, render_headline
from harness.analysis.scorecard import build_scorecard, render_scorecard
from harness.analysis.scoring import EVENT_COLUMNS
from harness.analysis.statistics import wilcoxon_table
from harness.analysis.summary import summarize
from harness.config import StudyConfig, resolve
from harness.run.executors import execute, job_runner
from harness.run.plan import pending, plan_jobs
from harness.run.store import ResultStore, write_text

CONSOLIDATE_EVERY = 100  # jobs


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
    headline: Headline | None = None
    headline_text: str = ""  # headline.md, or the line saying why there is none
    matched_scorecard_text: str = ""  # the scorecard at the headline's thresholds (test seeds)

    @property
    def failed(self) -> int:
        return int((self.cells["status"] != "ok").sum())

    @property
    def failures(self) -> dict[str, int]:
        """Failed cells by status (error, timeout)."""
        failed = self.cells.loc[self.cells["status"] != "ok", "status"]
        return {str(k): int(v) for k, v in failed.value_counts().sort_index().items()}


def run_study(
    study: StudyConfig, run_dir: str | Path, runs: Mapping[str, Mapping[tuple[str, int], Run]] | None = None
) -> StudyResult:
    """Run every missing cell of the study into ``run_dir`` and write summary.csv, scorecard.md
    and, given the cells' per-step ``runs``, the headline."""
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
    return summarise_run(store, keys, study, runs)


def summarise_run(
    store: ResultStore,
    keys: set[str],
    study: StudyConfig,
    runs: Mapping[str, Mapping[tuple[str, int], Run]] | None = None,
) -> StudyResult:
    """Load this study's rows and write summary.csv, scorecard.md, wilcoxon.csv and first_alert.csv;
    with the per-step ``runs`` of its ok cells, also the headline (headline.csv, headline.md,
    headline_pairs.csv) and the scorecard at the headline's thresholds."""
    stats = study.stats
    cells = store.load("cells", keys)
    events = store.load("events", keys)
    if events.empty:
        events = pd.DataFrame(columns=["key", "scenario", "seed", "detector", *EVENT_COLUMNS])
    episodes = store.load("episodes", keys)
    overhead = store.load("overhead", keys)
    summary = summarize(cells, events, stats, study.scoring.grace_h)
    write_text(store.run_dir / "summary.csv", summary.to_csv(index=False))
    families = {
        name: resolve(spec["_target_"], f"detector.{name}").name for name, spec in study.detectors.items()
    }
    failed = int((cells["status"] != "ok").sum())
    if failed == len(cells):  # nothing to score
        card = pd.DataFrame()
        text = f"No cell succeeded: {failed} cell(s) failed; see cells.parquet (status, error)."
    else:
        card = build_scorecard(
            cells, events, overhead, study.criteria, families, stats, study.scoring.grace_h
        )
        text = render_scorecard(card, study.criteria, failed, stats)
    headline, headline_text = study_headline(study, runs)
    matched = matched_scorecard(headline, overhead, study, families) if headline is not None else ""
    sections = [f"# Scorecard as shipped\n\n{text}\n"]
    if matched:
        sections.append(f"# Scorecard at the headline's thresholds\n\n{matched}\n")
    write_text(store.run_dir / "scorecard.md", "\n".join(sections))
    for name in HEADLINE_FILES:
        (store.run_dir / name).unlink(missing_ok=True)  # never leave another run's headline behind
    if headline is not None:
        write_text(store.run_dir / "headline.csv", headline.table.to_csv(index=False))
        write_text(store.run_dir / "headline_pairs.csv", headline.pairs.to_csv(index=False))
        write_text(store.run_dir / "headline.md", f"# Headline\n\n{headline_text}\n")
    ok_events = events[events["key"].isin(set(cells.loc[cells["status"] == "ok", "key"]))]
    tests = wilcoxon_table(ok_events, stats.reference)
    write_text(store.run_dir / "wilcoxon.csv", tests.to_csv(index=False))
    firsts = first_alert_comparison(cells, episodes, stats.baseline, stats)
    write_text(store.run_dir / "first_alert.csv", firsts.to_csv(index=False))
    return StudyResult(
        store.run_dir,
        cells,
        events,
        episodes,
        overhead,
        summary,
        card,
        text,
        tests,
        firsts,
        headline,
        headline_text,
        matched,
    )


HEADLINE_FILES = ("headline.csv", "headline_pairs.csv", "headline.md")


def study_headline(
    study: StudyConfig, runs: Mapping[str, Mapping[tuple[str, int], Run]] | None
) -> tuple[Headline | None, str]:
    """The headline of the study's ok cells and its markdown, or (None, why there is none)."""
    if len(study.seeds) < 2:
        return None, (
            f"No headline: it needs at least 2 seeds (calibration and test) and this study has "
            f"{len(study.seeds)}; the scorecard below is at the shipped thresholds."
        )
    if not runs:
        return None, "No headline: no cell succeeded."
    cal = study.calibrate
    calibration, test = split_seeds(study.seeds, cal.calibration_fraction, cal.split_seed)
    headline = build_headline(runs, calibration, test, study.scoring, study.headline, study.stats)
    return headline, render_headline(headline, study.stats)


def matched_scorecard(
    headline: Headline, overhead: pd.DataFrame, study: StudyConfig, families: dict[str, str]
) -> str:
    """The roadmap's scorecard at the headline's thresholds, scored on the test seeds (the
    thresholds were chosen on the calibration seeds); infeasible detectors are left out."""
    feasible = headline.table.loc[headline.table["feasible"].astype(bool), "detector"].tolist()
    left_out = sorted(set(headline.table["detector"]) - set(feasible))
    note = (
        f"Each detector at its headline threshold ({study.headline.label} on the calibration seeds "
        f"{headline.calibration_seeds}), scored on the test seeds {headline.test_seeds}; "
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
    card = build_scorecard(cells, events, costs, study.criteria, families, study.stats, study.scoring.grace_h)
    return render_scorecard(card, study.criteria, 0, study.stats) + "\n\n" + note
