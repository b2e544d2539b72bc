"""Fault tolerance, proven: a study killed at any stage, interrupted, out of disk or denied its
folder, then rerun, ends with the tables of one uninterrupted run (timing columns aside); two
studies into one folder never both write it; every file honours the umask.

Faults are injected by tests/faulty_tdbench.py (the ``tdbench`` command with one function wrapped
to fail), or from outside (a real SIGKILL, SIGINT, a read-only mount, a full tmpfs).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from studies import ROOT, SMALL, tdbench, without_timings

from detectors.base import Detector, Level, Reading
from harness.run.ledger import LEDGER_FILE, Ledger

STUDY = ("scenario=[ramp,steady]", "detector=[transport,utilization]", "seeds=2", "executor=serial")
QUICK = (*STUDY, "report.enabled=false")  # where the report is not what the test is about
TABLES = ("cells", "events", "episodes", "overhead")
REPORT_TABLES = ("timeline", "timeline_marks")
CSVS = ("summary.csv", "first_alert.csv")
DEADLINE_S = 600  # generous: the machine may be loaded


class SlowDetector(Detector):
    """Takes ``delay_s`` to start on each run: keeps a study busy long enough to race with it."""

    name = "slow"

    def __init__(self, delay_s: float = 1.0) -> None:
        self.delay_s = delay_s

    def reset(self, layout) -> None:
        super().reset(layout)
        time.sleep(self.delay_s)

    def step(self, obs) -> Reading:
        return Reading(float(obs.queue.sum()), Level.OK)


SLOW = "+detector.slow._target_=test_ledger_faults.SlowDetector"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}


def run(*args: str, cwd: Path, fault: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``tdbench SMALL ARGS`` to completion; with ``fault``, through tests/faulty_tdbench.py."""
    if fault is None:
        proc = tdbench(*args, cwd=cwd, **kwargs)
    else:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "faulty_tdbench.py"), *SMALL, *args],
            cwd=cwd,
            env={**env(), "TDBENCH_FAULT": fault},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )
    out, err = proc.communicate(timeout=DEADLINE_S)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_same_results(a: Path, b: Path) -> None:
    """The tables and CSVs of two runs are equal (timing columns aside); so are the timelines and
    the figures drawn, when ``b`` has a report."""
    report = (b / "report.md").is_file()
    for table in TABLES + (REPORT_TABLES if report else ()):
        left, right = (pd.read_parquet(d / f"{table}.parquet") for d in (a, b))
        pd.testing.assert_frame_equal(without_timings(left), without_timings(right), obj=table)
    for name in CSVS:
        assert (a / name).read_text() == (b / name).read_text(), name
    if report:
        figures = [sorted(p.name for p in (d / "figures").iterdir()) for d in (a, b)]
        assert figures[0] == figures[1]
    assert not list(b.glob(".*.tmp"))


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def stored_seconds(run_dir: Path) -> dict[str, float]:
    with Ledger.open_existing(run_dir) as ledger:
        cells = ledger.load("cells")
    return dict(zip(cells["key"], cells["seconds"], strict=True)) if "seconds" in cells else {}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[Path, float]:
    """One uninterrupted run, and how long it took."""
    out = tmp_path_factory.mktemp("baseline")
    start = time.monotonic()
    done = run(*STUDY, f"hydra.run.dir={out}", cwd=out.parent)
    assert done.returncode == 0, done.stderr
    return out, time.monotonic() - start


@pytest.mark.parametrize(
    ("fault", "jobs_stored"),
    [
        ("simulate:3", 2),  # during the third job's simulation
        ("commit:2", 2),  # between the second and the third job's commits
        ("in-commit:2", 1),  # inside the second job's transaction
        ("export:1", 4),  # after cells.parquet, before events.parquet
        ("report:2", 4),  # while the report draws its second figure
    ],
)
def test_killed_at_each_stage_then_rerun_equals_an_uninterrupted_run(baseline, tmp_path, fault, jobs_stored):
    out = tmp_path / "run"
    killed = run(*STUDY, f"hydra.run.dir={out}", cwd=tmp_path, fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if fault.startswith("in-commit"):
        assert (out / f"{LEDGER_FILE}-journal").exists()  # the kill landed inside the transaction
    if fault.startswith("export"):
        assert (out / "cells.parquet").exists() and not (out / "events.parquet").exists()
    kept = stored_seconds(out)
    assert len(kept) == 2 * jobs_stored  # whole jobs only: 2 cells each
    rerun = run(*STUDY, f"hydra.run.dir={out}", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_results(baseline[0], out)
    after = stored_seconds(out)
    assert {key: after[key] for key in kept} == kept  # stored cells were not recomputed


def test_external_sigkill_at_a_random_moment(baseline, tmp_path):
    delay = random.Random(9).uniform(0.3, 0.9) * baseline[1]  # seeded: the same moment every run
    out = tmp_path / "run"
    study = tdbench(*STUDY, f"hydra.run.dir={out}", cwd=tmp_path, start_new_session=True)
    time.sleep(delay)
    os.killpg(study.pid, signal.SIGKILL)
    study.communicate(timeout=DEADLINE_S)
    rerun = run(*STUDY, f"hydra.run.dir={out}", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_results(baseline[0], out)


def test_two_studies_at_once_one_stops_the_other_finishes(tmp_path):
    args = (*QUICK, SLOW, "+detector.slow.delay_s=1.0")
    out = tmp_path / "shared"
    studies = [tdbench(*args, f"hydra.run.dir={out}", cwd=tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=DEADLINE_S) for p in studies]
    results = [(p.pid, p.returncode, *output) for p, output in zip(studies, outputs, strict=True)]
    codes = sorted(code for _, code, _, _ in results)
    assert codes == [0, 2], results
    winner = next(pid for pid, code, _, _ in results if code == 0)
    loser_err = next(err for _, code, _, err in results if code == 2)
    line = one_error_line(loser_err)
    assert line == (
        f"tdbench: error: run folder {out.resolve()} is in use by another tdbench study (PID {winner}); "
        "wait for it to finish or choose another folder (hydra.run.dir=...)"
    )
    single = tmp_path / "single"
    assert run(*args, f"hydra.run.dir={single}", cwd=tmp_path).returncode == 0
    assert_same_results(single, out)


def test_a_lock_left_by_a_killed_study_is_taken_over(baseline, tmp_path):
    out = tmp_path / "run"
    study = tdbench(*QUICK, f"hydra.run.dir={out}", cwd=tmp_path, start_new_session=True)
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and study.poll() is None and not _stored(out):
        time.sleep(0.05)
    os.killpg(study.pid, signal.SIGKILL)
    study.communicate(timeout=DEADLINE_S)
    assert (out / ".tdbench.lock").read_text().strip() == str(study.pid)  # the dead holder's
    rerun = run(*QUICK, f"hydra.run.dir={out}", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_results(baseline[0], out)


def interruptible() -> None:
    """In the study's process: Ctrl-C's default action, even when the tests inherited SIGINT
    ignored (as a command started in the background by a non-interactive shell does)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("executor", [("executor=serial",), ("executor=local", "executor.n_jobs=2")])
def test_ctrl_c_stores_what_is_done_and_says_so(tmp_path, executor):
    args = ("scenario=[ramp,steady]", "detector=[utilization]", "seeds=3", *executor, SLOW,
            "+detector.slow.delay_s=1.0", "report.enabled=false")  # fmt: skip
    out = tmp_path / "run"
    study = tdbench(
        *args, f"hydra.run.dir={out}", cwd=tmp_path, start_new_session=True, preexec_fn=interruptible
    )
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and study.poll() is None and not _stored(out):
        time.sleep(0.05)
    os.killpg(study.pid, signal.SIGINT)  # as a terminal does: to the study and its workers
    _, err = study.communicate(timeout=DEADLINE_S)
    assert study.returncode == 130, err
    line = one_error_line(err)
    stored = len(stored_seconds(out)) // 2
    assert 1 <= stored < 6
    assert line == f"interrupted: {stored} of 6 jobs stored; run the same command again to finish"
    kept = stored_seconds(out)
    rerun = run(*args, f"hydra.run.dir={out}", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    after = stored_seconds(out)
    assert len(after) == 12 and {key: after[key] for key in kept} == kept


def _stored(run_dir: Path) -> int:
    """Cells in the ledger, read without disturbing the writer (0 while there is none)."""
    path = run_dir / LEDGER_FILE
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM cells").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


@pytest.mark.parametrize(
    ("fault", "names"),
    [("in-commit:2:enospc", LEDGER_FILE), ("export:2:enospc", "events.parquet")],
)
def test_disk_full_stops_with_one_line_and_the_rerun_finishes(baseline, tmp_path, fault, names):
    out = tmp_path / "run"
    full = run(*QUICK, f"hydra.run.dir={out}", cwd=tmp_path, fault=fault)
    assert full.returncode == 74, full.stderr
    line = one_error_line(full.stderr)
    assert line.startswith(f"tdbench: error: cannot write {out / names}: ") and "free space" in line
    with sqlite3.connect(out / LEDGER_FILE) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(stored_seconds(out)) == (2 if fault.startswith("in-commit") else 8)
    rerun = run(*QUICK, f"hydra.run.dir={out}", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_results(baseline[0], out)


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_really_full_disk(baseline, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=160k", "tmpfs", str(disk)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = disk / "run"
        full = run(*STUDY, f"hydra.run.dir={out}", cwd=tmp_path)
        assert full.returncode == 74, full.stderr
        line = one_error_line(full.stderr)
        assert line.startswith(f"tdbench: error: cannot write {out}/") and "free space" in line
        assert _mount("-o", "remount,size=64m", str(disk))
        rerun = run(*STUDY, f"hydra.run.dir={out}", cwd=tmp_path)
        assert rerun.returncode == 0, rerun.stderr
        assert_same_results(baseline[0], out)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_read_only_folder_stops_with_one_line_and_nothing_changes(baseline, tmp_path):
    out = tmp_path / "run"
    assert run(*QUICK, f"hydra.run.dir={out}", cwd=tmp_path, fault="commit:2").returncode == -signal.SIGKILL
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    view = tmp_path / "view"
    if os.geteuid() == 0:  # root writes through permissions: use a read-only bind mount instead
        view.mkdir()
        if not (_mount("--bind", str(out), str(view)) and _mount("-o", "remount,bind,ro", str(view))):
            pytest.skip("cannot bind-mount read-only here")
    else:
        view = out
        for path in [out, *out.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
    try:
        denied = run(*QUICK, f"hydra.run.dir={view}", cwd=tmp_path)
    finally:
        if view != out:
            subprocess.run(["umount", "-l", str(view)], check=False)
        else:
            for path in [out, *out.rglob("*")]:
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
    assert denied.returncode == 74, denied.stderr
    line = one_error_line(denied.stderr)
    assert line.startswith(f"tdbench: error: cannot write {view}") and "read-only" in line
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    rerun = run(*QUICK, f"hydra.run.dir={out}", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_results(baseline[0], out)


def test_a_corrupt_ledger_is_one_line(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LEDGER_FILE).write_bytes(b"this is not a database" * 100)
    done = run(*QUICK, f"hydra.run.dir={out}", cwd=tmp_path)
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert line.startswith(f"tdbench: error: {out / LEDGER_FILE}: not a readable tdbench ledger")
    assert line.endswith("move it away and run the study again into this folder to recompute it")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_file_honours_the_umask(tmp_path, umask):
    out = tmp_path / "run"
    with_umask = {"preexec_fn": lambda: os.umask(umask)}
    done = run(*STUDY, f"hydra.run.dir={out}", cwd=tmp_path, **with_umask)
    assert done.returncode == 0, done.stderr
    written = {"ledger.sqlite", "cells.parquet", "summary.csv", "report.md", "config.yaml", "figures"}
    assert written <= {p.name for p in out.iterdir()}
    for step in ("study", "report"):
        paths = [out, *out.rglob("*")]
        modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in paths}
        wanted = {name: (0o777 if (tmp_path / name).is_dir() else 0o666) & ~umask for name in modes}
        assert modes == wanted, step
        report = run(
            "task=report",
            f"run_dir={out}",
            f"hydra.run.dir={tmp_path / 'scratch'}",
            cwd=tmp_path,
            **with_umask,
        )
        assert report.returncode == 0, report.stderr
