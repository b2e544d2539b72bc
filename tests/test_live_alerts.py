"""Alert lines on level changes: the phase-3 messages as strict JSON, to a file and a webhook."""

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from detectors.base import Reading
from harness.live.alerts import AlertSink, alert_lines
from harness.live.service import HealthCheck, ResilienceService, transport_alert
from harness.live.settings import ResilienceTransportConfig

DETAIL = {
    "pe": 1.3,
    "gradient": 0.2,
    "boundary_layer": 0.5,
    "d_eff": math.nan,
    "time_to_saturation_h": math.inf,
}


def transport_check(level=3, before=0):
    service = ResilienceService.from_config(ResilienceTransportConfig())
    reading = Reading(1.3, level, (0, 2), DETAIL)
    alert = transport_alert(service.detectors["transport"], reading, 50.25)
    return HealthCheck(50.25, {"transport": reading}, changes={"transport": (before, level)}, transport=alert)


def strict(text):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_one_line_per_phase3_message_of_the_new_level():
    lines = alert_lines(transport_check(), transport="transport")
    assert [line["message"] for line in lines] == [
        "CRITICAL: Task arrival outpacing rebalancing",
        "Increase inter-unit communication",
        "Risk of cascade failure",
    ]
    first = lines[0]
    assert {k: first[k] for k in ("time_h", "detector", "level", "previous_level", "score")} == {
        "time_h": 50.25,
        "detector": "transport",
        "level": "CRITICAL",
        "previous_level": "OK",
        "score": 1.3,
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
    ok = Reading(0.5, 0, (), dict(DETAIL, pe=0.5, boundary_layer=0.0))
    service = ResilienceService.from_config(ResilienceTransportConfig())
    alert = transport_alert(service.detectors["transport"], ok, 60.0)
    check = HealthCheck(
        60.0,
        {"transport": ok, "spc": Reading(4.2, 2, (), {"z": 4.2})},
        changes={"transport": (3, 0), "spc": (1, 2)},
        transport=alert,
    )
    lines = alert_lines(check, transport="transport")
    assert [(line["detector"], line["message"]) for line in lines] == [
        ("transport", "transport: OK (was CRITICAL)"),
        ("spc", "spc: WARNING (was WATCH)"),
    ]
    assert lines[1]["metrics"] == {"z": 4.2}
    assert alert_lines(HealthCheck(60.25, {"transport": ok}, transport=alert), "transport") == []


def test_lines_are_appended_to_the_alert_log(tmp_path):
    path = tmp_path / "alerts.jsonl"
    path.write_text('{"earlier": true}\n')
    sink = AlertSink(path)
    assert sink.emit(alert_lines(transport_check(), "transport")) == []
    sink.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    assert strict(lines[1])["message"] == "CRITICAL: Task arrival outpacing rebalancing"


class Recorder(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], body.decode()))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Recorder.received = []
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", Recorder.received
    server.shutdown()
    server.server_close()
    thread.join()


def test_each_line_is_posted_to_the_webhook(tmp_path, webhook):
    url, received = webhook
    sink = AlertSink(tmp_path / "alerts.jsonl", webhook=url)
    assert sink.emit(alert_lines(transport_check(), "transport")) == []
    sink.close()
    written = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [body for _, body in received] == written
    assert {kind for kind, _ in received} == {"application/json"}
    assert strict(received[2][1])["message"] == "Risk of cascade failure"


def test_an_unreachable_webhook_is_reported_not_fatal(tmp_path):
    dead = "http://127.0.0.1:9/alerts"  # the discard port: nothing listens on loopback
    sink = AlertSink(tmp_path / "alerts.jsonl", webhook=dead)
    problems = sink.emit(alert_lines(transport_check(), "transport"))
    sink.close()
    assert len(problems) == 3
    assert problems[0].startswith(f"monitor.webhook: cannot deliver an alert to {dead}: ")
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 3
