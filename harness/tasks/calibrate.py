"""``tdbench task=calibrate``: held-out threshold calibration and the false-positive analysis.

The sweep reads the per-step readings and the truth from the ledger of the output folder: the
study's jobs the ledger lacks (or holds as failed) are run into it first, exactly as a study runs
them, so calibrating in a study's own folder (``hydra.run.dir=...``) simulates nothing, and
changing only the ``calibrate`` settings re-sweeps without simulating. Then, per detector, the
exact sweep of harness.analysis.calibrate gives the operating curves, the held-out choice and the
oracle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from harness.analysis.alerts import false_alarm_analysis
from harness.analysis.calibrate import (
    METRICS,
    CalibrationSpec,
    Pick,
    calibrate_detector,
    lead_rule,
    split_seeds,
)
from harness.analysis.headline import HeadlineSpec, budget_rule
from harness.analysis.statistics import StatisticsSpec
from harness.config import StudyConfig, load_study
from harness.report import figures
from harness.report.document import CALIBRATED, OPERATING_CURVE
from harness.report.exports import csv_text
from harness.report.screen import fit, results_line
from harness.run.files import write_parquet, write_text
from harness.run.ledger import Ledger
from harness.run.plan import plan_jobs
from harness.run.study import export_tables, store_jobs

SHOWN = (
    ("fp_rate", "%"),
    ("warned", "%"),
    ("recall", "%"),
    ("median_lead_h", "h"),
    ("quiet_alert_fraction", "%"),
)


CALIBRATION_FILES = (
    "calibration.csv",
    "calibration.md",
    "operating_curve.parquet",
    "calibrated.parquet",
    "fp_analysis.csv",
    "figures/operating_curves.png",
)


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
            f"the most events {budget.warned_label} (pooled over events; "
            f"then median lead, then threshold); reported on the test seeds {test}."
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
        "| detector | choice | threshold | calibration: FP, warned, recall, median lead, quiet alerting "
        "| test: FP, warned, recall, median lead, quiet alerting |",
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
    calibrated = choices[choices["choice"] == "calibrated"]
    if cal.rule == "budget" and not calibrated["feasible"].astype(bool).all():
        lines += [
            "",
            "None within budget: no threshold met it on the calibration seeds. Small studies often have too "
            "little quiet time and too few events to resolve the budget; more seeds, longer runs "
            "(org.scenario_days) or a looser headline.budget make it reachable.",
        ]
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
        f"Warned: share of events alerted >= {budget.min_lead_h:g} h before onset (headline.min_lead_h). "
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
    jobs = plan_jobs(study)
    keys = {key for job in jobs for _, _, key in job.detectors}
    with Ledger(out_dir) as ledger:
        store_jobs(study, jobs, ledger)
        export_tables(ledger)
        runs = ledger.runs(keys)
        failed = len(keys - ledger.ok_keys())
    calib, test = split_seeds(study.seeds, cal.calibration_fraction, cal.split_seed)
    curves, choices = [], []
    for detector in cal.detectors or tuple(study.detectors):
        mine = runs.get(detector, {})
        sets = [[r for (_, seed), r in sorted(mine.items()) if seed in seeds] for seeds in (calib, test)]
        if not all(sets):
            continue
        curve, choice = calibrate_detector(
            sets[0], sets[1], study.scoring, cal.target, rule(study), study.headline.min_lead_h
        )
        curves.append(curve.assign(detector=detector))
        choices.append(choice.assign(detector=detector))
    columns = ["detector", "choice", "tuned_on", "feasible", "threshold"]
    columns += [f"{s}_{m}" for s in ("calibration", "test") for m in (*METRICS[1:], "warned")]
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
    write_text(out_dir / "calibration.csv", csv_text(choice_table))
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
        write_text(out_dir / "fp_analysis.csv", csv_text(fp))
        fp_text = render_fp(fp)
        sections.append(f"## False-positive analysis (all seeds; {stats.label})\n\n{fp_text}\n")
        text += f"\n\nFalse-positive analysis, all seeds ({stats.label}):\n\n{fp_text}"
    write_text(out_dir / "calibration.md", "\n".join(sections))
    print(fit(text, "calibration.md"))
    print()
    print(results_line(out_dir, CALIBRATION_FILES))
    if failed:
        print(f"{failed} cell(s) failed and are left out of the sweep: see cells.parquet (status, error)")
    return 1 if failed else 0
