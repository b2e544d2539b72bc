"""The monitor's settings, declared once: the ``monitor:`` section of the config and the roadmap's
environment variables. Every problem is one InputError naming the key (or the variable).

A new monitor setting is one more ``param(...)`` line in :class:`MonitorSettings` (and its default in
conf/config.yaml's ``monitor:`` section); a new environment variable is one more line in
:class:`ResilienceTransportConfig`. Validation, ``--help`` and the settings reference follow.

>>> MonitorSettings(port=70000)
Traceback (most recent call last):
...
scenarios.errors.InputError: monitor.port: must be an integer >= 0 and <= 65535; got 70000
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from pydantic import ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from detectors.transport import (
    BOUNDARY_LAYER_WARNING_THRESHOLD,
    CHARACTERISTIC_LENGTH,
    GRADIENT_WARNING_THRESHOLD,
    PE_CRITICAL_THRESHOLD,
    PE_WARNING_THRESHOLD,
)
from scenarios.errors import InputError
from scenarios.params import Section, input_error, param

SIM = "sim"
FILE_SUFFIXES = (".csv", ".parquet", ".pq")


class MonitorSettings(Section):
    """How ``tdbench task=monitor`` runs (docs: Live monitoring)."""

    section: ClassVar[str] = "monitor"

    source: str = param(
        SIM, "sim: a simulated organisation in accelerated real time; or a growing .csv / .parquet file"
    )
    interval_s: float = param(
        900.0,
        "time between health checks on the source's clock (sim: simulated; file: wall clock)",
        unit="seconds",
        gt=0,
    )
    scenario: str = param("ramp", "source=sim: which of the selected scenarios runs")
    seed: int = param(0, "source=sim: the simulation's seed", ge=0)
    speed: float = param(
        1.0, "source=sim: 1/3600 is real time", unit="simulated hours per wall-clock second", gt=0
    )
    host: str = param("127.0.0.1", "the Prometheus endpoint is http://host:port/metrics")
    port: int = param(
        9464, "port of the endpoint; 0: any free port (the startup line says which)", ge=0, le=65535
    )
    alert_log: str | None = param(None, "file the alert JSON lines are appended to; null: stdout")
    webhook: str | None = param(None, "http(s) URL each alert line is POSTed to; null: none")
    max_checks: int | None = param(
        None, "stop after this many health checks; null: until SIGINT/SIGTERM (or the simulation ends)", ge=1
    )

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
    def from_config(cls, raw: Mapping[str, Any] | None) -> MonitorSettings:
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


class ResilienceTransportConfig(BaseSettings):
    """The roadmap's transport configuration: its environment variables, with their names and defaults.

    >>> ResilienceTransportConfig.from_env({"PE_WARNING_THRESHOLD": "0.9"}).transport_params()["pe_warning"]
    0.9
    >>> ResilienceTransportConfig.from_env({"PE_WARNING_THRESHOLD": "high"})
    Traceback (most recent call last):
    ...
    scenarios.errors.InputError: PE_WARNING_THRESHOLD: must be a number >= 0; got 'high'
    """

    # environment text is parsed (lax): "no", "off", "0" are false; " 1.0 " is 1.0
    model_config = SettingsConfigDict(case_sensitive=True, frozen=True, extra="ignore", allow_inf_nan=False)

    TRANSPORT_ENABLED: bool = param(True, "false: task=monitor runs the other selected detectors only")
    PE_WARNING_THRESHOLD: float = param(PE_WARNING_THRESHOLD, "Peclet number at which transport warns", ge=0)
    PE_CRITICAL_THRESHOLD: float = param(
        PE_CRITICAL_THRESHOLD, "Peclet number at which transport is critical (>= PE_WARNING_THRESHOLD)", ge=0
    )
    GRADIENT_WARNING_THRESHOLD: float = param(
        GRADIENT_WARNING_THRESHOLD, "saturation gradient at which transport warns", ge=0
    )
    BOUNDARY_LAYER_WARNING_THRESHOLD: float = param(
        BOUNDARY_LAYER_WARNING_THRESHOLD, "boundary-layer thickness at which transport warns", ge=0, le=1
    )
    CHARACTERISTIC_LENGTH: float = param(
        CHARACTERISTIC_LENGTH, "L of Pe = v L / D (org unit distances)", gt=0
    )

    @model_validator(mode="after")
    def _critical_above_warning(self) -> ResilienceTransportConfig:
        warning, critical = self.PE_WARNING_THRESHOLD, self.PE_CRITICAL_THRESHOLD
        if critical < warning:
            raise InputError(
                "PE_CRITICAL_THRESHOLD",
                f"must be a number >= {warning:g} (PE_WARNING_THRESHOLD); got {critical!r}",
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ResilienceTransportConfig:
        """The defaults, with every variable set in ``environ`` (default: ``os.environ``) applied."""
        values = _Variables(cls, os.environ if environ is None else environ)()
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise input_error(exc, "", cls) from None

    def set_in_environment(self) -> dict[str, Any]:
        """The variables the environment set, and their values."""
        return {
            name: getattr(self, name) for name in type(self).model_fields if name in self.model_fields_set
        }

    def transport_params(self) -> dict[str, float]:
        """The matching ``TransportDetector`` parameters."""
        return {PARAMETER_OF[name]: getattr(self, name) for name in PARAMETER_OF}


#: roadmap name -> TransportDetector parameter
PARAMETER_OF = {
    "PE_WARNING_THRESHOLD": "pe_warning",
    "PE_CRITICAL_THRESHOLD": "pe_critical",
    "GRADIENT_WARNING_THRESHOLD": "gradient_warning",
    "BOUNDARY_LAYER_WARNING_THRESHOLD": "boundary_warning",
    "CHARACTERISTIC_LENGTH": "characteristic_length",
}


class _Variables(EnvSettingsSource):
    """pydantic-settings' reading of environment variables, from a given mapping."""

    def __init__(self, settings: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings, case_sensitive=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._environ
