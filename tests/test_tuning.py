"""Nested tuning: search spaces, the budget rule, and task=tune (one simulation per job, test seeds
only reported)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from studies import SMALL

import detectors
import scenarios
from harness.analysis.calibrate import Run, Sweep
from harness.analysis.scoring import ScoringSpec
from harness.analysis.tuning import Budget, best_threshold, configurations, select
from harness.cli import CONF_DIR
from harness.run.files import file_mode
from harness.tasks import tune as tune_task
from scenarios.errors import InputError

SPEC = {"_target_": "detectors.seismic.SeismicDetector", "nsta": 5, "nlta": 30, "sample_h": 1.0}
ALLOWED = ["nsta", "nlta", "sample_h"]


def test_configurations_are_the_shipped_one_then_every_combination():
    search = {"windows": [{"nsta": 2, "nlta": 10}, {"nsta": 5, "nlta": 30}], "sample_h": [1.0, 2.0]}
    configs = configurations(SPEC, search, ALLOWED, "detector.seismic.search")
    assert [label for label, _ in configs] == [
        "shipped",  # nsta=5, nlta=30, sample_h=1.0 is the shipped configuration: listed once
        "nsta=2, nlta=10, sample_h=1.0",
        "nsta=2, nlta=10, sample_h=2.0",
        "nsta=5, nlta=30, sample_h=2.0",
    ]
    assert configs[2][1] == {**SPEC, "nsta": 2, "nlta": 10, "sample_h": 2.0}


@pytest.mark.parametrize(
    ("search", "field", "words"),
    [
        ({"colour": [1, 2]}, "detector.seismic.search.colour", "not a parameter"),
        ({"windows": [{"nsta": 2, "width": 3}]}, "detector.seismic.search.windows", "'width' is not"),
        ({"sample_h": []}, "detector.seismic.search.sample_h", "non-empty list"),
        ({"sample_h": 2.0}, "detector.seismic.search.sample_h", "non-empty list"),
        ([], "detector.seismic.search", "must map"),
    ],
)
def test_bad_search_spaces_are_named(search, field, words):
    with pytest.raises(InputError, match=words) as error:
        configurations(SPEC, search, ALLOWED, "detector.seismic.search")
    assert error.value.field == field


def curve(rows) -> pd.DataFrame:
    """Operating-curve rows (threshold, false episodes, quiet alert fraction, recall, median lead)."""
    columns = ["threshold", "n_false", "quiet_alert_fraction", "recall", "median_lead_h"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(quiet_h=168.0 * 10)  # ten quiet weeks


def test_best_threshold_maximises_recall_within_the_budget():
    rows = [
        (0.5, 2, 0.30, 1.0, 24.0),  # alerts too much of quiet time
        (1.0, 12, 0.005, 1.0, 20.0),  # 1.2 false episodes per quiet week: too many
        (1.5, 8, 0.008, 0.9, 6.0),
        (2.0, 5, 0.004, 0.9, 6.0),  # ties with 1.5 on recall and lead: the higher threshold wins
        (3.0, 0, 0.001, 0.5, 12.0),  # longer lead, lower recall
    ]
    assert best_threshold(curve(rows), Budget())["threshold"] == 2.0
    loose = Budget(quiet_alert_fraction=0.5, false_per_quiet_week=2)
    assert best_threshold(curve(rows), loose)["threshold"] == 0.5
    assert best_threshold(curve(rows), Budget(quiet_alert_fraction=0.0001)) is None


@pytest.fixture(scope="module")
def runs():
    out = []
    for seed in (0, 1, 2):
        trace = scenarios.simulate("spike", seed, n_units=4, warmup_days=1, scenario_days=3, onset_day=1.5)
        out.append((trace, detectors.make("utilization").run(trace).score))
    return out


def test_select_prefers_recall_then_lead_then_the_earlier_configuration(runs):
    rng = np.random.default_rng(0)
    informed = [Run.from_trace(trace, score) for trace, score in runs]
    blind = [Run.from_trace(trace, rng.permutation(score)) for trace, score in runs]
    budget = Budget(quiet_alert_fraction=0.05, false_per_quiet_week=3)
    chosen = select({"blind": blind, "informed": informed}, budget)
    assert chosen is not None and chosen[0] == "informed"
    row = best_threshold(Sweep(informed, ScoringSpec()).curve(), budget)
    assert chosen[1] == row["threshold"]
    assert select({"first": informed, "copy": list(informed)}, budget)[0] == "first"  # ties: the earlier
    assert select({"blind": blind}, Budget(quiet_alert_fraction=0.0, false_per_quiet_week=0.0)) is None


def compose_config(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[*SMALL, "task=tune", "executor=serial", *overrides])


TINY = ("seeds=2", "scenario=[spike,steady]", "detector=[transport,utilization_busy]")


def test_tune_simulates_each_job_once_and_reports_every_choice(tmp_path, monkeypatch, capsys):
    calls = []
    real = tune_task.simulate_job
    monkeypatch.setattr(tune_task, "simulate_job", lambda job: calls.append(job) or real(job))
    cfg = compose_config(*TINY, "tune.announce_above=5", "tune.quiet_alert_fraction=0.05")
    assert tune_task.run(cfg, tmp_path) == 0
    assert len(calls) == 2 * 2  # scenarios x seeds: every configuration ran on the same trace
    assert len(calls[0].detectors) == 10 + 1  # transport's 10 configurations and utilization_busy
    assert "transport searches 10 configurations" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "tuning.csv")
    assert list(table["choice"]) == ["shipped", "tuned", "oracle (tuned on test)"] * 2
    search = pd.read_csv(tmp_path / "search.csv")
    assert len(search[search["detector"] == "transport"]) == 10
    assert (tmp_path / "tuning.md").read_text().count("oracle (tuned on test)") >= 2
    for name in ("tuning.csv", "search.csv", "tuning.md"):  # written honouring the umask
        assert (tmp_path / name).stat().st_mode & 0o777 == file_mode()


def test_test_seeds_never_influence_the_tuned_choice(monkeypatch):
    plan = tune_task._plan(compose_config(*TINY, "tune.quiet_alert_fraction=0.05"))
    runs, errors = tune_task.collect(plan)
    assert not errors
    rows, _ = tune_task.tune_detector(plan, "transport", runs, errors)
    rng = np.random.default_rng(1)
    shuffled = {
        name: {
            key: Run(r.time_h, rng.permutation(r.score) * 1.5, r.dt_h, r.warmup_h, r.events)
            if key[1] in plan.test
            else r
            for key, r in by_key.items()
        }
        for name, by_key in runs.items()
    }
    again, _ = tune_task.tune_detector(plan, "transport", shuffled, errors)
    assert rows[1]["choice"] == "tuned" and rows[1]["feasible"]
    for before, after in zip(rows[:2], again[:2], strict=True):  # shipped and tuned: chosen on calibration
        for key in ("config", "threshold", "calibration_recall", "calibration_median_lead_h"):
            assert before.get(key) == after.get(key)


def test_a_bad_search_value_is_refused_before_any_work():
    cfg = compose_config(*TINY, "+detector.transport.search.pe_critical=[0.1]")
    with pytest.raises(InputError, match="pe_critical") as error:
        tune_task.validate(cfg)
    assert error.value.field.startswith("detector.transport.search")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("+tune.colour=1", "tune.colour"),
        ("tune.quiet_alert_fraction=-1", "tune.quiet_alert_fraction"),
        ("tune.announce_above=0", "tune.announce_above"),
        ("executor.cell_timeout_s=10", "executor.cell_timeout_s"),
    ],
)
def test_bad_tune_settings_are_named(override, field):
    with pytest.raises(InputError) as error:
        tune_task.validate(compose_config(*TINY, override))
    assert error.value.field == field
