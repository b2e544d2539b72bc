"""Nested tuning (DESIGN section 14): a detector's declared search space x every threshold.

A detector's YAML may declare ``search:``, parameter -> list of values; an entry whose values are
mappings sets several parameters together (e.g. seismic's ``(nsta, nlta)`` pairs) and its key is
only a label. The configurations are the shipped one first, then every combination of the entries
(duplicates of an earlier configuration dropped).

``select`` applies DESIGN section 5's budget rule to each configuration's exact threshold sweep
(:class:`harness.analysis.calibrate.Sweep`): the threshold that maximises recall of the target
within the budget (quiet-time alert fraction and false episodes per quiet week), ties to the higher
median lead, then the higher threshold; across configurations, the higher recall, then the higher
median lead, then the earlier configuration (the shipped one comes first).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.calibrate import Run, Sweep
from harness.analysis.scoring import ScoringSpec
from scenarios.errors import InputError

HOURS_PER_WEEK = 168.0


@dataclass(frozen=True)
class Budget:
    """The false-alarm budget every configuration and threshold must stay within."""

    quiet_alert_fraction: float = 0.01
    false_per_quiet_week: float = 1.0

    def __post_init__(self) -> None:
        for name in ("quiet_alert_fraction", "false_per_quiet_week"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise InputError(f"tune.{name}", f"must be a number >= 0; got {value!r}")


def configurations(spec: Mapping[str, Any], search: Mapping[str, Any], allowed: Sequence[str], where: str):
    """The shipped ``spec`` and every combination of the ``search`` entries, as (label, spec) pairs.

    >>> spec = {"_target_": "x.Y", "tau_h": 1.0, "layer": "plain"}
    >>> search = {"tau_h": [1.0, 2.0], "layer": ["split"]}
    >>> [label for label, _ in configurations(spec, search, ["tau_h", "layer"], "detector.transport.search")]
    ['shipped', 'tau_h=1.0, layer=split', 'tau_h=2.0, layer=split']
    """
    if not isinstance(search, Mapping) or not search:
        raise InputError(where, "must map parameters to lists of values")
    entries = []
    for key, values in search.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise InputError(f"{where}.{key}", f"must be a non-empty list of values; got {values!r}")
        settings = [dict(v) if isinstance(v, Mapping) else {key: v} for v in values]
        for setting in settings:
            for name in setting:
                if name not in allowed:
                    problem = f"{name!r} is not a parameter; allowed: {', '.join(allowed)}"
                    raise InputError(f"{where}.{key}", problem)
        entries.append(settings)
    out = [("shipped", dict(spec))]
    seen = [dict(spec)]
    for combo in itertools.product(*entries):
        changes = {k: v for setting in combo for k, v in setting.items()}
        candidate = {**spec, **changes}
        if candidate not in seen:
            seen.append(candidate)
            out.append((", ".join(f"{k}={v}" for k, v in changes.items()), candidate))
    return out


def best_threshold(curve: pd.DataFrame, budget: Budget) -> pd.Series | None:
    """The curve's row of highest recall within the budget; ties: higher median lead, then higher
    threshold. None when no threshold fits the budget (a threshold without episodes has none)."""
    false_week = curve["n_false"] / curve["quiet_h"] * HOURS_PER_WEEK
    ok = (curve["quiet_alert_fraction"].fillna(0.0) <= budget.quiet_alert_fraction) & (
        false_week.fillna(0.0) <= budget.false_per_quiet_week
    )
    feasible = curve[ok & curve["recall"].notna()]
    if feasible.empty:
        return None
    ranked = feasible.sort_values(
        ["recall", "median_lead_h", "threshold"], ascending=[False, False, False], kind="stable"
    )
    return ranked.iloc[0]


def choose(curves_by_config: Mapping[str, pd.DataFrame], budget: Budget) -> tuple[str, float] | None:
    """The (configuration, threshold) of the budget rule from each configuration's operating curve,
    or None if no configuration has a threshold within the budget. Configurations keep their order."""
    best: tuple[str, float] | None = None
    best_key = (-np.inf, -np.inf)
    for label, curve in curves_by_config.items():
        row = best_threshold(curve, budget)
        if row is None:
            continue
        key = (float(row["recall"]), float(row["median_lead_h"]))
        if key > best_key:
            best, best_key = (label, float(row["threshold"])), key
    return best


def select(
    runs_by_config: Mapping[str, Sequence[Run]],
    budget: Budget,
    spec: ScoringSpec | None = None,
    target: str = "utilization_breach",
) -> tuple[str, float] | None:
    """The (configuration, threshold) the budget rule chooses on these runs (see ``choose``)."""
    spec = spec or ScoringSpec()
    curves = {label: Sweep(runs, spec, target).curve() for label, runs in runs_by_config.items()}
    return choose(curves, budget)


def at_threshold(sweep: Sweep, threshold: float) -> dict[str, float]:
    """Pooled metrics of a sweep's runs alerting at score >= ``threshold``."""
    row = sweep.curve([threshold]).iloc[0]
    false_week = row["n_false"] / row["quiet_h"] * HOURS_PER_WEEK if row["quiet_h"] > 0 else np.nan
    return {
        "recall": float(row["recall"]),
        "median_lead_h": float(row["median_lead_h"]),
        "quiet_alert_fraction": float(row["quiet_alert_fraction"]),
        "false_per_quiet_week": float(false_week),
        "fp_rate": float(row["fp_rate"]),
        "n_events": int(row["n_events"]),
    }
