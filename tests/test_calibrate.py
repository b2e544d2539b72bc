"""The exact threshold sweep, the seed split, the held-out choice and the calibrate task."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import detectors
import scenarios
from detectors.base import Readings
from harness.analysis.calibrate import (
    CalibrationSpec,
    Run,
    calibrate_detector,
    candidate_thresholds,
    choose,
    lead_rule,
    operating_curve,
    split_seeds,
)
from harness.analysis.scoring import ScoringSpec, median_lead, score_run
from harness.config import load_study
from harness.run.ledger import Ledger
from harness.run.study import run_study
from harness.tasks import calibrate as calibrate_task
from scenarios.errors import InputError
from scenarios.trace import FIELDS, Event, Layout, Trace, Truth
from scenarios.truth import TARGETS

TDBENCH = str(Path(sys.executable).parent / "tdbench")
SMALL_ORG = ["org.n_units=4", "org.warmup_days=1", "org.scenario_days=2"]


def bare_trace(time_h: np.ndarray, dt: float, warmup_h: float, events: list[Event]) -> Trace:
    n = len(time_h)
    layout = Layout(np.ones(1), np.ones(1), np.zeros((1, 1)), dt_h=dt, warmup_h=warmup_h)
    return Trace(time_h, np.zeros((n, len(FIELDS), 1)), layout, {}, Truth(np.zeros((n, 1)), events))


def brute_force(pairs: list[tuple[Trace, np.ndarray]], spec: ScoringSpec, target: str, grid) -> pd.DataFrame:
    """The scorer itself at every threshold, pooled over runs."""
    rows = []
    for threshold in grid:
        at = ScoringSpec(**{**spec.to_dict(), "thresholds": {"d": float(threshold)}})
        n_episodes = n_false = 0
        quiet_h = alert_quiet_h = 0.0
        leads = []
        for trace, score in pairs:
            n = len(trace)
            readings = Readings(trace.time_h, score, np.zeros(n, np.int8), np.zeros((n, 1), bool), {})
            result = score_run(trace, readings, at, "d")
            n_episodes += result.metrics["n_episodes"]
            n_false += result.metrics["n_false"]
            quiet_h += result.metrics["quiet_h"]
            alert_quiet_h += result.metrics["alert_quiet_h"]
            leads.append(result.events.loc[result.events["target"] == target, "lead_h"].to_numpy(float))
        lead = np.concatenate(leads)
        rows.append(
            {
                "n_episodes": n_episodes,
                "n_false": n_false,
                "n_events": len(lead),
                "n_detected": int((~np.isnan(lead)).sum()),
                "median_lead_h": median_lead(lead),
                "quiet_alert_fraction": alert_quiet_h / quiet_h if quiet_h else np.nan,
            }
        )
    return pd.DataFrame(rows)


def assert_same(curve: pd.DataFrame, expected: pd.DataFrame) -> None:
    for column in ("n_episodes", "n_false", "n_events", "n_detected"):
        assert curve[column].tolist() == expected[column].tolist(), column
    np.testing.assert_array_equal(curve["median_lead_h"].to_numpy(), expected["median_lead_h"].to_numpy())
    np.testing.assert_allclose(
        curve["quiet_alert_fraction"], expected["quiet_alert_fraction"], rtol=1e-9, atol=1e-12
    )


@st.composite
def runs_and_spec(draw):
    dt = draw(st.sampled_from([0.25, 0.5, 1.0, 0.1, 0.3]))
    spec = ScoringSpec(
        refractory_h=draw(st.sampled_from([0.0, 0.25, 0.3, 0.5, 1.0, 2.3])),
        horizon_h=draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, 6.0])),
        grace_h=draw(st.sampled_from([0.0, 0.25, 1.0, 2.0])),
    )
    pairs = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 48))
        time_h = (np.arange(n) + 1) * dt
        warmup = draw(st.floats(0, n * dt / 2))
        events = []
        for _ in range(draw(st.integers(0, 4))):
            on_grid = draw(st.booleans())
            onset = float(time_h[draw(st.integers(0, n - 1))]) if on_grid else draw(st.floats(-2, n * dt + 2))
            events.append(
                Event(
                    draw(st.sampled_from(TARGETS)),
                    onset,
                    onset + draw(st.floats(0, 5)),
                    (0,),
                    draw(st.booleans()),
                )
            )
        levels = st.sampled_from([0.0, 1.0, 1.5, 2.0, 3.0, np.nan, np.inf])
        score = np.array(draw(st.lists(levels, min_size=n, max_size=n)), float)
        pairs.append((bare_trace(time_h, dt, warmup, events), score))
    return pairs, spec, draw(st.sampled_from(TARGETS))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs_and_spec())
def test_sweep_equals_brute_force_scoring(case):
    pairs, spec, target = case
    runs = [Run.from_trace(trace, score) for trace, score in pairs]
    grid = np.union1d(candidate_thresholds(runs), [-7.0, 0.5, 1.25, 99.0])  # and values between
    curve = operating_curve(runs, spec, target, grid)
    assert_same(curve, brute_force(pairs, spec, target, grid))


def test_sweep_equals_brute_force_on_a_simulated_run():
    trace = scenarios.simulate("spike", seed=3, n_units=4, warmup_days=1, scenario_days=3, onset_day=1.5)
    score = detectors.make("transport").run(trace).score
    spec = ScoringSpec()
    runs = [Run.from_trace(trace, score)]
    curve = operating_curve(runs, spec, "utilization_breach")
    assert len(curve) == len(np.unique(score[trace.scored()]))  # every distinct score value
    assert_same(curve, brute_force([(trace, score)], spec, "utilization_breach", curve["threshold"]))


def test_candidates_skip_warmup_nan_and_minus_inf():
    time_h = np.arange(1, 7) * 1.0
    run = Run(time_h, np.array([9.0, 8.0, 1.0, np.nan, -np.inf, 2.0]), 1.0, 2.0, ())
    assert candidate_thresholds([run]).tolist() == [1.0, 2.0]


def test_bad_threshold_grid_is_an_input_error():
    run = Run(np.arange(1, 4) * 1.0, np.ones(3), 1.0, 0.0, ())
    with pytest.raises(InputError, match="thresholds"):
        operating_curve([run], ScoringSpec(), "utilization_breach", [2.0, 1.0])


def test_split_is_deterministic_disjoint_and_follows_the_fraction():
    calib, test = split_seeds(range(10), 0.3, 7)
    assert (calib, test) == split_seeds(range(10), 0.3, 7)
    assert len(calib) == 3 and not set(calib) & set(test) and sorted(calib + test) == list(range(10))
    assert split_seeds(range(10), 0.3, 8) != (calib, test)
    assert split_seeds([4, 9], 0.9, 0)[0] and split_seeds([4, 9], 0.9, 0)[1]  # both sets non-empty
    with pytest.raises(InputError, match="seeds"):
        split_seeds([3], 0.5, 0)


def curve_of(rows: list[tuple]) -> pd.DataFrame:
    columns = ["threshold", "fp_rate", "recall", "median_lead_h", "quiet_alert_fraction"]
    return pd.DataFrame(rows, columns=columns)


def test_choose_maximises_lead_under_the_constraints():
    curve = curve_of(
        [
            (0.5, 0.10, 1.0, 24.0, 0.9),  # alerts almost all the time
            (1.0, 0.30, 1.0, 24.0, 0.5),  # too many false alarms
            (1.5, 0.10, 0.9, 24.0, 0.1),  # ties with 0.5 on lead: the higher threshold wins
            (2.0, 0.05, 0.9, 12.0, 0.01),
            (3.0, np.nan, 0.0, -np.inf, 0.0),  # no alerts: recall too low
        ]
    )
    assert choose(curve, 0.15, 0.8)["threshold"] == 1.5
    assert choose(curve, 0.15, 0.8, max_quiet_alert_fraction=0.05)["threshold"] == 2.0
    assert choose(curve, 0.01, 0.8) is None
    assert choose(curve, 0.15, 0.0, max_quiet_alert_fraction=0.0)["threshold"] == 3.0  # no episodes: no FP


def simulated_runs(scenario: str, seeds, n_units: int = 4) -> list[Run]:
    runs = []
    for seed in seeds:
        trace = scenarios.simulate(
            scenario, seed, n_units=n_units, warmup_days=1, scenario_days=3, onset_day=1.5
        )
        runs.append(Run.from_trace(trace, detectors.make("transport").run(trace).score))
    return runs


def test_test_seeds_never_influence_the_calibrated_threshold():
    calibration = simulated_runs("spike", [0, 1, 2])
    test_a = simulated_runs("spike", [3, 4])
    rng = np.random.default_rng(0)
    test_b = [Run(r.time_h, rng.permutation(r.score) * 1.7, r.dt_h, r.warmup_h, r.events) for r in test_a]
    cal = CalibrationSpec(rule="lead", max_fp_rate=0.5, min_recall=0.5)
    spec = ScoringSpec()
    rule = lead_rule(cal.max_fp_rate, cal.min_recall)
    curves_a, choices_a = calibrate_detector(calibration, test_a, spec, cal.target, rule)
    curves_b, choices_b = calibrate_detector(calibration, test_b, spec, cal.target, rule)
    held_out_a, held_out_b = choices_a.iloc[0], choices_b.iloc[0]
    assert held_out_a["choice"] == "calibrated" and held_out_a["feasible"]
    assert held_out_a["threshold"] == held_out_b["threshold"]
    for column in ("calibration_fp_rate", "calibration_recall", "calibration_median_lead_h"):
        assert held_out_a[column] == held_out_b[column]
    pd.testing.assert_frame_equal(
        curves_a[curves_a["split"] == "calibration"], curves_b[curves_b["split"] == "calibration"]
    )
    assert not curves_a[curves_a["split"] == "test"].equals(curves_b[curves_b["split"] == "test"])
    # the reported test figures are the test runs' own, exactly
    at = operating_curve(test_a, spec, cal.target, [held_out_a["threshold"]]).iloc[0]
    assert held_out_a["test_fp_rate"] == at["fp_rate"] and held_out_a["test_recall"] == at["recall"]
    assert choices_a.iloc[1]["choice"] == "oracle (tuned on test)" and choices_a.iloc[1]["tuned_on"] == "test"


def test_calibration_spec_rejects_bad_settings():
    with pytest.raises(InputError, match="calibrate.min_recall"):
        CalibrationSpec(min_recall=1.5)
    with pytest.raises(InputError, match="calibrate.target"):
        CalibrationSpec(target="meltdown")
    with pytest.raises(InputError, match="calibrate.calibration_fraction"):
        CalibrationSpec(calibration_fraction=1.0)
    with pytest.raises(InputError, match="calibrate.detectors"):
        CalibrationSpec.from_config({"detectors": ["nope"]}, ["transport"])
    with pytest.raises(InputError, match="calibrate.fp_analysis.colour"):
        CalibrationSpec.from_config({"fp_analysis": {"colour": 1}}, ["transport"])
    with pytest.raises(InputError, match="calibrate.rule"):
        CalibrationSpec(rule="magic")
    with pytest.raises(InputError, match="calibrate.max_quiet_alert_fraction"):
        CalibrationSpec(rule="budget", max_quiet_alert_fraction=0.05)  # a lead-rule setting: not ignored


def tdbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TDBENCH, *args], capture_output=True, text=True, timeout=600)


def test_calibrate_task_end_to_end(tmp_path):
    out = tmp_path / "cal"
    args = ["task=calibrate", "seeds=3", "scenario=[spike,steady]", "detector=[transport,utilization]",
            *SMALL_ORG, "executor=serial", "progress=false", "statistics.n_resamples=100",
            "calibrate.rule=lead", "calibrate.min_recall=0.5", "calibrate.max_fp_rate=0.5",
            f"hydra.run.dir={out}"]  # fmt: skip
    done = tdbench(*args)
    assert done.returncode == 0, done.stderr
    assert "oracle (tuned on test)" in done.stdout and "not followed by an event" in done.stdout
    choices = pd.read_csv(out / "calibration.csv")
    assert set(choices["detector"]) == {"transport", "utilization"}
    assert set(choices["choice"]) == {"calibrated", "oracle (tuned on test)"}
    curves = pd.read_parquet(out / "operating_curve.parquet")
    assert set(curves["split"]) == {"calibration", "test"}
    fp = pd.read_csv(out / "fp_analysis.csv")
    assert set(fp["scenario"]) == {"spike", "steady", "ALL"} and len(fp) == 3 * 9
    with Ledger.open_existing(out) as ledger:
        readings = ledger.readings(ledger.ok_keys())
    assert len(readings) == 2 * 3 * 2  # scenarios x seeds x detectors
    assert {len(score) for _, score, _ in readings.values()} == {3 * 96}  # steps
    first = (out / "calibration.md").read_text()
    # rerun in the same folder: the stored scores are reused and the result is the same
    again = tdbench(*args)
    assert again.returncode == 0 and (out / "calibration.md").read_text() == first


def test_calibrating_a_study_folder_reads_its_ledger(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir

    from harness.cli import CONF_DIR
    from harness.run import jobs

    overrides = ["seeds=2", "scenario=[spike]", "detector=[transport]", *SMALL_ORG,
                 "executor=serial", "progress=false", "statistics.n_resamples=50"]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
        cal = compose("config", overrides=["task=calibrate", "seeds=3", *overrides[1:]])
    calls = []
    real = jobs.simulate_job
    monkeypatch.setattr(jobs, "simulate_job", lambda *a, **k: calls.append(a) or real(*a, **k))
    run_study(load_study(cfg), tmp_path)
    assert len(calls) == 2
    assert calibrate_task.run(cal, tmp_path) == 0
    assert len(calls) == 3  # only the seed the study lacked
    first = (tmp_path / "calibration.md").read_text()
    assert calibrate_task.run(cal, tmp_path) == 0
    assert len(calls) == 3 and (tmp_path / "calibration.md").read_text() == first


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("calibrate.min_recall=2", "calibrate.min_recall"),
        ("seeds=1", "seeds"),
        ("calibrate.colour=1", "calibrate"),
    ],
)
def test_calibrate_bad_input_exits_2_and_writes_nothing(tmp_path, override, field):
    out = tmp_path / "never"
    done = tdbench("task=calibrate", override, f"hydra.run.dir={out}")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tdbench: error: {field}")
    assert not out.exists()


def test_render_warns_about_always_on_thresholds():
    from harness.tasks.calibrate import render

    def choice(detector, quiet):
        metrics = {f"{s}_{m}": 0.1 for s in ("calibration", "test") for m in
                   ("fp_rate", "warned", "recall", "median_lead_h", "quiet_alert_fraction")}  # fmt: skip
        return {"detector": detector, "choice": "calibrated", "tuned_on": "calibration", "feasible": True,
                "threshold": 1.0, **metrics, "test_quiet_alert_fraction": quiet}  # fmt: skip

    quiet_enough = pd.DataFrame([choice("a", 0.02)])
    assert "WARNING" not in render(quiet_enough, CalibrationSpec(rule="lead"), [0], [1])
    always_on = pd.DataFrame([choice("a", 0.02), choice("b", 0.9)])
    text = render(always_on, CalibrationSpec(rule="lead"), [0], [1])
    assert "WARNING: the calibrated thresholds of b alert more than 50% of quiet time" in text


def test_a_small_study_says_what_would_make_the_budget_reachable(tmp_path, capsys):
    from studies import SMALL, run_task

    args = [*SMALL, "task=calibrate", "seeds=2", "scenario=[ramp,steady]", "detector=[transport]",
            "executor=serial"]  # fmt: skip
    assert run_task(tmp_path, *args) == 0
    table = pd.read_csv(tmp_path / "calibration.csv")
    calibrated = table[table["choice"] == "calibrated"]
    printed = capsys.readouterr().out
    assert not calibrated["feasible"].any()  # one calibration seed of two short runs cannot resolve 1%
    advice = "more seeds, longer runs (org.scenario_days) or a looser headline.budget"
    assert advice in " ".join(printed.split())
