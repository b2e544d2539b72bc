"""Nested tuning (DESIGN section 14): a detector's declared search space x every threshold, chosen by
the headline's rule.

A detector's YAML may declare ``search:``, parameter -> list of values; an entry whose values are
mappings sets several parameters together (e.g. seismic's ``(nsta, nlta)`` pairs) and its key is
only a label. The configurations are the shipped one first, then every combination of the entries
(duplicates of an earlier configuration dropped).

Selection is the headline's (harness.analysis.headline): on each configuration's exact threshold
sweep, ``choose_in_budget`` picks the threshold; across configurations (``choose``), the feasible
one with the most target events detected, then the higher median lead, then the earlier
configuration (the shipped one comes first); with none feasible, the nearest point (smallest budget
use), marked infeasible.

Tuning rides on the headline's folds (``headline.folds``; harness.analysis.headline.folds): each
fold's configuration and threshold are chosen on the other folds' seeds and the fold's seeds are
scored at them, so the tuned detector is reported out of fold exactly like a headline row and is
comparable with the shipped configuration's row (chosen the same way). ``report`` adds the
headline's numbers and intervals over every scored seed, the per-fold choices, and the pair tuned
minus shipped on the same events; the oracle, chosen on the scored seeds, stays apart and labelled.
With one fold this is the single calibration/test split.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.headline.folds import Fold, Runs, choose_in_budget, run_sweeps, selection_curve
from harness.analysis.headline.inference import PairInput, pair_table, seed_median_leads
from harness.analysis.headline.metrics import detector_metrics, event_counts, score_runs
from harness.analysis.headline.spec import HeadlineSpec, budget_use, with_week
from harness.analysis.scoring import ScoringSpec
from harness.analysis.statistics import StatisticsSpec
from scenarios.errors import InputError
from scenarios.params import Declared, check_values

SHIPPED, TUNED, ORACLE = "shipped", "tuned", "oracle"
ORACLE_LABEL = "oracle: chosen on the seeds it is scored on; an optimistic bound, not a result"
SHOWN = ("warned", "recall", "median_lead_h", "quiet_alert_fraction", "false_per_quiet_week", "fp_rate")
PAIR_COLUMNS = (
    "events",
    *(f"{m}{s}" for m in ("warned_diff", "lead_diff_h") for s in ("", "_lo", "_hi")),
    "warned_p",
    "lead_p",
)


def configurations(spec: Mapping[str, Any], search: Mapping[str, Any], owner: type, where: str):
    """The shipped ``spec`` and every combination of the ``search`` entries, as (label, spec) pairs.

    Each entry names parameters of ``owner`` (the class ``spec`` builds); a class that declares its
    settings (``scenarios.params``) has every searched value checked against the declaration.

    >>> from detectors.transport import TransportDetector
    >>> spec = {"_target_": "detectors.transport.TransportDetector", "tau_h": 1.0, "layer": "plain"}
    >>> search = {"tau_h": [1.0, 2.0], "layer": ["split"]}
    >>> [label for label, _ in configurations(spec, search, TransportDetector, "detector.transport.search")]
    ['shipped', 'tau_h=1.0, layer=split', 'tau_h=2.0, layer=split']
    >>> configurations(spec, {"tau_h": [-1.0]}, TransportDetector, "detector.transport.search")
    Traceback (most recent call last):
    ...
    scenarios.errors.InputError: detector.transport.search.tau_h: must be a number of hours >= 0; got -1.0
    """
    allowed = list(inspect.signature(owner).parameters)
    declared = isinstance(owner, type) and issubclass(owner, Declared) and owner.__init__ is Declared.__init__
    if not isinstance(search, Mapping) or not search:
        raise InputError(where, "must map parameters to lists of values")
    entries = []
    for key, values in search.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise InputError(f"{where}.{key}", f"must be a non-empty list of values; got {values!r}")
        settings = [dict(v) if isinstance(v, Mapping) else {key: v} for v in values]
        for setting in settings:
            for name, value in setting.items():
                if name not in allowed:
                    problem = f"{name!r} is not a parameter; allowed: {', '.join(allowed)}"
                    raise InputError(f"{where}.{key}", problem)
                if declared:
                    check_values(owner, name, [value], where if name == key else f"{where}.{key}")
        entries.append(settings)
    out = [(SHIPPED, dict(spec))]
    seen = [dict(spec)]
    for combo in itertools.product(*entries):
        changes = {k: v for setting in combo for k, v in setting.items()}
        candidate = {**spec, **changes}
        if candidate not in seen:
            seen.append(candidate)
            out.append((", ".join(f"{k}={v}" for k, v in changes.items()), candidate))
    return out


@dataclass(frozen=True)
class Pick:
    """One configuration and threshold, and the pooled metrics of the seeds it was chosen on."""

    config: str
    threshold: float
    feasible: bool
    budget_use: float  # <= 1 within the budget
    chosen: dict[str, float]


def curve_of(runs: Runs, scoring: ScoringSpec, spec: HeadlineSpec) -> pd.DataFrame:
    """The headline's selection curve of ``runs`` (every distinct score value, warned macro over
    scenarios)."""
    return selection_curve(run_sweeps(runs, scoring, spec.target), sorted({s for _, s in runs}), spec)


def choose(curves: Mapping[str, pd.DataFrame], spec: HeadlineSpec) -> Pick | None:
    """The headline's rule across configurations' operating curves (in order; see the module);
    None when no configuration has a scored value."""
    best, best_key = None, None
    for label, curve in curves.items():
        curve = curve if "false_per_quiet_week" in curve else with_week(curve)
        row, feasible = choose_in_budget(curve.assign(budget_use=budget_use(curve, spec)), spec)
        if row is None:
            continue
        lead = float(row["median_lead_h"]) if pd.notna(row["median_lead_h"]) else -np.inf
        use = float(row["budget_use"])
        warned = float(row["warned"]) if pd.notna(row["warned"]) else -1.0
        key = (feasible, 0.0 if feasible else -use, warned, lead)
        if best_key is None or key > best_key:  # ties keep the earlier configuration
            chosen = {name: float(row[name]) for name in SHOWN}
            best, best_key = Pick(label, float(row["threshold"]), feasible, use, chosen), key
    return best


def select(runs_by_config: Mapping[str, Runs], scoring: ScoringSpec, spec: HeadlineSpec) -> Pick | None:
    """The configuration and threshold the headline's rule chooses on these runs."""
    return choose({label: curve_of(runs, scoring, spec) for label, runs in runs_by_config.items()}, spec)


@dataclass(frozen=True)
class Folded:
    """Every configuration's runs (by label) on every seed, and the headline's folds over the seeds."""

    runs: Mapping[str, Runs]
    folds: Sequence[Fold]

    def on(self, seeds: Sequence[int]) -> dict[str, Runs]:
        """Every configuration's runs on ``seeds`` alone."""
        keep = set(seeds)
        return {label: {k: r for k, r in runs.items() if k[1] in keep} for label, runs in self.runs.items()}

    @property
    def scored_seeds(self) -> list[int]:
        """Every seed reported (out of fold): the union of the folds' test seeds."""
        return sorted({s for fold in self.folds for s in fold.test})

    @property
    def deploy_seeds(self) -> list[int]:
        """The seeds the deployable choice is made on: all seeds when cross-fitted (as the headline's
        ``threshold``; it scores nothing), the calibration seeds of a single split."""
        if len(self.folds) == 1:
            return list(self.folds[0].calibration)
        return sorted({s for fold in self.folds for s in (*fold.calibration, *fold.test)})


def restricted(runs: Mapping[str, Runs], choice: str) -> dict[str, Runs]:
    """The configurations ``choice`` chooses among: the shipped one alone, or all."""
    if choice == SHIPPED:
        return {SHIPPED: runs[SHIPPED]} if SHIPPED in runs else {}
    return dict(runs)


def fold_picks(folded: Folded, choice: str, scoring: ScoringSpec, spec: HeadlineSpec) -> list[Pick | None]:
    """Each fold's pick (shipped or tuned) chosen on the other folds' seeds alone."""
    return [select(restricted(folded.on(fold.calibration), choice), scoring, spec) for fold in folded.folds]


def out_of_fold(
    name: str, folded: Folded, picks: Sequence[Pick | None], scoring: ScoringSpec
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(cells, events) of each fold's seeds at that fold's pick (column ``fold``); None if none scored."""
    cells, events = [], []
    for fold, pick in zip(folded.folds, picks, strict=True):
        held_out = folded.on(fold.test).get(pick.config, {}) if pick is not None else {}
        if pick is not None and held_out:
            c, e = score_runs(name, held_out, pick.threshold, scoring)
            cells.append(c.assign(fold=fold.index))
            events.append(e.assign(fold=fold.index))
    if not cells:
        return None
    return pd.concat(cells, ignore_index=True), pd.concat(events, ignore_index=True)


def fold_columns(picks: Sequence[Pick | None]) -> dict:
    """The per-fold choices as the headline shows them: thresholds (median, range), each fold's
    configuration and threshold, feasible only if every fold is, the largest budget use."""
    thresholds = np.array([p.threshold if p is not None else np.nan for p in picks])
    known = thresholds[np.isfinite(thresholds)]
    shown = [f"{p.config} @ {p.threshold:.4g}" if p is not None else "none" for p in picks]
    return {
        "threshold_fold_median": float(np.median(known)) if known.size else np.nan,
        "threshold_fold_min": float(known.min()) if known.size else np.nan,
        "threshold_fold_max": float(known.max()) if known.size else np.nan,
        "fold_choices": "; ".join(f"fold {j}: {text}" for j, text in enumerate(shown)),
        "feasible": all(p is not None and p.feasible for p in picks),
        "budget_use": max((p.budget_use for p in picks if p is not None), default=np.nan),
    }


def report(
    detector: str, folded: Folded, scoring: ScoringSpec, spec: HeadlineSpec, stats: StatisticsSpec
) -> list[dict]:
    """One row per choice, reported like a headline row. shipped and tuned: each fold's seeds scored
    at the pick chosen on the other folds, with the headline's numbers and intervals over every
    scored seed; ``config`` and ``threshold`` are the deployable pick (``Folded.deploy_seeds``) and
    score nothing. The oracle: one pick chosen on the scored seeds and scored on them. The tuned row
    also holds the paired difference tuned minus shipped on the same events (both feasible only)."""
    rows, inputs = [], {}
    seeds = folded.scored_seeds
    single = len(folded.folds) == 1
    for choice in (SHIPPED, TUNED, ORACLE):
        oracle = choice == ORACLE
        chosen_on = (
            ("test" if single else "scored seeds") if oracle else ("calibration" if single else "other folds")
        )
        row: dict = {"detector": detector, "choice": choice, "chosen_on": chosen_on}
        choosing = seeds if oracle else folded.deploy_seeds
        pick = select(restricted(folded.on(choosing), choice), scoring, spec)
        if pick is None:
            rows.append({**row, "feasible": False})
            continue
        row.update(
            config=pick.config, threshold=pick.threshold, feasible=pick.feasible, budget_use=pick.budget_use
        )
        row.update({f"calibration_{k}": v for k, v in pick.chosen.items()})
        if oracle:
            scored = out_of_fold(
                f"{detector} ({choice})", Folded(folded.runs, [Fold(0, (), tuple(seeds))]), [pick], scoring
            )
        else:
            picks = fold_picks(folded, choice, scoring, spec)
            row.update(fold_columns(picks))
            scored = out_of_fold(f"{detector} ({choice})", folded, picks, scoring)
        if scored is None:
            rows.append(row)
            continue
        cells, events = scored
        scenarios = sorted({scenario for runs in folded.runs.values() for scenario, _ in runs})
        row.update(
            detector_metrics(cells, events, seeds, scenarios, frozenset(), spec, stats, scoring.grace_h)
        )
        counts = event_counts(events, spec.target, seeds, scenarios, spec.min_lead_h)
        leads = seed_median_leads(events, spec.target, seeds, -scoring.grace_h)
        inputs[choice] = PairInput(counts["events"], counts["warned"], leads, bool(row["over_budget_test"]))
        rows.append(row)
    shipped, tuned = rows[0], rows[1]
    if shipped["feasible"] and tuned["feasible"] and SHIPPED in inputs and TUNED in inputs:
        names = {TUNED: f"{detector} ({TUNED})", SHIPPED: f"{detector} ({SHIPPED})"}
        family = spec.model_copy(update={"references": (names[SHIPPED],)})
        both = {names[c]: inputs[c] for c in (TUNED, SHIPPED)}
        pair = pair_table([names[TUNED]], both, family, stats).to_dict("records")[0]
        same = tuned.get("fold_choices") == shipped.get("fold_choices")
        sentence = f"{detector}: the tuned choice is the shipped one." if same else pair["sentence"]
        tuned.update({k: pair[k] for k in PAIR_COLUMNS}, pair_sentence=sentence)
    return rows


def search_rows(detector: str, folded: Folded, scoring: ScoringSpec, spec: HeadlineSpec) -> list[dict]:
    """Every configuration's own pick on the seeds the deployable choice is made on."""
    rows = []
    for label, runs in folded.on(folded.deploy_seeds).items():
        pick = select({label: runs}, scoring, spec)
        row: dict = {"detector": detector, "config": label, "feasible": bool(pick and pick.feasible)}
        if pick is not None:
            row.update(threshold=pick.threshold, budget_use=pick.budget_use)
            row.update({f"calibration_{k}": v for k, v in pick.chosen.items()})
        rows.append(row)
    return rows
