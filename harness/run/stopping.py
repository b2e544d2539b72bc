"""Seeds until decided: run a study in batches of seeds until a named paired comparison is settled.

After each round the paired difference ``stop.compare[0] - stop.compare[1]`` of ``stop.metric``
(recall or lead, ``harness.analysis.paired``) on ``stop.target``'s events, with its bootstrap CI
over seeds, decides: the CI excludes 0 (the two differ), or its half-width is below
``stop.halfwidth`` (they differ by less than that, if at all), or ``stop.max_seeds`` is reached;
otherwise ``stop.batch`` more seeds run. Every round runs into the same folder, so only the new
seeds' cells are computed, and a rerun of the same command replays the rounds from the stored cells
(resumable like any study). ``stopping.csv`` records every round and why it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.paired import METRICS, paired_difference
from harness.config import StudyConfig
from harness.run.files import write_text
from harness.run.study import StudyResult, run_study
from scenarios.errors import InputError
from scenarios.truth import TARGETS

STOPPING = "stopping.csv"
UNITS = {"recall": "recall points (fraction)", "lead": "h"}


@dataclass(frozen=True)
class StopSpec:
    """The ``stop:`` settings; ``compare`` None: no stopping rule, the study runs ``seeds`` seeds."""

    compare: tuple[str, str] | None = None
    metric: str = "recall"
    target: str = "utilization_breach"
    halfwidth: float = 0.05
    batch: int = 5
    max_seeds: int = 50

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise InputError("stop.metric", f"must be one of {', '.join(METRICS)}; got {self.metric!r}")
        if self.target not in TARGETS:
            raise InputError("stop.target", f"must be one of {', '.join(TARGETS)}; got {self.target!r}")
        number = isinstance(self.halfwidth, int | float) and not isinstance(self.halfwidth, bool)
        if not number or not self.halfwidth > 0:
            raise InputError("stop.halfwidth", f"must be a number > 0; got {self.halfwidth!r}")
        for name in ("batch", "max_seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"stop.{name}", f"must be an integer >= 1; got {value!r}")


def stop_spec(raw: Mapping[str, Any] | None, study: StudyConfig) -> StopSpec:
    """Validate the ``stop:`` block against the study (its detectors and seeds)."""
    raw = dict(raw or {})
    allowed = [f.name for f in fields(StopSpec)]
    for key in raw:
        if key not in allowed:
            raise InputError(f"stop.{key}", f"unknown setting; allowed: {', '.join(allowed)}")
    compare = raw.pop("compare", None)
    if compare is None:
        spec = StopSpec(**raw)
        for f in fields(StopSpec):
            if getattr(spec, f.name) != f.default:
                raise InputError(f"stop.{f.name}", "only used with stop.compare=[detector,reference]")
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
    spec = StopSpec(compare=(str(compare[0]), str(compare[1])), **raw)
    if spec.max_seeds < len(study.seeds):
        raise InputError("stop.max_seeds", f"must be >= seeds ({len(study.seeds)}); got {spec.max_seeds}")
    return spec


def run_until_decided(study: StudyConfig, out_dir: Path, spec: StopSpec) -> tuple[StudyConfig, StudyResult]:
    """Run ``study`` (its seeds are the first batch) and add ``spec.batch`` seeds at a time until the
    comparison is decided; returns the final study and its result, and writes stopping.csv."""
    first, n = study.seeds[0], len(study.seeds)
    rounds = []
    while True:
        current = replace(study, seeds=tuple(range(first, first + n)))
        result = run_study(current, out_dir)
        ok = set(result.cells.loc[result.cells["status"] == "ok", "key"])
        diff = paired_difference(
            result.events[result.events["key"].isin(ok)], *spec.compare, spec.metric, spec.target, study.stats
        )
        reason = decision(diff.lo, diff.hi, spec.halfwidth, n >= spec.max_seeds)
        rounds.append({"seeds": n, **vars(diff), "halfwidth": diff.halfwidth, "decision": reason})
        if reason:
            break
        n = min(n + spec.batch, spec.max_seeds)
    table = pd.DataFrame(rounds)
    table.insert(0, "comparison", f"{spec.compare[0]} - {spec.compare[1]}")
    table.insert(1, "metric", spec.metric)
    table.insert(2, "target", spec.target)
    write_text(Path(out_dir) / STOPPING, table.to_csv(index=False))
    return current, result


def decision(lo: float, hi: float, halfwidth: float, at_max: bool) -> str:
    """Why the rule stops here ('' to go on).

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


def stopping_text(table: pd.DataFrame) -> str:
    """The report's paragraph on why the study stopped, from stopping.csv."""
    last = table.iloc[-1]
    unit = UNITS[last["metric"]]
    why = {
        "excludes 0": "its CI excludes 0: the two detectors differ",
        "narrower than the half-width": "its CI is narrower than the half-width: any difference is smaller",
        "max_seeds reached": "stop.max_seeds was reached with the question still open",
    }[last["decision"]]
    rounds = ", ".join(
        f"{r.seeds} seeds: {r.estimate:+.3g} [{r.lo:+.3g}, {r.hi:+.3g}]" for r in table.itertuples()
    )
    return (
        f"Stopped after {int(last['seeds'])} seeds because the paired difference {last['comparison']} in "
        f"{last['metric']} ({unit}) on {last['target']} events, {last['estimate']:+.3g} "
        f"[{last['lo']:+.3g}, {last['hi']:+.3g}] over {int(last['n_events'])} paired events"
        f"{' both detected' if last['metric'] == 'lead' else ''}, {why}. "
        f"Rounds: {rounds}. The comparison is at the thresholds the study scored (shipped levels, or "
        "scoring.thresholds)."
    )
