"""``tdbench`` / ``tdbench task=study``: run the study, write its report, print the headline first,
then the scorecard as shipped and at the headline's thresholds.

With ``stop.compare`` set, the study adds seeds in batches until that comparison is decided
(``harness.run.stopping``); the saved config.yaml then holds the final number of seeds, and
stopping.csv the seed split of the final headline.

A rerun of a finished study (same settings, same folder, nothing changed since: harness.run.finished)
prints the stored output without recomputing anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf, open_dict

from harness.config import load_study
from harness.report.document import ReportFigures, finish_study, report_settings
from harness.report.screen import fit, results_line
from harness.run.files import write_text
from harness.run.finished import FinishedRun
from harness.run.stopping import STOPPING, run_until_decided, stop_spec, stopping_text
from harness.run.study import StudyResult, run_study
from harness.tasks.tune import TuneSpec, study_plan, study_tuning
from scenarios.params import config_dict

RESULT_FILES = (
    "headline.csv",
    "headline.md",
    "headline_pairs.csv",
    "headline_scenarios.csv",
    "summary.csv",
    "scorecard.md",
    "first_alert.csv",
)


def stop_settings(cfg: DictConfig) -> dict[str, Any]:
    return config_dict(cfg.get("stop") or {})


def validate(cfg: DictConfig) -> None:
    study = load_study(cfg)
    stop_spec(stop_settings(cfg), study)
    report_settings(cfg, study.seeds)
    tune = TuneSpec.from_config(cfg)
    if study.headline.tune:
        study_plan(study, tune)


def printed(result: StudyResult, tuning: str = "") -> str:
    """What the study prints: the headline's answer in one sentence, the headline, the tuning (with
    headline.tune), then both scorecards."""
    answer, _, rest = result.headline_text.partition("\n")  # the answer's sentence comes first
    parts = [fit(answer, "headline.md"), "", "# Headline", "", fit(rest.lstrip("\n"), "headline.md"), ""]
    if tuning:
        parts += ["# Tuning", "", fit(tuning, "tuning.md"), ""]
    parts += ["# Scorecard as shipped", "", fit(result.scorecard_text, "scorecard.md")]
    if result.matched_scorecard_text:
        matched = fit(result.matched_scorecard_text, "scorecard.md")
        parts += ["", "# Scorecard at the headline's thresholds", "", matched]
    return "\n".join(parts)


def run(cfg: DictConfig, out_dir: Path) -> int:
    study = load_study(cfg)
    spec = stop_spec(stop_settings(cfg), study)
    finished = FinishedRun(cfg, out_dir)
    stored = finished.stored() if spec.compare is None else None
    if stored is not None:  # the same study, finished in this folder, nothing changed since
        print(stored[0])
        return stored[1]
    finished.forget()
    report_spec = report_settings(cfg, study.seeds)
    drawn = None  # the report's figures, drawn beside the summary (a single study only)
    if spec.compare is None:
        (Path(out_dir) / STOPPING).unlink(missing_ok=True)  # never leave another run's record behind
        if report_spec.enabled:
            drawn = ReportFigures(Path(out_dir), study, timeline_seed=report_spec.timeline_seed)
        result = run_study(study, out_dir, beside=drawn)
    else:
        study, result = run_until_decided(study, Path(out_dir), spec)
        saved = OmegaConf.load(Path(out_dir) / "config.yaml")
        with open_dict(saved):
            saved.seeds = len(study.seeds)  # so task=report rebuilds this run's seeds
        write_text(Path(out_dir) / "config.yaml", OmegaConf.to_yaml(saved))
    tuning, tuning_failed = study_tuning(study, Path(out_dir), TuneSpec.from_config(cfg))
    report = finish_study(study, result, report_spec, drawn)
    lines = [printed(result, tuning)]
    if spec.compare is not None:
        lines.append(f"\n{stopping_text(pd.read_csv(Path(out_dir) / STOPPING))}")
    lines.append(f"\n{result.status_line}")
    lines.append(results_line(result.run_dir, RESULT_FILES))
    if report is not None:
        lines.append(f"report: {report}")
    if result.failed:
        kinds = ", ".join(f"{n} {status}" for status, n in result.failures.items())
        lines.append(f"{result.failed} cell(s) failed ({kinds}): see cells.parquet (status, error)")
    text = "\n".join(lines)
    print(text)
    code = 1 if result.failed or tuning_failed else 0
    if code == 0 and spec.compare is None:
        finished.keep(text, code)
    return code
