"""Resume: a study rerun in the same folder ends with the results of an uninterrupted run,
computing only what the ledger lacks or holds as failed; the ledger stores each job whole, once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from studies import SMALL, run_task, study_config, target, without_timings

from detectors.base import Detector, Level, Reading
from harness.run.ledger import ROW_TABLES as TABLES
from harness.run.ledger import Ledger
from harness.run.study import run_study
from scenarios.catalogue import Steady
from scenarios.params import param


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

    marker: str = param("", "file whose existence makes the simulation fail")

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


def cell(key: str, status: str = "ok", seed: int = 0, **metrics) -> dict:
    return {
        "scenario": "s",
        "seed": seed,
        "key": key,
        "detector": "d",
        "status": status,
        "error": "",
        **metrics,
    }


@pytest.mark.parametrize("status", ["error", "timeout"])
def test_only_ok_cells_count_as_done(tmp_path, status):
    with Ledger(tmp_path) as ledger:
        ledger.commit_job("j", {"cells": pd.DataFrame([cell("a"), cell("b", status, seed=1)])})
        assert ledger.ok_keys() == {"a"} and ledger.stored_keys() == {"a", "b"}


def test_a_cell_cannot_be_stored_twice_but_a_failed_one_is_replaced(tmp_path):
    with Ledger(tmp_path) as ledger:
        ledger.commit_job("j", {"cells": pd.DataFrame([cell("a"), cell("b", "error")])})
        with pytest.raises(sqlite3.IntegrityError):
            ledger.commit_job("j", {"cells": pd.DataFrame([cell("a")])})
        events = pd.DataFrame(
            {"key": ["b", "b"], "scenario": "s", "seed": 0, "detector": "d", "onset_h": [2.0, 1.0]}
        )
        ledger.commit_job("j", {"cells": pd.DataFrame([cell("b", n=3)]), "events": events})
        cells = ledger.load("cells")
        assert cells["key"].tolist() == ["a", "b"] and cells["status"].tolist() == ["ok", "ok"]
        assert ledger.load("events")["onset_h"].tolist() == [1.0, 2.0]  # canonical order


def test_a_failed_commit_stores_nothing_of_its_job(tmp_path):
    import numpy as np

    arrays = {"score": np.zeros(3, np.float32), "level": np.zeros(3, np.int8)}
    events = pd.DataFrame({"key": ["a"], "scenario": "s", "seed": 0, "detector": "d", "onset_h": [1.0]})
    twice = pd.DataFrame([{"key": "a", **arrays}] * 2)  # the second readings row breaks the primary key
    with Ledger(tmp_path) as ledger:
        with pytest.raises(sqlite3.IntegrityError):
            ledger.commit_job("j", {"cells": pd.DataFrame([cell("a")]), "events": events, "readings": twice})
        assert ledger.stored_keys() == set()
        assert all(ledger.load(table).empty for table in TABLES)


@pytest.mark.parametrize("error_first", [True, False])
def test_loaded_columns_do_not_depend_on_commit_order(tmp_path, error_first):
    ok = {
        "scenario": "s",
        "seed": 0,
        "n_units": 4,
        "key": "a",
        "detector": "d",
        "status": "ok",
        "error": "",
        "n": 3,
    }
    failed = {"scenario": "s", "seed": 1, "key": "b", "detector": "d", "status": "error", "error": "boom"}
    with Ledger(tmp_path) as ledger:
        for row in (failed, ok) if error_first else (ok, failed):
            ledger.commit_job(str(row["seed"]), {"cells": pd.DataFrame([row])})
        cells = ledger.load("cells")
    assert list(cells.columns) == ["scenario", "seed", "n_units", "key", "detector", "status", "error", "n"]
    assert cells["key"].tolist() == ["a", "b"]


def test_a_job_reads_back_as_its_cells_committed_one_by_one(tmp_path):
    """The ledger converts a job's tables to Arrow once and slices them per cell: what it loads
    equals what it loads when each cell comes in a job of its own (converted on its own), for
    integer, boolean, float and string columns, a string column empty in one cell and not in
    another, and one cell's rows not next to each other."""
    cells = pd.DataFrame(
        [cell("a", n=3, hit=True), cell("b", seed=1, n=5, hit=False), cell("c", n=0, hit=True)]
    )
    events = pd.DataFrame(
        {
            "key": ["a", "b", "a", "c"],
            "scenario": "s",
            "seed": [0, 1, 0, 0],
            "detector": "d",
            "onset_h": [1.0, 2.5, 7.0, 3.0],
            "detected": [True, False, True, True],
            "n_alerts": [2, 0, 1, 4],
            "note": [None, "late", None, None],
        }
    )
    with Ledger(tmp_path / "together") as ledger:
        ledger.commit_job("j", {"cells": cells, "events": events})
        together = {table: ledger.load(table) for table in ("cells", "events")}
    with Ledger(tmp_path / "apart") as ledger:
        for key in ("a", "b", "c"):
            ledger.commit_job(
                key, {"cells": cells[cells["key"] == key], "events": events[events["key"] == key]}
            )
        apart = {table: ledger.load(table) for table in ("cells", "events")}
    for table in ("cells", "events"):
        pd.testing.assert_frame_equal(together[table], apart[table])
    assert together["events"]["n_alerts"].dtype == "int64" and together["events"]["detected"].dtype == bool
    notes = together["events"].set_index("onset_h")["note"]
    assert notes.isna().to_dict() == {1.0: True, 7.0: True, 2.5: False, 3.0: True} and notes[2.5] == "late"


def test_a_finished_study_rerun_prints_its_stored_output_and_writes_nothing(tmp_path, capsys):
    args = (*SMALL, "executor=serial", "seeds=2", "scenario=[steady]", "detector=[utilization]")
    quick = (*args, "report.enabled=false")
    assert run_task(tmp_path, *quick) == 0
    first = capsys.readouterr().out
    outputs = [p for p in tmp_path.iterdir() if p.is_file() and p.name != "config.yaml"]
    stamps = {p: p.stat().st_mtime_ns for p in outputs}
    assert run_task(tmp_path, *quick) == 0
    assert capsys.readouterr().out == first
    assert {p: p.stat().st_mtime_ns for p in outputs} == stamps  # nothing rewritten

    summary = (tmp_path / "summary.csv").read_text()
    (tmp_path / "summary.csv").unlink()  # a missing output: recomputed from the ledger
    assert run_task(tmp_path, *quick) == 0
    assert capsys.readouterr().out == first
    assert (tmp_path / "summary.csv").read_text() == summary

    assert run_task(tmp_path, *quick, "statistics.confidence=0.9") == 0  # another setting
    assert "90% intervals over seeds" in capsys.readouterr().out
    assert run_task(tmp_path, *args) == 0  # the report, now enabled, is drawn
    assert (tmp_path / "report.md").is_file()
