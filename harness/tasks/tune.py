"""``tdbench task=tune``: each detector's declared search space, chosen on the calibration seeds.

Every (scenario, seed) of the study is simulated once, and every configuration of every selected
detector runs in batch on that one trace (``Detector.run``). Seeds split into calibration and test
sets as for ``task=calibrate`` (``calibrate.calibration_fraction``, ``calibrate.split_seed``). On
the calibration seeds, harness.analysis.tuning's budget rule chooses a configuration and threshold
under the ``tune`` budget; the test seeds only report it, beside the shipped configuration (its
threshold chosen the same way) and, apart and labelled, the oracle chosen on the test seeds.
Detectors without ``search:`` take part with their shipped configuration only.
"""

from __future__ import annotations

import inspect
import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from harness.analysis.calibrate import CalibrationSpec, Run, Sweep, split_seeds
from harness.analysis.tuning import Budget, at_threshold, choose, configurations
from harness.config import StudyConfig, build, load_study, resolve
from harness.run.executors import execute
from harness.run.files import write_text
from harness.run.jobs import Job, simulate_job
from harness.run.plan import plan_jobs
from scenarios.errors import InputError
from scenarios.truth import TARGETS

CHOICES = ("shipped", "tuned", "oracle (tuned on test)")
REPORTED = ("recall", "median_lead_h", "quiet_alert_fraction", "false_per_quiet_week", "fp_rate")


@dataclass(frozen=True)
class TuneSpec:
    """The ``tune`` config section."""

    target: str = "utilization_breach"
    quiet_alert_fraction: float = 0.01
    false_per_quiet_week: float = 1.0
    announce_above: int = 20

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InputError("tune.target", f"must be one of {', '.join(TARGETS)}; got {self.target!r}")
        Budget(self.quiet_alert_fraction, self.false_per_quiet_week)
        value = self.announce_above
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError("tune.announce_above", f"must be an integer >= 1; got {value!r}")

    @property
    def budget(self) -> Budget:
        return Budget(self.quiet_alert_fraction, self.false_per_quiet_week)


@dataclass(frozen=True)
class Plan:
    study: StudyConfig  # its detectors: every configuration, named "<detector>[<label>]"
    tune: TuneSpec
    calibration: list[int]
    test: list[int]
    configs: dict[str, list[tuple[str, str, dict]]]  # detector -> (config name, label, spec)


def config_name(detector: str, label: str) -> str:
    return detector if label == "shipped" else f"{detector}[{label}]"


def _plan(cfg: DictConfig) -> Plan:
    study = load_study(cfg)
    if study.executor.cell_timeout_s is not None:
        raise InputError("executor.cell_timeout_s", "task=tune runs without a time limit; leave it null")
    raw = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    values = dict(raw.get("tune") or {})
    allowed = list(TuneSpec.__dataclass_fields__)
    for key in values:
        if key not in allowed:
            raise InputError(f"tune.{key}", f"unknown setting; allowed: {', '.join(allowed)}")
    tune = TuneSpec(**values)
    cal = CalibrationSpec.from_config(raw.get("calibrate") or {}, list(study.detectors))
    calibration, test = split_seeds(study.seeds, cal.calibration_fraction, cal.split_seed)
    configs: dict[str, list[tuple[str, str, dict]]] = {}
    for name, spec in study.detectors.items():
        where = f"detector.{name}.search"
        search = study.searches.get(name)
        if search is None:
            configs[name] = [(name, "shipped", spec)]
            continue
        allowed = [p for p in inspect.signature(resolve(spec["_target_"], where)).parameters if p != "self"]
        pairs = configurations(spec, search, allowed, where)
        for label, candidate in pairs:
            build(candidate, f"{where}[{label}]")  # every configuration must be valid before any work
        configs[name] = [(config_name(name, label), label, candidate) for label, candidate in pairs]
    expanded = {cname: cspec for entries in configs.values() for cname, _, cspec in entries}
    return Plan(replace(study, detectors=expanded), tune, calibration, test, configs)


def validate(cfg: DictConfig) -> None:
    _plan(cfg)


def score_job(job: Job) -> dict:
    """One simulation, every configuration's per-step scores on it (or its error)."""
    out: dict = {"scenario": job.scenario, "seed": job.seed, "scores": {}, "errors": {}}
    try:
        trace, _ = simulate_job(job)
    except Exception:
        out["errors"] = {name: traceback.format_exc() for name, _, _ in job.detectors}
        return out
    out.update(
        time_h=trace.time_h,
        dt_h=trace.layout.dt_h,
        warmup_h=trace.layout.warmup_h,
        events=tuple(trace.truth.events),
    )
    for name, spec, _ in job.detectors:
        try:
            out["scores"][name] = build(spec, f"detector.{name}").run(trace).score
        except Exception:
            out["errors"][name] = traceback.format_exc()
    return out


Runs = dict[str, dict[tuple[str, int], Run]]  # config name -> (scenario, seed) -> its run


def collect(plan: Plan) -> tuple[Runs, dict[str, str]]:
    """Every configuration's runs; and config name -> its first error."""
    jobs = plan_jobs(plan.study)
    runs: Runs = {}
    errors: dict[str, str] = {}
    with tqdm(total=len(jobs), desc="jobs", unit="job", disable=not plan.study.progress) as bar:
        for result in execute(score_job, jobs, plan.study.executor):
            for name, error in result["errors"].items():
                errors.setdefault(name, f"{result['scenario']} seed {result['seed']}: {error}")
            for name, score in result["scores"].items():
                run = Run(result["time_h"], score, result["dt_h"], result["warmup_h"], result["events"])
                runs.setdefault(name, {})[(result["scenario"], result["seed"])] = run
            bar.update(1)
    return runs, errors


def tune_detector(
    plan: Plan, detector: str, runs: Runs, errors: dict[str, str]
) -> tuple[list[dict], list[dict]]:
    """The detector's rows: shipped, tuned and oracle choices; and every configuration's search row."""
    spec, tune = plan.study.scoring, plan.tune
    names = [n for n, _, _ in plan.configs[detector]]
    entries = [(n, label) for n, label, _ in plan.configs[detector] if n not in errors and n in runs]
    sweeps = {  # runs in (scenario, seed) order, whatever order the executor returned them in
        split: {
            n: Sweep([run for key, run in sorted(runs[n].items()) if key[1] in seeds], spec, tune.target)
            for n, _ in entries
        }
        for split, seeds in (("calibration", plan.calibration), ("test", plan.test))
    }
    curves = {split: {n: sweep.curve() for n, sweep in mine.items()} for split, mine in sweeps.items()}
    labels = dict(entries)
    shipped = {detector: curves["calibration"][detector]} if detector in labels else {}
    picks = {
        "shipped": choose(shipped, tune.budget),
        "tuned": choose(curves["calibration"], tune.budget),
        "oracle (tuned on test)": choose(curves["test"], tune.budget),
    }
    rows = []
    for choice, pick in picks.items():
        row: dict = {"detector": detector, "choice": choice, "feasible": pick is not None}
        if pick is not None:
            name, threshold = pick
            row.update(config=labels[name], threshold=threshold)
            for split in ("calibration", "test"):
                metrics = at_threshold(sweeps[split][name], threshold)
                row.update({f"{split}_{k}": metrics[k] for k in REPORTED})
        rows.append(row)
    search = []
    for name, label in entries:
        pick = choose({name: curves["calibration"][name]}, tune.budget)
        row = {"detector": detector, "config": label, "feasible": pick is not None}
        if pick is not None:
            metrics = at_threshold(sweeps["calibration"][name], pick[1])
            row.update(threshold=pick[1], **{f"calibration_{k}": metrics[k] for k in REPORTED})
        search.append(row)
    for name in names:
        if name in errors:
            search.append({"detector": detector, "config": name, "feasible": False, "error": errors[name]})
    return rows, search


def _fmt(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if kind == "h":
        return "missed" if value == -np.inf else f"{value:.2f} h"
    if kind == "%":
        return f"{value:.1%}"
    return f"{value:.3g}"


def render(table: pd.DataFrame, plan: Plan) -> str:
    tune = plan.tune
    lines = [
        f"Budget: quiet alerting <= {tune.quiet_alert_fraction:.1%} and false episodes per quiet week <= "
        f"{tune.false_per_quiet_week:g}; the highest recall of {tune.target} within it (then median lead, "
        f"then threshold), chosen on the calibration seeds {plan.calibration}, reported on the test seeds "
        f"{plan.test}.",
        "",
        "| detector | choice | configuration | threshold | test: recall, median lead, quiet alerting, "
        "false per quiet week |",
        "|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        if not r["feasible"]:
            lines.append(f"| {r['detector']} | {r['choice']} | infeasible at this budget | | |")
            continue
        test = ", ".join(
            _fmt(r[f"test_{m}"], k)
            for m, k in (("recall", "%"), ("median_lead_h", "h"), ("quiet_alert_fraction", "%"))
        )
        test += f", {_fmt(r['test_false_per_quiet_week'], 'g')}"
        threshold = _fmt(r["threshold"], "g")
        lines.append(f"| {r['detector']} | {r['choice']} | {r['config']} | {threshold} | {test} |")
    lines += [
        "",
        "The oracle rows choose on the test seeds themselves: an optimistic bound, not a held-out result.",
    ]
    return "\n".join(lines)


def run(cfg: DictConfig, out_dir: Path) -> int:
    plan = _plan(cfg)
    out_dir = Path(out_dir)
    for detector, entries in plan.configs.items():
        if len(entries) > plan.tune.announce_above:
            print(
                f"tune: {detector} searches {len(entries)} configurations (more than "
                f"tune.announce_above={plan.tune.announce_above}), each run on every (scenario, seed)",
                file=sys.stderr,
            )
    runs, errors = collect(plan)
    rows, search = [], []
    for detector in plan.configs:
        mine, searched = tune_detector(plan, detector, runs, errors)
        rows += mine
        search += searched
    table = pd.DataFrame(rows)
    write_text(out_dir / "tuning.csv", table.to_csv(index=False))
    write_text(out_dir / "search.csv", pd.DataFrame(search).to_csv(index=False))
    text = render(table, plan)
    write_text(out_dir / "tuning.md", f"# Tuning\n\n{text}\n")
    print(text)
    print(f"\nresults: {out_dir} (tuning.csv, search.csv, tuning.md)")
    if errors:
        print(f"{len(errors)} configuration(s) failed on some run: see search.csv (error)")
    return 1 if errors else 0
