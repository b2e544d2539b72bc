"""The ``monitor:`` section of the config, validated: every problem is one InputError naming the key.

>>> MonitorSettings(port=70000)
Traceback (most recent call last):
...
scenarios.errors.InputError: monitor.port: must be an integer in 0..65535 (0: any free port); got 70000
"""

from __future__ import annotations

import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from scenarios.errors import InputError

SIM = "sim"
FILE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class MonitorSettings:
    """How ``tdbench task=monitor`` runs (README, "Live monitoring")."""

    source: str = SIM  # sim, or the path of a CSV / parquet file in the historical schema
    interval_s: float = 900.0  # seconds between health checks on the source's clock
    scenario: str = "ramp"  # source=sim: one of the selected scenarios
    seed: int = 0  # source=sim
    speed: float = 1.0  # source=sim: simulated hours per wall-clock second
    host: str = "127.0.0.1"
    port: int = 9464  # 0: any free port
    alert_log: str | None = None  # None: alert lines to stdout
    webhook: str | None = None  # URL each alert line is POSTed to
    max_checks: int | None = None  # stop after this many health checks; None: run until stopped

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise InputError("monitor.source", f"must be sim or a .csv / .parquet file; got {self.source!r}")
        if not self.simulated and Path(self.source).suffix.lower() not in FILE_SUFFIXES:
            raise InputError("monitor.source", f"must be sim or a .csv / .parquet file; got {self.source!r}")
        _positive("interval_s", self.interval_s, "a number of seconds > 0")
        _positive("speed", self.speed, "a number of simulated hours per wall-clock second > 0")
        if not isinstance(self.scenario, str) or not self.scenario:
            raise InputError("monitor.scenario", f"must name a scenario; got {self.scenario!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError("monitor.seed", f"must be an integer >= 0; got {self.seed!r}")
        if not isinstance(self.host, str) or not self.host:
            raise InputError("monitor.host", f"must be a host name or address; got {self.host!r}")
        port = self.port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError(
                "monitor.port", f"must be an integer in 0..65535 (0: any free port); got {port!r}"
            )
        if self.alert_log is not None and (not isinstance(self.alert_log, str) or not self.alert_log):
            raise InputError(
                "monitor.alert_log", f"must be a file path or null (stdout); got {self.alert_log!r}"
            )
        if self.webhook is not None:
            url = urlparse(str(self.webhook))
            if url.scheme not in ("http", "https") or not url.netloc:
                raise InputError(
                    "monitor.webhook", f"must be an http:// or https:// URL or null; got {self.webhook!r}"
                )
        checks = self.max_checks
        if checks is not None and (isinstance(checks, bool) or not isinstance(checks, int) or checks < 1):
            raise InputError(
                "monitor.max_checks", f"must be an integer >= 1 or null (no limit); got {checks!r}"
            )

    @property
    def simulated(self) -> bool:
        return self.source == SIM

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> MonitorSettings:
        values = dict(raw or {})
        allowed = [f.name for f in fields(cls)]
        for key in values:
            if key not in allowed:
                raise InputError(f"monitor.{key}", f"unknown setting; allowed: {', '.join(allowed)}")
        return cls(**values)

    def check_listen(self) -> None:
        """Raise InputError unless the endpoint's address can be bound now."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            family, kind, proto, _, address = infos[0]
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as error:
            raise InputError(
                "monitor.port", f"cannot listen on {self.host}:{self.port}: {error.strerror or error}"
            ) from None


def _positive(name: str, value: object, what: str) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise InputError(f"monitor.{name}", f"must be {what}; got {value!r}")
