"""Seeds until decided: run a study in batches of seeds until a named paired comparison on the
headline is settled, with a group-sequential design that keeps its error rate over all looks.

The looks are planned before the first seed runs: at ``seeds``, then every ``stop.batch`` more, up
to ``stop.max_seeds``. Each look's boundary comes from O'Brien-Fleming-type alpha spending
(``statistics.spending_boundaries``, total alpha 1 - ``statistics.confidence``, information fraction
= seeds / max_seeds): strict at the first looks, close to the fixed-sample level at the last.

Every round builds the headline (thresholds chosen at ``headline.budget`` on that round's
calibration seeds only) with its intervals at the look's level (``look_levels``) and reads its pair
``stop.compare[0]`` vs ``stop.compare[1]``: the paired difference in ``stop.metric`` (``warned`` or
``lead``) with that interval over seeds, a repeated confidence interval. It excludes 0 (the two
differ), or its half-width is below ``stop.halfwidth`` (they differ by less than that, if at all),
or the last look is reached; otherwise ``stop.batch`` more seeds run. The final headline is then
rebuilt from the stored cells at ``statistics.confidence``. With no matched pair (a compared
detector infeasible at the budget) the rule stops at once: more seeds do not answer a question the
budget rules out. The false "decided" rate over all looks is checked by Monte Carlo
(tests/test_stopping_mc.py; figures in docs/explanation/statistics.md).

The seed split is stable: the first batch is split as any study's (``split_seeds``), each added
batch on its own seeds (``extend_split``), so no seed changes sides and the final headline uses the
split of the last round. Every round runs into the same folder, so only the new seeds' cells are
computed, and a rerun of the same command replays the rounds from the stored cells.
``stopping.csv`` records every look: its split, level, spent alpha and why the rule stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.calibrate import extend_split, split_seeds
from harness.analysis.headline import Headline
from harness.analysis.headline.inference import oriented
from harness.analysis.statistics import (
    SEQUENTIAL_METHOD,
    look_levels,
    obf_spent,
)
from harness.config import StopSpec, StudyConfig
from harness.run.files import write_text
from harness.run.study import StudyResult, run_study
from scenarios.errors import InputError

STOPPING = "stopping.csv"
#: stop.metric -> the column of headline_pairs.csv it reads (with _lo, _hi) and its unit
METRICS = {"warned": ("warned_diff", "share of events warned ahead"), "lead": ("lead_diff_h", "h")}
NO_PAIR = "no matched pair"
MAX_LOOKS = 100


def stop_spec(raw: Mapping[str, Any] | None, study: StudyConfig) -> StopSpec:
    """Validate the ``stop:`` block against the study (its detectors, seeds and headline)."""
    raw = dict(raw or {})
    compare = raw.pop("compare", None)
    if compare is None:
        spec = StopSpec(**raw)
        for name, field in StopSpec.model_fields.items():
            if getattr(spec, name) != field.default:
                raise InputError(f"stop.{name}", "only used with stop.compare=[detector,reference]")
        return spec
    if not isinstance(compare, list | tuple) or len(compare) != 2 or compare[0] == compare[1]:
        raise InputError(
            "stop.compare",
            f"must name two different detectors, e.g. [transport,utilization]; got {compare!r}",
        )
    for name in compare:
        if name not in study.detectors:
            raise InputError(
                "stop.compare", f"{name!r} is not a selected detector; selected: {', '.join(study.detectors)}"
            )
    references = study.headline.references
    if compare[1] not in references:
        raise InputError(
            "stop.compare",
            f"the reference {compare[1]!r} must be one of headline.references ({', '.join(references)}): "
            "the rule reads the headline's pair",
        )
    spec = StopSpec(compare=(str(compare[0]), str(compare[1])), **raw)
    if len(study.seeds) < 2:
        raise InputError("seeds", f"the stopping rule starts with at least 2 seeds; got {len(study.seeds)}")
    if spec.max_seeds < len(study.seeds):
        raise InputError("stop.max_seeds", f"must be >= seeds ({len(study.seeds)}); got {spec.max_seeds}")
    if len(spec.looks(len(study.seeds))) > MAX_LOOKS:
        raise InputError(
            "stop.max_seeds",
            f"plans more than {MAX_LOOKS} looks from seeds={len(study.seeds)} in batches of {spec.batch}; "
            "raise stop.batch or lower stop.max_seeds",
        )
    return spec


def run_until_decided(study: StudyConfig, out_dir: Path, spec: StopSpec) -> tuple[StudyConfig, StudyResult]:
    """Run ``study`` (its seeds are the first batch) and add ``spec.batch`` seeds at a time until the
    comparison is decided at a planned look; returns the final study (with its split) and its
    result at ``statistics.confidence``, and writes stopping.csv."""
    cal, stats = study.calibrate, study.stats
    seeds = list(study.seeds)
    looks = spec.looks(len(seeds))
    fractions = np.array(looks) / spec.max_seeds
    alpha = 1 - stats.confidence
    levels = look_levels(fractions, alpha)
    calibration, test = split_seeds(seeds, cal.calibration_fraction, cal.split_seed)
    rounds = []
    for look, level in enumerate(levels):
        current = replace(study, seeds=tuple(seeds), split=(tuple(calibration), tuple(test)))
        result = run_study(
            replace(current, stats=stats.model_copy(update={"confidence": float(level)})), out_dir
        )
        pair, infeasible = pair_of(result.headline, spec)
        numbers = pair or dict.fromkeys(("estimate", "lo", "hi", "events"), np.nan)
        rounds.append(
            {
                "look": look + 1,
                "seeds": len(seeds),
                "calibration_seeds": " ".join(map(str, calibration)),
                "test_seeds": " ".join(map(str, test)),
                **numbers,
                "level": float(level),
                "spent_alpha": float(obf_spent(fractions[look], alpha)),
                "decision": NO_PAIR
                if pair is None
                else decision(numbers["lo"], numbers["hi"], spec.halfwidth, look == len(levels) - 1),
                "infeasible": " ".join(infeasible),
            }
        )
        if rounds[-1]["decision"]:
            break
        added = range(seeds[-1] + 1, seeds[0] + looks[look + 1])
        calibration, test = extend_split(calibration, test, added, cal.calibration_fraction, cal.split_seed)
        seeds += added
    table = pd.DataFrame(rounds)
    table.insert(0, "comparison", f"{spec.compared[0]} - {spec.compared[1]}")
    table.insert(1, "metric", spec.metric)
    table.insert(2, "target", study.headline.target)
    table.insert(3, "method", f"{SEQUENTIAL_METHOD}, alpha {alpha:g} over {len(looks)} planned looks")
    table.insert(table.columns.get_loc("hi") + 1, "halfwidth", (table["hi"] - table["lo"]) / 2)
    write_text(Path(out_dir) / STOPPING, table.to_csv(index=False))
    return current, run_study(current, out_dir)


def pair_of(headline: Headline | None, spec: StopSpec) -> tuple[dict | None, list[str]]:
    """(the round's numbers from the headline's pair row, or None; the compared detectors that are
    infeasible at the budget)."""
    if headline is None:
        return None, []
    feasible = dict(zip(headline.table["detector"], headline.table["feasible"].astype(bool), strict=True))
    infeasible = [d for d in spec.compared if not feasible.get(d, False)]
    pairs = headline.pairs
    if infeasible or pairs.empty:
        return None, infeasible
    column = METRICS[spec.metric][0]
    if column not in pairs:
        raise InputError(
            "stop.metric", f"{spec.metric!r} is not in the headline's pair table (no column {column})"
        )
    row = oriented(pairs, *spec.compared)
    if row is None:
        return None, []
    numbers = {"estimate": row[column], "lo": row[f"{column}_lo"], "hi": row[f"{column}_hi"]}
    return {**numbers, "events": row.get("events", np.nan)}, []


def decision(lo: float, hi: float, halfwidth: float, at_max: bool) -> str:
    """Why the rule stops at a look with repeated confidence interval [lo, hi] ('' to go on).

    >>> decision(0.1, 0.3, 0.05, False), decision(-0.02, 0.04, 0.05, False), decision(-1, 1, 0.05, True)
    ('excludes 0', 'narrower than the half-width', 'max_seeds reached')
    >>> decision(float("nan"), float("nan"), 0.05, False)
    ''
    """
    if lo > 0 or hi < 0:
        return "excludes 0"
    if (hi - lo) / 2 < halfwidth:
        return "narrower than the half-width"
    return "max_seeds reached" if at_max else ""


def stopped_split(run_dir: Path) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The (calibration, test) seeds of stopping.csv's last round, the split of the run's final
    headline; None without stopping.csv."""
    path = Path(run_dir) / STOPPING
    if not path.is_file():
        return None
    last = pd.read_csv(path, dtype={"calibration_seeds": str, "test_seeds": str}).iloc[-1]
    return tuple(map(int, last["calibration_seeds"].split())), tuple(map(int, last["test_seeds"].split()))


def stopping_text(table: pd.DataFrame) -> str:
    """The report's paragraph on why the study stopped, from stopping.csv."""
    last = table.iloc[-1]
    where = (
        f"at the headline's matched thresholds (chosen at the budget on each round's calibration seeds; "
        f"this round's: {last['calibration_seeds']}), on the test seeds ({last['test_seeds']})"
    )
    if last["decision"] == NO_PAIR:
        head = f"Stopped after {int(last['seeds'])} seeds with no matched pair for {last['comparison']}"
        if not isinstance(last["infeasible"], str):  # read back from an empty field
            return f"{head}: no cell succeeded, so there is no headline."
        names = " and ".join(last["infeasible"].split())
        return (
            f"{head}: {names} had no threshold within the headline's budget on the calibration seeds "
            f"{last['calibration_seeds']}, so the two cannot be compared at the same false-alarm cost. "
            "More seeds would not change the question; widen headline.budget or compare other detectors."
        )
    unit = METRICS[last["metric"]][1]
    why = {
        "excludes 0": "its repeated CI excludes 0: the two detectors differ",
        "narrower than the half-width": (
            "its repeated CI is narrower than the half-width: any difference is smaller"
        ),
        "max_seeds reached": "stop.max_seeds was reached with the question still open",
    }[last["decision"]]
    fmt = lambda x: "n/a" if not np.isfinite(x) else f"{x:+.3g}"  # noqa: E731
    rounds = ", ".join(
        f"{r.seeds} seeds: {fmt(r.estimate)} [{fmt(r.lo)}, {fmt(r.hi)}] at {r.level:.2%}"
        if r.decision != NO_PAIR
        else f"{r.seeds} seeds: no matched pair"
        for r in table.itertuples()
    )
    count = last["events"]
    events = f"{int(count)} paired events" if np.isfinite(count) else "the paired events"
    return (
        f"Stopped after {int(last['seeds'])} seeds because the paired difference {last['comparison']} in "
        f"{last['metric']} ({unit}) on {last['target']} events, {fmt(last['estimate'])} "
        f"[{fmt(last['lo'])}, {fmt(last['hi'])}] over {events}, {why}. It is {where}. "
        f"Method: {last['method']}; each look's interval is at its boundary's level, so the chance "
        f"of declaring a difference that is not there stays within alpha over all looks. Rounds: {rounds}."
    )
