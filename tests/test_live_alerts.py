"""Alert lines: the phase-3 messages on level changes (shipped levels), the harness's episodes on a
study's thresholds, strict JSON to a file, and a webhook delivered off the health check's thread."""

import functools
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from studies import compose_config

import scenarios
from detectors.base import Reading
from harness.analysis.scoring import ScoringSpec, score_run
from harness.config import build, load_study
from harness.live import alerts
from harness.live.alerts import AlertSink, LevelChanges, ThresholdEpisodes, Webhook
from harness.live.service import HealthCheck, ResilienceService, transport_alert
from harness.live.settings import ResilienceTransportConfig

DETAIL = {
    "pe": 1.3,
    "gradient": 0.2,
    "boundary_layer": 0.5,
    "d_eff": math.nan,
    "time_to_saturation_h": math.inf,
}


def transport_check(level=3, pe=1.3, time_h=50.25):
    service = ResilienceService.from_config(ResilienceTransportConfig())
    reading = Reading(pe, level, (0, 2), dict(DETAIL, pe=pe))
    alert = transport_alert(service.detectors["transport"], reading, time_h, n_units=4)
    return HealthCheck(time_h, {"transport": reading}, transport=alert)


def strict(text):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_one_line_per_phase3_message_of_the_new_level():
    lines = LevelChanges("transport").lines(transport_check())
    assert [line["message"] for line in lines] == [
        "CRITICAL: Task arrival outpacing rebalancing",
        "Increase inter-unit communication",
        "Risk of cascade failure",
    ]
    first = lines[0]
    assert {k: first[k] for k in ("time_h", "detector", "level", "previous_level", "score", "basis")} == {
        "time_h": 50.25,
        "detector": "transport",
        "level": "CRITICAL",
        "previous_level": "OK",
        "score": 1.3,
        "basis": "shipped levels",
    }
    assert first["metrics"] == {
        "peclet_number": 1.3,
        "saturation_gradient": 0.2,
        "boundary_layer_thickness": 0.5,
        "effective_diffusion": None,
        "time_to_saturation_minutes": "+Inf",
    }
    assert first["time"].endswith("+00:00")


def test_back_to_ok_and_other_detectors_say_what_changed():
    policy = LevelChanges("transport")
    policy.lines(
        HealthCheck(59.75, {"transport": transport_check().readings["transport"], "spc": Reading(1, 1)})
    )
    ok = Reading(0.5, 0, (), dict(DETAIL, pe=0.5, boundary_layer=0.0))
    service = ResilienceService.from_config(ResilienceTransportConfig())
    alert = transport_alert(service.detectors["transport"], ok, 60.0)
    check = HealthCheck(60.0, {"transport": ok, "spc": Reading(4.2, 2, (), {"z": 4.2})}, transport=alert)
    lines = policy.lines(check)
    assert [(line["detector"], line["message"]) for line in lines] == [
        ("transport", "transport: OK (was CRITICAL)"),
        ("spc", "spc: WARNING (was WATCH)"),
    ]
    assert lines[1]["metrics"] == {"z": 4.2}
    assert policy.lines(HealthCheck(60.25, {"transport": ok}, transport=alert)) == []


def live_episodes(time_h, scores, threshold, refractory_h):
    """Feed scores through ThresholdEpisodes; the (start, end) of each resolved episode and the open one."""
    policy = ThresholdEpisodes({"d": threshold}, refractory_h, transport=None, basis="test")
    found, opened = [], None
    for t, score in zip(time_h, scores, strict=True):
        for line in policy.lines(HealthCheck(float(t), {"d": Reading(float(score), 0)})):
            if line["state"] == "firing":
                opened = line["start_h"]
            else:
                assert line["start_h"] == opened
                found.append((line["start_h"], line["end_h"]))
                opened = None
    return found, opened


@functools.cache
def utilization_run():
    trace = scenarios.simulate("ramp", 0, n_units=4, warmup_days=0, scenario_days=3)
    spec = load_study(compose_config()).detectors["utilization"]
    return trace, build(spec, "detector.utilization").run(trace)


@pytest.mark.parametrize("refractory_h", [0.0, 0.25, 1.0, 1.1, 3.0])
def test_threshold_episodes_are_the_harness_episodes(refractory_h):
    """On a simulated run, the live firing/resolved lines give exactly the episodes score_run finds."""
    trace, readings = utilization_run()
    threshold = float(np.quantile(readings.score, 0.8))  # alerting a fifth of the time: many episodes
    scored = score_run(
        trace, readings, ScoringSpec(thresholds={"d": threshold}, refractory_h=refractory_h), "d"
    )
    episodes = scored.episodes
    found, opened = live_episodes(trace.time_h, readings.score, threshold, refractory_h)
    # the live monitor resolves an episode at a later check, once refractory_h has passed since its
    # last alert: the harness's episodes whose last alert is the last check, or closer than that to
    # the run's end, are still open live
    last_alert = episodes["end_h"] - trace.layout.dt_h
    after = trace.time_h[-1] - last_alert
    resolvable = (after >= refractory_h) & (after > 0)
    assert len(episodes) > 3
    assert found == list(zip(episodes["start_h"][resolvable], episodes["end_h"][resolvable], strict=True))
    assert opened == (None if resolvable.all() else episodes["start_h"].iloc[-1])
    assert resolvable.iloc[:-1].all()


def test_a_failed_check_neither_opens_nor_closes_an_episode():
    policy = ThresholdEpisodes({"d": 1.0}, 1.0, transport=None, basis="test")

    def states(t, score=None):
        readings = {} if score is None else {"d": Reading(score, 0)}
        check = HealthCheck(t, readings, errors={} if readings else {"d": "boom"})
        return [line["state"] for line in policy.lines(check)]

    assert states(1.0, 2.0) == ["firing"]
    assert [states(t) for t in (1.25, 1.5, 1.75, 2.0, 2.25)] == [[]] * 5  # no news for over an hour
    assert states(2.5, 2.0) == []  # the same episode
    assert [states(t, 0.0) for t in (2.75, 3.0, 3.25, 3.5)] == [[], [], [], ["resolved"]]


def test_lines_are_appended_to_the_alert_log(tmp_path):
    path = tmp_path / "alerts.jsonl"
    path.write_text('{"earlier": true}\n')
    sink = AlertSink(path)
    sink.emit(LevelChanges("transport").lines(transport_check()))
    sink.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    assert strict(lines[1])["message"] == "CRITICAL: Task arrival outpacing rebalancing"


class Recorder(BaseHTTPRequestHandler):
    received: list = []
    delay_s = 0.0
    status = 204
    location = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(type(self).delay_s)
        type(self).received.append((self.command, self.path, self.headers["Content-Type"], body.decode()))
        self.send_response(type(self).status)
        if type(self).location:
            self.send_header("Location", type(self).location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Recorder.received, Recorder.delay_s, Recorder.status, Recorder.location = [], 0.0, 204, None
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", Recorder
    server.shutdown()
    server.server_close()
    thread.join()


def test_each_line_is_posted_to_the_webhook(tmp_path, webhook):
    url, recorder = webhook
    sink = AlertSink(tmp_path / "alerts.jsonl", webhook=url)
    sink.emit(LevelChanges("transport").lines(transport_check()))
    sink.close()
    written = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [body for *_, body in recorder.received] == written
    assert {kind for _, _, kind, _ in recorder.received} == {"application/json"}


def test_a_slow_webhook_never_holds_up_the_health_check(tmp_path, webhook, monkeypatch):
    url, recorder = webhook
    recorder.delay_s = 1.0
    sink = AlertSink(tmp_path / "alerts.jsonl", webhook=url)
    start = time.monotonic()
    sink.emit(LevelChanges("transport").lines(transport_check()))  # three lines, a second each to deliver
    emitted_s = time.monotonic() - start
    sink.close()
    assert emitted_s < 1.0  # the three deliveries (3 s) happen on the webhook's thread
    assert len(recorder.received) == 3


def test_a_redirect_is_not_followed_and_the_alert_is_dropped_and_counted(webhook, monkeypatch):
    url, recorder = webhook
    recorder.status, recorder.location = 302, url.replace("/alerts", "/elsewhere")
    monkeypatch.setattr(alerts, "RETRY_S", 0.0)
    problems, drops = [], []
    hook = Webhook(url, problems.append, lambda: drops.append(1))
    hook.send('{"a": 1}')
    hook.close()
    assert [(command, path) for command, path, *_ in recorder.received] == [("POST", "/alerts")] * 3
    assert hook.dropped == 1 and drops == [1]
    assert problems == [
        f"monitor.webhook: an alert to {url} was dropped: HTTP 302 redirect to "
        f"{recorder.location} refused (3 attempts)"
    ]


def test_an_unreachable_webhook_is_retried_then_dropped(monkeypatch):
    monkeypatch.setattr(alerts, "RETRY_S", 0.0)
    dead = "http://127.0.0.1:9/alerts"  # the discard port: nothing listens on loopback
    problems = []
    hook = Webhook(dead, problems.append, lambda: None)
    hook.send("{}")
    hook.close()
    assert hook.dropped == 1
    assert problems[0].startswith(f"monitor.webhook: an alert to {dead} was dropped: ")


def test_a_full_queue_drops_new_lines_and_counts_them(webhook, monkeypatch):
    url, recorder = webhook
    recorder.delay_s = 0.5
    monkeypatch.setattr(alerts, "QUEUE_SIZE", 2)
    problems = []
    hook = Webhook(url, problems.append, lambda: None)
    for i in range(6):  # one is being delivered, two wait, the rest cannot be queued
        hook.send(f'{{"i": {i}}}')
    hook.close(drain_s=30)
    assert hook.dropped == 6 - len(recorder.received) >= 2
    assert all("alert lines are already waiting" in p for p in problems)


def test_a_link_local_webhook_is_refused(monkeypatch):
    monkeypatch.setattr(alerts, "RETRY_S", 0.0)
    problems = []
    hook = Webhook("http://169.254.169.254/latest", problems.append, lambda: None)
    hook.send("{}")
    hook.close()
    assert "link-local" in problems[0]
