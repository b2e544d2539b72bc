"""``tdbench task=monitor`` end to end: the command on a free loopback port, scraped over HTTP."""

import json
import os
import re
import signal
import subprocess
from contextlib import ExitStack

import pytest
from monitoring import (
    DEADLINE_S,
    SPIKE,
    THRESHOLDS,
    Monitor,
    detector_readings,
    gauge,
    health_checks,
    spike_trace,
    study_folder,
    transport_readings,
    wait_for,
)
from studies import TDBENCH, RaisingDetector, compose_config, target

import scenarios
from detectors.base import Level
from harness.analysis.scoring import ScoringSpec, score_run
from harness.cli import check
from harness.tasks import monitor as monitor_task
from scenarios.historical import load_trace, observations_frame


@pytest.fixture
def started(tmp_path):
    """Start monitors in tmp_path; each is killed at the end of the test if still running."""
    with ExitStack() as stack:

        def start(*overrides: str, environ: dict | None = None) -> Monitor:
            return stack.enter_context(Monitor(tmp_path, *overrides, environ=environ))

        yield start


PHASE3 = {
    "WARNING: Pe trending toward unstable",
    "CRITICAL: Task arrival outpacing rebalancing",
    "Increase inter-unit communication",
    "Risk of cascade failure",
}


def scenarios_level(level: int) -> str:
    return Level(level).name


def test_simulated_organisation_serves_gauges_alerts_and_stops_on_sigterm(tmp_path, started):
    alerts = tmp_path / "alerts.jsonl"
    monitor = started(
        *SPIKE,
        "monitor.speed=2",
        f"monitor.alert_log={alerts}",
        "detector=[transport,utilization,spc_faithful]",
        f"+detector.raising._target_={target(RaisingDetector)}",
        "monitor.warmup_h=0",  # every check alerts and is timed (the warm-up has its own test)
    )
    trace = spike_trace()
    expected = transport_readings(trace)
    step = {t: k for k, t in enumerate(trace.time_h.tolist())}

    # the four roadmap gauges equal the detector's reading of the same health check, twice
    checked = []
    while len(checked) < 2:

        def new_check():
            families = monitor.scrape()
            fresh = gauge(families, "tdbench_observation_time_seconds") not in (None, *checked)
            return families if fresh else None

        families = wait_for(new_check, "health check", monitor)
        time_h = gauge(families, "tdbench_observation_time_seconds") / 3600
        k = step[time_h]
        assert gauge(families, "resilience_peclet_number") == expected.detail["pe"][k]
        assert gauge(families, "resilience_saturation_gradient") == expected.detail["gradient"][k]
        assert gauge(families, "resilience_boundary_layer_thickness") == expected.detail["boundary_layer"][k]
        minutes = expected.detail["time_to_saturation_h"][k] * 60
        assert gauge(families, "resilience_time_to_saturation_minutes") == minutes
        assert gauge(families, "resilience_transport_level") == expected.level[k]
        assert gauge(families, "tdbench_detector_score", detector="transport") == expected.score[k]
        assert set(s.labels["detector"] for s in families["tdbench_detector_level"].samples) == {
            "transport",
            "utilization",
            "spc_faithful",
            "raising",
        }
        checked.append(time_h * 3600)

    # the spike (6 h to 12 h) pushes the organisation over: phase-3 alert lines, with the metrics of
    # the detector's reading at that health check
    def spike_alerts():
        if not alerts.exists():
            return None
        lines = [json.loads(line) for line in alerts.read_text().splitlines()]
        return [
            line
            for line in lines
            if line["detector"] == "transport" and line["message"] in PHASE3 and 6.0 < line["time_h"] <= 12.0
        ]

    lines = wait_for(spike_alerts, "transport alert during the spike", monitor)
    for line in lines:
        k = step[line["time_h"]]
        assert line["level"] == scenarios_level(expected.level[k]) and expected.level[k] >= 2
        assert line["metrics"]["peclet_number"] == expected.detail["pe"][k]
        assert line["metrics"]["boundary_layer_thickness"] == expected.detail["boundary_layer"][k]

    # the failing detector is counted, and the others keep answering
    families = monitor.scrape()
    checks = health_checks(families)
    failures = gauge(families, "resilience_health_check_failures")
    assert checks - 4 <= failures <= checks - 3  # every check from the fourth (one may be mid-publish)
    failures = [line for line in monitor.stderr().splitlines() if "detector raising" in line]
    assert failures == [
        "tdbench monitor: detector raising failed at time_h 1: RuntimeError: deliberate failure in a "
        "test detector"
    ]

    assert monitor.stop(signal.SIGTERM) == 0
    err = monitor.stderr().strip().splitlines()
    assert re.fullmatch(
        r"tdbench monitor: stopped by SIGTERM after \d+ health checks \(last at time_h [\d.]+\)", err[-1]
    )
    assert "Traceback" not in monitor.stderr()


def test_a_growing_file_is_monitored_and_a_bad_row_is_one_line(tmp_path, started):
    trace = scenarios.simulate("spike", seed=2, n_units=3, warmup_days=1, scenario_days=1)
    frame = observations_frame(trace)
    n = trace.layout.n_units
    path = tmp_path / "live.csv"
    frame.iloc[: 40 * n].to_csv(path, index=False)
    monitor = started(
        f"monitor.source={path}",
        "monitor.interval_s=0.2",
        "historical.warmup_h=6",
        "detector=[transport]",
        "monitor.warmup_h=0",
    )

    def checks():
        return health_checks(monitor.scrape())

    wait_for(lambda: checks() == 40, "the first 40 steps", monitor)
    frame.iloc[40 * n : 60 * n].to_csv(path, index=False, header=False, mode="a")
    wait_for(lambda: checks() == 60, "the appended steps", monitor)
    families = monitor.scrape()
    assert gauge(families, "tdbench_observation_time_seconds") == trace.time_h[59] * 3600
    batch = transport_readings(load_trace(path, spec=scenarios.historical.HistoricalSpec(warmup_h=6)))
    assert gauge(families, "resilience_peclet_number") == batch.detail["pe"][-1]

    malformed = frame.iloc[60 * n : 62 * n].astype({"busy_hours": object}).copy()
    malformed.iloc[1, malformed.columns.get_loc("busy_hours")] = "n/a"
    malformed.to_csv(path, index=False, header=False, mode="a")
    frame.iloc[62 * n : 63 * n].to_csv(path, index=False, header=False, mode="a")
    wait_for(lambda: checks() == 62, "the steps after the bad row", monitor)  # step 60 is not scored
    problems = [line for line in monitor.stderr().splitlines() if "row" in line and "serving" not in line]
    assert problems == [
        f"tdbench monitor: data.busy_hours: non-numeric value 'n/a' in row {60 * n + 2}; "
        "the row is not scored"
    ]
    assert gauge(monitor.scrape(), "resilience_health_check_failures") == 1

    assert monitor.stop(signal.SIGINT) == 0
    assert monitor.stderr().strip().splitlines()[-1].startswith("tdbench monitor: stopped by SIGINT after 62")


def test_a_bounded_run_with_the_environments_thresholds(tmp_path, started):
    """monitor.max_checks stops the run by itself; the roadmap's variables configure transport."""
    monitor = started(
        *SPIKE,
        "monitor.speed=1000",
        "monitor.max_checks=30",
        "detector=[transport]",
        "monitor.warmup_h=0",
        environ={"PE_WARNING_THRESHOLD": "0.1", "PE_CRITICAL_THRESHOLD": "100"},
    )
    assert monitor.proc.wait(timeout=DEADLINE_S) == 0
    err = monitor.stderr()
    assert "PE_WARNING_THRESHOLD=0.1 from the environment" in err
    assert err.strip().splitlines()[-1] == (
        "tdbench monitor: monitor.max_checks=30 reached after 30 health checks (last at time_h 7.5)"
    )
    lines = [json.loads(line) for line in (tmp_path / "stdout.txt").read_text().splitlines()]
    assert lines[0]["message"] == "WARNING: Pe trending toward unstable"  # Pe >= 0.1 from the start
    assert lines[0]["time_h"] == 0.25
    assert not any(line["level"] == "CRITICAL" for line in lines)
    assert all(line["time_h"] <= 7.5 for line in lines)


def test_from_run_alerts_are_the_harness_episodes_after_the_warm_up(tmp_path, started):
    """monitor.from_run: the study's feasible detectors at its thresholds (the infeasible baseline is
    left out although selected); no alert in the warm-up; firing and resolved lines are exactly the
    episodes the harness scores on the same run."""
    study = study_folder(tmp_path / "study")
    alerts = tmp_path / "alerts.jsonl"
    monitor = started(
        *SPIKE,
        "monitor.speed=1000",
        "monitor.max_checks=96",
        f"monitor.from_run={study}",
        f"monitor.alert_log={alerts}",
        "detector=[transport,utilization,null]",
    )
    assert monitor.proc.wait(timeout=DEADLINE_S) == 0
    err = monitor.stderr()
    assert f"tdbench monitor: alerting on the thresholds {study}'s headline chose" in err
    assert "tdbench monitor: transport: score >= 1.2\n" in err
    assert "tdbench monitor: utilization: score >= 0.9\n" in err
    assert "2 detectors (transport, utilization)" in err
    assert "tdbench monitor: warming up until time_h 6: no alert before" in err
    last_h = 96 * 0.25

    trace = spike_trace()  # its warm-up (org.warmup_days=0.25) is the monitor's default warm-up
    lines = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert all(line["time_h"] > 6.0 for line in lines)
    spec = ScoringSpec(thresholds=THRESHOLDS, refractory_h=1.0)
    for name in ("transport", "utilization"):
        episodes = score_run(trace, detector_readings(name, trace), spec, name).episodes
        mine = [line for line in lines if line["detector"] == name]
        starts = [line["start_h"] for line in mine if line["state"] == "firing"]
        assert starts == [s for s in episodes["start_h"] if s <= last_h]
        assert len(starts) >= 1  # the spike (6 h to 12 h) is alerted
        ends = [(line["start_h"], line["end_h"]) for line in mine if line["state"] == "resolved"]
        resolved = episodes["end_h"] - trace.layout.dt_h + 1.0 <= last_h
        assert ends == list(zip(episodes["start_h"][resolved], episodes["end_h"][resolved], strict=True))
    assert all(line["basis"] == f"threshold chosen by {study}" for line in lines)


def test_without_from_run_one_line_says_the_shipped_levels_are_used(tmp_path, started):
    monitor = started(
        *SPIKE, "monitor.speed=1000", "monitor.max_checks=2", "detector=[transport,null,random]"
    )
    assert monitor.proc.wait(timeout=DEADLINE_S) == 0
    err = monitor.stderr()
    assert (
        "tdbench monitor: alerting at the shipped levels (a line per level change): no study's thresholds "
        "are in use; monitor.from_run=RUN applies those a study chose"
    ) in err
    assert "1 detectors (transport)" in err  # the baselines only when named in monitor.detectors


def named_overrides(study):
    return (
        "task=monitor",
        f"monitor.from_run={study}",
        "monitor.port=0",
        'monitor.detectors=[utilization,"null"]',
    )


def test_a_detector_run_with_other_parameters_than_the_study_is_refused(tmp_path):
    study = study_folder(tmp_path / "study", "detector.transport.tau_h=2.0")
    cfg = compose_config("task=monitor", f"monitor.from_run={study}", "monitor.port=0")
    with pytest.raises(scenarios.InputError) as caught:
        monitor_task.validate(cfg)
    assert str(caught.value).startswith(
        "detector.transport.tau_h: the study ran 2.0, this config has 1.0: its threshold would not apply"
    )
    named = compose_config(
        "task=monitor",
        f"monitor.from_run={study}",
        "monitor.port=0",
        'monitor.detectors=[utilization,"null"]',
    )
    plan = monitor_task.prepare(named)  # the baseline when named, at its headline threshold
    assert list(plan.detectors) == ["utilization", "null"]
    assert not any("observed every" in line for line in monitor_task.alerting(plan, None)[1])
    other_step = compose_config(*named_overrides(study), "org.dt_h=0.5")
    _, lines = monitor_task.alerting(monitor_task.prepare(other_step), None)
    assert lines[-1].startswith("the study observed every 0.25 h, this simulation every 0.5 h (org.dt_h)")


@pytest.mark.parametrize(
    ("overrides", "environ", "message"),
    [
        (["monitor.port=-1"], {}, "monitor.port: must be an integer >= 0 and <= 65535"),
        (
            ["monitor.speed=0"],
            {},
            "monitor.speed: must be a number of simulated hours per wall-clock second > 0",
        ),
        (["monitor.source=data.txt"], {}, "monitor.source: must be sim or a .csv / .parquet file"),
        (["monitor.scenario=spike", "scenario=[ramp]"], {}, "monitor.scenario: 'spike' is not among"),
        (["+monitor.colour=red"], {}, "monitor.colour: no such setting"),
        (["monitor.webhook=ftp://x"], {}, "monitor.webhook: must be an http:// or https:// URL"),
        (["monitor.max_checks=0"], {}, "monitor.max_checks: must be an integer >= 1"),
        (["monitor.from_run=/no/such/run"], {}, "monitor.from_run: no headline.csv in '/no/such/run'"),
        (["monitor.detectors=[nope]"], {}, "monitor.detectors: 'nope' is not selected"),
        (["monitor.detectors=[]"], {}, "monitor.detectors: must be a list of detector names or null"),
        (["monitor.detectors=[null]"], {}, 'monitor.detectors: the null baseline is written "null" (quoted)'),
        (['detector=["null",random]'], {}, "detector: only baselines (null, random) are selected"),
        (["monitor.warmup_h=-1"], {}, "monitor.warmup_h: must be a number of hours >= 0"),
        (
            ["monitor.webhook=http://169.254.169.254/x"],
            {},
            "monitor.webhook: '169.254.169.254' is a link-local",
        ),
        (
            ["detector=[utilization]", f"+detector.transport._target_={target(RaisingDetector)}"],
            {},
            "detector.transport._target_: task=monitor reads the roadmap's gauges from this detector",
        ),
        (["monitor.alert_log=/no/such/dir/alerts.jsonl"], {}, "monitor.alert_log: no such folder"),
        ([], {"PE_WARNING_THRESHOLD": "x"}, "PE_WARNING_THRESHOLD: must be a number >= 0; got 'x'"),
        (
            ["detector=[utilization]"],
            {"PE_WARNING_THRESHOLD": "0.9"},
            "PE_WARNING_THRESHOLD: is set in the env",
        ),
        (
            ["detector=[transport]"],
            {"TRANSPORT_ENABLED": "false"},
            "TRANSPORT_ENABLED: false leaves no detector",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, overrides, environ, message, monkeypatch):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(scenarios.InputError) as caught:
        check(["task=monitor", *overrides])
    assert str(caught.value).startswith(message)


def test_the_command_reports_bad_input_in_one_line(tmp_path):
    env = {**os.environ, "PE_CRITICAL_THRESHOLD": "0.5"}
    done = subprocess.run(
        [TDBENCH, "task=monitor"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr == (
        "tdbench: error: PE_CRITICAL_THRESHOLD: must be a number >= 0.8 (PE_WARNING_THRESHOLD); got 0.5\n"
    )
    assert not (tmp_path / "results").exists()


def test_an_alert_log_that_cannot_be_opened_leaves_no_run_folder(tmp_path):
    done = subprocess.run(
        [TDBENCH, "task=monitor", f"monitor.alert_log={tmp_path}"],  # a folder: refused once open() fails
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "tdbench: error: monitor.alert_log: cannot write to it: Is a directory\n"
    assert not (tmp_path / "results").exists()


def test_a_file_source_needs_a_service_rate(tmp_path):
    path = tmp_path / "obs.csv"
    frame = observations_frame(scenarios.simulate("steady", 0, n_units=2, warmup_days=0.1, scenario_days=0.1))
    frame.drop(columns="service_rate").to_csv(path, index=False)
    cfg = compose_config("task=monitor", f"monitor.source={path}")
    with pytest.raises(scenarios.InputError, match="historical.service_rate_per_h: task=monitor must know"):
        monitor_task.validate(cfg)
    monitor_task.validate(
        compose_config("task=monitor", f"monitor.source={path}", "historical.service_rate_per_h=1")
    )


def test_without_the_extra_the_task_names_it(monkeypatch):
    real = monitor_task.importlib.util.find_spec
    monkeypatch.setattr(
        monitor_task.importlib.util,
        "find_spec",
        lambda name: None if name == "prometheus_client" else real(name),
    )
    with pytest.raises(scenarios.InputError) as caught:
        monitor_task.validate(compose_config("task=monitor"))
    assert str(caught.value) == "task: monitor needs the optional extra: pip install -e '.[monitor]'"


def test_a_port_in_use_is_bad_input():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(scenarios.InputError, match=f"monitor.port: cannot listen on 127.0.0.1:{port}"):
            monitor_task.validate(compose_config("task=monitor", f"monitor.port={port}"))
