"""The Prometheus endpoint: exactly the issue's metric names, help texts, +Inf, one snapshot per scrape."""

import math
import shutil
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from detectors.base import Reading
from harness.live.exporter import PrometheusExporter
from harness.live.service import HealthCheck

ROADMAP_GAUGES = (
    "resilience_peclet_number",
    "resilience_saturation_gradient",
    "resilience_boundary_layer_thickness",
    "resilience_time_to_saturation_minutes",
)
TRANSPORT_DETAIL = {
    "pe": 1.25,
    "gradient": 0.3,
    "boundary_layer": 0.5,
    "d_eff": math.nan,
    "time_to_saturation_h": math.inf,
}


def check(time_h=3.5, errors=None):
    readings = {"transport": Reading(1.25, 3, (0,), TRANSPORT_DETAIL), "utilization": Reading(0.7, 1)}
    errors = errors or {}
    for name in errors:
        readings.pop(name)
    return HealthCheck(time_h, readings, errors=errors, seconds=0.004)


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(family, **labels):
    (sample,) = [s for s in family.samples if s.labels == labels]
    return sample.value


def test_every_metric_of_the_issue_with_help_text():
    exporter = PrometheusExporter(detectors=["transport", "utilization"], transport="transport")
    exporter.publish(check())
    found = families(exporter.render())
    expected = {
        *ROADMAP_GAUGES,
        "resilience_effective_diffusion",
        "resilience_transport_level",
        "tdbench_detector_score",
        "tdbench_detector_level",
        "resilience_health_check_duration_seconds",
        "resilience_health_check_failures",  # the parser strips the counter's _total
        "tdbench_observation_time_seconds",
        "tdbench_monitor_warming_up",
        "tdbench_alerts_dropped",
        "resilience_time_to_saturation_seconds",
    }
    defaults = {name for name in found if name.startswith(("process_", "python_"))}
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"} <= defaults
    assert set(found) - defaults == expected
    assert all(found[name].documentation for name in expected)
    assert found["resilience_health_check_duration_seconds"].type == "histogram"
    assert found["resilience_health_check_failures"].type == "counter"
    assert value(found["resilience_peclet_number"]) == 1.25
    assert value(found["resilience_saturation_gradient"]) == 0.3
    assert value(found["resilience_boundary_layer_thickness"]) == 0.5
    assert value(found["resilience_time_to_saturation_minutes"]) == math.inf
    assert value(found["resilience_time_to_saturation_seconds"]) == math.inf
    assert value(found["tdbench_monitor_warming_up"]) == 0
    assert math.isnan(value(found["resilience_effective_diffusion"]))
    assert value(found["resilience_transport_level"]) == 3
    assert value(found["tdbench_detector_score"], detector="utilization") == 0.7
    assert value(found["tdbench_detector_level"], detector="transport") == 3
    assert value(found["tdbench_observation_time_seconds"]) == 3.5 * 3600
    assert "resilience_time_to_saturation_minutes +Inf" in exporter.render()
    assert "resilience_health_check_failures_total 0.0" in exporter.render()


def test_failures_and_durations_are_counted():
    exporter = PrometheusExporter(detectors=["transport", "utilization"], transport="transport")
    exporter.publish(check())
    exporter.publish(check(errors={"utilization": "RuntimeError: boom"}))
    exporter.count_failure()  # a bad row of a file source
    found = families(exporter.render())
    assert value(found["resilience_health_check_failures"], **{}) == 2
    samples = {s.name: s for s in found["resilience_health_check_duration_seconds"].samples if not s.labels}
    assert samples["resilience_health_check_duration_seconds_count"].value == 2
    assert samples["resilience_health_check_duration_seconds_sum"].value == 0.008
    assert math.isnan(value(found["tdbench_detector_score"], detector="utilization"))


def test_warm_up_checks_export_no_score_level_or_duration():
    exporter = PrometheusExporter(
        detectors=["transport", "utilization"], transport="transport", thresholds={"utilization": 0.9}
    )
    exporter.publish(HealthCheck(0.25, check().readings, seconds=5.0, warmup=True))
    found = families(exporter.render())
    assert value(found["tdbench_monitor_warming_up"]) == 1
    assert math.isnan(value(found["tdbench_detector_score"], detector="utilization"))
    assert math.isnan(value(found["tdbench_detector_level"], detector="transport"))
    assert value(found["resilience_peclet_number"]) == 1.25  # the roadmap's gauges are shown
    assert value(found["tdbench_detector_threshold"], detector="utilization") == 0.9
    count = [
        s for s in found["resilience_health_check_duration_seconds"].samples if s.name.endswith("_count")
    ]
    assert count[0].value == 0


def test_seconds_beside_the_roadmaps_minutes():
    exporter = PrometheusExporter(detectors=["transport"], transport="transport")
    readings = {"transport": Reading(1.0, 2, (0,), dict(TRANSPORT_DETAIL, time_to_saturation_h=0.5))}
    exporter.publish(HealthCheck(1.0, readings))
    found = families(exporter.render())
    assert value(found["resilience_time_to_saturation_minutes"]) == 30.0
    assert value(found["resilience_time_to_saturation_seconds"]) == 1800.0


def test_without_a_transport_detector_there_are_no_roadmap_gauges():
    exporter = PrometheusExporter(detectors=["utilization"], transport=None)
    exporter.publish(HealthCheck(1.0, {"utilization": Reading(0.5, 0)}))
    assert not any(name.startswith("resilience_peclet") for name in families(exporter.render()))
    before = PrometheusExporter(detectors=["utilization"], transport="transport")
    assert families(before.render())["resilience_peclet_number"].samples == []  # no check yet


def test_the_endpoint_serves_the_same_text():
    exporter = PrometheusExporter(detectors=["transport", "utilization"], host="127.0.0.1", port=0)
    url = exporter.start()
    try:
        exporter.publish(check())
        with urllib.request.urlopen(url, timeout=30) as response:
            served = families(response.read().decode())
    finally:
        exporter.close()
    assert value(served["resilience_peclet_number"]) == 1.25
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian: prometheus)")
def test_promtool_lints_only_the_roadmaps_minutes():
    """Every name is in base units but the roadmap's own resilience_time_to_saturation_minutes, which
    is kept as specified beside its _seconds twin."""
    exporter = PrometheusExporter(
        detectors=["transport", "utilization"], transport="transport", thresholds={"transport": 1.4}
    )
    exporter.publish(check())
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=exporter.render(), capture_output=True, text=True, timeout=60
    )
    problems = (done.stdout + done.stderr).strip().splitlines()
    assert problems == ['resilience_time_to_saturation_minutes use base unit "seconds" instead of "minutes"']
