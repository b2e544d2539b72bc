"""A small study end to end, through the Python API and the tdbench command."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from harness.cli import CONF_DIR
from harness.config import load_study
from harness.run.study import run_study

SMALL = [
    "seeds=2",
    "scenario=[spike,steady]",
    "detector=[transport,utilization]",
    "org.n_units=4",
    "org.warmup_days=1",
    "org.scenario_days=3",
    "executor=serial",
    "progress=false",
]
TIMING = ["seconds", "sim_seconds"]


def small_study(*extra):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return load_study(compose("config", overrides=[*SMALL, *extra]))


def metric_columns(cells: pd.DataFrame) -> pd.DataFrame:
    return cells.drop(columns=TIMING).sort_values(["scenario", "seed", "detector"]).reset_index(drop=True)


def test_small_study_writes_every_table(tmp_path):
    result = run_study(small_study(), tmp_path)
    assert len(result.cells) == 2 * 2 * 2 and (result.cells["status"] == "ok").all()
    for name in (
        "cells.parquet",
        "events.parquet",
        "episodes.parquet",
        "overhead.parquet",
        "summary.csv",
        "scorecard.md",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    assert not (tmp_path / "parts").exists()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary["scenario"]) == {"spike", "steady", "ALL"}
    assert set(result.scorecard["detector"]) == {"transport", "utilization"}
    # the pooled FP rate in the scorecard is the ratio of the pooled counts in cells.parquet
    mine = result.cells[result.cells["detector"] == "transport"]
    card = result.scorecard.set_index("detector").loc["transport"]
    assert card["fp_rate"] == pytest.approx(mine["n_false"].sum() / mine["n_episodes"].sum())


def test_same_study_twice_gives_identical_metrics(tmp_path):
    first = run_study(small_study(), tmp_path / "a").cells
    second = run_study(small_study(), tmp_path / "b").cells
    pd.testing.assert_frame_equal(metric_columns(first), metric_columns(second))


def test_rerun_in_the_same_folder_keeps_stored_cells(tmp_path):
    run_study(small_study(), tmp_path)
    before = pd.read_parquet(tmp_path / "cells.parquet")
    again = run_study(small_study(), tmp_path).cells
    pd.testing.assert_frame_equal(before, again)  # timing columns too: nothing was recomputed


def tdbench(*args, cwd):
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    command = [sys.executable, "-c", "from harness.cli import main; main()", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def test_command_runs_a_study_and_prints_the_scorecard(tmp_path):
    done = tdbench(*SMALL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "| transport |" in done.stdout and "results: " in done.stdout
    (run_dir,) = Path(tmp_path, "results", "runs").glob("*/*")
    assert (run_dir / "cells.parquet").exists() and (run_dir / "config.yaml").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("scenario=[ramp,tsunami]", "scenario: unknown option 'tsunami'; allowed: diurnal"),
        ("detector=[transport,oracle]", "detector: unknown option 'oracle'; allowed:"),
        ("scenarios=[tsunami]", "scenario: unknown option 'tsunami'"),
        ("org.n_units=0", "org.n_units: must be an integer >= 1; got 0"),
        ("seeds=0", "seeds: must be an integer >= 1; got 0"),
        ("org.graph=star", "org.graph: must be one of complete, ring; got 'star'"),
        ("detector.transport.tau_h=-1", "detector.transport.tau_h: must be a number of hours >= 0; got -1"),
        ("scenario.spike.spike_rho=-2", "scenario.spike.spike_rho: must be a number >= 0; got -2"),
        ("org.warp_drive=1", "org.warp_drive: no such setting"),
        ("executor=cloud", "executor: unknown option 'cloud'"),
        ("task=dance", "task: unknown task 'dance'; allowed: study"),
        ("+scoring.thresholds.oracle=1", "scoring.thresholds.oracle: names no selected detector"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, override, message):
    done = tdbench(*SMALL, override, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tdbench: error: ") and message in lines[0], done.stderr
    assert not (tmp_path / "results").exists()


def test_help_lists_the_config_groups(tmp_path):
    done = tdbench("--help", cwd=tmp_path)
    assert done.returncode == 0
    out = done.stdout
    for group in ("scenario", "detector", "org", "scoring", "executor", "experiment"):
        assert f"{group}:" in out


def test_help_lists_every_task_with_its_summary(tmp_path):
    from harness.tasks import TASKS, summary

    out = tdbench("--help", cwd=tmp_path).stdout
    for name in TASKS:
        line = next(line for line in out.splitlines() if line.strip().startswith(f"task={name} "))
        assert summary(name) in line and summary(name)


def test_group_aliases_and_bare_null_in_lists():
    from harness.cli import normalise

    assert normalise(["detectors=[transport,null]", "scenarios=[ramp]", "seeds=3"]) == [
        "detector=[transport,'null']",
        "scenario=[ramp]",
        "seeds=3",
    ]
