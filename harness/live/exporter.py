"""The Prometheus endpoint: the roadmap's gauges (and the time to saturation in seconds, the base
unit), the phase-4 tuner's recommended rebalancing capacity (when a ``transport_online`` detector
runs), every detector's score, level and alert threshold, whether the monitor is warming up, the
health checks' duration and failures, dropped webhook alerts, and prometheus-client's default
process and platform collectors (optional extra ``monitor``).

The gauges are read from the last health check as one snapshot at scrape time, so one scrape never
mixes two checks. While the monitor warms up, every detector's score and level are NaN (no alerting
rule can fire on them) and no duration is observed.

>>> from detectors.base import Reading
>>> exporter = PrometheusExporter(detectors=["utilization"], transport=False)
>>> exporter.publish(HealthCheck(0.25, {"utilization": Reading(0.5, 0)}, seconds=0.001))
>>> [line for line in exporter.render().splitlines() if line.startswith("tdbench_detector_score")]
['tdbench_detector_score{detector="utilization"} 0.5']
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from harness.live.service import HealthCheck, transport_metrics

disable_created_metrics()  # no *_created series: the endpoint holds exactly the metrics below

#: roadmap metric -> (key of the transport metrics, help text)
TRANSPORT_GAUGES = {
    "resilience_peclet_number": (
        "peclet_number",
        "Peclet number of the stress layer (the busiest quartile of units): task arrival over "
        "rebalancing, L x sum arrivals / sum (service capacity + transfers out); WARNING at 0.8, "
        "CRITICAL at 1.2 by default",
    ),
    "resilience_saturation_gradient": (
        "saturation_gradient",
        "Mean utilization of the busiest quartile of units minus the system mean, over the "
        "characteristic length L",
    ),
    "resilience_boundary_layer_thickness": (
        "boundary_layer_thickness",
        "Fraction of units at or above the saturation level (utilization 0.8); WARNING above 0.4",
    ),
    "resilience_time_to_saturation_minutes": (
        "time_to_saturation_minutes",
        "Minutes until the first unit reaches full utilization at its current net fill rate; "
        "+Inf when no unit is filling",
    ),
    "resilience_time_to_saturation_seconds": (
        "time_to_saturation_seconds",
        "Seconds until the first unit reaches full utilization at its current net fill rate (the base "
        "unit of resilience_time_to_saturation_minutes); +Inf when no unit is filling",
    ),
    "resilience_effective_diffusion": (
        "effective_diffusion",
        "Effective diffusion D_eff: net transfers out of the stress layer per hour x L / (layer "
        "utilization - system utilization); NaN when there is no gradient",
    ),
}
TRANSPORT_LEVEL = "resilience_transport_level"
RECOMMENDED_CAPACITY = "resilience_recommended_rebalancing_capacity"
DETECTOR_SCORE = "tdbench_detector_score"
DETECTOR_LEVEL = "tdbench_detector_level"
DETECTOR_THRESHOLD = "tdbench_detector_threshold"
WARMING_UP = "tdbench_monitor_warming_up"
DROPPED = "tdbench_alerts_dropped"  # exported with the counter suffix _total
OBSERVATION_TIME = "tdbench_observation_time_seconds"
DURATION = "resilience_health_check_duration_seconds"
FAILURES = "resilience_health_check_failures"  # exported with the counter suffix _total
LEVELS_HELP = "0 OK, 1 WATCH, 2 WARNING, 3 CRITICAL, 4 EMERGENCY"
#: seconds; 0.05 is the roadmap's overhead criterion
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def seconds_too(metrics: dict[str, float]) -> dict[str, float]:
    """The transport metrics with the time to saturation also in seconds."""
    return {**metrics, "time_to_saturation_seconds": metrics["time_to_saturation_minutes"] * 60.0}


class LatestCheck:
    """A prometheus-client collector of the gauges of the last published health check."""

    def __init__(
        self,
        detectors: Sequence[str],
        transport: str | None,
        tuner: str | None = None,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.detectors = list(detectors)
        self.transport = transport
        self.tuner = tuner
        self.thresholds = dict(thresholds or {})
        self.latest: HealthCheck | None = None

    def describe(self) -> list[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterator[Metric]:
        return self._families(self.latest)

    def _families(self, check: HealthCheck | None) -> Iterator[Metric]:
        time_h = GaugeMetricFamily(
            OBSERVATION_TIME,
            "Time of the last health check's observation, in seconds on the source's clock "
            "(simulated time, or the file's time_h, x 3600)",
        )
        warming = GaugeMetricFamily(
            WARMING_UP,
            "1 while the monitor warms up after start-up (the detectors' state is not yet meaningful: "
            "scores and levels are NaN, no alert, no duration sample), else 0",
        )
        if check is not None:
            time_h.add_metric([], check.time_h * 3600.0)
            warming.add_metric([], float(check.warmup))
        yield time_h
        yield warming
        if self.thresholds:
            threshold = GaugeMetricFamily(
                DETECTOR_THRESHOLD,
                "The alert threshold on each monitored detector's score, chosen by the study "
                "(monitor.from_run): the detector alerts while its score >= this",
                labels=["detector"],
            )
            for name, value in self.thresholds.items():
                threshold.add_metric([name], value)
            yield threshold
        if self.transport is not None:
            reading = None if check is None else check.readings.get(self.transport)
            metrics = None if reading is None else seconds_too(transport_metrics(reading))
            for name, (key, text) in TRANSPORT_GAUGES.items():
                family = GaugeMetricFamily(name, text)
                if check is not None:
                    family.add_metric([], math.nan if metrics is None else metrics[key])
                yield family
            level = GaugeMetricFamily(TRANSPORT_LEVEL, f"Transport alert level: {LEVELS_HELP}")
            if check is not None:
                level.add_metric([], math.nan if reading is None else reading.level)
            yield level
        if self.tuner is not None:
            family = GaugeMetricFamily(
                RECOMMENDED_CAPACITY,
                "Rebalancing out of the stress layer, tasks per hour, that the phase-4 tuner "
                f"({self.tuner}) forecasts will keep Pe below its warning threshold one horizon ahead",
            )
            if check is not None:
                reading = check.readings.get(self.tuner)
                family.add_metric([], math.nan if reading is None else reading.detail["recommended_capacity"])
            yield family
        score = GaugeMetricFamily(
            DETECTOR_SCORE,
            "Each configured detector's score (its own continuous severity) at the last health "
            "check; NaN when the detector failed or the monitor is warming up",
            labels=["detector"],
        )
        level = GaugeMetricFamily(
            DETECTOR_LEVEL, f"Each configured detector's alert level: {LEVELS_HELP}", labels=["detector"]
        )
        if check is not None:
            for name in self.detectors:
                reading = None if check.warmup else check.readings.get(name)
                score.add_metric([name], math.nan if reading is None else reading.score)
                level.add_metric([name], math.nan if reading is None else reading.level)
        yield score
        yield level


class PrometheusExporter:
    """Serves ``/metrics`` on ``host``:``port`` (0: any free port) once started."""

    def __init__(
        self,
        detectors: Sequence[str],
        transport: str | None = "transport",
        host: str = "127.0.0.1",
        port: int = 9464,
        tuner: str | None = None,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            DURATION,
            "Wall time of one health check: every detector's update on one observation",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.failures = Counter(
            FAILURES,
            "Health checks that failed: a detector raised, or the source's data for a step were bad "
            "or missing (the step is not scored)",
            registry=self.registry,
        )
        self.dropped = Counter(
            DROPPED,
            "Alert lines the webhook (monitor.webhook) could not deliver after its retries, or could not "
            "queue because too many were waiting",
            registry=self.registry,
        )
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)  # prometheus-client's defaults: process_*, python_*
        self._latest = LatestCheck(detectors, transport, tuner, thresholds)
        self.registry.register(self._latest)
        self._server = None

    def publish(self, check: HealthCheck) -> None:
        """Export this health check (a check in which a detector failed also counts as a failure;
        a warm-up check is not timed)."""
        self._latest.latest = check
        if not check.warmup:
            self.duration.observe(check.seconds)
        if check.errors:
            self.failures.inc()

    def count_failure(self) -> None:
        self.failures.inc()

    def render(self) -> str:
        """The text a scrape returns now."""
        return generate_latest(self.registry).decode()

    def start(self) -> str:
        """Start serving in a background thread; return the endpoint's URL."""
        self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        port = self._server.server_port
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}/metrics"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None
