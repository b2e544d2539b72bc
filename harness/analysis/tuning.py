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
use), marked infeasible. ``report`` scores the picks on the test seeds with the headline's own
numbers and intervals, and pairs the tuned choice with the shipped one on the same events.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.calibrate import Sweep
from harness.analysis.headline.folds import Runs, choose_in_budget, run_sweeps, selection_curve
from harness.analysis.headline.inference import PairInput, pair_table, seed_median_leads
from harness.analysis.headline.metrics import detector_metrics, event_counts, score_runs
from harness.analysis.headline.spec import HeadlineSpec, budget_use, with_week
from harness.analysis.scoring import ScoringSpec
from harness.analysis.statistics import StatisticsSpec
from scenarios.errors import InputError
from scenarios.params import Declared, check_values

SHIPPED, TUNED, ORACLE = "shipped", "tuned", "oracle"
ORACLE_LABEL = "oracle: chosen on the test seeds; an optimistic bound, not a result"
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


def at_threshold(runs: Runs, threshold: float, scoring: ScoringSpec, spec: HeadlineSpec) -> dict[str, float]:
    """Pooled metrics of ``runs`` alerting at score >= ``threshold``."""
    sweeps = run_sweeps(runs, scoring, spec.target)
    row = with_week(Sweep.combine(list(sweeps.values())).curve([threshold])).iloc[0]
    warned = selection_curve(sweeps, sorted({s for _, s in runs}), spec)
    at = warned[warned["threshold"] <= threshold]
    return {
        **{name: float(row[name]) for name in SHOWN if name != "warned"},
        "warned": float(at["warned"].iloc[-1]) if len(at) else 0.0,
    }


@dataclass(frozen=True)
class Split:
    """Every configuration's runs on the calibration and on the test seeds."""

    calibration: Mapping[str, Runs]
    test: Mapping[str, Runs]
    test_seeds: Sequence[int]


def picks(split: Split, scoring: ScoringSpec, spec: HeadlineSpec) -> dict[str, Pick | None]:
    """shipped (the shipped configuration's threshold) and tuned, on the calibration seeds; the
    oracle on the test seeds."""
    shipped = {SHIPPED: split.calibration[SHIPPED]} if SHIPPED in split.calibration else {}
    return {
        SHIPPED: select(shipped, scoring, spec),
        TUNED: select(split.calibration, scoring, spec),
        ORACLE: select(split.test, scoring, spec),
    }


def report(
    detector: str, split: Split, scoring: ScoringSpec, spec: HeadlineSpec, stats: StatisticsSpec
) -> list[dict]:
    """One row per choice: the pick, its metrics on the calibration seeds, and the headline's numbers
    with intervals on the test seeds; the tuned row also holds the paired difference tuned minus
    shipped on the same test-seed events (both feasible only, as the headline's pairs)."""
    rows, inputs = [], {}
    seeds = list(split.test_seeds)
    for choice, pick in picks(split, scoring, spec).items():
        row: dict = {
            "detector": detector,
            "choice": choice,
            "chosen_on": "test" if choice == ORACLE else "calibration",
        }
        if pick is None:
            rows.append({**row, "feasible": False})
            continue
        row.update(
            config=pick.config, threshold=pick.threshold, feasible=pick.feasible, budget_use=pick.budget_use
        )
        at = at_threshold(split.calibration[pick.config], pick.threshold, scoring, spec)
        row.update({f"calibration_{k}": v for k, v in at.items()})
        runs = split.test[pick.config]
        scenarios = sorted({scenario for scenario, _ in runs})
        cells, events = score_runs(f"{detector} ({choice})", runs, pick.threshold, scoring)
        row.update(
            detector_metrics(cells, events, seeds, scenarios, frozenset(), spec, stats, scoring.grace_h)
        )
        counts = event_counts(events, spec.target, seeds, scenarios, spec.min_lead_h)
        leads = seed_median_leads(events, spec.target, seeds, -scoring.grace_h)
        inputs[choice] = PairInput(counts["events"], counts["warned"], leads, bool(row["over_budget_test"]))
        rows.append(row)
    shipped, tuned = rows[0], rows[1]
    if shipped["feasible"] and tuned["feasible"]:
        names = {TUNED: f"{detector} ({TUNED})", SHIPPED: f"{detector} ({SHIPPED})"}
        family = spec.model_copy(update={"references": (names[SHIPPED],)})
        both = {names[c]: inputs[c] for c in (TUNED, SHIPPED)}
        pair = pair_table([names[TUNED]], both, family, stats).to_dict("records")[0]
        same = (tuned["config"], tuned["threshold"]) == (shipped["config"], shipped["threshold"])
        sentence = f"{detector}: the tuned choice is the shipped one." if same else pair["sentence"]
        tuned.update({k: pair[k] for k in PAIR_COLUMNS}, pair_sentence=sentence)
    return rows


def search_rows(detector: str, split: Split, scoring: ScoringSpec, spec: HeadlineSpec) -> list[dict]:
    """Every configuration's own pick on the calibration seeds."""
    rows = []
    for label, runs in split.calibration.items():
        pick = select({label: runs}, scoring, spec)
        row: dict = {"detector": detector, "config": label, "feasible": bool(pick and pick.feasible)}
        if pick is not None:
            row.update(threshold=pick.threshold, budget_use=pick.budget_use)
            row.update({f"calibration_{k}": v for k, v in pick.chosen.items()})
        rows.append(row)
    return rows
