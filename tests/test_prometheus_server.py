"""A real Prometheus server scrapes the monitor, and its HTTP API returns the Pe series.

Needs the ``prometheus`` binary (Debian: ``apt-get install prometheus``; ``.ci/run`` installs it).
"""

import json
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest
from monitoring import SPIKE, Monitor, free_port, spike_trace, transport_readings, wait_for

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="the prometheus binary is not installed (apt-get install prometheus)"
)


def query(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.loads(response.read())
    except OSError:
        return []  # not up yet
    assert answer["status"] == "success"
    return answer["data"]["result"]


def test_prometheus_scrapes_the_pe_series(tmp_path):
    with Monitor(tmp_path, *SPIKE, "monitor.speed=0.5", "detector=[transport,utilization]") as monitor:
        target = monitor.url.removeprefix("http://").removesuffix("/metrics")
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            f"scrape_configs: [{{job_name: tdbench, static_configs: [{{targets: ['{target}']}}]}}]\n"
        )
        port = free_port()
        log = (tmp_path / "prometheus.log").open("w")
        server = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
        )
        try:
            pe = wait_for(lambda: query(port, "resilience_peclet_number"), "Pe in Prometheus", monitor)
            levels = wait_for(lambda: query(port, "tdbench_detector_level"), "detector levels", monitor)
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()
    (sample,) = pe
    assert sample["metric"]["__name__"] == "resilience_peclet_number"
    assert sample["metric"]["job"] == "tdbench"
    assert float(sample["value"][1]) in set(transport_readings(spike_trace()).detail["pe"].tolist())
    assert {s["metric"]["detector"] for s in levels} == {"transport", "utilization"}
