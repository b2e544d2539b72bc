"""The headline (DESIGN section 5, "Headline"): every detector compared at one false-alarm budget.

Comparing detectors at their shipped thresholds mixes sensitivity with threshold choice, so each
detector gets the threshold that does best within the same false-alarm cost:

* **Budget.** Quiet alert fraction <= q and false episodes per quiet week <= f (quiet time: scored
  steps outside every event's window and critical period; a week is 168 h of it).
* **Selection, calibration seeds only.** Over every distinct score value (the exact sweep of
  harness.analysis.calibrate), the threshold within the budget that maximises recall of the
  target; ties go to the higher median lead, then the higher threshold. With none within the
  budget the detector is *infeasible* and its *nearest point* is the threshold with the smallest
  budget use ``max(quiet alert fraction / q, false per quiet week / f)`` (the factor by which both
  budgets would have to grow to admit it; ties as above).
* **Report, test seeds only**, at that threshold: the scorer's own numbers (``Run.scored_at``, which
  is ``score_run``), with bootstrap CIs over test seeds; paired differences against reference
  detectors on the same events; and a threshold-free view, recall against quiet alerting over every
  threshold (the AMOC-style curve) and its partial area up to ``partial_auc_to``.

Everything is a pure function of Runs (``{detector: {(scenario, seed): Run}}``); the study, the
report and the calibration task only call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.calibrate import Pick, Run, Sweep
from harness.analysis.scoring import EVENT_COLUMNS, ScoringSpec, median_lead
from harness.analysis.statistics import (
    PAIR_KEYS,
    StatisticsSpec,
    by_seed,
    km_median,
    km_median_ci,
    median_ci,
    median_lead_ci,
    ratio_ci,
    seed_bootstrap,
    seed_weights,
    sums_by_seed,
)
from scenarios.errors import InputError
from scenarios.truth import TARGETS

WEEK_H = 168.0
AMOC_LEADS_H = (0.0, 2.0, 8.0)  # recall counting only warnings at least this early
Runs = Mapping[tuple[str, int], Run]


def _fraction(value: object, where: str, low_open: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or value > 1 or (low_open and value == 0):
        bound = "(0, 1]" if low_open else "[0, 1]"
        raise InputError(where, f"must be a number in {bound}; got {value!r}")
    return float(value)


@dataclass(frozen=True)
class HeadlineSpec:
    """The ``headline:`` section: the false-alarm budget, the target, the references of the pairs."""

    quiet_alert_fraction: float = 0.01  # q: share of quiet time spent alerting
    false_per_quiet_week: float = 1.0  # f: false episodes per 168 quiet hours
    target: str = "utilization_breach"
    references: tuple[str, ...] = ("transport", "utilization")
    partial_auc_to: float = 0.05  # the AMOC's partial area runs over quiet alert fractions 0..this
    tune: bool = False  # a study also tunes its detectors that declare search: (harness.tasks.tune)

    def __post_init__(self) -> None:
        _fraction(self.quiet_alert_fraction, "headline.budget.quiet_alert_fraction")
        f = self.false_per_quiet_week
        if isinstance(f, bool) or not isinstance(f, int | float) or not np.isfinite(f) or f < 0:
            raise InputError("headline.budget.false_per_quiet_week", f"must be a number >= 0; got {f!r}")
        if self.target not in TARGETS:
            raise InputError("headline.target", f"must be one of {', '.join(TARGETS)}; got {self.target!r}")
        _fraction(self.partial_auc_to, "headline.partial_auc_to", low_open=True)
        if not isinstance(self.tune, bool):
            raise InputError("headline.tune", f"must be true or false; got {self.tune!r}")

    @classmethod
    def from_config(cls, raw: Mapping | None) -> HeadlineSpec:
        """From the ``headline`` section of a resolved config. A reference the study did not select
        is named in headline.md as not compared."""
        values = dict(raw or {})
        budget = values.pop("budget", None) or {}
        allowed = ("budget", "target", "references", "partial_auc_to", "tune")
        for key in values:
            if key not in allowed:
                raise InputError(f"headline.{key}", f"unknown setting; allowed: {', '.join(allowed)}")
        if not isinstance(budget, Mapping):
            raise InputError("headline.budget", "must hold quiet_alert_fraction and false_per_quiet_week")
        for key in budget:
            if key not in ("quiet_alert_fraction", "false_per_quiet_week"):
                raise InputError(
                    f"headline.budget.{key}",
                    "unknown setting; allowed: quiet_alert_fraction, false_per_quiet_week",
                )
        references = values.pop("references", cls.references)
        if isinstance(references, str) or not isinstance(references, Sequence):
            raise InputError("headline.references", f"must be a list of detectors; got {references!r}")
        if not all(isinstance(r, str) for r in references):
            raise InputError("headline.references", f"must be a list of detector names; got {references!r}")
        return cls(**budget, **values, references=tuple(references))

    @property
    def label(self) -> str:
        return (
            f"quiet alerting <= {100 * self.quiet_alert_fraction:g}% and <= {self.false_per_quiet_week:g} "
            "false episode(s) per quiet week"
        )


# ---------------------------------------------------------------- selection (calibration seeds)


def with_week(curve: pd.DataFrame) -> pd.DataFrame:
    """An operating curve (CURVE_COLUMNS) with ``false_per_quiet_week``."""
    quiet = curve["quiet_h"].to_numpy(float)
    week = np.divide(
        WEEK_H * curve["n_false"].to_numpy(float), quiet, out=np.full(len(curve), np.nan), where=quiet > 0
    )
    return curve.assign(false_per_quiet_week=week)


def _over(value: np.ndarray, limit: float) -> np.ndarray:
    """value / limit, with 0 / 0 = 0 (no quiet time counts as no use)."""
    value = np.nan_to_num(np.asarray(value, float), nan=0.0)
    if limit > 0:
        return value / limit
    return np.where(value > 0, np.inf, 0.0)


def budget_use(curve: pd.DataFrame, spec: HeadlineSpec) -> np.ndarray:
    """max(quiet alert fraction / q, false episodes per quiet week / f) per row; <= 1 is within."""
    curve = curve if "false_per_quiet_week" in curve else with_week(curve)
    return np.maximum(
        _over(curve["quiet_alert_fraction"], spec.quiet_alert_fraction),
        _over(curve["false_per_quiet_week"], spec.false_per_quiet_week),
    )


def choose_in_budget(curve: pd.DataFrame, spec: HeadlineSpec) -> tuple[pd.Series | None, bool]:
    """(row, feasible): the best row within the budget, else the nearest one; (None, False) when the
    curve is empty. Best: most target events detected, then higher median lead, then higher
    threshold. Nearest: smallest budget use, then the same order."""
    if curve.empty:
        return None, False
    ranked = with_week(curve).assign(
        budget_use=lambda c: budget_use(c, spec),
        lead_key=lambda c: c["median_lead_h"].fillna(-np.inf),
    )
    within = ranked[ranked["budget_use"] <= 1.0]
    feasible = not within.empty
    pool = within if feasible else ranked[ranked["budget_use"] == ranked["budget_use"].min()]
    best = pool.sort_values(
        ["n_detected", "lead_key", "threshold"], ascending=[False, False, False], kind="stable"
    ).iloc[0]
    return best.drop("lead_key"), feasible


def budget_rule(spec: HeadlineSpec) -> Pick:
    """The headline's rule as a calibration rule (``calibrate.rule: budget``); when nothing is
    within the budget, the nearest point's threshold and budget use."""

    def pick(curve: pd.DataFrame) -> tuple[pd.Series | None, dict]:
        row, feasible = choose_in_budget(curve, spec)
        if row is None:
            return None, {}
        extra = {"budget_use": float(row["budget_use"])}
        if not feasible:
            extra["nearest_threshold"] = float(row["threshold"])
        return (row if feasible else None), extra

    return pick


@dataclass(frozen=True)
class Choice:
    """One detector's threshold, chosen on the calibration seeds."""

    detector: str
    threshold: float  # NaN: the detector has no scored value at all
    feasible: bool
    budget_use: float  # on the calibration seeds; <= 1 within the budget
    calibration: dict[str, float] = field(default_factory=dict)


def select(detector: str, calibration: Runs, scoring: ScoringSpec, spec: HeadlineSpec) -> Choice:
    """The threshold of ``detector`` from its calibration runs alone."""
    runs = [calibration[k] for k in sorted(calibration)]
    row, feasible = choose_in_budget(Sweep(runs, scoring, spec.target).curve(), spec)
    if row is None:
        return Choice(detector, np.nan, False, np.nan)
    shown = ("recall", "median_lead_h", "quiet_alert_fraction", "false_per_quiet_week", "fp_rate")
    return Choice(
        detector,
        float(row["threshold"]),
        feasible,
        float(row["budget_use"]),
        {name: float(row[name]) for name in shown},
    )


# ---------------------------------------------------------------- report (test seeds)


def score_runs(
    detector: str, runs: Runs, threshold: float, scoring: ScoringSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, events) of every run at ``score >= threshold``: the scorer's rows, with ids."""
    cells, events = [], []
    for (scenario, seed), run in sorted(runs.items()):
        ids = {"scenario": scenario, "seed": int(seed), "detector": detector}
        result = run.scored_at(threshold, scoring)
        cells.append({**ids, **result.metrics})
        events.append(result.events.assign(**ids))
    event_frame = pd.concat(events, ignore_index=True) if events else pd.DataFrame(columns=EVENT_COLUMNS)
    return pd.DataFrame(cells), event_frame


def reset_observations(events: pd.DataFrame) -> pd.DataFrame:
    """Events whose reset time was observed (detected and ended): the input of the KM median."""
    return events[events["reset_h"].notna()] if len(events) else events


def test_metrics(
    cells: pd.DataFrame,
    events: pd.DataFrame,
    seeds: Sequence[int],
    spec: HeadlineSpec,
    stats: StatisticsSpec,
    grace_h: float,
) -> dict[str, float]:
    """The headline's numbers of one detector on its test runs, each with a CI over ``seeds``."""
    out: dict[str, float] = {}

    def ratio(name: str, num: np.ndarray, den: np.ndarray, scale: float = 1.0) -> None:
        total = den.sum()
        out[name] = scale * num.sum() / total if total > 0 else np.nan
        lo, hi = ratio_ci(scale * num, den, stats)
        out[f"{name}_lo"], out[f"{name}_hi"] = lo, hi

    for target in TARGETS:
        mine = events[events["target"] == target]
        counts = np.array([len(g) for g in by_seed(mine, seeds, "detected")], float)
        ratio(f"recall_{target}", sums_by_seed(mine, seeds, "detected"), counts)
    target = events[events["target"] == spec.target]
    counts = np.array([len(g) for g in by_seed(target, seeds, "detected")], float)
    out["events"] = int(counts.sum())
    for name in ("", "_lo", "_hi"):
        out[f"recall{name}"] = out[f"recall_{spec.target}{name}"]
    out["median_lead_h"] = median_lead(target["lead_h"].to_numpy(float)) if len(target) else np.nan
    out["median_lead_h_lo"], out["median_lead_h_hi"] = median_lead_ci(
        by_seed(target, seeds, "lead_h"), -grace_h, stats
    )
    for h in (2.0, 8.0):
        warned = [np.nan_to_num(g, nan=-np.inf) >= h for g in by_seed(target, seeds, "lead_h")]
        ratio(f"lead_coverage_{h:g}h", np.array([w.sum() for w in warned], float), counts)
    ratio("fp_rate", sums_by_seed(cells, seeds, "n_false"), sums_by_seed(cells, seeds, "n_episodes"))
    quiet = sums_by_seed(cells, seeds, "quiet_h")
    ratio("quiet_alert_fraction", sums_by_seed(cells, seeds, "alert_quiet_h"), quiet)
    ratio("false_per_quiet_week", sums_by_seed(cells, seeds, "n_false"), quiet, WEEK_H)
    out["episodes"] = int(cells["n_episodes"].sum()) if len(cells) else 0
    resets = reset_observations(target)
    times, censored = resets["reset_h"].to_numpy(float), resets["reset_censored"].to_numpy(bool)
    out["reset_km_median_h"] = float(km_median(times, censored))
    groups = [
        (g["reset_h"].to_numpy(float), g["reset_censored"].to_numpy(bool)) for _, g in resets.groupby("seed")
    ]
    out["reset_km_median_h_lo"], out["reset_km_median_h_hi"] = km_median_ci(groups, stats)
    out["reset_censored_share"] = float(censored.mean()) if len(censored) else np.nan
    out["resets"] = len(resets)
    return out


# ---------------------------------------------------------------- threshold-free view (test seeds)


def partial_auc(fraction: np.ndarray, recall: np.ndarray, limit: float) -> np.ndarray:
    """Area under recall against quiet alert fraction over [0, limit], divided by limit.

    Rows run from the highest threshold down (fraction and recall non-decreasing, along the last
    axis). Recall at a fraction x is the best recall of any threshold alerting at most x (a step
    function, 0 before the first point), so the area is the mean best recall over budgets up to
    ``limit``: 1 for a detector that finds everything without alerting in quiet time.

    >>> float(partial_auc(np.array([0.0, 0.02, 0.5]), np.array([0.5, 1.0, 1.0]), 0.04))
    0.75
    """
    x = np.minimum(np.asarray(fraction, float), limit)
    width = np.empty_like(x)  # from each point to the next (the last: to the limit), at least 0
    np.subtract(x[..., 1:], x[..., :-1], out=width[..., :-1])
    np.subtract(limit, x[..., -1], out=width[..., -1])
    np.maximum(width, 0.0, out=width)
    width *= np.asarray(recall, float)
    return width.sum(axis=-1) / limit


@dataclass
class Amoc:
    """One detector's threshold-free view on the test seeds."""

    curve: pd.DataFrame  # threshold (descending) and the pooled metrics, change points only
    partial_auc: float
    partial_auc_lo: float
    partial_auc_hi: float


def amoc(test: Runs, scoring: ScoringSpec, spec: HeadlineSpec, stats: StatisticsSpec) -> Amoc:
    """Recall (and recall with lead >= h, h in AMOC_LEADS_H) against quiet alerting and false
    episodes per quiet week over every threshold, pooled over the test runs; the partial area with a
    CI resampling seeds (per-seed counts at every threshold add up exactly)."""
    seeds = sorted({seed for _, seed in test})
    sweeps = [Sweep([test[k] for k in sorted(test) if k[1] == s], scoring, spec.target) for s in seeds]
    grid = np.unique(np.concatenate([sw.candidates for sw in sweeps])) if sweeps else np.zeros(0)
    empty = pd.DataFrame(columns=["threshold", "quiet_alert_fraction", "false_per_quiet_week", "recall"])
    if grid.size == 0:
        return Amoc(empty, np.nan, np.nan, np.nan)
    grid = grid[::-1]  # highest threshold first
    ascending = grid[::-1]
    alert_q, detected, false, covered = [], [], [], {h: [] for h in AMOC_LEADS_H}
    quiet = np.array([sw.quiet_h for sw in sweeps])
    events = np.array([len(sw.detect) for sw in sweeps], float)
    for sw in sweeps:
        curve = sw.curve(ascending)
        alert_q.append(np.nan_to_num(curve["quiet_alert_fraction"].to_numpy(float))[::-1] * sw.quiet_h)
        detected.append(curve["n_detected"].to_numpy(float)[::-1])
        false.append(curve["n_false"].to_numpy(float)[::-1])
        for h in AMOC_LEADS_H:
            covered[h].append(sw.covered(h, ascending)[::-1].astype(float))
    alert_q, detected = np.array(alert_q), np.array(detected)
    q_total, n_total = quiet.sum(), events.sum()
    frame = pd.DataFrame(
        {
            "threshold": grid,
            "quiet_alert_fraction": alert_q.sum(0) / q_total if q_total > 0 else np.nan,
            "false_per_quiet_week": WEEK_H * np.sum(false, 0) / q_total if q_total > 0 else np.nan,
            "recall": detected.sum(0) / n_total if n_total else np.nan,
            **{
                f"recall_lead_{h:g}h": np.sum(covered[h], 0) / n_total if n_total else np.nan
                for h in AMOC_LEADS_H
            },
        }
    )
    metrics = frame.columns[1:]
    changed = frame[metrics].ne(frame[metrics].shift()).any(axis=1)
    curve = frame[changed].reset_index(drop=True)
    if q_total <= 0 or n_total == 0:
        return Amoc(curve, np.nan, np.nan, np.nan)
    limit = spec.partial_auc_to
    point = float(partial_auc(frame["quiet_alert_fraction"].to_numpy(), frame["recall"].to_numpy(), limit))
    per_seed = alert_q / np.where(quiet > 0, quiet, 1.0)[:, None]
    # past the first threshold at which every seed alerts more than the limit, no resample has area
    reach = int(np.searchsorted(per_seed.min(axis=0), limit, side="right"))
    table_q, table_d = alert_q[:, : reach + 1], detected[:, : reach + 1]

    def statistic(idx: np.ndarray) -> np.ndarray:
        w = seed_weights(idx, len(seeds))
        x, y = w @ table_q, w @ table_d
        x /= np.maximum(w @ quiet, 1e-300)[..., None]
        y /= np.maximum(w @ events, 1.0)[..., None]
        return partial_auc(x, y, limit)

    lo, hi = seed_bootstrap(len(seeds), statistic, stats, batch=100)
    return Amoc(curve, point, lo, hi)


# ---------------------------------------------------------------- paired differences


def paired(
    events: pd.DataFrame,
    detector: str,
    reference: str,
    seeds: Sequence[int],
    spec: HeadlineSpec,
    stats: StatisticsSpec,
) -> dict:
    """Recall and lead of ``detector`` minus ``reference`` on the same target events (test seeds):
    the recall difference with a CI over seeds, and the median over events both detected of the
    per-event lead difference (positive: ``detector`` warns earlier) with a CI over seeds."""
    of = lambda name: events[(events["detector"] == name) & (events["target"] == spec.target)][  # noqa: E731
        [*PAIR_KEYS, "detected", "lead_h"]
    ]
    pairs = of(detector).merge(of(reference), on=PAIR_KEYS, suffixes=("", "_ref"))
    gain = pairs["detected"].astype(float) - pairs["detected_ref"].astype(float)
    pairs = pairs.assign(gain=gain, diff=pairs["lead_h"] - pairs["lead_h_ref"])
    counts = np.array([len(g) for g in by_seed(pairs, seeds, "gain")], float)
    recall_lo, recall_hi = ratio_ci(sums_by_seed(pairs, seeds, "gain"), counts, stats)
    both = pairs[pairs["diff"].notna()]
    lead_lo, lead_hi = median_ci(by_seed(both, seeds, "diff"), stats)
    return {
        "detector": detector,
        "reference": reference,
        "events": len(pairs),
        "both_detected": len(both),
        "recall_diff": float(gain.mean()) if len(pairs) else np.nan,
        "recall_diff_lo": recall_lo,
        "recall_diff_hi": recall_hi,
        "lead_diff_h": float(both["diff"].median()) if len(both) else np.nan,
        "lead_diff_h_lo": lead_lo,
        "lead_diff_h_hi": lead_hi,
    }


def _signed(x: float, fmt: str) -> str:
    return "n/a" if not np.isfinite(x) else format(x, "+" + fmt)


def pair_sentence(row: Mapping, spec: HeadlineSpec) -> str:
    """One sentence saying whether the test seeds decide the comparison."""
    head = f"{row['detector']} vs {row['reference']} at {spec.quiet_alert_fraction:.0%} quiet alerting"
    if not row["events"]:
        return f"{head}: no common {spec.target} events on the test seeds."
    pts = lambda x: _signed(100 * x, ".0f")  # noqa: E731
    recall = f"recall {pts(row['recall_diff'])} pts"
    lead = f"lead {_signed(row['lead_diff_h'], '.1f')} h"
    no_ci = np.isnan(row["recall_diff_lo"])
    if not no_ci:
        recall += f" [{pts(row['recall_diff_lo'])}, {pts(row['recall_diff_hi'])}]"
    if np.isfinite(row["lead_diff_h_lo"]):
        lead += f" [{_signed(row['lead_diff_h_lo'], '.1f')}, {_signed(row['lead_diff_h_hi'], '.1f')}]"
    if not row["both_detected"]:
        lead = "lead n/a (no event both detected)"
    if no_ci:
        return f"{head}: {recall}, {lead}: no interval (fewer than 2 test seeds with events)."
    findings = []
    if row["recall_diff_lo"] > 0 or row["recall_diff_hi"] < 0:
        more = "more" if row["recall_diff_lo"] > 0 else "fewer"
        findings.append(f"{row['detector']} detects {more} events")
    lo, hi = row["lead_diff_h_lo"], row["lead_diff_h_hi"]
    if np.isfinite(lo) and (lo > 0 or hi < 0):
        findings.append(f"{row['detector']} warns {'earlier' if lo > 0 else 'later'} on events both detect")
    verdict = (
        "the seeds decide it: " + " and ".join(findings)
        if findings
        else "not distinguishable with these seeds"
    )
    return f"{head}: {recall}, {lead}: {verdict}."


# ---------------------------------------------------------------- the whole headline


HEADLINE_COLUMNS = [
    "rank",
    "detector",
    "threshold",
    "feasible",
    "budget_use",
    "recall",
    "recall_lo",
    "recall_hi",
    "median_lead_h",
    "median_lead_h_lo",
    "median_lead_h_hi",
    "quiet_alert_fraction",
    "quiet_alert_fraction_lo",
    "quiet_alert_fraction_hi",
    "false_per_quiet_week",
    "false_per_quiet_week_lo",
    "false_per_quiet_week_hi",
    "fp_rate",
    "fp_rate_lo",
    "fp_rate_hi",
    "partial_auc",
    "partial_auc_lo",
    "partial_auc_hi",
    *[f"recall_{t}{s}" for t in TARGETS for s in ("", "_lo", "_hi")],
    *[f"lead_coverage_{h}h{s}" for h in (2, 8) for s in ("", "_lo", "_hi")],
    "reset_km_median_h",
    "reset_km_median_h_lo",
    "reset_km_median_h_hi",
    "reset_censored_share",
    "resets",
    "events",
    "episodes",
    "calibration_recall",
    "calibration_median_lead_h",
    "calibration_quiet_alert_fraction",
    "calibration_false_per_quiet_week",
]


@dataclass
class Headline:
    """The headline of a study: the table, the pairs, the curves, and the rows behind them."""

    spec: HeadlineSpec
    calibration_seeds: list[int]
    test_seeds: list[int]
    table: pd.DataFrame  # headline.csv
    pairs: pd.DataFrame
    amoc: pd.DataFrame  # every detector's curve (column detector)
    cells: pd.DataFrame  # per test run at the chosen thresholds (score_run metrics)
    events: pd.DataFrame


@dataclass(frozen=True)
class DetectorTask:
    """One detector's share of the headline: its runs and everything its numbers depend on."""

    detector: str
    runs: Runs
    calibration_seeds: tuple[int, ...]
    test_seeds: tuple[int, ...]
    scoring: ScoringSpec
    spec: HeadlineSpec
    stats: StatisticsSpec


@dataclass
class DetectorPart:
    """What ``detector_part`` returns: the detector's row of headline.csv, its test runs' rows at
    the chosen threshold (None without one) and its threshold-free curve."""

    detector: str
    row: dict
    cells: pd.DataFrame | None
    events: pd.DataFrame | None
    curve: pd.DataFrame


#: Applies a function to every task and yields the results in any order (``map`` by default; the
#: study passes its executor, so the detectors' parts run in its workers).
Mapper = Callable[[Callable[[DetectorTask], DetectorPart], list[DetectorTask]], Iterable[DetectorPart]]


def detector_part(task: DetectorTask) -> DetectorPart:
    """Select ``task.detector``'s threshold on the calibration seeds, then score its test seeds at
    it and draw its curve: independent of every other detector."""
    calib, test = set(task.calibration_seeds), list(task.test_seeds)
    mine, scoring, spec = task.runs, task.scoring, task.spec
    choice = select(task.detector, {k: r for k, r in mine.items() if k[1] in calib}, scoring, spec)
    held_out = {k: r for k, r in mine.items() if k[1] in set(test)}
    row = {
        "detector": task.detector,
        "threshold": choice.threshold,
        "feasible": choice.feasible,
        "budget_use": choice.budget_use,
        **{f"calibration_{k}": v for k, v in choice.calibration.items()},
    }
    cells = events = None
    if np.isfinite(choice.threshold) and held_out:
        cells, events = score_runs(task.detector, held_out, choice.threshold, scoring)
        row.update(test_metrics(cells, events, test, spec, task.stats, scoring.grace_h))
    view = amoc(held_out, scoring, spec, task.stats)
    row.update(
        partial_auc=view.partial_auc, partial_auc_lo=view.partial_auc_lo, partial_auc_hi=view.partial_auc_hi
    )
    return DetectorPart(task.detector, row, cells, events, view.curve.assign(detector=task.detector))


def build_headline(
    runs: Mapping[str, Runs],
    calibration_seeds: Sequence[int],
    test_seeds: Sequence[int],
    scoring: ScoringSpec,
    spec: HeadlineSpec,
    stats: StatisticsSpec,
    mapper: Mapper = map,
) -> Headline:
    """Select on ``calibration_seeds``, report on ``test_seeds``, rank, pair, and draw the curves.
    Each detector's part goes through ``mapper``; the result does not depend on where it ran."""
    test = sorted(test_seeds)
    tasks = [
        DetectorTask(d, runs[d], tuple(sorted(calibration_seeds)), tuple(test), scoring, spec, stats)
        for d in sorted(runs)
    ]
    done = {part.detector: part for part in mapper(detector_part, tasks)}
    parts = [done[task.detector] for task in tasks]
    table = rank(pd.DataFrame([p.row for p in parts]).reindex(columns=HEADLINE_COLUMNS))
    cells = [p.cells for p in parts if p.cells is not None]
    events = [p.events for p in parts if p.events is not None]
    cell_frame = pd.concat(cells, ignore_index=True) if cells else pd.DataFrame()
    event_frame = (
        pd.concat(events, ignore_index=True) if events else pd.DataFrame(columns=["detector", *EVENT_COLUMNS])
    )
    feasible = set(table.loc[table["feasible"].astype(bool), "detector"])  # pairs at matched budgets only
    pair_rows = [
        paired(event_frame, d, ref, test, spec, stats)
        for ref in spec.references
        if ref in feasible
        for d in table["detector"]
        if d != ref and d in feasible
    ]
    pairs = pd.DataFrame(pair_rows)
    if len(pairs):
        pairs["sentence"] = [pair_sentence(r, spec) for r in pairs.to_dict("records")]
    curves = [p.curve for p in parts]
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return Headline(spec, sorted(calibration_seeds), test, table, pairs, curve, cell_frame, event_frame)


def rank(table: pd.DataFrame) -> pd.DataFrame:
    """Feasible detectors ranked by recall, then median lead (then name); infeasible ones after,
    without a rank."""
    key = table.assign(
        _f=~table["feasible"].astype(bool),
        _r=-table["recall"].fillna(-1.0),
        _l=-table["median_lead_h"].fillna(-np.inf),
    )
    ordered = key.sort_values(["_f", "_r", "_l", "detector"], kind="stable").drop(columns=["_f", "_r", "_l"])
    feasible = ordered["feasible"].astype(bool).to_numpy()
    ordered["rank"] = pd.array(np.where(feasible, np.cumsum(feasible), 0), dtype="Int64")
    ordered.loc[~feasible, "rank"] = pd.NA
    return ordered.reset_index(drop=True)


# ---------------------------------------------------------------- markdown


def percent(x: float, digits: int = 0) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def hours(x: float) -> str:
    if x == -np.inf:
        return "missed"
    if x == np.inf:
        return "not reached"
    return "n/a" if not np.isfinite(x) else f"{x:.1f} h"


def with_ci(row: Mapping, name: str, fmt) -> str:
    value, lo, hi = row.get(name, np.nan), row.get(f"{name}_lo", np.nan), row.get(f"{name}_hi", np.nan)
    text = fmt(value)
    if not (np.isnan(lo) or np.isnan(hi)):
        text += f" [{fmt(lo).removesuffix('%').removesuffix(' h')}, {fmt(hi)}]"
    return text


def render_headline(headline: Headline, stats: StatisticsSpec) -> str:
    """headline.md: the ranked table, the infeasible detectors and one sentence per pair."""
    spec = headline.spec
    lines = [
        f"Every detector at the same false-alarm budget: {spec.label} (target {spec.target}). "
        f"Thresholds chosen on calibration seeds {headline.calibration_seeds}; every number below is "
        f"measured on test seeds {headline.test_seeds}. Brackets: {stats.label}.",
        "",
        "| rank | detector | threshold | recall | median lead | W(2 h) | W(8 h) | quiet alerting "
        "| false / quiet week | FP rate | reset (KM median; censored) | partial AUC |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    week = lambda x: "n/a" if not np.isfinite(x) else f"{x:.2f}"  # noqa: E731
    auc = lambda x: "n/a" if not np.isfinite(x) else f"{x:.2f}"  # noqa: E731
    for r in headline.table.to_dict("records"):
        if pd.isna(r["rank"]):
            place = "–"
            threshold = (
                "none (no score)"
                if not np.isfinite(r["threshold"])
                else f"infeasible; nearest {r['threshold']:.4g} (budget x{r['budget_use']:.3g})"
            )
        else:
            place, threshold = str(int(r["rank"])), f"{r['threshold']:.4g}"
        reset = with_ci(r, "reset_km_median_h", hours)
        if np.isfinite(r.get("reset_censored_share", np.nan)):
            reset += f"; {percent(r['reset_censored_share'])} of {int(r['resets'])}"
        lines.append(
            f"| {place} | {r['detector']} | {threshold} | {with_ci(r, 'recall', percent)} "
            f"| {with_ci(r, 'median_lead_h', hours)} | {with_ci(r, 'lead_coverage_2h', percent)} "
            f"| {with_ci(r, 'lead_coverage_8h', percent)} "
            f"| {with_ci(r, 'quiet_alert_fraction', lambda x: percent(x, 1))} "
            f"| {with_ci(r, 'false_per_quiet_week', week)} | {with_ci(r, 'fp_rate', percent)} | {reset} "
            f"| {with_ci(r, 'partial_auc', auc)} |"
        )
    lines += [
        "",
        f"Ranked by recall at the budget, then median lead (misses ranked below every detection). "
        f"Infeasible: no threshold met the budget on the calibration seeds; shown at the nearest point "
        f"(smallest max(quiet alerting / {spec.quiet_alert_fraction:g}, false per quiet week / "
        f"{spec.false_per_quiet_week:g}), the 'budget x' factor), not ranked. W(h): share of events warned "
        f">= h hours ahead. Reset: Kaplan-Meier median hours from a breach's end to the end of the alert "
        f"over it (censored when the alert was still on at the run's end). Partial AUC: mean recall over "
        f"quiet-alerting budgets 0..{spec.partial_auc_to:.0%} (threshold-free, test seeds; 1 is perfect).",
    ]
    if len(headline.pairs):
        lines += [
            "",
            "Paired by event (same test-seed events; recall in points, lead over events both detect):",
            "",
        ]
        lines += [f"- {s}" for s in headline.pairs["sentence"]]
    feasible = set(headline.table.loc[headline.table["feasible"].astype(bool), "detector"])
    absent = [r for r in spec.references if r not in feasible]
    if absent:
        lines += [
            "",
            "No pairs against " + ", ".join(absent) + " (not in this study, or infeasible at this budget). "
            "Infeasible detectors are not paired: their nearest point is not at the matched budget.",
        ]
    return "\n".join(lines)
