"""The headline's numbers of one detector, from its runs scored out of fold.

A target event is *warned* when alerted at least ``min_lead_h`` hours before its onset, *before
onset* when alerted ahead at all (lead > 0) and *detected* when any alert overlaps its window (up
to the grace period late; what "recall" means elsewhere). Shares of events are macro-averages over
scenarios (each scenario's events pooled over seeds), the event-pooled share beside them; every
interval is over seeds (harness.analysis.statistics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from harness.analysis.calibrate import Run
from harness.analysis.headline.inference import rate_interval, reciprocal
from harness.analysis.headline.spec import WEEK_H, HeadlineSpec, over
from harness.analysis.scoring import EVENT_COLUMNS, ScoringSpec, median_lead, quiet_steps
from harness.analysis.statistics import (
    Estimate,
    StatisticsSpec,
    by_seed,
    km_median,
    km_median_ci,
    median_lead_ci,
    share_interval,
)
from scenarios.truth import TARGETS


def score_runs(
    detector: str, runs: Mapping[tuple[str, int], Run], threshold: float, scoring: ScoringSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, events) of every run at ``score >= threshold``: the scorer's rows with ids, and per
    cell the quiet hours before its first false episode (``arl_exposure_h``) and whether it had one
    (``arl_alarm``)."""
    cells: list[dict[str, object]] = []
    events: list[pd.DataFrame] = []
    for (scenario, seed), run in sorted(runs.items()):
        ids = {"scenario": scenario, "seed": int(seed), "detector": detector, "threshold": threshold}
        result = run.scored_at(threshold, scoring)
        false = result.episodes.loc[~result.episodes["true"].astype(bool), "start_h"]
        first = float(false.min()) if len(false) else np.inf
        quiet = quiet_steps(run.time_h, run.time_h > run.warmup_h, run.events, scoring)
        exposure = run.dt_h * float((quiet & (run.time_h < first)).sum())
        cells.append(
            {**ids, **result.metrics, "arl_exposure_h": exposure, "arl_alarm": float(len(false) > 0)}
        )
        events.append(result.events.assign(**ids))
    event_frame = pd.concat(events, ignore_index=True) if events else pd.DataFrame(columns=EVENT_COLUMNS)
    return pd.DataFrame(cells), event_frame


def seed_by_scenario(
    frame: pd.DataFrame, values: pd.Series, seeds: Sequence[int], scenarios: Sequence[str]
) -> np.ndarray:
    """(n_seeds, n_scenarios) sums of ``values`` (aligned with ``frame``'s rows); 0 where none."""
    if not len(frame):
        return np.zeros((len(seeds), len(scenarios)))
    table = values.groupby([frame["seed"], frame["scenario"]]).sum().unstack(fill_value=0)
    return table.reindex(index=list(seeds), columns=list(scenarios), fill_value=0).to_numpy(float)


EVENT_COUNTS = ("events", "warned", "before_onset", "detected", "lead_coverage_8h")


def event_counts(
    events: pd.DataFrame, target: str, seeds: Sequence[int], scenarios: Sequence[str], min_lead_h: float
) -> dict[str, np.ndarray]:
    """(n_seeds, n_scenarios) counts of ``target``'s events: all of them, warned, before onset,
    detected, and warned 8 h ahead (events of other seeds and scenarios are not counted)."""
    mine = events[events["target"] == target] if len(events) else events
    if not len(mine):
        return {name: np.zeros((len(seeds), len(scenarios))) for name in EVENT_COUNTS}
    seed = pd.Index(list(seeds)).get_indexer(mine["seed"])
    scenario = pd.Index(list(scenarios)).get_indexer(mine["scenario"])
    kept = (seed >= 0) & (scenario >= 0)
    cell = seed[kept] * len(scenarios) + scenario[kept]
    lead = mine["lead_h"].astype(float).fillna(-np.inf).to_numpy()[kept]
    marks = {
        "events": np.ones(lead.size, bool),
        "warned": lead >= min_lead_h,
        "before_onset": lead > 0,
        "detected": mine["detected"].astype(bool).to_numpy()[kept],
        "lead_coverage_8h": lead >= 8.0,
    }
    size = len(seeds) * len(scenarios)
    return {
        name: np.bincount(cell[mark], minlength=size).reshape(len(seeds), len(scenarios)).astype(float)
        for name, mark in marks.items()
    }


def put(out: dict, name: str, estimate: Estimate) -> None:
    out[name], out[f"{name}_lo"], out[f"{name}_hi"] = estimate.value, estimate.lo, estimate.hi


def budget_use_interval(alerting: Estimate, week: Estimate, spec: HeadlineSpec) -> Estimate:
    """Budget use on the scored seeds, max(quiet alerting / its limit, false episodes per quiet
    week / its limit), at the point and at each bound of the two intervals (increasing in both, so
    it covers whenever both do)."""
    use = lambda a, b: float(  # noqa: E731
        np.maximum(over(a, spec.quiet_alert_fraction), over(b, spec.false_per_quiet_week))
    )
    return Estimate(use(alerting.value, week.value), use(alerting.lo, week.lo), use(alerting.hi, week.hi))


def per_seed(
    cells: pd.DataFrame, seeds: Sequence[int], column: str, keep: pd.Series | None = None
) -> np.ndarray:
    """(n_seeds, 1) sums of a cell column (only the cells ``keep`` marks)."""
    frame = cells if keep is None else cells[keep]
    return seed_by_scenario(frame.assign(scenario="all"), frame[column].astype(float), seeds, ["all"])


def detector_metrics(
    cells: pd.DataFrame,
    events: pd.DataFrame,
    seeds: Sequence[int],
    scenarios: Sequence[str],
    null_controls: frozenset[str],
    spec: HeadlineSpec,
    stats: StatisticsSpec,
    grace_h: float,
) -> dict[str, float]:
    """One detector's row of headline.csv from its out-of-fold runs: shares of target events with
    intervals over ``seeds``, the budget on these seeds, ARL0 on the null controls, reset times."""
    out: dict[str, float] = {}
    counts = event_counts(events, spec.target, seeds, scenarios, spec.min_lead_h)
    den = counts["events"]
    for name in ("warned", "before_onset", "detected", "lead_coverage_8h"):
        put(out, name, share_interval(counts[name], den, stats))
    out["warned_pooled"] = counts["warned"].sum() / den.sum() if den.sum() else np.nan
    out["events"] = int(den.sum())
    for other in TARGETS:
        if other != spec.target:
            theirs = event_counts(events, other, seeds, scenarios, spec.min_lead_h)
            put(out, f"warned_{other}", share_interval(theirs["warned"], theirs["events"], stats))
    target = events[events["target"] == spec.target] if len(events) else events
    out["median_lead_h"] = median_lead(target["lead_h"].to_numpy(float)) if len(target) else np.nan
    out["median_lead_h_lo"], out["median_lead_h_hi"] = median_lead_ci(
        by_seed(target, seeds, "lead_h"), -grace_h, stats
    )
    quiet = per_seed(cells, seeds, "quiet_h")
    alerting = share_interval(per_seed(cells, seeds, "alert_quiet_h"), quiet, stats, False)
    put(out, "quiet_alert_fraction", alerting)
    n_false = per_seed(cells, seeds, "n_false")
    week = rate_interval(n_false, quiet / WEEK_H, stats)
    put(out, "false_per_quiet_week", week)
    put(out, "fp_rate", share_interval(n_false, per_seed(cells, seeds, "n_episodes"), stats, False))
    put(out, "budget_use_test", budget_use_interval(alerting, week, spec))
    out["over_budget_test"] = bool(out["budget_use_test"] > 1)
    out["episodes"] = int(cells["n_episodes"].sum()) if len(cells) else 0
    null = cells["scenario"].isin(null_controls) if len(cells) else None
    alarms = per_seed(cells, seeds, "arl_alarm", null) if len(cells) else np.zeros((len(seeds), 1))
    exposure = per_seed(cells, seeds, "arl_exposure_h", null) if len(cells) else np.zeros((len(seeds), 1))
    out["arl0_exposure_h"] = float(exposure.sum())
    arl0 = reciprocal(rate_interval(alarms, exposure, stats))
    put(
        out, "arl0_h", arl0 if np.isfinite(arl0.hi) else Estimate(arl0.value, arl0.lo, np.nan)
    )  # empty: unbounded
    resets = target[target["reset_h"].notna()] if len(target) else target
    times, censored = resets["reset_h"].to_numpy(float), resets["reset_censored"].to_numpy(bool)
    out["reset_km_median_h"] = float(km_median(times, censored))
    groups = [
        (g["reset_h"].to_numpy(float), g["reset_censored"].to_numpy(bool)) for _, g in resets.groupby("seed")
    ]
    out["reset_km_median_h_lo"], out["reset_km_median_h_hi"] = km_median_ci(groups, stats)
    out["reset_censored_share"] = float(censored.mean()) if len(censored) else np.nan
    return out


def scenario_rows(
    detector: str,
    events: pd.DataFrame,
    seeds: Sequence[int],
    scenarios: Sequence[str],
    null_controls: frozenset[str],
    spec: HeadlineSpec,
    stats: StatisticsSpec,
) -> list[dict]:
    """headline_scenarios.csv's rows of one detector: warned, before onset and detected per scenario,
    each with its interval over seeds; events of null controls are chance breaches."""
    counts = event_counts(events, spec.target, seeds, scenarios, spec.min_lead_h)
    rows = []
    for j, scenario in enumerate(scenarios):
        row: dict = {
            "detector": detector,
            "scenario": scenario,
            "events": int(counts["events"][:, j].sum()),
            "chance_breaches": scenario in null_controls,
        }
        for name in ("warned", "before_onset", "detected"):
            put(row, name, share_interval(counts[name][:, [j]], counts["events"][:, [j]], stats))
        rows.append(row)
    return rows
