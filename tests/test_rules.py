"""``tdbench task=rules``: Prometheus rules from a study's choice, and a promtool test whose expected
alerts are the harness's episodes; promtool checks both (skipped only when promtool is absent)."""

import functools
import os
import shutil
import stat
import subprocess

import numpy as np
import pytest
import yaml
from monitoring import study_folder
from studies import run_task

import scenarios
from harness.analysis.scoring import ScoringSpec, find_episodes
from harness.cli import check
from harness.live.promrules import (
    RULE_FILE,
    TEST_FILE,
    check_times,
    duration,
    keep_firing_for_s,
    series_values,
)
from harness.tasks.rules import write_yaml

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: prometheus)")
#: a small study: a one-day ramp that crosses the thresholds, after a 6 h warm-up
RAMP = ("scenario.ramp.ramp_days=1.0",)
STUDY = ("org.n_units=4", "org.warmup_days=0.25", "org.scenario_days=2", *RAMP)  # task=rules reads the org


@functools.cache
def written(folder):
    """task=rules on a study folder (cached per folder: the tests only read the files)."""
    from pathlib import Path

    folder = Path(folder)
    study = study_folder(folder / "study", *STUDY)
    out = folder / "rules"
    assert run_task(out, "task=rules", f"run_dir={study}", *RAMP) == 0
    return study, yaml.safe_load((out / RULE_FILE).read_text()), out


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    return written(str(tmp_path_factory.mktemp("rules")))


def promtool(*args, cwd=None):
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_one_alerting_rule_per_feasible_detector_and_the_four_recordings(rules):
    study, rule_file, _ = rules
    recording, alerting = rule_file["groups"]
    assert [rule["record"] for rule in recording["rules"]] == [
        "job:resilience_peclet_number:max",
        "job:resilience_saturation_gradient:max",
        "job:resilience_boundary_layer_thickness:max",
        "job:resilience_time_to_saturation_seconds:min",
    ]
    transport, utilization = alerting["rules"]  # null is in the headline, infeasible: left out
    assert transport["alert"] == "TdbenchTransport"
    assert transport["expr"] == 'tdbench_detector_score{detector="transport"} >= 1.2'
    assert transport["keep_firing_for"] == "52m30s"  # merged gaps: up to 45 min; kept apart: 1 h
    assert transport["labels"] == {"severity": "critical", "detector": "transport"}  # 1.2 is Pe critical
    assert transport["annotations"]["summary"] == (
        "transport: CRITICAL: Task arrival outpacing rebalancing (Pe >= 1.2, the study's alert threshold)"
    )
    assert str(study) in transport["annotations"]["description"]
    assert utilization["expr"] == 'tdbench_detector_score{detector="utilization"} >= 0.9'
    assert utilization["labels"] == {"severity": "warning", "detector": "utilization"}


@needs_promtool
def test_promtool_checks_the_rules_and_their_test_passes(rules):
    _, _, out = rules
    checked = promtool("check", "rules", str(out / RULE_FILE))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout
    test = yaml.safe_load((out / TEST_FILE).read_text())["tests"][0]
    firing = [case for case in test["alert_rule_test"] if case["exp_alerts"]]
    assert {case["alertname"] for case in firing} == {"TdbenchTransport", "TdbenchUtilization"}
    assert len(test["alert_rule_test"]) > len(firing) > 2
    tested = promtool("test", "rules", str(out / TEST_FILE))
    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
@pytest.mark.parametrize(
    "change",
    [
        ("keep_firing_for: 52m30s", "keep_firing_for: 1h"),  # merges alerts the harness keeps apart
        ("keep_firing_for: 52m30s", "keep_firing_for: 30m"),  # splits an episode the harness merged
        ("} >= 1.2", "} >= 1.25"),  # another threshold: other episodes
    ],
)
def test_the_promtool_test_fails_for_rules_that_differ_from_the_harness(rules, tmp_path, change):
    _, _, out = rules
    text = (out / RULE_FILE).read_text()
    assert change[0] in text
    (tmp_path / RULE_FILE).write_text(text.replace(change[0], change[1]))
    shutil.copy(out / TEST_FILE, tmp_path / TEST_FILE)
    tested = promtool("test", "rules", str(tmp_path / TEST_FILE))
    assert tested.returncode == 1
    assert "FAILED" in tested.stdout + tested.stderr


@pytest.mark.parametrize(
    ("refractory_h", "dt_h", "expected"),
    [(1.0, 0.25, 3150.0), (0.0, 0.25, 0.0), (0.25, 0.25, 450.0), (1.1, 0.25, 4050.0), (2.0, 1.0, 5400.0)],
)
def test_keep_firing_for_sits_half_a_check_above_the_longest_merged_gap(refractory_h, dt_h, expected):
    assert keep_firing_for_s(refractory_h, dt_h) == expected
    merged = [g * dt_h for g in range(1, 20) if g * dt_h < refractory_h]
    apart = [g * dt_h for g in range(1, 20) if g * dt_h >= refractory_h]
    assert all(g * 3600 < expected for g in merged) and all(g * 3600 > expected for g in apart)


def test_the_checked_times_follow_the_episodes():
    time_h = np.arange(1, 25) * 0.25
    mask = np.zeros(24, dtype=bool)
    mask[[4, 5, 8, 20]] = True  # runs 2 quiet checks apart merge (gap 0.5 h < 1 h); the last is apart
    pairs = find_episodes(time_h, mask, 0.25, ScoringSpec().refractory_h)
    assert pairs.tolist() == [[4, 8], [20, 20]]
    times = dict(check_times(time_h, 0.25, mask, pairs, keep_firing_for_s(1.0, 0.25), 180.0))
    assert times[time_h[4] * 3600] and times[time_h[20] * 3600]  # each start fires
    assert times[time_h[6] * 3600] and times[time_h[7] * 3600]  # the merged gap keeps firing
    assert not times[time_h[20] * 3600 - 180]  # before the second episode: resolved
    assert not times[time_h[4] * 3600 - 180]
    stop = (time_h[8] + 0.25) * 3600
    assert times[stop + 3150 - 180] and not times[stop + 3150 + 180]


def test_series_hold_each_check_and_spell_the_monitors_nan():
    assert series_values(np.array([1.5, np.nan, np.inf]), np.array([True, True, True])) == (
        "_x5 1.5x4 NaN NaN NaN NaN NaN +Inf +Inf +Inf +Inf +Inf"
    )
    assert series_values(np.array([1.5]), np.array([False])) == "_x5 NaN NaN NaN NaN NaN"  # warm-up
    assert duration(0.001) == "1ms" and duration(5400) == "1h30m"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ([], "run_dir: give a finished study's folder"),
        (["run_dir=RUN", "org.n_units=5"], "org.n_units: task=rules does not read it"),
        (["run_dir=/no/such/run"], "run_dir: no headline.csv in '/no/such/run'"),
        (["run_dir=RUN", "monitor.scenario=nope"], "monitor.scenario: 'nope' is not among the selected"),
        (["run_dir=RUN", "monitor.detectors=[csd]"], "monitor.detectors: 'csd' is not in"),
        (["run_dir=RUN", "detector.transport.tau_h=3"], "detector.transport.tau_h: the study ran 1.0"),
        (["run_dir=RUN", "scenario.ramp.ramp_days=2"], "scenario.ramp.ramp_days: the study ran 1.0"),
    ],
)
def test_bad_input_is_one_line(rules, overrides, message):
    study, _, _ = rules
    args = [arg.replace("RUN", str(study)) for arg in overrides]
    with pytest.raises(scenarios.InputError) as caught:
        check(["task=rules", *RAMP, *args])
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_the_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_yaml(tmp_path / RULE_FILE, {"groups": []})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / RULE_FILE).stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [RULE_FILE]  # no temporary file left
