"""Seeds until decided (harness.run.stopping): rounds of seeds until the paired comparison is settled,
resumable, stated in the report, validated."""

from __future__ import annotations

import pandas as pd
import pytest
from omegaconf import OmegaConf
from studies import SMALL, run_task

from harness.cli import check
from harness.run.stopping import decision
from scenarios.errors import InputError

STUDY = (
    *SMALL,
    "scenario=[ramp,spike]",
    "detector=[transport,utilization]",
    "executor=serial",
)
RULE = ("stop.compare=[transport,utilization]", "stop.metric=lead", "stop.batch=2", "stop.max_seeds=6")


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    out = tmp_path_factory.mktemp("stop")
    assert run_task(out, *STUDY, "seeds=2", *RULE) == 0
    return out


def test_rounds_add_seeds_until_the_rule_decides(stopped):
    rounds = pd.read_csv(stopped / "stopping.csv")
    assert rounds["seeds"].tolist() == list(range(2, 2 + 2 * len(rounds), 2))
    assert rounds["decision"].iloc[:-1].isna().all()  # every earlier round went on
    for r in rounds.itertuples():
        expected = decision(r.lo, r.hi, 0.05, r.seeds >= 6)
        assert (r.decision if isinstance(r.decision, str) else "") == expected
    final = int(rounds["seeds"].iloc[-1])
    cells = pd.read_parquet(stopped / "cells.parquet")
    assert sorted(cells["seed"].unique()) == list(range(final))
    assert OmegaConf.load(stopped / "config.yaml").seeds == final
    report = (stopped / "report.md").read_text()
    assert f"## Stopping rule\n\nStopped after {final} seeds because the paired difference" in report


def test_a_rerun_replays_the_rounds_without_computing(stopped):
    before = pd.read_parquet(stopped / "cells.parquet")
    rounds = (stopped / "stopping.csv").read_text()
    assert run_task(stopped, *STUDY, "seeds=2", *RULE) == 0
    assert (stopped / "stopping.csv").read_text() == rounds
    assert pd.read_parquet(stopped / "cells.parquet").equals(before)  # timings too: nothing re-ran


def test_the_report_task_rebuilds_the_stopped_run(stopped, tmp_path):
    report = (stopped / "report.md").read_text()
    assert run_task(tmp_path, "task=report", f"run_dir={stopped}", "executor=serial") == 0
    assert (stopped / "report.md").read_text() == report


def test_identical_detectors_are_settled_at_once(tmp_path):
    twin = "+detector.twin._target_=detectors.utilization.UtilizationDetector"
    rule = ("stop.compare=[twin,utilization]", "stop.batch=1", "stop.max_seeds=4", "report.enabled=false")
    assert run_task(tmp_path, *STUDY, "seeds=2", twin, *rule) == 0
    rounds = pd.read_csv(tmp_path / "stopping.csv")
    assert len(rounds) == 1 and rounds["decision"].item() == "narrower than the half-width"
    assert rounds[["estimate", "lo", "hi"]].iloc[0].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["stop.compare=[transport]"], "stop.compare: must name two different detectors"),
        (["stop.compare=[transport,cusum]"], "stop.compare: 'cusum' is not a selected detector"),
        ([*RULE, "stop.batch=0"], "stop.batch: must be an integer >= 1"),
        ([*RULE, "stop.metric=auc"], "stop.metric: must be one of recall, lead"),
        ([*RULE, "stop.max_seeds=1"], "stop.max_seeds: must be >= seeds (2)"),
        (["stop.batch=3"], "stop.batch: only used with stop.compare"),
    ],
)
def test_bad_stop_settings_are_one_error(overrides, message):
    with pytest.raises(InputError) as raised:
        check([*STUDY, "seeds=2", *overrides])
    assert str(raised.value).startswith(message)
