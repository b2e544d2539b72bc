"""The ``monitor:`` section of the config, declared once: every problem is one InputError naming the key.

A new monitor setting is one more ``param(...)`` line in :class:`MonitorSettings` (and its default in
conf/config.yaml's ``monitor:`` section); validation, ``--help`` and the settings reference follow.

>>> MonitorSettings(port=70000)
Traceback (most recent call last):
...
scenarios.errors.InputError: monitor.port: must be an integer >= 0 and <= 65535; got 70000
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

from pydantic import field_validator

from scenarios.errors import InputError
from scenarios.params import Section, param

SIM = "sim"
FILE_SUFFIXES = (".csv", ".parquet", ".pq")


class MonitorSettings(Section):
    """How ``tdbench task=monitor`` runs (docs: Live monitoring)."""

    section: ClassVar[str] = "monitor"

    source: str = param(
        SIM, "sim: a simulated organisation in accelerated real time; or a .csv / .parquet file"
    )
    interval_s: float = param(900.0, "time between health checks on the source's clock", unit="seconds", gt=0)
    scenario: str = param("ramp", "source=sim: which of the selected scenarios runs")
    seed: int = param(0, "source=sim: the simulation's seed", ge=0)
    speed: float = param(
        1.0, "source=sim: 1/3600 is real time", unit="simulated hours per wall-clock second", gt=0
    )
    host: str = param("127.0.0.1", "the Prometheus endpoint is http://host:port/metrics")
    port: int = param(9464, "port of the endpoint; 0: any free port", ge=0, le=65535)
    alert_log: str | None = param(None, "file the alert JSON lines are appended to; null: stdout")
    webhook: str | None = param(None, "http(s) URL each alert line is POSTed to; null: none")
    max_checks: int | None = param(None, "stop after this many health checks; null: until stopped", ge=1)

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        if source != SIM and Path(source).suffix.lower() not in FILE_SUFFIXES:
            raise InputError("monitor.source", f"must be sim or a .csv / .parquet file; got {source!r}")
        return source

    @field_validator("scenario", "host", "alert_log")
    @classmethod
    def _not_empty(cls, value: str | None, info) -> str | None:
        if value == "":
            raise InputError(f"monitor.{info.field_name}", "must not be empty")
        return value

    @field_validator("webhook")
    @classmethod
    def _url(cls, webhook: str | None) -> str | None:
        url = urlparse(webhook or "")
        if webhook is not None and (url.scheme not in ("http", "https") or not url.netloc):
            raise InputError(
                "monitor.webhook", f"must be an http:// or https:// URL or null; got {webhook!r}"
            )
        return webhook

    @property
    def simulated(self) -> bool:
        return self.source == SIM

    @classmethod
    def from_config(cls, raw: object) -> MonitorSettings:
        return cls(**(raw or {}))

    def exposure(self) -> str | None:
        """A warning when the endpoint listens on every interface, else None."""
        try:
            everywhere = ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            everywhere = False
        if not everywhere:
            return None
        return f"monitor.host={self.host} exposes the metrics endpoint to every network this host is on"

    def check_listen(self) -> None:
        """Raise InputError unless the endpoint's address can be bound now."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise InputError(
                "monitor.host", f"cannot resolve {self.host!r}: {error.strerror or error}"
            ) from None
        family, kind, proto, _, address = infos[0]
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as error:
            raise InputError(
                "monitor.port", f"cannot listen on {self.host}:{self.port}: {error.strerror or error}"
            ) from None
