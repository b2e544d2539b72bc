"""``tdbench task=calibrate``: held-out threshold calibration and the false-positive analysis.

The study's tables keep episodes and events, not per-step scores, so this task recomputes them:
every (scenario, seed) of the study's config is simulated once and every detector is run in batch
(``Detector.run``, equal to the study's streaming replay by the detector contract). The scores
and the hidden truth are stored in the output folder (``scores.parquet``, ``truth.parquet``,
``runs.parquet``, keyed by the study's cell keys); rerunning into the same folder
(``hydra.run.dir=...``) reuses them, so changing only the ``calibrate`` settings re-sweeps without
simulating again. Then, per detector, the exact sweep of harness.analysis.calibrate gives the operating
curves, the held-out choice and the oracle.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from tqdm.auto import tqdm

from harness.analysis.alerts import false_alarm_analysis
from harness.analysis.calibrate import (
    METRICS,
    CalibrationSpec,
    Pick,
    Run,
    calibrate_detector,
    lead_rule,
    split_seeds,
)
from harness.analysis.headline import HeadlineSpec, budget_rule
from harness.analysis.statistics import StatisticsSpec
from harness.config import StudyConfig, build, load_study
from harness.report import figures
from harness.report.document import CALIBRATED, OPERATING_CURVE
from harness.run.executors import execute
from harness.run.jobs import Job, failed_cells, simulate_job
from harness.run.plan import pending, plan_jobs
from harness.run.store import write_parquet, write_text
from scenarios.trace import Event

TABLES = ("runs", "scores", "truth")
SHOWN = (("fp_rate", "%"), ("recall", "%"), ("median_lead_h", "h"), ("quiet_alert_fraction", "%"))


def _specs(cfg: DictConfig) -> tuple[StudyConfig, CalibrationSpec, StatisticsSpec]:
    study = load_study(cfg)
    cal = study.calibrate
    split_seeds(study.seeds, cal.calibration_fraction, cal.split_seed)  # at least two seeds
    return study, cal, study.stats


def rule(study: StudyConfig) -> Pick:
    """The selection rule ``calibrate.rule`` names."""
    cal = study.calibrate
    if cal.rule == "budget":
        return budget_rule(study.headline)
    return lead_rule(cal.max_fp_rate, cal.min_recall, cal.max_quiet_alert_fraction)


def validate(cfg: DictConfig) -> None:
    _specs(cfg)


def score_job(job: Job) -> dict[str, pd.DataFrame]:
    """Per-step scores of every detector of one (scenario, seed), plus the run's truth."""
    try:
        trace, _ = simulate_job(job)
    except Exception:
        return {"runs": failed_cells(job, job.detectors, "error", traceback.format_exc())["cells"]}
    context = {
        "scenario": job.scenario,
        "seed": job.seed,
        "dt_h": trace.layout.dt_h,
        "warmup_h": trace.layout.warmup_h,
        "null_control": bool(trace.meta["null_control"]),
    }
    truth = pd.DataFrame(
        [
            {
                "target": e.target,
                "onset_h": e.onset_h,
                "end_h": e.end_h,
                "ended": e.ended,
                "units": ",".join(map(str, e.units)),
            }
            for e in trace.truth.events
        ],
        columns=["target", "onset_h", "end_h", "ended", "units"],
    )
    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    for name, spec, key in job.detectors:
        ids = {"key": key, "detector": name}
        try:
            score = build(spec, f"detector.{name}").run(trace).score
        except Exception:
            tables["runs"].append(
                pd.DataFrame([{**context, **ids, "status": "error", "error": traceback.format_exc()}])
            )
            continue
        tables["runs"].append(pd.DataFrame([{**context, **ids, "status": "ok", "error": ""}]))
        steps = np.arange(len(trace))
        tables["scores"].append(
            pd.DataFrame({"key": key, "step": steps, "time_h": trace.time_h, "score": score})
        )
        tables["truth"].append(truth.assign(key=key))
    return {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items() if frames}


def collect_scores(study: StudyConfig, out_dir: Path) -> dict[str, pd.DataFrame]:
    """The study's per-step scores: stored ones reused, missing or failed ones computed."""
    old = {
        name: pd.read_parquet(out_dir / f"{name}.parquet")
        for name in TABLES
        if (out_dir / f"{name}.parquet").exists()
    }
    done = set(old["runs"].loc[old["runs"]["status"] == "ok", "key"]) if "runs" in old else set()
    jobs = plan_jobs(study)
    wanted = {key for job in jobs for _, _, key in job.detectors}
    todo = pending(jobs, done)
    new: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    with tqdm(total=len(todo), desc="runs", unit="run", disable=not study.progress or not todo) as bar:
        for tables in execute(score_job, todo, study.executor):
            for name, frame in tables.items():
                new[name].append(frame)
            bar.update(1)
    out = {}
    for name in TABLES:
        kept = old.get(name)
        kept = kept[kept["key"].isin(done & wanted)] if kept is not None else None
        frames = [f for f in [kept, *new[name]] if f is not None and len(f)]
        out[name] = (
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"key": pd.Series(dtype=str)})
        )
        write_parquet(out_dir / f"{name}.parquet", out[name])
    return out


def load_runs(tables: dict[str, pd.DataFrame]) -> dict[str, dict[tuple[str, int], Run]]:
    """detector -> (scenario, seed) -> Run, for every ok cell."""
    runs = tables["runs"]
    scores = {key: g.sort_values("step") for key, g in tables["scores"].groupby("key")}
    truth = {key: g for key, g in tables["truth"].groupby("key")} if len(tables["truth"]) else {}
    out: dict[str, dict[tuple[str, int], Run]] = {}
    for row in runs[runs["status"] == "ok"].itertuples():
        s = scores[row.key]
        t = truth.get(row.key, pd.DataFrame(columns=["target", "onset_h", "end_h", "ended", "units"]))
        events = tuple(
            Event(
                e.target,
                float(e.onset_h),
                float(e.end_h),
                tuple(int(u) for u in str(e.units).split(",") if u),
                bool(e.ended),
            )
            for e in t.itertuples()
        )
        run = Run(
            s["time_h"].to_numpy(float),
            s["score"].to_numpy(float),
            float(row.dt_h),
            float(row.warmup_h),
            events,
        )
        out.setdefault(row.detector, {})[(row.scenario, int(row.seed))] = run
    return out


def _fmt(x: float, kind: str) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    if kind == "h":
        return "missed" if x == -np.inf else f"{x:.2f} h"
    return f"{x:.1%}" if kind == "%" else f"{x:.4g}"


ALWAYS_ON = 0.5  # quiet-time alerting above which a calibrated threshold is flagged


def render(
    choices: pd.DataFrame,
    cal: CalibrationSpec,
    calib: list[int],
    test: list[int],
    budget: HeadlineSpec | None = None,
) -> str:
    """The calibration result as markdown (``budget``: the headline's, for rule budget)."""
    quiet = cal.max_quiet_alert_fraction
    extra = "" if quiet is None else f" and quiet alerting <= {quiet:.0%}"
    budget = budget or HeadlineSpec()
    if cal.rule == "budget":
        how = (
            f"Target {cal.target}; rule budget: within {budget.label} on the calibration seeds {calib}, "
            f"the highest recall (then median lead, then threshold); reported on the test seeds {test}."
        )
    else:
        how = (
            f"Target {cal.target}; rule lead: FP rate <= {cal.max_fp_rate:.0%} and recall >= "
            f"{cal.min_recall:.0%}{extra} on the calibration seeds {calib}, then the highest median lead; "
            f"reported on the test seeds {test}."
        )
    lines = [
        how,
        "",
        "| detector | choice | threshold | calibration: FP, recall, median lead, quiet alerting "
        "| test: FP, recall, median lead, quiet alerting |",
        "|---|---|---|---|---|",
    ]
    for r in choices.to_dict("records"):
        if not r["feasible"] and cal.rule == "budget":
            nearest = r.get("nearest_threshold", np.nan)
            lines.append(
                f"| {r['detector']} | {r['choice']} | none within budget | nearest threshold "
                f"{_fmt(nearest, 'g')} uses x{_fmt(r.get('budget_use', np.nan), 'g')} the budget "
                f"(on {r['tuned_on']} seeds) | |"
            )
            continue
        if not r["feasible"]:
            lines.append(
                f"| {r['detector']} | {r['choice']} | none feasible | best FP at recall >= "
                f"{cal.min_recall:.0%}: {_fmt(r['best_fp_at_min_recall'], '%')}; best recall at FP <= "
                f"{cal.max_fp_rate:.0%}: {_fmt(r['best_recall_at_max_fp'], '%')} "
                f"(on {r['tuned_on']} seeds{extra.replace(' and', ',')}) | |"
            )
            continue
        cells = [", ".join(_fmt(r[f"{split}_{m}"], k) for m, k in SHOWN) for split in ("calibration", "test")]
        lines.append(
            f"| {r['detector']} | {r['choice']} | {_fmt(r['threshold'], 'g')} | {cells[0]} | {cells[1]} |"
        )
    held_out = choices[(choices["choice"] == "calibrated") & choices["feasible"].astype(bool)]
    always_on = held_out.loc[held_out["test_quiet_alert_fraction"] > ALWAYS_ON, "detector"].tolist()
    if always_on:
        lines += [
            "",
            f"WARNING: the calibrated thresholds of {', '.join(always_on)} alert more than "
            f"{ALWAYS_ON:.0%} of quiet time. The FP rate counts episodes, so a threshold that never "
            "stops alerting meets it with one long episode per run. Use calibrate.rule=budget, or add a "
            "limit, e.g. calibrate.max_quiet_alert_fraction=0.05.",
        ]
    lines += [
        "",
        "Quiet alerting: share of the time outside every event window and critical period spent alerting.",
        "The oracle rows are tuned on the test seeds themselves: an optimistic bound, not a held-out result.",
        "Use a calibrated threshold in a study with +scoring.thresholds.<detector>=<threshold>.",
    ]
    return "\n".join(lines)


def render_fp(table: pd.DataFrame) -> str:
    pooled = table[table["scenario"] == "ALL"]
    lines = [
        f"| {pooled['detector'].iloc[0]} score >= | episodes | not followed by an event [CI] "
        "| false per 1,000 quiet h |",
        "|---|---|---|---|",
    ]
    for r in pooled.itertuples():
        ci = "" if np.isnan(r.not_followed_lo) else f" [{r.not_followed_lo:.1%}, {r.not_followed_hi:.1%}]"
        lines.append(
            f"| {r.threshold:g} | {r.episodes} | {_fmt(r.not_followed_share, '%')}{ci} "
            f"| {r.false_per_1000_quiet_h:.1f} |"
        )
    return "\n".join(lines)


def run(cfg: DictConfig, out_dir: Path) -> int:
    study, cal, stats = _specs(cfg)
    out_dir = Path(out_dir)
    tables = collect_scores(study, out_dir)
    runs = load_runs(tables)
    calib, test = split_seeds(study.seeds, cal.calibration_fraction, cal.split_seed)
    curves, choices = [], []
    for detector in cal.detectors or tuple(study.detectors):
        mine = runs.get(detector, {})
        sets = [[r for (_, seed), r in sorted(mine.items()) if seed in seeds] for seeds in (calib, test)]
        if not all(sets):
            continue
        curve, choice = calibrate_detector(sets[0], sets[1], study.scoring, cal.target, rule(study))
        curves.append(curve.assign(detector=detector))
        choices.append(choice.assign(detector=detector))
    columns = ["detector", "choice", "tuned_on", "feasible", "threshold"]
    columns += [f"{s}_{m}" for s in ("calibration", "test") for m in METRICS if m != "threshold"]
    columns += (
        ["budget_use", "nearest_threshold"]
        if cal.rule == "budget"
        else ["best_fp_at_min_recall", "best_recall_at_max_fp"]
    )
    choice_table = (
        pd.concat(choices, ignore_index=True).reindex(columns=columns)
        if choices
        else pd.DataFrame(columns=columns)
    )
    curve_table = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    if len(curve_table):
        curve_table = curve_table[
            ["detector", "split", *[c for c in curve_table if c not in ("detector", "split")]]
        ]
    write_parquet(out_dir / OPERATING_CURVE, curve_table)
    write_text(out_dir / "calibration.csv", choice_table.to_csv(index=False))
    chosen = choice_table[(choice_table["choice"] == "calibrated") & choice_table["feasible"].astype(bool)]
    write_parquet(out_dir / CALIBRATED, chosen[["detector", "threshold"]].reset_index(drop=True))
    if len(curve_table):
        figures.operating_curves(
            curve_table,
            out_dir / "figures" / "operating_curves.png",
            chosen=chosen,
            budget=study.headline.quiet_alert_fraction,
            lead_h=study.criteria.lead_h,
            grace_h=study.scoring.grace_h,
        )
    text = render(choice_table, cal, calib, test, study.headline)
    sections = [f"# Threshold calibration\n\n{text}\n"]
    if cal.fp_detector in runs and cal.fp_thresholds:
        fp = false_alarm_analysis(
            runs[cal.fp_detector],
            study.scoring,
            np.array(cal.fp_thresholds),
            cal.target,
            stats,
            cal.fp_detector,
        )
        write_text(out_dir / "fp_analysis.csv", fp.to_csv(index=False))
        fp_text = render_fp(fp)
        sections.append(f"## False-positive analysis (all seeds; {stats.label})\n\n{fp_text}\n")
        text += f"\n\nFalse-positive analysis, all seeds ({stats.label}):\n\n{fp_text}"
    write_text(out_dir / "calibration.md", "\n".join(sections))
    print(text)
    print(
        f"\nresults: {out_dir} (calibration.csv, operating_curve.parquet, calibrated.parquet, "
        "fp_analysis.csv, figures/operating_curves.png)"
    )
    failed = int((tables["runs"]["status"] != "ok").sum()) if "status" in tables["runs"] else 0
    if failed:
        print(f"{failed} run(s) failed: see runs.parquet (status, error)")
    return 1 if failed else 0
