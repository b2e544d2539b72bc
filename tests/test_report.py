"""report.md of a study: written at the end of the study, complete, and rebuilt identically from the
saved tables by ``task=report``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from studies import SMALL_STUDY, compose_config, run_task

from harness import cli
from harness.analysis.scoring import score_run
from harness.config import ExecutorSpec, ReportSpec, build, load_study
from harness.report.document import false_alarms, report_spec
from harness.report.timelines import best_threshold, representative_seed
from harness.run.ledger import Ledger
from harness.run.study import summarise_run
from harness.tasks.report import saved_study, selected_keys
from scenarios import simulate
from scenarios.errors import InputError
from scenarios.org import OrgConfig
from scenarios.truth import TruthSpec

ROOT = Path(__file__).resolve().parent.parent
REBUILT = (
    "summary.csv",
    "scorecard.md",
    "report.md",
    "first_alert.csv",
    "headline.csv",
    "headline_pairs.csv",
    "headline_scenarios.csv",
    "headline.md",
)
TABLES = ("cells.parquet", "events.parquet", "episodes.parquet", "overhead.parquet", "timeline.parquet")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study")
    assert run_task(out, *SMALL_STUDY) == 0
    return out


def test_study_writes_report_with_every_figure(run_dir):
    report = (run_dir / "report.md").read_text()
    links = re.findall(r"!\[[^]]*\]\((figures/[^)]+\.png)\)", report)
    expected = {
        *(f"figures/timeline_{s}.png" for s in ("ramp", "recovery", "steady")),
        "figures/lead_times_utilization_breach.png",
        "figures/lead_times_unit_saturation.png",
        "figures/lead_coverage.png",
        "figures/overhead.png",
        "figures/recovery.png",
        "figures/ranking.png",
        "figures/amoc.png",
        "figures/lead_coverage_headline.png",
    }
    assert set(links) == expected
    assert (
        report.index("## Headline")
        < report.index("figures/ranking.png")
        < report.index("figures/amoc.png")
        < report.index("figures/lead_coverage_headline.png")
        < report.index("## Scorecard as shipped")
    )
    for link in links:
        assert (run_dir / link).stat().st_size > 10_000
    assert "Not drawn" not in report
    assert "operating curves (calibration did not run" in report
    for section in ("## Scorecard", "## Detection: utilization breach", "## False alarms", "## Overhead"):
        assert section in report
    assert (run_dir / "headline.md").read_text().split("\n", 2)[2].strip() in report
    for card in (run_dir / "scorecard.md").read_text().split("# Scorecard ")[1:]:
        assert card.split("\n", 2)[2].strip() in report  # as shipped, and at the headline's thresholds
    assert "```yaml\norg:\n  n_units: 4" in report  # the config
    assert re.search(r"\| matplotlib \| \d+\.\d+", report)  # package versions
    for table in ("timeline.parquet", "timeline_marks.parquet"):
        assert (run_dir / table).is_file()
    assert not (run_dir / "overhead_scan.parquet").exists()  # a task of its own (task=overhead)


def test_tables_in_the_report_match_the_summary(run_dir):
    summary = pd.read_csv(run_dir / "summary.csv")
    row = summary[(summary["detector"] == "utilization_busy") & (summary["scenario"] == "ALL")].iloc[0]
    report = (run_dir / "report.md").read_text()
    detected = round(row["recall_utilization_breach"] * row["events_utilization_breach"])
    lead = row["median_lead_h_utilization_breach"]
    lead_text = "missed" if lead == -np.inf else f"{lead:.2f} h"
    false_alarms = report.split("## False alarms")[1]
    assert f"{detected}/{int(row['events_utilization_breach'])} · {lead_text} |" in report
    assert f"{row['fp_rate']:.1%} of {int(row['episodes'])} ·" in false_alarms


def test_timeline_readings_are_the_ones_the_study_scored(run_dir):
    """The timelines draw the ledger's readings: the detector's own scores (to float32) and levels,
    which reproduce the stored episodes."""
    study = load_study(compose_config(*SMALL_STUDY))
    timeline = pd.read_parquet(run_dir / "timeline.parquet")
    episodes = pd.read_parquet(run_dir / "episodes.parquet")
    cells = pd.read_parquet(run_dir / "cells.parquet")
    for scenario, of_scenario in timeline.groupby("scenario"):
        seed = int(of_scenario["seed"].iloc[0])
        assert seed == representative_seed(cells[cells["scenario"] == scenario])
        trace = simulate(
            build(study.scenarios[scenario], scenario),
            seed,
            org=OrgConfig(**study.org),
            truth=TruthSpec(**study.truth),
        )
        for detector, rows in of_scenario.groupby("detector"):
            readings = build(study.detectors[detector], detector).run(trace)
            expected = readings.score.astype(np.float32).astype(float)
            assert np.array_equal(rows["score"].to_numpy(), expected, equal_nan=True)
            assert np.array_equal(rows["level"].to_numpy(), readings.level)
            stored = episodes[
                (episodes["scenario"] == scenario)
                & (episodes["seed"] == seed)
                & (episodes["detector"] == detector)
            ]
            scored = score_run(trace, readings, study.scoring, detector).episodes
            assert stored["start_h"].tolist() == scored["start_h"].tolist()
            assert stored["end_h"].tolist() == scored["end_h"].tolist()


def test_report_task_rebuilds_identical_files_without_simulating(run_dir, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    figures = sorted(p.name for p in (run_dir / "figures").glob("*.png"))
    names = [*REBUILT, *TABLES, *(f"figures/{f}" for f in figures)]
    original = {name: (copy / name).read_bytes() for name in names}
    for name in REBUILT:
        (copy / name).unlink()
    (copy / "cells.parquet").unlink()  # a missing export is rebuilt ...
    (copy / "events.parquet").write_bytes(b"PAR1 torn")  # ... and so is a corrupt one
    shutil.rmtree(copy / "figures")

    def no_simulation(*args, **kwargs):
        raise AssertionError("the report simulated")

    monkeypatch.setattr("harness.run.jobs.simulate", no_simulation)
    monkeypatch.setattr("scenarios.simulate", no_simulation)
    assert run_task(tmp_path / "scratch", "task=report", f"run_dir={copy}", "executor=serial") == 0
    assert sorted(p.name for p in (copy / "figures").glob("*.png")) == figures
    for name in names:
        if name in TABLES:
            pd.testing.assert_frame_equal(pd.read_parquet(copy / name), pd.read_parquet(run_dir / name))
        else:
            assert (copy / name).read_bytes() == original[name], name
    assert not (tmp_path / "scratch").exists()  # the command's own Hydra folder is removed


def test_report_task_from_the_command_line(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "report.md").unlink()
    scratch = tmp_path / "runs" / "day" / "time"
    done = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "task=report", f"run_dir={copy}",
         "executor=serial", f"hydra.run.dir={scratch}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (copy / "report.md").read_bytes() == (run_dir / "report.md").read_bytes()
    assert not (tmp_path / "runs" / "day").exists()


def test_report_rederives_the_headline_with_new_settings_without_simulating(
    run_dir, tmp_path, monkeypatch, capsys
):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)

    def no_simulation(*args, **kwargs):
        raise AssertionError("the report simulated")

    monkeypatch.setattr("harness.run.jobs.simulate", no_simulation)
    monkeypatch.setattr("scenarios.simulate", no_simulation)
    args = ["task=report", f"run_dir={copy}", "executor=serial", "headline.min_lead_h=6", "headline.folds=1",
            "calibrate.split_seed=3", f"hydra.run.dir={tmp_path / 'scratch'}"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["tdbench", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert printed.startswith("At quiet alerting") and "warned >= 6 h ahead" in printed.splitlines()[0]
    headline = (copy / "headline.md").read_text()
    assert "Thresholds chosen on calibration seeds" in headline  # folds=1: one split
    saved = load_study(OmegaConf.load(copy / "config.yaml"))
    assert (saved.headline.min_lead_h, saved.headline.folds, saved.calibrate.split_seed) == (6, 1, 3)
    pd.testing.assert_frame_equal(
        pd.read_parquet(copy / "cells.parquet"), pd.read_parquet(run_dir / "cells.parquet")
    )
    for wrong in ("calibrate.rule=lead", "+headline.colour=1"):
        monkeypatch.setattr(sys, "argv", ["tdbench", "task=report", f"run_dir={copy}", wrong])
        with pytest.raises(SystemExit) as exit_:
            cli.main()
        assert exit_.value.code == 2
        assert capsys.readouterr().err.startswith(f"tdbench: error: {wrong.lstrip('+').split('=')[0]}")


def cli_error(monkeypatch, capsys, args: list[str]) -> str:
    monkeypatch.setattr(sys, "argv", ["tdbench", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


def test_report_task_refuses_what_is_not_a_run(monkeypatch, capsys, run_dir, tmp_path):
    assert cli_error(monkeypatch, capsys, ["task=report"]).startswith(
        "tdbench: error: run_dir: give the run folder"
    )
    assert "is not a run folder (no ledger.sqlite)" in cli_error(
        monkeypatch, capsys, ["task=report", f"run_dir={tmp_path}"]
    )
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    first = pd.read_parquet(copy / "cells.parquet").iloc[0]
    other = {"key": "other", "status": "error", "error": "from a run with other settings"}
    with Ledger(copy) as ledger:  # a cell of the same (scenario, seed, detector) under another key
        row = first[["scenario", "seed", "detector"]].to_dict()
        ledger.commit_job("other", {"cells": pd.DataFrame([{**row, **other}])})
    assert "holds more than one result for" in cli_error(
        monkeypatch, capsys, ["task=report", f"run_dir={copy}"]
    )
    (copy / "ledger.sqlite").write_bytes(b"not a database" * 100)
    err = cli_error(monkeypatch, capsys, ["task=report", f"run_dir={copy}"])
    assert err.startswith(f"tdbench: error: {copy / 'ledger.sqlite'}: not a readable tdbench ledger")
    assert "move it away and run the study again" in err


def test_report_settings_are_validated(monkeypatch, capsys):
    err = cli_error(monkeypatch, capsys, ["seeds=2", "report.timeline_seed=5"])
    assert err.startswith(
        "tdbench: error: report.timeline_seed: must be null or one of the study's seeds (0..1)"
    )
    err = cli_error(monkeypatch, capsys, ["task=overhead", "overhead.units=[0]"])
    assert err.startswith("tdbench: error: overhead.units: must be a non-empty list of integers >= 1")
    with pytest.raises(InputError, match="report.colour"):
        report_spec({"colour": "red"})
    assert report_spec({"enabled": False, "timeline_seed": 1}, (0, 1)) == ReportSpec(
        enabled=False, timeline_seed=1
    )


def test_report_can_be_switched_off_and_seed_chosen(tmp_path):
    small = [a for a in SMALL_STUDY if not a.startswith("scenario")]
    off = tmp_path / "off"
    assert run_task(off, *small, "scenario=[steady]", "report.enabled=false") == 0
    assert not (off / "report.md").exists() and not (off / "figures").exists()
    chosen = tmp_path / "chosen"
    assert run_task(chosen, *small, "scenario=[steady]", "report.timeline_seed=1") == 0
    assert set(pd.read_parquet(chosen / "timeline.parquet")["seed"]) == {1}
    assert "One run of `steady`, this seed." in (chosen / "report.md").read_text()


def test_a_failing_detector_is_reported_and_the_others_drawn(tmp_path):
    small = [a for a in SMALL_STUDY if not a.startswith("scenario")]
    out = tmp_path / "run"
    broken = "+detector.broken={_target_:studies.RaisingDetector}"
    assert run_task(out, *small, "scenario=[recovery]", broken) == 1
    report = (out / "report.md").read_text()
    assert "2 failed" in report and "Not drawn" not in report
    assert set(pd.read_parquet(out / "timeline.parquet")["detector"]) == {
        "transport",
        "utilization",
        "utilization_busy",
    }
    overhead = report.split("## Overhead")[1].split("## Figures")[0]
    assert "| broken |" not in overhead  # no successful cell, no overhead row


def test_threshold_inference():
    rng = np.random.default_rng(0)
    score = rng.uniform(0.3, 1.2, 500)
    assert best_threshold(score, score >= 0.8) == (0.8, 1.0)
    noisy = (score >= 0.8) | (rng.uniform(size=500) < 0.02)  # another rule alerts at low scores too
    theta, agreement = best_threshold(score, noisy)
    assert theta == 0.8 and 0.95 < agreement < 1.0


def test_overhead_task_scans_every_size_and_records_failures(tmp_path):
    small = [a for a in SMALL_STUDY if not a.startswith("detector")]
    out = tmp_path / "scan"
    broken = "+detector.broken={_target_:studies.RaisingDetector}"
    code = run_task(out, *small, "detector=[utilization]", broken, "task=overhead", "overhead.units=[2,8]")
    assert code == 1  # one detector failed
    scan = pd.read_parquet(out / "overhead_scan.parquet")
    assert sorted(zip(scan["detector"], scan["n_units"], strict=True)) == [
        ("broken", 2), ("broken", 8), ("utilization", 2), ("utilization", 8)
    ]  # fmt: skip
    assert scan.loc[scan["detector"] == "broken", "error"].str.contains("deliberate failure").all()
    assert (scan.loc[scan["detector"] == "utilization", "wall_p99_ms"] > 0).all()
    assert (out / "figures" / "overhead.png").stat().st_size > 10_000
    assert "| utilization |" in (out / "overhead.md").read_text()


def test_detectors_with_identical_alerts_are_flagged(tmp_path):
    twin = "+detector.twin._target_=detectors.utilization.UtilizationDetector"
    assert run_task(tmp_path, *SMALL_STUDY, "seeds=1", twin) == 0
    report = (tmp_path / "report.md").read_text()
    assert "**Identical alerts.**" in report
    assert re.search(r"same for them: `twin` = `utilization`\.\n", report), report.split("## Detection")[0]
    assert "`transport` = " not in report  # different alerts are not flagged


def test_shipped_false_alarms_are_the_summary_rows_over_every_scenario(run_dir):
    """The shipped coverage figure reads each detector's FP rate and quiet alerting from the stored
    cells (so it is drawn before the summary exists): the numbers of summary.csv's ALL rows."""
    summary = pd.read_csv(run_dir / "summary.csv")
    pooled = summary[summary["scenario"] == "ALL"].set_index("detector")
    cells = pd.read_parquet(run_dir / "cells.parquet")
    cells.loc[cells.index[0], "status"] = "error"  # a failed cell counts in neither
    rates = false_alarms(cells).set_index("detector")
    assert rates.index.tolist() == sorted(pooled.index)
    for detector in rates.index:
        mine = cells[cells["detector"] == detector]
        if (mine["status"] == "ok").all():
            for column in ("fp_rate", "quiet_alert_fraction"):
                assert rates.loc[detector, column] == pooled.loc[detector, column], (detector, column)
    first = cells.iloc[0]
    ok = cells[(cells["detector"] == first["detector"]) & (cells["status"] == "ok")]
    assert rates.loc[first["detector"], "fp_rate"] == ok["n_false"].sum() / ok["n_episodes"].sum()
    assert false_alarms(cells.assign(status="error")) is None


def test_work_beside_the_summary_reads_the_rows_and_the_headline(run_dir, tmp_path):
    """``summarise_run(beside=...)`` hands the study's rows and headline to work that runs while
    the summary is computed, and raises what went wrong in it."""
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    study = saved_study(copy)
    seen = {}

    def record(rows, headline):
        seen.update(rows=rows, headline=headline)

    def broken(rows, headline):
        raise RuntimeError("beside failed")

    serial = ExecutorSpec(name="serial")
    with Ledger.open_existing(copy) as ledger:
        keys = selected_keys(ledger, study)
        result = summarise_run(ledger, keys, study, serial, beside=record)
        assert sorted(seen["rows"]) == ["cells", "episodes", "events", "overhead"]
        for name, table in seen["rows"].items():
            pd.testing.assert_frame_equal(table, result.tables[name])
        assert seen["headline"] is result.headline and result.headline is not None
        with pytest.raises(RuntimeError, match="beside failed"):
            summarise_run(ledger, keys, study, serial, beside=broken)


def test_a_failed_headline_never_starts_the_work_beside_it(run_dir, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    study = saved_study(copy)

    def broken_headline(*args):
        raise RuntimeError("headline failed")

    started = []
    monkeypatch.setattr("harness.run.study.study_headline", broken_headline)
    with Ledger.open_existing(copy) as ledger, pytest.raises(RuntimeError, match="headline failed"):
        summarise_run(
            ledger,
            selected_keys(ledger, study),
            study,
            ExecutorSpec(name="serial"),
            beside=lambda rows, headline: started.append(rows),
        )
    assert started == []
