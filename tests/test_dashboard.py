"""The Grafana dashboard and the example Prometheus config query what the monitor exports."""

import json
import re

import yaml
from prometheus_client.parser import text_string_to_metric_families
from studies import ROOT, compose_config

from detectors.base import Reading
from harness.live.exporter import PrometheusExporter
from harness.live.service import HealthCheck

MONITORING = ROOT / "examples" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "transport_dynamics.json"
METRIC = re.compile(r"\b(?:resilience|tdbench)_[a-z_]+\b")


def exported_series() -> set[str]:
    """Every series name a scrape of the monitor returns (histogram buckets and counter totals included)."""
    exporter = PrometheusExporter(detectors=["transport", "utilization"], transport="transport")
    detail = {"pe": 1.0, "gradient": 0.1, "boundary_layer": 0.2, "d_eff": 0.5, "time_to_saturation_h": 2.0}
    exporter.publish(
        HealthCheck(1.0, {"transport": Reading(1.0, 2, (), detail), "utilization": Reading(0.5, 0)})
    )
    families = text_string_to_metric_families(exporter.render())
    return {sample.name for family in families for sample in family.samples}


def panels():
    return json.loads(DASHBOARD.read_text())["panels"]


def by_query(metric: str, kind: str) -> dict:
    (found,) = [p for p in panels() if p["type"] == kind and any(t["expr"] == metric for t in p["targets"])]
    return found


def steps(panel) -> list:
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_every_panel_queries_exported_metrics_through_the_input_datasource():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "Transport Dynamics"
    (source,) = dashboard["__inputs"]
    assert (source["name"], source["type"], source["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    exported = exported_series()
    assert len(dashboard["panels"]) >= 6
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        for query in panel["targets"]:
            names = METRIC.findall(query["expr"])
            assert names, (panel["title"], query["expr"])
            assert set(names) <= exported, (panel["title"], set(names) - exported)
            assert query["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_the_roadmaps_panels():
    pe = by_query("resilience_peclet_number", "gauge")
    assert (pe["fieldConfig"]["defaults"]["min"], pe["fieldConfig"]["defaults"]["max"]) == (0, 2)
    assert steps(pe) == [None, 0.8, 1.2]
    thickness = by_query("resilience_boundary_layer_thickness", "gauge")
    assert steps(thickness) == [None, 0.4]
    assert by_query("resilience_saturation_gradient", "timeseries")
    assert by_query("resilience_time_to_saturation_minutes", "stat")["fieldConfig"]["defaults"]["unit"] == "m"
    assert by_query("tdbench_detector_level", "state-timeline")
    alerts = [p for p in panels() if p["title"].startswith("Alerts")]
    assert [t["expr"] for p in alerts for t in p["targets"]] == ["tdbench_detector_level >= 2"]


def test_the_scrape_config_points_at_the_default_endpoint():
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    monitor = compose_config("task=monitor").monitor
    (job,) = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == [f"{monitor.host}:{monitor.port}"]


def test_the_grafana_provisioning_files():
    datasource = yaml.safe_load((MONITORING / "grafana" / "datasources" / "prometheus.yaml").read_text())
    assert datasource["datasources"][0]["type"] == "prometheus"
    assert datasource["datasources"][0]["url"] == "http://127.0.0.1:9090"  # prometheus' default port
    provider = yaml.safe_load((DASHBOARD.parent / "provider.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/provisioning/dashboards"
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"  # resolves ${DS_PROMETHEUS} when provisioned
