"""The monitor exports the phase-4 tuner's recommendation as
``resilience_recommended_rebalancing_capacity`` when a transport_online detector runs."""

import importlib.util
from contextlib import ExitStack

import pytest
from monitoring import Monitor, gauge, health_checks, wait_for
from prometheus_client.parser import text_string_to_metric_families

import scenarios
from detectors.base import Reading
from detectors.transport_online import TransportOnlineDetector
from harness.live.exporter import RECOMMENDED_CAPACITY, PrometheusExporter
from harness.live.service import HealthCheck
from scenarios.historical import HistoricalSpec, load_trace, observations_frame


def scrape(exporter: PrometheusExporter) -> dict:
    return {f.name: f for f in text_string_to_metric_families(exporter.render())}


def test_the_gauge_carries_the_tuners_recommendation():
    exporter = PrometheusExporter(detectors=["transport_online"], transport=None, tuner="transport_online")
    assert RECOMMENDED_CAPACITY in scrape(exporter)  # described before the first check
    reading = Reading(0.9, 2, (0,), {"recommended_capacity": 3.5})
    exporter.publish(HealthCheck(0.25, {"transport_online": reading}, seconds=0.001))
    assert gauge(scrape(exporter), RECOMMENDED_CAPACITY) == 3.5
    exporter.publish(HealthCheck(0.5, {}, errors={"transport_online": "RuntimeError: x"}, seconds=0.001))
    assert gauge(scrape(exporter), RECOMMENDED_CAPACITY) != gauge(
        scrape(exporter), RECOMMENDED_CAPACITY
    )  # NaN


def test_without_a_tuner_there_is_no_such_gauge():
    exporter = PrometheusExporter(detectors=["utilization"], transport=None)
    exporter.publish(HealthCheck(0.25, {"utilization": Reading(0.5, 0)}, seconds=0.001))
    assert RECOMMENDED_CAPACITY not in scrape(exporter)


@pytest.mark.skipif(importlib.util.find_spec("river") is None, reason="needs the optional extra 'online'")
def test_the_monitor_serves_the_recommendation_of_the_batch_run(tmp_path):
    trace = scenarios.simulate("spike", seed=2, n_units=3, warmup_days=1, scenario_days=1)
    n = trace.layout.n_units
    path = tmp_path / "live.csv"
    observations_frame(trace).iloc[: 40 * n].to_csv(path, index=False)
    with ExitStack() as stack:
        monitor = stack.enter_context(
            Monitor(
                tmp_path,
                f"monitor.source={path}",
                "monitor.interval_s=0.2",
                "historical.warmup_h=6",
                "detector=[transport,transport_online]",
                "monitor.warmup_h=0",  # every check timed, so the histogram counts them all
            )
        )
        wait_for(lambda: health_checks(monitor.scrape()) == 40, "the first 40 steps", monitor)
        served = gauge(monitor.scrape(), RECOMMENDED_CAPACITY)
    batch = TransportOnlineDetector().run(load_trace(path, spec=HistoricalSpec(warmup_h=6)))
    assert served == batch.detail["recommended_capacity"][-1]
