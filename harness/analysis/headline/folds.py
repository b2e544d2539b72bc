"""Threshold selection within the budget, and cross-fitting over seeds.

Seeds are split into K folds (``headline.folds``); each fold's threshold is chosen on the other
folds' seeds and the fold's own seeds are scored at it, so every seed is reported once and never at
a threshold it helped choose. With K = 1 there is one calibration/test split (``calibrate.*``).
The threshold a user deploys is the one the same rule chooses on all seeds; it scores nothing.

The rule, on the pooled operating curve of the choosing seeds: among thresholds within the budget,
the most target events warned >= ``min_lead_h`` ahead (the macro-average over scenarios), then the
higher median lead, then the higher threshold. With none within the budget the detector is
infeasible and gets its nearest point: the smallest budget use, ties as above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.calibrate import Pick, Run, Sweep, split_seeds
from harness.analysis.headline.spec import HeadlineSpec, budget_use, with_week
from harness.analysis.scoring import ScoringSpec
from scenarios.errors import InputError

Runs = Mapping[tuple[str, int], Run]
Sweeps = Mapping[tuple[str, int], Sweep]
SHOWN = ("warned", "recall", "median_lead_h", "quiet_alert_fraction", "false_per_quiet_week", "fp_rate")


@dataclass(frozen=True)
class Fold:
    """The seeds that choose a threshold and the seeds scored at it."""

    index: int
    calibration: tuple[int, ...]
    test: tuple[int, ...]


def make_folds(seeds: Sequence[int], folds: int, calibration_fraction: float, split_seed: int) -> list[Fold]:
    """K folds of the seeds (at most one per seed), assigned by a permutation drawn from
    ``split_seed``; K = 1: the calibration/test split of ``split_seeds``.

    >>> [f.test for f in make_folds(range(6), 3, 0.5, 0)]
    [(3, 4), (0, 2), (1, 5)]
    """
    seeds = sorted({int(s) for s in seeds})
    if folds == 1:
        calibration, test = split_seeds(seeds, calibration_fraction, split_seed)
        return [Fold(0, tuple(calibration), tuple(test))]
    if len(seeds) < 2:
        raise InputError("seeds", f"cross-fitting needs at least 2 seeds; got {len(seeds)}")
    k = min(folds, len(seeds))
    member = np.empty(len(seeds), int)
    member[np.random.default_rng(split_seed).permutation(len(seeds))] = np.arange(len(seeds)) % k
    return [
        Fold(
            j,
            tuple(s for s, m in zip(seeds, member, strict=True) if m != j),
            tuple(s for s, m in zip(seeds, member, strict=True) if m == j),
        )
        for j in range(k)
    ]


def run_sweeps(runs: Runs, scoring: ScoringSpec, target: str) -> dict[tuple[str, int], Sweep]:
    """Each run's exact threshold sweep, derived once and combined for any set of seeds."""
    return {key: Sweep([runs[key]], scoring, target) for key in sorted(runs)}


def selection_curve(sweeps: Sweeps, seeds: Sequence[int], spec: HeadlineSpec) -> pd.DataFrame:
    """The pooled operating curve of ``seeds``' runs at every distinct score value, with ``warned``
    (macro-average over scenarios with target events of the share warned >= min_lead_h ahead) and
    ``budget_use``."""
    keys = sorted(k for k in sweeps if k[1] in set(seeds))
    pooled = Sweep.combine([sweeps[k] for k in keys])
    grid = pooled.candidates
    curve = with_week(pooled.curve(grid))
    shares = []
    for scenario in sorted({k[0] for k in keys}):
        one = Sweep.combine([sweeps[k] for k in keys if k[0] == scenario])
        if len(one.detect):
            shares.append(one.covered(spec.min_lead_h, grid) / len(one.detect))
    warned = np.mean(shares, axis=0) if shares else np.full(len(grid), np.nan)
    return curve.assign(warned=warned, budget_use=budget_use(curve, spec))


def choose_in_budget(curve: pd.DataFrame, spec: HeadlineSpec) -> tuple[pd.Series | None, bool]:
    """(row, feasible): the best row of a selection curve within the budget, else the nearest one;
    (None, False) when the curve is empty (see the module for the order)."""
    if curve.empty:
        return None, False
    ranked = curve.assign(_warned=curve["warned"].fillna(-1.0), _lead=curve["median_lead_h"].fillna(-np.inf))
    within = ranked[ranked["budget_use"] <= 1.0]
    feasible = not within.empty
    pool = within if feasible else ranked[ranked["budget_use"] == ranked["budget_use"].min()]
    best = pool.sort_values(
        ["_warned", "_lead", "threshold"], ascending=[False, False, False], kind="stable"
    ).iloc[0]
    return best.drop(["_warned", "_lead"]), feasible


@dataclass(frozen=True)
class Choice:
    """A threshold chosen on some seeds, and the pooled numbers of those seeds at it."""

    threshold: float  # NaN: no scored value at all
    feasible: bool
    budget_use: float  # on the choosing seeds; <= 1 within the budget
    chosen: dict[str, float] = field(default_factory=dict)


def choose(sweeps: Sweeps, seeds: Sequence[int], spec: HeadlineSpec) -> Choice:
    """The rule's threshold on ``seeds``' runs alone."""
    row, feasible = choose_in_budget(selection_curve(sweeps, seeds, spec), spec)
    if row is None:
        return Choice(np.nan, False, np.nan)
    chosen = {name: float(row[name]) for name in SHOWN}
    return Choice(float(row["threshold"]), feasible, float(row["budget_use"]), chosen)


def budget_rule(spec: HeadlineSpec) -> Pick:
    """The headline's rule as a calibration rule (``calibrate.rule: budget``) on a pooled curve
    (warned pooled over events there); when nothing is within the budget, the nearest point's
    threshold and budget use."""

    def pick(curve: pd.DataFrame) -> tuple[pd.Series | None, dict]:
        if "warned" not in curve:
            raise ValueError("the budget rule needs the curve's warned column (Sweep.covered)")
        row, feasible = choose_in_budget(curve.assign(budget_use=budget_use(curve, spec)), spec)
        if row is None:
            return None, {}
        extra = {"budget_use": float(row["budget_use"])}
        if not feasible:
            extra["nearest_threshold"] = float(row["threshold"])
        return (row if feasible else None), extra

    return pick
