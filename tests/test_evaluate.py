"""``tdbench task=evaluate``: historical data scored like a simulated run, and bad data refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from studies import compose_config, run_task
from test_historical import CASES, corrupt, spike_trace

from harness import cli
from harness.config import build, load_study
from harness.run.jobs import run_job
from harness.run.plan import plan_jobs
from scenarios import simulate
from scenarios.historical import observations_frame, write_labels, write_observations
from scenarios.org import OrgConfig
from scenarios.truth import TruthSpec

ROOT = Path(__file__).resolve().parent.parent
DETECTORS = "detector=[transport,utilization,utilization_busy]"
ORG = ("org.n_units=3", "org.warmup_days=1", "org.scenario_days=2", "scenario.spike.onset_day=1")
EVALUATE = ("task=evaluate", DETECTORS, "executor=serial", "historical.warmup_h=24", "report.enabled=true")


@pytest.fixture(scope="module")
def simulated():
    """The spike cell of a small study: its trace, and the rows the study's own cell job stores."""
    cfg = compose_config("scenario=[spike]", DETECTORS, "seeds=1", "executor=serial", *ORG)
    study = load_study(cfg)
    (job,) = plan_jobs(study)
    trace = simulate(
        build(job.scenario_spec, "scenario.spike"), 0, org=OrgConfig(**job.org), truth=TruthSpec(**job.truth)
    )
    return trace, run_job(job)


def comparable(frame: pd.DataFrame, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    ids = ["key", "scenario", "sim_seconds", "seconds", "error", *drop]
    frame = frame.drop(columns=[c for c in ids if c in frame.columns])
    order = [c for c in ("detector", "target", "onset_h", "start_h") if c in frame.columns]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)[sorted(frame.columns)]


@pytest.mark.parametrize("with_labels", [False, True])
def test_round_trip_gives_the_same_scores(simulated, tmp_path, with_labels):
    trace, rows = simulated
    data = tmp_path / "spike.csv"
    write_observations(trace, data)
    args = [*EVALUATE, f"data={data}"]
    if with_labels:
        write_labels(trace, tmp_path / "labels.csv")
        args.append(f"labels={tmp_path / 'labels.csv'}")
    out = tmp_path / "run"
    assert run_task(out, *args) == 0
    cells = pd.read_parquet(out / "cells.parquet")
    assert (cells["status"] == "ok").all() and len(cells) == 3
    pd.testing.assert_frame_equal(comparable(cells), comparable(rows["cells"]), check_dtype=False)
    for table in ("events", "episodes"):
        pd.testing.assert_frame_equal(
            comparable(pd.read_parquet(out / f"{table}.parquet")), comparable(rows[table]), check_dtype=False
        )
    overhead = pd.read_parquet(out / "overhead.parquet")
    assert (overhead["n_updates"] == len(trace)).all()
    assert len(rows["events"]) > 0 and rows["episodes"]["true"].any()  # the comparison has substance
    assert (out / "report.md").is_file() and (out / "figures" / "timeline_spike.png").stat().st_size > 10_000


def test_example_evaluates_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from harness.cli import main; main()",
            "task=evaluate",
            "data=examples/historical.csv",
            "labels=examples/historical_labels.csv",
            "executor=serial",
            f"hydra.run.dir={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "lead >= 2 h (utilization_breach; historical)" in done.stdout
    units = pd.read_csv(out / "units.csv")
    assert units["label"].tolist() == ["cardiology", "emergency", "oncology", "surgery"]
    events = pd.read_parquet(out / "events.parquet")
    defaults = yaml.safe_load((ROOT / "conf" / "config.yaml").read_text())["defaults"]
    (selected,) = [d["detector"] for d in defaults if isinstance(d, dict) and "detector" in d]
    assert sorted(events["detector"].unique()) == sorted(selected)
    labels = pd.read_csv(ROOT / "examples" / "historical_labels.csv")
    assert len(events) == len(selected) * len(labels)
    report = (out / "report.md").read_text()
    assert "Historical data `examples/historical.csv`" in report
    for figure in ("timeline_historical", "lead_times_utilization_breach", "lead_coverage", "overhead"):
        assert f"figures/{figure}.png" in report
        assert (out / "figures" / f"{figure}.png").stat().st_size > 10_000


def run_cli(monkeypatch, capsys, args: list[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tdbench", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    return exit_.value.code, capsys.readouterr().err


def good_frame() -> pd.DataFrame:
    return observations_frame(spike_trace())


@pytest.mark.parametrize("case", CASES)
def test_bad_data_exits_2_with_one_line_and_writes_nothing(monkeypatch, capsys, tmp_path, case):
    """The loader tests' malformed-data matrix, through the command."""
    data = tmp_path / "data.csv"
    corrupt(good_frame(), case).to_csv(data, index=False)
    out = tmp_path / "run"
    code, err = run_cli(
        monkeypatch,
        capsys,
        ["task=evaluate", f"data={data}", "historical.warmup_h=6", f"hydra.run.dir={out}"],
    )
    field, problem = CASES[case]
    assert code == 2
    assert err.startswith(f"tdbench: error: {field}: {problem}")
    assert err.count("\n") == 1
    assert not out.exists()


def test_unit_with_no_rows_and_bad_labels_exit_2(monkeypatch, capsys, tmp_path):
    frame = good_frame()
    data = tmp_path / "data.parquet"
    declared = pd.Categorical(frame["unit"].astype(str), categories=["0", "1", "2", "3"])
    frame.assign(unit=declared).to_parquet(data)
    code, err = run_cli(monkeypatch, capsys, ["task=evaluate", f"data={data}", "historical.warmup_h=6"])
    assert (code, err) == (
        2,
        "tdbench: error: data.unit: unit '3' has no rows (every declared unit needs observations)\n",
    )

    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    cases = {
        "unit_saturation,3.0,4.0,0;9": "labels.units: unknown unit '9' in row 1",
        "utilization_breach,100.0,,": "labels.onset_h: time 100 in row 1 is outside the data",
    }
    for row, message in cases.items():
        labels = tmp_path / "labels.csv"
        labels.write_text(f"target,onset_h,end_h,units\n{row}\n")
        args = ["task=evaluate", f"data={data}", f"labels={labels}", "historical.warmup_h=6"]
        code, err = run_cli(monkeypatch, capsys, args)
        assert code == 2 and err.startswith(f"tdbench: error: {message}")


def test_missing_data_argument_and_bad_settings_exit_2(monkeypatch, capsys, tmp_path):
    code, err = run_cli(monkeypatch, capsys, ["task=evaluate"])
    assert code == 2 and err.startswith("tdbench: error: data: give the observations file")
    code, err = run_cli(monkeypatch, capsys, ["task=evaluate", f"data={tmp_path / 'nope.csv'}"])
    assert code == 2 and "no such file" in err
    frame_path = tmp_path / "data.csv"
    good_frame().to_csv(frame_path, index=False)
    code, err = run_cli(monkeypatch, capsys, ["task=evaluate", f"data={frame_path}", "historical.graph=star"])
    assert code == 2 and err.startswith("tdbench: error: historical.graph: must be one of complete, ring")
    code, err = run_cli(monkeypatch, capsys, ["task=evaluate", f"data={frame_path}"])
    assert code == 2 and err.startswith("tdbench: error: historical.warmup_h: 168 h leaves nothing to score")
    origin = "historical.origin=soon"
    code, err = run_cli(monkeypatch, capsys, ["task=evaluate", f"data={frame_path}", origin])
    assert code == 2 and err.startswith("tdbench: error: historical.origin: must be a date-time")


def test_an_origin_dates_the_timeline_without_changing_the_numbers(tmp_path):
    data = Path(__file__).resolve().parent.parent / "examples" / "historical.csv"
    args = ["task=evaluate", f"data={data}", "detector=[utilization]"]
    assert run_task(tmp_path / "hours", *args) == 0
    assert run_task(tmp_path / "dated", *args, "historical.origin=2025-01-31T00:00") == 0
    hours, dated = (pd.read_parquet(tmp_path / d / "cells.parquet") for d in ("hours", "dated"))
    assert hours["key"].equals(dated["key"])  # the origin only labels the axes
    assert (tmp_path / "dated" / "figures" / "timeline_historical.png").is_file()


def test_no_alert_anywhere_still_gives_every_table_its_columns_and_a_report(tmp_path):
    out = tmp_path / "run"
    data = str(ROOT / "examples" / "historical.csv")
    assert run_task(out, "task=evaluate", f"data={data}", 'detector=["null"]', "executor=serial") == 0
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert episodes.empty and {"start_h", "end_h", "scenario", "seed", "detector", "key"} <= set(episodes)
    assert (out / "report.md").is_file() and (out / "figures" / "lead_coverage.png").is_file()
