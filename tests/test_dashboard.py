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
METRIC = re.compile(r"\b(?:resilience|tdbench|process)_[a-z_]+\b")
RANGE = re.compile(r"\[([^\]]*)\]")
#: the unit a panel must show for a metric whose name ends so (Prometheus' base units)
UNIT_OF_SUFFIX = {"_seconds": "s", "_seconds_bucket": "s", "_bytes": "bytes"}


def exported_series() -> set[str]:
    """Every series name a scrape of the monitor returns (histogram buckets and counter totals included)."""
    exporter = PrometheusExporter(
        detectors=["transport", "utilization"], transport="transport", thresholds={"transport": 1.4}
    )
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


def unit_of(panel, target) -> str | None:
    """The unit a target's series is shown in: a by-query override, else the panel's default."""
    for override in panel["fieldConfig"]["overrides"]:
        if override["matcher"] == {"id": "byFrameRefID", "options": target["refId"]}:
            units = [p["value"] for p in override["properties"] if p["id"] == "unit"]
            if units:
                return units[0]
    return panel["fieldConfig"]["defaults"].get("unit")


def test_every_panel_queries_exported_metrics_per_job_and_instance_in_their_units():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "Transport Dynamics"
    (source,) = dashboard["__inputs"]
    assert (source["name"], source["type"], source["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    exported = exported_series()
    assert len(dashboard["panels"]) >= 10
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        for query in panel["targets"]:
            expr = query["expr"]
            names = METRIC.findall(expr)
            alerts = expr.startswith('ALERTS{alertname=~"Tdbench.*"')  # Prometheus' own series of the rules
            assert names or alerts, (panel["title"], expr)
            assert set(names) <= exported, (panel["title"], set(names) - exported)
            assert query["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert 'job=~"$job",instance=~"$instance"' in expr, (panel["title"], expr)
            assert set(RANGE.findall(expr)) <= {"$__rate_interval"}, (panel["title"], expr)
            assert unit_of(panel, query), (panel["title"], expr)
            for name in names:
                for suffix, unit in UNIT_OF_SUFFIX.items():
                    if name.endswith(suffix):
                        assert unit_of(panel, query) == unit, (panel["title"], name)


def test_the_variables_select_job_instance_and_detector():
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    for name, metric in (
        ("job", "tdbench_observation_time_seconds"),
        ("instance", "tdbench_observation_time_seconds"),
        ("detector", "tdbench_detector_score"),
    ):
        assert variables[name]["type"] == "query"
        assert variables[name]["query"]["query"].startswith(f"label_values({metric}")
        assert variables[name]["includeAll"] and variables[name]["multi"]


def test_the_roadmaps_panels():
    pe = by_query('resilience_peclet_number{job=~"$job",instance=~"$instance"}', "gauge")
    assert (pe["fieldConfig"]["defaults"]["min"], pe["fieldConfig"]["defaults"]["max"]) == (0, 2)
    assert steps(pe) == [None, 0.8, 1.2]
    thickness = by_query('resilience_boundary_layer_thickness{job=~"$job",instance=~"$instance"}', "gauge")
    assert steps(thickness) == [None, 0.4]
    assert by_query('resilience_saturation_gradient{job=~"$job",instance=~"$instance"}', "timeseries")
    saturation = by_query('resilience_time_to_saturation_seconds{job=~"$job",instance=~"$instance"}', "stat")
    assert saturation["fieldConfig"]["defaults"]["unit"] == "s"
    assert by_query(
        'tdbench_detector_level{job=~"$job",instance=~"$instance",detector=~"$detector"}', "state-timeline"
    )


def test_pe_and_effective_diffusion_apart_and_one_score_panel_per_detector():
    for panel in panels():
        names = {n for t in panel["targets"] for n in METRIC.findall(t["expr"])}
        assert not {"resilience_peclet_number", "resilience_effective_diffusion"} <= names, panel["title"]
    (scores,) = [p for p in panels() if any("tdbench_detector_score" in t["expr"] for t in p["targets"])]
    assert scores["repeat"] == "detector"  # each detector on its own scale
    assert [t["expr"] for t in scores["targets"]] == [
        'tdbench_detector_score{job=~"$job",instance=~"$instance",detector="$detector"}',
        'tdbench_detector_threshold{job=~"$job",instance=~"$instance",detector="$detector"}',
    ]
    alerts = [p for p in panels() if any(t["expr"].startswith("ALERTS") for t in p["targets"])]
    assert {p["type"] for p in alerts} == {"state-timeline", "table"}


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
