"""The roadmap's service layer (phase 2): a service that keeps detector state between health checks.

``ResilienceService`` (configured by ``harness.live.settings.ResilienceTransportConfig``, the roadmap's
environment variables) runs detectors on each health check and answers
the roadmap's ``check_transport_dynamics()`` with the phase-3 alert dict.

>>> service = ResilienceService.from_config(ResilienceTransportConfig())
>>> hot = {"utilization": 0.95, "arrival_rate": 4.0, "completion_rate": 3.0, "service_capacity": 4.0,
...        "staff": 4}
>>> calm = {"utilization": 0.5, "arrival_rate": 2.0, "completion_rate": 2.0, "service_capacity": 4.0,
...         "staff": 4}
>>> alert = service.check_transport_dynamics([hot, calm, calm, calm])
>>> alert["level"], alert["messages"]
('WARNING', ['WARNING: Pe trending toward unstable', 'Increase inter-unit communication'])
>>> alert["metrics"]["peclet_number"], round(alert["metrics"]["time_to_saturation_minutes"], 6)
(1.0, 12.0)
>>> alert = service.check_transport_dynamics([dict(hot, arrival_rate=8.0), calm, calm, calm])
>>> alert["level"], round(alert["metrics"]["peclet_number"], 4)  # the rates are EWMAs over checks
('CRITICAL', 1.2212)
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.base import Detector, Level, Reading
from detectors.transport import TransportDetector, alert_rules
from harness.live.settings import ResilienceTransportConfig
from scenarios.errors import InputError
from scenarios.graph import make_graph
from scenarios.trace import FIELD_INDEX, FIELDS, Layout, Observation, check_values

#: Keys of a per-unit dict: rates per hour, utilization 0..1, staff on duty, optional state.
UNIT_KEYS = (
    "arrival_rate",
    "completion_rate",
    "transfer_out_rate",
    "transfer_in_rate",
    "swap_request_rate",
    "absence_rate",
    "utilization",
    "staff",
    "queue",
    "service_capacity",
    "service_rate",
)
RATE_KEYS = {  # dict key -> observation field counted over the interval
    "arrival_rate": "arrivals",
    "completion_rate": "completions",
    "transfer_out_rate": "transfers_out",
    "transfer_in_rate": "transfers_in",
    "swap_request_rate": "swap_requests",
    "absence_rate": "absences",
}


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class HealthCheck:
    """What one health check found: every detector's reading (or its error) and the level changes."""

    time_h: float
    readings: dict[str, Reading]
    errors: dict[str, str] = field(default_factory=dict)  # detector -> one-line error
    changes: dict[str, tuple[int, int]] = field(default_factory=dict)  # detector -> (before, now)
    seconds: float = 0.0  # wall time of the whole check
    transport: dict | None = None  # the phase-3 alert dict, when a transport detector answered
    warmup: bool = False  # the detectors' state is not yet meaningful: no alert, no duration sample


class ResilienceService:
    """Runs ``detectors`` on each health check, keeping their state between checks.

    ``transport`` names the ``TransportDetector`` among them whose reading answers
    ``check_transport_dynamics`` (None: no transport check). ``interval_s`` is the time between
    health checks, used when the organisation's layout comes from the first list of unit dicts.
    """

    def __init__(
        self,
        detectors: Mapping[str, Detector],
        transport: str | None = "transport",
        interval_s: float = 900.0,
    ) -> None:
        if transport is not None and not isinstance(detectors.get(transport), TransportDetector):
            raise InputError(
                "transport", f"names no TransportDetector among {', '.join(detectors) or 'none'}"
            )
        if not _finite(interval_s) or interval_s <= 0:
            raise InputError("interval_s", f"must be a number of seconds > 0; got {interval_s!r}")
        self.detectors = dict(detectors)
        self.transport = transport
        self.interval_s = interval_s
        self.reset(None)

    @classmethod
    def from_config(
        cls, config: ResilienceTransportConfig, tau_h: float = 1.0, interval_s: float = 900.0
    ) -> ResilienceService:
        """The roadmap's service: one transport detector configured by ``config`` (none when disabled)."""
        if not config.TRANSPORT_ENABLED:
            return cls({}, transport=None, interval_s=interval_s)
        detector = TransportDetector(tau_h=tau_h, **config.transport_params())
        return cls({"transport": detector}, interval_s=interval_s)

    def reset(self, layout: Layout | None) -> None:
        """Forget every detector's state; None: take the layout from the next list of unit dicts."""
        self.layout = layout
        self._levels = dict.fromkeys(self.detectors, int(Level.OK))
        self._last_time_h = 0.0
        if layout is not None:
            for detector in self.detectors.values():
                detector.reset(layout)

    def check(self, obs: Observation) -> HealthCheck:
        """One health check of every detector. A bad observation raises InputError; a detector
        that raises is reported in ``errors`` (its level is kept) and the others still answer."""
        start = time.perf_counter()
        if self.layout is None:
            raise InputError("layout", "call reset(layout) before the first health check")
        shape = (len(FIELDS), self.layout.n_units)
        if obs.values.shape != shape:
            raise InputError("observation", f"must have shape {shape}; got {obs.values.shape}")
        check_values(obs.values, "observation")
        readings, errors, changes = {}, {}, {}
        for name, detector in self.detectors.items():
            try:
                reading = detector.step(obs)
            except Exception as error:  # a failing detector must not stop the others
                errors[name] = f"{type(error).__name__}: {error}".splitlines()[0]
                continue
            readings[name] = reading
            if reading.level != self._levels[name]:
                changes[name] = (self._levels[name], int(reading.level))
                self._levels[name] = int(reading.level)
        transport = None
        if self.transport in readings:
            detector, reading = self.detectors[self.transport], readings[self.transport]
            assert isinstance(detector, TransportDetector)  # as __init__ checked
            transport = transport_alert(detector, reading, obs.time_h, self.layout.n_units)
        self._last_time_h = obs.time_h
        seconds = time.perf_counter() - start
        return HealthCheck(obs.time_h, readings, errors, changes, seconds, transport)

    def check_transport_dynamics(self, units: Sequence[Mapping[str, float]] | Observation) -> dict | None:
        """The roadmap's health-check method: the phase-3 alert dict (time_h, level, messages,
        metrics, units) of this check, or None when the service has no transport detector.

        ``units`` is an Observation, or the roadmap's list of per-unit dicts (keys: ``UNIT_KEYS``;
        rates per hour, ``utilization`` 0..1, ``staff`` on duty; ``service_capacity`` = staff x
        tasks per staff-hour, or ``service_rate``, fixes each unit's service rate at the first check).
        """
        if isinstance(units, Observation):
            obs = units
        else:
            if self.layout is None:
                self.reset(layout_from_units(units, self.interval_s / 3600.0))
            layout = self.layout
            assert layout is not None  # as reset set it
            obs = observation_from_units(units, layout, self._last_time_h + layout.dt_h)
        result = self.check(obs)
        if self.transport is not None and self.transport in result.errors:
            raise RuntimeError(f"detector {self.transport!r} failed: {result.errors[self.transport]}")
        return result.transport


ONE_UNIT_MESSAGE = "Increase inter-unit communication"  # needs a second unit to communicate with


def transport_alert(
    detector: TransportDetector, reading: Reading, time_h: float, n_units: int | None = None
) -> dict:
    """The phase-3 alert dict of a transport reading: its level and the roadmap's messages.

    It is JSON-safe: a metric that is undefined (NaN) is None, an infinite one the string "+Inf"
    (Prometheus' spelling; ``time_to_saturation_minutes`` when no unit is filling). An organisation
    of one unit never gets "Increase inter-unit communication".
    """
    detail = reading.detail
    _, messages, _ = alert_rules(
        detail["pe"],
        detail["gradient"],
        detail["boundary_layer"],
        detector.pe_warning,
        detector.pe_critical,
        detector.gradient_warning,
        detector.boundary_warning,
    )
    if n_units == 1:
        messages = [m for m in messages if m != ONE_UNIT_MESSAGE]
    return {
        "time_h": time_h,
        "level": Level(reading.level).name,
        "messages": messages,
        "metrics": {k: json_number(v) for k, v in transport_metrics(reading).items()},
        "units": np.asarray(reading.units, dtype=int).tolist(),
    }


def json_number(x: float) -> float | str | None:
    """A float JSON can hold: "+Inf" / "-Inf" for infinities, None (null) for NaN."""
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return x


def transport_metrics(reading: Reading) -> dict[str, float]:
    """The roadmap's metric names (time to saturation in minutes) from a transport reading."""
    detail = reading.detail
    return {
        "peclet_number": detail["pe"],
        "saturation_gradient": detail["gradient"],
        "boundary_layer_thickness": detail["boundary_layer"],
        "effective_diffusion": detail["d_eff"],
        "time_to_saturation_minutes": detail["time_to_saturation_h"] * 60.0,
    }


def _unit_value(units: Sequence[Mapping[str, float]], i: int, key: str, default: float | None) -> float:
    unit = units[i]
    if key not in unit:
        if default is None:
            raise InputError(f"units[{i}].{key}", "missing; every unit needs it")
        return default
    value = unit[key]
    if not _finite(value) or value < 0:
        raise InputError(f"units[{i}].{key}", f"must be a finite number >= 0; got {value!r}")
    return float(value)


def _check_keys(units: Sequence[Mapping[str, float]]) -> None:
    if not units:
        raise InputError("units", "give at least one unit")
    for i, unit in enumerate(units):
        for key in unit:
            if key not in UNIT_KEYS:
                raise InputError(f"units[{i}].{key}", f"unknown key; allowed: {', '.join(UNIT_KEYS)}")


def unit_service_rate(units: Sequence[Mapping[str, float]], i: int) -> float:
    """Tasks per staff-hour of unit i: ``service_rate``, else ``service_capacity / staff``."""
    if "service_rate" in units[i]:
        return _unit_value(units, i, "service_rate", None)
    staff = _unit_value(units, i, "staff", None)
    capacity = _unit_value(units, i, "service_capacity", None)
    if staff == 0:
        raise InputError(
            f"units[{i}].service_rate",
            "the unit has no staff on duty, so give its service_rate (tasks per staff-hour)",
        )
    return capacity / staff


def layout_from_units(units: Sequence[Mapping[str, float]], dt_h: float) -> Layout:
    """The organisation of a first list of unit dicts: nominal staff = staff on duty now, the unit's
    service rate, every unit one hop from every other."""
    _check_keys(units)
    n = len(units)
    return Layout(
        staff=np.array([_unit_value(units, i, "staff", None) for i in range(n)]),
        service_rate=np.array([unit_service_rate(units, i) for i in range(n)]),
        graph=make_graph("complete", n),
        dt_h=dt_h,
    )


def observation_from_units(
    units: Sequence[Mapping[str, float]], layout: Layout, time_h: float
) -> Observation:
    """One observation from per-unit rates: counts = rate x dt, busy hours = utilization x staff x dt."""
    _check_keys(units)
    if len(units) != layout.n_units:
        raise InputError(
            "units", f"the organisation has {layout.n_units} units; got {len(units)} (reset for a new one)"
        )
    dt = layout.dt_h
    values = np.zeros((len(FIELDS), layout.n_units))
    for i in range(layout.n_units):
        staff = _unit_value(units, i, "staff", None)
        utilization = _unit_value(units, i, "utilization", None)
        if utilization > 1:
            raise InputError(f"units[{i}].utilization", f"must be in [0, 1]; got {utilization!r}")
        if "service_rate" in units[i] or "service_capacity" in units[i]:
            rate = unit_service_rate(units, i) if staff > 0 or "service_rate" in units[i] else None
            if rate is not None and not math.isclose(rate, layout.service_rate[i], rel_tol=1e-9):
                raise InputError(
                    f"units[{i}].service_capacity",
                    f"implies {rate:g} tasks per staff-hour; the unit served {layout.service_rate[i]:g} "
                    "at the first check (reset for a changed organisation)",
                )
        for key, name in RATE_KEYS.items():
            default = None if key == "arrival_rate" else 0.0
            values[FIELD_INDEX[name], i] = _unit_value(units, i, key, default) * dt
        values[FIELD_INDEX["queue"], i] = _unit_value(units, i, "queue", 0.0)
        values[FIELD_INDEX["staff_on_duty"], i] = staff
        values[FIELD_INDEX["busy"], i] = utilization * staff
        values[FIELD_INDEX["busy_hours"], i] = utilization * staff * dt
    return Observation(time_h, values)
