"""Seeds until decided (harness.run.stopping): rounds of seeds until the headline's pair is settled,
on a split no seed leaves; resumable after a kill, stated in the report, validated."""

from __future__ import annotations

import signal

import pandas as pd
import pytest
from omegaconf import OmegaConf
from studies import SMALL, run_task
from test_ledger_faults import run

from harness.analysis.calibrate import split_seeds
from harness.analysis.headline.inference import oriented
from harness.analysis.statistics import look_levels, obf_spent
from harness.cli import check
from harness.run.stopping import decision
from scenarios.errors import InputError

#: A budget the small study's short runs can meet (the default one is infeasible there: one false
#: episode in a day of quiet time is 7 per quiet week).
BUDGET = ("headline.budget.quiet_alert_fraction=0.1", "headline.budget.false_per_quiet_week=20")
STUDY = ("scenario=[ramp,spike]", "detector=[transport,utilization]", "executor=serial")
RULE = ("stop.compare=[transport,utilization]", "stop.metric=lead", "stop.batch=2", "stop.max_seeds=6")
ROUNDS = (*STUDY, *BUDGET, "seeds=2", *RULE)


def seeds_of(field: str) -> list[int]:
    return [int(s) for s in str(field).split()]


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    out = tmp_path_factory.mktemp("stop")
    assert run_task(out, *SMALL, *ROUNDS) == 0
    return out


def test_rounds_add_seeds_until_the_rule_decides(stopped):
    rounds = pd.read_csv(stopped / "stopping.csv")
    assert len(rounds) > 1, "the first round should leave the question open"
    assert rounds["seeds"].tolist() == list(range(2, 2 + 2 * len(rounds), 2))
    assert rounds["decision"].iloc[:-1].isna().all()  # every earlier round went on
    assert rounds["look"].tolist() == list(range(1, len(rounds) + 1))
    levels = look_levels([2 / 6, 4 / 6, 1.0], 0.05)  # the planned looks: 2, 4 and 6 seeds
    assert levels[0] > levels[1] > levels[2] > 0.95
    for r in rounds.itertuples():
        assert r.level == pytest.approx(levels[r.look - 1])
        assert r.spent_alpha == pytest.approx(obf_spent(r.seeds / 6, 0.05))
        expected = decision(r.lo, r.hi, 0.05, r.seeds >= 6)
        assert (r.decision if isinstance(r.decision, str) else "") == expected
    assert rounds["method"].str.startswith("group-sequential, Lan-DeMets O'Brien-Fleming").all()
    final = int(rounds["seeds"].iloc[-1])
    cells = pd.read_parquet(stopped / "cells.parquet")
    assert sorted(cells["seed"].unique()) == list(range(final))
    assert OmegaConf.load(stopped / "config.yaml").seeds == final
    report = (stopped / "report.md").read_text()
    assert f"## Stopping rule\n\nStopped after {final} seeds because the paired difference" in report


def test_no_seed_changes_sides_and_the_first_batch_is_split_as_any_study(stopped):
    rounds = pd.read_csv(stopped / "stopping.csv")
    calibration, test = rounds["calibration_seeds"].map(seeds_of), rounds["test_seeds"].map(seeds_of)
    assert (calibration[0], test[0]) == split_seeds([0, 1], 0.5, 0)
    for i in range(1, len(rounds)):
        assert set(calibration[i - 1]) <= set(calibration[i]) and set(test[i - 1]) <= set(test[i])
        assert sorted(calibration[i] + test[i]) == list(range(rounds["seeds"][i]))


def test_the_last_round_is_the_final_headlines_pair(stopped):
    last = pd.read_csv(stopped / "stopping.csv").iloc[-1]
    pairs = pd.read_csv(stopped / "headline_pairs.csv")
    row = oriented(pairs, "transport", "utilization")
    assert last["estimate"] == row["lead_diff_h"]
    # the look's interval is at its boundary's level (> 95%); the final headline at statistics.confidence
    assert last["lo"] <= row["lead_diff_h_lo"] <= row["lead_diff_h_hi"] <= last["hi"]
    assert last["events"] == row["events"]
    assert f"test seeds {seeds_of(last['test_seeds'])}" in (stopped / "headline.md").read_text()


def test_a_rerun_replays_the_rounds_without_computing(stopped):
    before = pd.read_parquet(stopped / "cells.parquet")
    rounds = (stopped / "stopping.csv").read_text()
    assert run_task(stopped, *SMALL, *ROUNDS) == 0
    assert (stopped / "stopping.csv").read_text() == rounds
    assert pd.read_parquet(stopped / "cells.parquet").equals(before)  # timings too: nothing re-ran


def test_a_killed_rule_rerun_gives_the_same_rounds(stopped, tmp_path):
    out = tmp_path / "run"
    args = (*ROUNDS, "report.enabled=false", f"hydra.run.dir={out}")
    killed = run(*args, cwd=tmp_path, fault="commit:3")  # in the second round (2 jobs per round)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / "stopping.csv").exists()
    assert run(*args, cwd=tmp_path).returncode == 0
    assert (out / "stopping.csv").read_text() == (stopped / "stopping.csv").read_text()


def test_the_report_task_rebuilds_the_stopped_run(stopped, tmp_path):
    report, headline = (stopped / "report.md").read_text(), (stopped / "headline.csv").read_text()
    assert run_task(tmp_path, "task=report", f"run_dir={stopped}", "executor=serial") == 0
    assert (stopped / "report.md").read_text() == report
    assert (stopped / "headline.csv").read_text() == headline  # the rule's split, not a new one


@pytest.mark.parametrize(
    ("compare", "settings", "reason"),
    [
        ("[twin,utilization]", ("stop.max_seeds=8",), "narrower than the half-width"),
        ("[transport,utilization]", ("stop.max_seeds=4", "stop.halfwidth=0.01"), "max_seeds reached"),
    ],
)
def test_the_rule_stops_for_each_reason(tmp_path, compare, settings, reason):
    twin = "+detector.twin._target_=detectors.utilization.UtilizationDetector"
    rule = (f"stop.compare={compare}", "stop.metric=lead", "stop.batch=2", *settings, "report.enabled=false")
    assert run_task(tmp_path, *SMALL, *STUDY, *BUDGET, "seeds=4", twin, *rule) == 0
    last = pd.read_csv(tmp_path / "stopping.csv").iloc[-1]
    assert last["decision"] == reason
    halfwidth = 0.01 if "stop.halfwidth=0.01" in settings else 0.05
    at_max = last["seeds"] == int(settings[0].split("=")[1])
    assert decision(last["lo"], last["hi"], halfwidth, at_max) == reason
    if reason == "narrower than the half-width":  # identical detectors: no difference at all
        assert [last["estimate"], last["lo"], last["hi"]] == [0.0, 0.0, 0.0]


def test_an_interval_that_excludes_0_decides():
    """The small studies above are too short for a difference to clear the early looks' boundaries
    (their levels are 99.7% and more), so this reason is checked on the rule itself."""
    assert decision(0.1, 0.4, 0.05, False) == "excludes 0"
    assert decision(-0.4, -0.1, 0.05, True) == "excludes 0"


def test_an_infeasible_detector_stops_the_rule_with_no_matched_pair(tmp_path):
    rule = ("stop.compare=[transport,utilization]", "stop.batch=2", "stop.max_seeds=6")
    assert run_task(tmp_path, *SMALL, *STUDY, "seeds=2", *rule) == 0  # the default budget
    rounds = pd.read_csv(tmp_path / "stopping.csv")
    assert len(rounds) == 1 and rounds["decision"].item() == "no matched pair"
    infeasible = rounds["infeasible"].item().split()  # which of the two depends on the seeds' traces
    assert infeasible and set(infeasible) <= {"transport", "utilization"}
    report = (tmp_path / "report.md").read_text()
    stopped = f"Stopped after 2 seeds with no matched pair for transport - utilization: {infeasible[0]}"
    assert stopped in report


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["stop.compare=[transport]"], "stop.compare: must name two different detectors"),
        (["stop.compare=[transport,cusum]"], "stop.compare: 'cusum' is not a selected detector"),
        (
            ["stop.compare=[transport,utilization]", "headline.references=[transport]"],
            "stop.compare: the reference 'utilization' must be one of headline.references (transport)",
        ),
        ([*RULE, "stop.batch=0"], "stop.batch: must be an integer >= 1 and <= 10000"),
        ([*RULE, "stop.metric=auc"], "stop.metric: must be one of warned, lead"),
        ([*RULE, "stop.max_seeds=1"], "stop.max_seeds: must be >= seeds (2)"),
        ([*RULE, "stop.max_seeds=1000000000"], "stop.max_seeds: must be an integer >= 1 and <= 10000"),
        ([*RULE, "stop.max_seeds=400"], "stop.max_seeds: plans more than 100 looks from seeds=2"),
        ([*RULE, "stop.target=utilization_breach"], "stop.target: no such setting"),
        (["stop.batch=3"], "stop.batch: only used with stop.compare"),
    ],
)
def test_bad_stop_settings_are_one_error(overrides, message):
    with pytest.raises(InputError) as raised:
        check([*SMALL, *STUDY, "seeds=2", *overrides])
    assert str(raised.value).startswith(message)
