"""The monitor's loop: poll the source, run a health check per new observation, export it, write its
alert lines; stop cleanly on SIGINT / SIGTERM, at ``max_checks`` or when a simulation ends.

The checks of the first ``warmup_h`` hours of observations (on the source's clock, from the time the
source started: the first observation's time less one step) are warm-up: the detectors learn from
them, but they raise no alert and are not timed."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from harness.live.alerts import AlertSink, LevelChanges, ThresholdEpisodes
from harness.live.service import HealthCheck, ResilienceService
from scenarios.trace import Layout, Observation

if TYPE_CHECKING:  # prometheus-client is an optional extra
    from harness.live.exporter import PrometheusExporter

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Source(Protocol):
    layout: Layout | None  # known once the first observation is
    description: str

    def poll(self) -> list[Observation] | None:
        """Wait for the next health check; the observations since the last, or None when done."""


class StopRequested(Exception):
    """A stop signal arrived while the monitor was waiting for its source."""


class Stopper:
    """Turns SIGINT and SIGTERM into a clean stop. While the monitor waits for its source the signal
    interrupts the wait at once; during a health check it only sets a flag, so the check finishes."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._waiting = False
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.signal_name = signal.Signals(signum).name
        if self._waiting:
            raise StopRequested

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    @contextmanager
    def waiting(self) -> Iterator[None]:
        if self.requested:
            raise StopRequested
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False


class Monitor:
    """One live monitor: a source, the service that checks it, the exporter and the alert sink."""

    def __init__(
        self,
        service: ResilienceService,
        source: Source,
        exporter: PrometheusExporter,
        sink: AlertSink,
        log: Callable[[str], None],
        max_checks: int | None = None,
        alerting: LevelChanges | ThresholdEpisodes | None = None,
        warmup_h: float = 0.0,
    ) -> None:
        self.service = service
        self.alerting = alerting or LevelChanges(service.transport)
        self.warmup_h = warmup_h
        self._warmup_until: float | None = None
        self.source = source
        self.exporter = exporter
        self.sink = sink
        self.log = log
        self.max_checks = max_checks
        self.checks = 0
        self.last_time_h: float | None = None
        self._failing: set[str] = set()

    def health_check(self, obs: Observation) -> HealthCheck:
        """Check one observation, export the result and write its alerts."""
        result = self.service.check(obs)
        if self._warmup_until is None:
            self._warmup_until = obs.time_h - self.service.layout.dt_h + self.warmup_h
            if self.warmup_h > 0:
                self.log(f"warming up until time_h {self._warmup_until:g}: no alert before")
        if obs.time_h <= self._warmup_until:
            result = dataclasses.replace(result, warmup=True)
        elif self.warmup_h > 0 and obs.time_h - self.service.layout.dt_h <= self._warmup_until:
            self.log(f"warm-up over at time_h {obs.time_h:g}")
        self.exporter.publish(result)
        for name, error in result.errors.items():
            if name not in self._failing:  # once until it answers again; the counter counts every check
                self.log(f"detector {name} failed at time_h {obs.time_h:g}: {error}")
        for name in self._failing - result.errors.keys():
            self.log(f"detector {name} answers again at time_h {obs.time_h:g}")
        self._failing = set(result.errors)
        if not result.warmup:
            self.sink.emit(self.alerting.lines(result))
        self.checks += 1
        self.last_time_h = obs.time_h
        return result

    def run(self, stopper: Stopper) -> str:
        """Run until stopped; return why it stopped."""
        if self.source.layout is not None:
            self.service.reset(self.source.layout)
        try:
            while True:
                with stopper.waiting():
                    batch = self.source.poll()
                if batch is None:
                    return "the simulation ended"
                if self.service.layout is None and self.source.layout is not None:
                    self.service.reset(self.source.layout)
                for obs in batch:
                    self.health_check(obs)
                    if self.max_checks is not None and self.checks >= self.max_checks:
                        return f"monitor.max_checks={self.max_checks} reached"
                    if stopper.requested:
                        return f"stopped by {stopper.signal_name}"
        except StopRequested:
            return f"stopped by {stopper.signal_name}"
