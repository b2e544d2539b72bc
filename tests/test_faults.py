"""Fault isolation: a failing detector or simulation, or a cell over its time limit, costs only its
own cells; the study finishes the rest, leaves the failures out of the scorecard and exits non-zero."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from studies import RaisingDetector, study_config, target, tdbench

from detectors.base import Detector, Reading
from harness.run.study import run_study
from scenarios.catalogue import Scenario, Steady


class SleepingDetector(Detector):
    """Records its process id in ``pid_file``, then never returns from its first health check."""

    name = "sleeping"

    def __init__(self, pid_file: str = "") -> None:
        self.pid_file = pid_file

    def step(self, obs) -> Reading:
        Path(self.pid_file).write_text(str(os.getpid()))
        while True:
            time.sleep(0.05)


class CrashingDetector(Detector):
    """Kills its own process, as a crash in native code would."""

    name = "crashing"

    def step(self, obs) -> Reading:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class BrokenScenario(Steady):
    """A scenario whose simulation raises."""

    name = "broken"

    def plan(self, rng: np.random.Generator, org) -> Scenario:
        raise ValueError("deliberate failure in a test scenario")


def by_detector(cells: pd.DataFrame) -> dict[str, list[str]]:
    return {d: sorted(group["status"]) for d, group in cells.groupby("detector")}


def test_raising_detector_is_recorded_and_left_out(tmp_path):
    study = study_config(
        "executor=serial",
        "seeds=2",
        "scenario=[ramp,steady]",
        "detector=[utilization]",
        extra_detectors={"raising": {"_target_": target(RaisingDetector)}},
    )
    result = run_study(study, tmp_path)
    assert by_detector(result.cells) == {"raising": ["error"] * 4, "utilization": ["ok"] * 4}
    errors = result.cells.loc[result.cells["detector"] == "raising", "error"]
    assert errors.str.contains("Traceback").all()
    assert errors.str.contains("RuntimeError: deliberate failure in a test detector").all()
    assert result.failed == 4 and result.failures == {"error": 4}
    assert list(result.scorecard["detector"]) == ["utilization"]
    assert set(result.summary["detector"]) == {"utilization"}
    assert "4 cell(s) failed and are left out" in (tmp_path / "scorecard.md").read_text()
    assert set(result.overhead["detector"]) == {"utilization"}


def test_failing_simulation_fails_only_its_cells(tmp_path):
    study = study_config(
        "executor=serial",
        "seeds=1",
        "scenario=[ramp]",
        "detector=[utilization,transport]",
        scenarios={"broken": {"_target_": target(BrokenScenario)}},
    )
    result = run_study(study, tmp_path)
    cells = result.cells.set_index(["scenario", "detector"])["status"].to_dict()
    assert cells == {
        ("broken", "transport"): "error",
        ("broken", "utilization"): "error",
        ("ramp", "transport"): "ok",
        ("ramp", "utilization"): "ok",
    }
    broken = result.cells[result.cells["scenario"] == "broken"]
    assert broken["error"].str.contains("ValueError: deliberate failure in a test scenario").all()


@pytest.mark.parametrize("executor", ["serial", "local", "dask"])
def test_timeout_kills_the_cell_and_the_rest_completes(tmp_path, executor):
    if executor == "dask":
        pytest.importorskip("distributed")
    pid_file = tmp_path / "sleeper.pid"
    study = study_config(
        f"executor={executor}",
        "executor.n_jobs=2",
        "executor.cell_timeout_s=1.5",
        "seeds=2",
        "scenario=[steady]",
        "detector=[utilization]",
        extra_detectors={"sleeping": {"_target_": target(SleepingDetector), "pid_file": str(pid_file)}},
    )
    # the sleeper runs first in each job, so the job's utilization cell needs a fresh process
    study = replace(study, detectors=dict(reversed(study.detectors.items())))
    result = run_study(study, tmp_path / "run")
    assert by_detector(result.cells) == {"sleeping": ["timeout"] * 2, "utilization": ["ok"] * 2}
    sleeping = result.cells[result.cells["detector"] == "sleeping"]
    assert sleeping["error"].str.contains("exceeded executor.cell_timeout_s = 1.5 s").all()
    assert (sleeping["seconds"] == 1.5).all()
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # the process running the cell was killed
        os.kill(pid, 0)
    assert "2 cell(s) failed and are left out" in result.scorecard_text


def test_simulation_timeout_fails_the_jobs_cells(tmp_path):
    study = study_config(
        "executor=serial",
        "executor.cell_timeout_s=0.01",
        "seeds=1",
        "scenario=[ramp]",
        "detector=[utilization,transport]",
        "org.scenario_days=30",
    )
    result = run_study(study, tmp_path)
    assert by_detector(result.cells) == {"transport": ["timeout"], "utilization": ["timeout"]}
    assert result.cells["error"].str.contains("the simulation exceeded").all()
    assert result.scorecard_text.startswith("No cell succeeded: 2 cell(s) failed")


def test_a_crashing_cell_is_isolated(tmp_path):
    study = study_config(
        "executor=serial",
        "executor.cell_timeout_s=60",
        "seeds=1",
        "scenario=[steady]",
        "detector=[utilization]",
        extra_detectors={"crashing": {"_target_": target(CrashingDetector)}},
    )
    result = run_study(study, tmp_path)
    assert by_detector(result.cells) == {"crashing": ["error"], "utilization": ["ok"]}
    error = result.cells.loc[result.cells["detector"] == "crashing", "error"].item()
    assert "died (exit code -9)" in error


def test_cli_exits_non_zero_when_a_cell_failed(tmp_path):
    args = ["seeds=1", "scenario=[steady]", "detector=[utilization]", f"hydra.run.dir={tmp_path / 'run'}"]
    failing = tdbench(*args, f"+detector.raising._target_={target(RaisingDetector)}", cwd=tmp_path)
    out, err = failing.communicate(timeout=120)
    assert failing.returncode == 1, err
    assert "1 cell(s) failed (1 error)" in out
    assert "cells: 1 ok, 1 error, 0 timeout" in out.splitlines()
    assert "1 cell(s) failed and are left out" in (tmp_path / "run" / "scorecard.md").read_text()
    fine = tdbench(*args, cwd=tmp_path)
    assert fine.wait(timeout=120) == 0


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("executor.cell_timeout_s=0", "executor.cell_timeout_s"),
        ("executor.cell_timeout_s=soon", "executor.cell_timeout_s"),
        ("executor.address=tcp://localhost:8786", "executor.address"),
    ],
)
def test_bad_executor_settings_are_one_line_errors(tmp_path, override, field):
    run = tdbench(override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 2
    assert err.startswith(f"tdbench: error: {field}: ") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
