"""The whole headline: each detector's part (selection per fold, out-of-fold scoring, metrics, its
curve) independently through a mapper, then the ranking, the pairs and the first sentence."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.headline.amoc import amoc
from harness.analysis.headline.folds import Fold, Runs, choose, run_sweeps
from harness.analysis.headline.inference import PairInput, pair_table, seed_median_leads
from harness.analysis.headline.metrics import detector_metrics, event_counts, scenario_rows, score_runs
from harness.analysis.headline.render import answer
from harness.analysis.headline.spec import HeadlineSpec
from harness.analysis.scoring import EVENT_COLUMNS, ScoringSpec
from harness.analysis.statistics import StatisticsSpec
from scenarios.truth import TARGETS

HEADLINE_COLUMNS = [
    "rank",
    "detector",
    "threshold",
    "threshold_fold_median",
    "threshold_fold_min",
    "threshold_fold_max",
    "feasible",
    "budget_use",
    "circular",
    *[f"{m}{s}" for m in ("warned",) for s in ("", "_lo", "_hi")],
    "warned_pooled",
    *[f"{m}{s}" for m in ("before_onset", "detected") for s in ("", "_lo", "_hi")],
    *[f"median_lead_h{s}" for s in ("", "_lo", "_hi")],
    *[f"lead_coverage_8h{s}" for s in ("", "_lo", "_hi")],
    *[f"warned_{t}{s}" for t in TARGETS[1:] for s in ("", "_lo", "_hi")],
    *[f"{m}{s}" for m in ("quiet_alert_fraction", "false_per_quiet_week") for s in ("", "_lo", "_hi")],
    *[f"budget_use_test{s}" for s in ("", "_lo", "_hi")],
    "over_budget_test",
    *[f"arl0_h{s}" for s in ("", "_lo", "_hi")],
    "arl0_exposure_h",
    *[f"{m}{s}" for m in ("fp_rate", "partial_auc") for s in ("", "_lo", "_hi")],
    *[f"reset_km_median_h{s}" for s in ("", "_lo", "_hi")],
    "reset_censored_share",
    "events",
    "episodes",
]


@dataclass
class Headline:
    """The headline of a study: the table, the pairs, the scenarios, the curves and the rows behind."""

    spec: HeadlineSpec
    folds: list[Fold]
    table: pd.DataFrame  # headline.csv
    pairs: pd.DataFrame  # headline_pairs.csv
    scenarios: pd.DataFrame  # headline_scenarios.csv
    amoc: pd.DataFrame  # every detector's curve (column detector)
    cells: pd.DataFrame  # every scored run at its fold's threshold (score_run metrics, column fold)
    events: pd.DataFrame
    pair_inputs: dict[str, PairInput]
    answer: str  # the first line

    @property
    def test_seeds(self) -> list[int]:
        """Every seed scored (out of fold)."""
        return sorted(s for fold in self.folds for s in fold.test)


@dataclass(frozen=True)
class DetectorTask:
    """One detector's share of the headline: its runs and everything its numbers depend on."""

    detector: str
    runs: Runs
    folds: tuple[Fold, ...]
    scenarios: tuple[str, ...]
    null_controls: frozenset[str]
    circular: bool
    scoring: ScoringSpec
    spec: HeadlineSpec
    stats: StatisticsSpec


@dataclass
class DetectorPart:
    """What ``detector_part`` returns."""

    detector: str
    row: dict
    cells: pd.DataFrame | None
    events: pd.DataFrame | None
    scenarios: list[dict]
    curve: pd.DataFrame
    pair_input: PairInput | None


Mapper = Callable[[Callable[[DetectorTask], DetectorPart], list[DetectorTask]], Iterable[DetectorPart]]


def detector_part(task: DetectorTask) -> DetectorPart:
    """Choose ``task.detector``'s threshold on each fold's other seeds and score the fold's seeds at
    it; the deployable threshold on all seeds; its metrics and curve: independent of other detectors."""
    spec, scoring, stats = task.spec, task.scoring, task.stats
    sweeps = run_sweeps(task.runs, scoring, spec.target)
    seeds = sorted({s for fold in task.folds for s in fold.test})
    every = sorted({seed for _, seed in task.runs})
    deployed = choose(sweeps, every, spec)
    choices = [choose(sweeps, fold.calibration, spec) for fold in task.folds]
    fold_thresholds = np.array([c.threshold for c in choices])
    known = fold_thresholds[np.isfinite(fold_thresholds)]
    row: dict = {
        "detector": task.detector,
        "threshold": deployed.threshold,
        "threshold_fold_median": float(np.median(known)) if known.size else np.nan,
        "threshold_fold_min": float(known.min()) if known.size else np.nan,
        "threshold_fold_max": float(known.max()) if known.size else np.nan,
        "feasible": all(c.feasible for c in choices),
        "budget_use": max((c.budget_use for c in choices), default=np.nan),
        "circular": task.circular,
    }
    cells, events = [], []
    for fold, choice in zip(task.folds, choices, strict=True):
        held_out = {k: r for k, r in task.runs.items() if k[1] in set(fold.test)}
        if np.isfinite(choice.threshold) and held_out:
            c, e = score_runs(task.detector, held_out, choice.threshold, scoring)
            cells.append(c.assign(fold=fold.index))
            events.append(e.assign(fold=fold.index))
    cell_frame = pd.concat(cells, ignore_index=True) if cells else None
    event_frame = pd.concat(events, ignore_index=True) if events else None
    rows, pair_input = [], None
    if cell_frame is not None:
        args = (seeds, task.scenarios, task.null_controls, spec, stats)
        row.update(detector_metrics(cell_frame, event_frame, *args, scoring.grace_h))
        rows = scenario_rows(task.detector, event_frame, *args)
        counts = event_counts(event_frame, spec.target, seeds, task.scenarios, spec.min_lead_h)
        leads = seed_median_leads(event_frame, spec.target, seeds, -scoring.grace_h)
        pair_input = PairInput(counts["events"], counts["warned"], leads, bool(row["over_budget_test"]))
    view = amoc(sweeps, spec, stats)
    row.update(
        partial_auc=view.partial_auc, partial_auc_lo=view.partial_auc_lo, partial_auc_hi=view.partial_auc_hi
    )
    curve = view.curve.assign(detector=task.detector)
    return DetectorPart(task.detector, row, cell_frame, event_frame, rows, curve, pair_input)


def build_headline(
    runs: Mapping[str, Runs],
    folds: Sequence[Fold],
    scoring: ScoringSpec,
    spec: HeadlineSpec,
    stats: StatisticsSpec,
    null_controls: frozenset[str] = frozenset(),
    circular: frozenset[str] = frozenset(),
    mapper: Mapper = map,
) -> Headline:
    """Cross-fit every detector over ``folds``, rank, pair, and draw the curves. ``null_controls``:
    scenarios whose events are chance breaches; ``circular``: detectors whose score defines the
    target. Each detector's part goes through ``mapper``; the result does not depend on where it ran."""
    scenarios = tuple(sorted({scenario for mine in runs.values() for scenario, _ in mine}))
    tasks = [
        DetectorTask(d, runs[d], tuple(folds), scenarios, null_controls, d in circular, scoring, spec, stats)
        for d in sorted(runs)
    ]
    done = {part.detector: part for part in mapper(detector_part, tasks)}
    parts = [done[task.detector] for task in tasks]
    table = rank(pd.DataFrame([p.row for p in parts]).reindex(columns=HEADLINE_COLUMNS))
    cat = lambda frames, columns: (  # noqa: E731
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    )
    cells = cat([p.cells for p in parts if p.cells is not None], ["detector"])
    events = cat([p.events for p in parts if p.events is not None], ["detector", *EVENT_COLUMNS])
    feasible = set(table.loc[table["feasible"].astype(bool), "detector"])  # pairs at matched budgets only
    inputs = {p.detector: p.pair_input for p in parts if p.pair_input is not None and p.detector in feasible}
    pairs = pair_table(list(table["detector"]), inputs, spec, stats)
    per_scenario = pd.DataFrame([r for p in parts for r in p.scenarios])
    curve = cat([p.curve for p in parts], ["detector"])
    first = answer(table, pairs, spec)
    all_inputs = {p.detector: p.pair_input for p in parts if p.pair_input is not None}
    return Headline(spec, list(folds), table, pairs, per_scenario, curve, cells, events, all_inputs, first)


def rank(table: pd.DataFrame) -> pd.DataFrame:
    """Feasible detectors ranked by warned, then median lead (then name); infeasible ones after,
    without a rank."""
    key = table.assign(
        _f=~table["feasible"].astype(bool),
        _w=-table["warned"].astype(float).fillna(-1.0),
        _l=-table["median_lead_h"].astype(float).fillna(-np.inf),
    )
    ordered = key.sort_values(["_f", "_w", "_l", "detector"], kind="stable").drop(columns=["_f", "_w", "_l"])
    feasible = ordered["feasible"].astype(bool).to_numpy()
    ordered["rank"] = pd.array(np.where(feasible, np.cumsum(feasible), 0), dtype="Int64")
    ordered.loc[~feasible, "rank"] = pd.NA
    return ordered.reset_index(drop=True)
