"""Resume: a study killed mid-way and rerun in the same folder ends with the results of an
uninterrupted run, computing only what was missing or failed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from studies import study_config, target, tdbench, without_timings

from detectors.base import Detector, Level, Reading
from harness.run.store import TABLES, ResultStore
from harness.run.study import run_study
from scenarios.catalogue import Steady

STUDY = ("seeds=6", "scenario=[ramp,spike,steady]", "detector=[transport,utilization]")


class FlakyDetector(Detector):
    """Fails while ``marker`` exists, as a detector with a transient problem would."""

    name = "flaky"

    def __init__(self, marker: str = "") -> None:
        self.marker = marker

    def step(self, obs) -> Reading:
        if Path(self.marker).exists():
            raise RuntimeError("transient failure")
        return Reading(float(obs.queue.sum()), Level.WARNING if obs.queue.sum() > 8 else Level.OK)


class FlakyScenario(Steady):
    """A steady scenario whose simulation fails while ``marker`` exists."""

    name = "flaky_scenario"

    def __init__(self, rho: float = 0.6, marker: str = "") -> None:
        super().__init__(rho)
        self.marker = marker

    def plan(self, rng, org):
        if Path(self.marker).exists():
            raise RuntimeError("transient failure")
        return super().plan(rng, org)


def tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(run_dir / f"{t}.parquet") for t in TABLES}


def assert_same_results(a: Path, b: Path) -> None:
    left, right = tables(a), tables(b)
    for table in TABLES:
        pd.testing.assert_frame_equal(without_timings(left[table]), without_timings(right[table]))


def complete_parts(run_dir: Path) -> int:
    folder = run_dir / "parts" / "cells"
    return len(list(folder.glob("*.parquet"))) if folder.exists() else 0


def test_study_killed_mid_way_resumes_to_the_same_results(tmp_path):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert tdbench(*STUDY, f"hydra.run.dir={full}", cwd=tmp_path).wait(timeout=300) == 0

    study = tdbench(
        *STUDY, "executor.n_jobs=2", f"hydra.run.dir={resumed}", cwd=tmp_path, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while complete_parts(resumed) < 2 and study.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(study.pid, signal.SIGKILL)  # the study and its worker processes, at once
    assert study.wait() == -signal.SIGKILL
    done_before = complete_parts(resumed)
    assert 2 <= done_before < 18, "the kill should land mid-way through the 18 jobs"
    assert not (resumed / "cells.parquet").exists()

    store = ResultStore(resumed)
    store.consolidate()  # what the rerun starts from: every job that finished before the kill
    kept = store.load("cells")[["key", "seconds"]]
    assert len(kept) == 2 * done_before

    rerun = tdbench(*STUDY, f"hydra.run.dir={resumed}", cwd=tmp_path)
    assert rerun.wait(timeout=300) == 0
    assert_same_results(full, resumed)
    after = pd.read_parquet(resumed / "cells.parquet").set_index("key")["seconds"]
    assert after[kept["key"]].tolist() == kept["seconds"].tolist()  # not recomputed
    assert not (resumed / "parts").exists()
    assert not list(resumed.glob(".*.tmp"))


def test_failed_cells_are_recomputed_on_rerun(tmp_path):
    marker = tmp_path / "failing"
    marker.touch()
    detectors = {"flaky": {"_target_": target(FlakyDetector), "marker": str(marker)}}
    scenarios = {"flaky_scenario": {"_target_": target(FlakyScenario), "marker": str(marker)}}
    study = study_config(
        "executor=serial",
        "seeds=2",
        "scenario=[ramp]",
        "detector=[utilization]",
        extra_detectors=detectors,
        scenarios=scenarios,
    )
    first = run_study(study, tmp_path / "run")
    assert first.failures == {"error": 6}  # flaky everywhere; utilization where the simulation failed
    ok_before = first.cells.loc[first.cells["status"] == "ok", ["key", "seconds"]]

    marker.unlink()
    second = run_study(study, tmp_path / "run")
    assert second.failed == 0 and len(second.cells) == 8
    kept = second.cells.set_index("key").loc[ok_before["key"], "seconds"]
    assert kept.tolist() == ok_before["seconds"].tolist()  # only the failed cells ran again
    run_study(study, tmp_path / "clean")
    assert_same_results(tmp_path / "run", tmp_path / "clean")


def test_nothing_is_recomputed_when_the_study_is_complete(tmp_path):
    study = study_config("executor=serial", "seeds=1", "scenario=[steady]", "detector=[utilization]")
    first = run_study(study, tmp_path)
    again = run_study(study, tmp_path)
    pd.testing.assert_frame_equal(first.cells, again.cells)  # same timings: nothing ran


def test_consolidate_ignores_incomplete_parts_and_torn_writes(tmp_path):
    store = ResultStore(tmp_path)
    cells = pd.DataFrame({"key": ["a"], "scenario": ["s"], "seed": [0], "detector": ["d"], "status": ["ok"]})
    events = pd.DataFrame({"key": ["a", "b"], "scenario": ["s", "s"], "seed": [0, 1], "detector": ["d", "d"]})
    store.append({"cells": cells, "events": events.iloc[:1]})
    (tmp_path / "parts" / "events").mkdir(exist_ok=True)
    events.iloc[1:].to_parquet(tmp_path / "parts" / "events" / "orphan.parquet")  # its cells part never came
    (tmp_path / ".cells.parquet.x1y2.tmp").write_bytes(b"PAR1 torn")  # a write killed before its rename
    store.consolidate()
    assert store.load("cells")["key"].tolist() == ["a"]
    assert store.load("events")["key"].tolist() == ["a"]
    assert not (tmp_path / "parts").exists() and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("status", ["error", "timeout"])
def test_only_ok_cells_count_as_done(tmp_path, status):
    store = ResultStore(tmp_path)
    cells = pd.DataFrame({"key": ["a", "b"], "status": ["ok", status], "seed": [0, 1]})
    store.append({"cells": cells})
    store.consolidate()
    assert store.ok_keys() == {"a"}


@pytest.mark.parametrize("error_first", [True, False])
def test_consolidated_columns_do_not_depend_on_part_order(tmp_path, monkeypatch, error_first):
    ok = pd.DataFrame(
        {"scenario": ["s"], "seed": [0], "n_units": [4], "key": ["a"], "status": ["ok"], "n": [3]}
    )
    failed = pd.DataFrame({"scenario": ["s"], "seed": [1], "key": ["b"], "status": ["error"]})
    names = iter(["0", "1"])
    monkeypatch.setattr("harness.run.store.uuid.uuid4", lambda: type("U", (), {"hex": next(names)}))
    store = ResultStore(tmp_path)
    for frame in (failed, ok) if error_first else (ok, failed):
        store.append({"cells": frame})
    store.consolidate()
    cells = store.load("cells")
    assert list(cells.columns) == ["scenario", "seed", "n_units", "key", "status", "n"]
    assert cells["key"].tolist() == ["a", "b"]
