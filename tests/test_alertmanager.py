"""Alerting through Prometheus and Alertmanager: a real Prometheus scrapes the monitor and evaluates the
rule ``task=rules`` writes; a real Alertmanager delivers the alert to a webhook receiver.

Needs ``prometheus`` and ``prometheus-alertmanager`` (Debian packages; ``.ci/run`` installs them).
Everything listens on 127.0.0.1 at free ports, in temporary folders, and is stopped at the end.
"""

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml
from monitoring import SPIKE, Monitor, free_port, server, study_folder, wait_for
from studies import ROOT

from harness.live.choice import read_run
from harness.live.promrules import RULE_FILE, rule_file

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None or ALERTMANAGER is None,
    reason="needs prometheus and prometheus-alertmanager (Debian packages of those names)",
)


class Receiver(BaseHTTPRequestHandler):
    """Alertmanager's webhook payloads, as received."""

    payloads: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).payloads.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.payloads = []
    httpd = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/alerts", Receiver.payloads
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_the_rules_alert_reaches_a_webhook_through_alertmanager(tmp_path, receiver):
    start = time.monotonic()
    url, payloads = receiver
    study = study_folder(tmp_path / "study")
    choice = read_run(study)
    rules = rule_file(choice, {"transport": choice.thresholds["transport"]}, {"pe_critical": 1.2}, 0.25)
    (tmp_path / RULE_FILE).write_text(yaml.safe_dump(rules, sort_keys=False))
    example = yaml.safe_load((ROOT / "examples" / "monitoring" / "alertmanager.yml").read_text())
    example["receivers"][0]["webhook_configs"][0]["url"] = url
    example["route"].update(group_wait="1s", group_interval="1s")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(example))
    am_port, prom_port = free_port(), free_port()

    with (
        server(
            [
                ALERTMANAGER,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",  # no gossip port
            ],
            tmp_path / "alertmanager.log",
        ),
        Monitor(
            tmp_path, *SPIKE, "monitor.speed=1", f"monitor.from_run={study}", "monitor.detectors=[transport]"
        ) as monitor,
    ):
        target = monitor.url.removeprefix("http://").removesuffix("/metrics")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / RULE_FILE)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "tdbench_monitor", "static_configs": [{"targets": [target]}]}],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        with server(
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp_path / "prometheus.log",
        ):

            def delivered():
                return [
                    alert
                    for payload in payloads
                    for alert in payload["alerts"]
                    if alert["labels"].get("alertname") == "TdbenchTransport"
                ]

            alerts = wait_for(delivered, "the transport alert at the webhook", monitor)
    alert = alerts[0]
    assert alert["status"] == "firing"
    assert alert["labels"]["detector"] == "transport" and alert["labels"]["severity"] == "critical"
    assert alert["labels"]["job"] == "tdbench_monitor"
    assert alert["annotations"]["summary"].startswith(
        "transport: CRITICAL: Task arrival outpacing rebalancing"
    )
    assert time.monotonic() - start < 90  # bounded (typically well under a minute)


@pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("amtool") is None, reason="needs promtool and amtool"
)
def test_the_example_configs_pass_their_checkers(tmp_path):
    """The examples as a user runs them: task=rules' file in rules/ of the checkout, then Prometheus'
    example config (which loads it) and Alertmanager's example."""
    examples = tmp_path / "examples" / "monitoring"
    examples.mkdir(parents=True)
    for name in ("prometheus.yml", "alertmanager.yml"):
        shutil.copy(ROOT / "examples" / "monitoring" / name, examples / name)
    choice = read_run(study_folder(tmp_path / "study"))
    (tmp_path / "rules").mkdir()
    rules = rule_file(choice, {"transport": 1.2}, {"pe_critical": 1.2}, 0.25)
    (tmp_path / "rules" / RULE_FILE).write_text(yaml.safe_dump(rules, sort_keys=False))
    checked = subprocess.run(
        ["promtool", "check", "config", str(examples / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout  # the rule file it loads
    checked = subprocess.run(
        ["amtool", "check-config", str(examples / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
