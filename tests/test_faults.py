"""Fault isolation: a failing detector or simulation, or a cell over its time limit, costs only its
own cells; the study finishes the rest, leaves the failures out of the scorecard and exits non-zero."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import signal
import threading
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from studies import RaisingDetector, study_config, target, tdbench
from test_ledger_faults import DEADLINE_S, SLOW, _stored, assert_same_results, one_error_line, stored_seconds

from detectors.base import Detector, Reading
from harness.live.file_source import FileSource
from harness.run.study import run_study
from scenarios.catalogue import Scenario, Steady
from scenarios.historical import REQUIRED, HistoricalSpec


class BlockingDetector(Detector):
    """Takes an exclusive lock on ``lock_file`` at its first health check and then blocks until its
    process is killed. The kernel frees the lock only when the holder dies, so a free lock after
    the study proves the process was killed, whenever the deadline struck."""

    name = "blocking"

    def __init__(self, lock_file: str = "") -> None:
        self.lock_file = lock_file

    def step(self, obs) -> Reading:
        handle = open(self.lock_file, "a")  # noqa: SIM115 - held until the process dies
        fcntl.flock(handle, fcntl.LOCK_EX)
        threading.Event().wait()
        raise AssertionError("unreachable")


def lock_is_free(path: Path) -> bool:
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


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


TIMEOUT_S = 10  # generous: the simulation and the utilization cell of this small study take < 1 s


@pytest.mark.parametrize("executor", ["serial", "local", "dask"])
def test_timeout_kills_the_cell_and_the_rest_completes(tmp_path, executor):
    if executor == "dask":
        pytest.importorskip("distributed")
    lock = tmp_path / "blocking.lock"
    seeds = 1 if executor == "serial" else 2  # two jobs at once on the parallel executors
    study = study_config(
        f"executor={executor}",
        "executor.n_jobs=2",
        f"executor.cell_timeout_s={TIMEOUT_S}",
        f"seeds={seeds}",
        "scenario=[steady]",
        "detector=[utilization]",
        extra_detectors={"blocking": {"_target_": target(BlockingDetector), "lock_file": str(lock)}},
    )
    # the blocking detector runs first in each job, so the job's utilization cell needs a fresh process
    study = replace(study, detectors=dict(reversed(study.detectors.items())))
    result = run_study(study, tmp_path / "run")
    assert by_detector(result.cells) == {"blocking": ["timeout"] * seeds, "utilization": ["ok"] * seeds}
    blocking = result.cells[result.cells["detector"] == "blocking"]
    assert blocking["error"].str.contains(f"exceeded executor.cell_timeout_s = {TIMEOUT_S} s").all()
    assert (blocking["seconds"] == TIMEOUT_S).all()
    assert lock.exists(), f"the blocking detector did not start within {TIMEOUT_S} s"
    assert lock_is_free(lock)  # the processes running the cells were killed
    assert f"{seeds} cell(s) failed and are left out" in result.scorecard_text


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


def descendants(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
    return alive


@pytest.mark.parametrize(
    ("signum", "executor", "group"),
    [
        (signal.SIGTERM, ("executor=local", "executor.n_jobs=2"), False),
        pytest.param(  # as a service manager stops it: the study and its workers at once
            signal.SIGTERM, ("executor=local", "executor.n_jobs=2"), True, marks=pytest.mark.bench
        ),
        pytest.param(  # a cell process per job
            signal.SIGHUP, ("executor=serial", "executor.cell_timeout_s=60"), False, marks=pytest.mark.bench
        ),
    ],
    ids=["SIGTERM-local", "SIGTERM-group-local", "SIGHUP-serial-isolated"],
)
def test_a_stopping_signal_leaves_no_process_and_a_rerun_equals_an_uninterrupted_run(
    tmp_path, signum, executor, group
):
    args = ("scenario=[ramp,steady]", "detector=[utilization]", "seeds=3", *executor, SLOW,
            "+detector.slow.delay_s=1.0", "report.enabled=false")  # fmt: skip
    out = tmp_path / "run"
    default = partial(signal.signal, signum, signal.SIG_DFL)  # even if these tests run under nohup
    study = tdbench(*args, f"hydra.run.dir={out}", cwd=tmp_path, start_new_session=group, preexec_fn=default)
    seen: set[int] = set()
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and study.poll() is None and not _stored(out):
        seen |= descendants(study.pid)
        time.sleep(0.05)
    seen |= descendants(study.pid)
    if group:
        os.killpg(study.pid, signum)
    else:
        study.send_signal(signum)  # to the study's process alone: it stops its workers itself
    _, err = study.communicate(timeout=DEADLINE_S)
    assert study.returncode == 128 + signum, err
    stored = len(stored_seconds(out)) // 2
    assert (
        one_error_line(err) == f"interrupted: {stored} of 6 jobs stored; run the same command again to finish"
    )
    assert 1 <= stored < 6 and seen
    give_up = time.monotonic() + 10  # a worker that is exiting already may take a moment
    while running(seen) and time.monotonic() < give_up:
        time.sleep(0.1)
    assert not running(seen), [psutil.Process(pid).cmdline() for pid in running(seen)]
    assert not [p.name for p in Path("/dev/shm").glob(f"*{study.pid}*")]
    assert not (out / ".tdbench.lock").exists() or lock_is_free(out / ".tdbench.lock")
    rerun = tdbench(*args, f"hydra.run.dir={out}", cwd=tmp_path)
    assert rerun.wait(timeout=DEADLINE_S) == 0
    whole = tmp_path / "uninterrupted"
    assert tdbench(*args, f"hydra.run.dir={whole}", cwd=tmp_path).wait(timeout=DEADLINE_S) == 0
    assert_same_results(whole, out)


def test_a_csv_row_over_the_field_limit_costs_only_that_row_also_after_a_restart(tmp_path):
    path = tmp_path / "live.csv"
    row = "{t},{u},1,1,0,0,0,0,0,1,2,0.4,2\n"
    huge = "2,a," + "9" * (csv.field_size_limit() + 1) + ",1,0,0,0,0,0,1,2,0.4,2\n"
    rows = [
        row.format(t=1, u="a"),
        row.format(t=1, u="b"),
        huge,
        *(row.format(t=t, u=u) for t in (2, 3) for u in "ab"),
    ]
    path.write_text(",".join(REQUIRED) + ",staff\n" + "".join(rows))
    for _ in range(2):  # the monitor as first started, then restarted over the same file
        reported: list[str] = []
        source = FileSource(
            path, HistoricalSpec(service_rate_per_h=1.0), interval_s=0.01, report=reported.append
        )
        assert [obs.time_h for obs in source.poll()] == [1.0, 2.0, 3.0]
        limit = f"field larger than field limit ({csv.field_size_limit()})"
        assert reported == [f"data: row 3 cannot be read as CSV ({limit}); the row is not scored"]
