"""Early-warning detectors behind one contract, and their registry.

>>> "transport" in available()
True
>>> make("utilization", basis="busy", window_h=2.0)  # doctest: +ELLIPSIS
UtilizationDetector(window_h=2.0, basis='busy', warning_threshold=0.7, ...)
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from detectors.base import Detector, Level, Reading, Readings
from scenarios import plugins
from scenarios.errors import InputError
from scenarios.params import Declared, describe

__all__ = [
    "Detector",
    "Level",
    "Reading",
    "Readings",
    "available",
    "is_plugin",
    "make",
    "params_of",
    "register",
    "registry",
]

#: name -> "module:Class". Modules import lazily so a broken optional detector cannot break others.
_REGISTRY: dict[str, str] = {
    "transport": "detectors.transport:TransportDetector",
    "utilization": "detectors.utilization:UtilizationDetector",
    "spc": "detectors.spc:SpcDetector",
    "seismic": "detectors.seismic:SeismicDetector",
    "burnout": "detectors.burnout:BurnoutDetector",
    "null": "detectors.null:NullDetector",
    "random": "detectors.random_alerts:RandomDetector",
    "csd": "detectors.csd:CsdDetector",
    "cusum": "detectors.cusum:CusumDetector",
    "combo": "detectors.combo:ComboDetector",
    "transport_online": "detectors.transport_online:TransportOnlineDetector",  # extra: online
}


def register(name: str, target: str) -> None:
    """Add a detector class, given as ``"module:Class"``, under ``name``."""
    _REGISTRY[name] = target


def registry() -> dict[str, str]:
    """name -> ``"module:Class"``: the registered detectors and the installed plugins (entry-point
    group ``tdbench.detectors``, ``scenarios.plugins``)."""
    return plugins.merged(plugins.DETECTORS, _REGISTRY)


def available() -> list[str]:
    """Names of the registered detectors, plugins included."""
    return list(registry())


def is_plugin(name: str) -> bool:
    return name not in _REGISTRY and name in registry()


def detector_class(name: str) -> type[Detector]:
    targets = registry()
    if name not in targets:
        raise InputError("detector", f"unknown detector {name!r}; allowed: {', '.join(targets)}")
    if name not in _REGISTRY:
        return plugins.load_class(plugins.DETECTORS, name, targets[name], Detector)
    module, cls = targets[name].split(":")
    return getattr(importlib.import_module(module), cls)


def params_of(name: str) -> dict[str, Any]:
    """A registered detector's keyword parameters and their defaults: its declared settings, or
    the keywords of a plugin's own ``__init__``."""
    cls = detector_class(name)
    if cls.__init__ is Declared.__init__:
        return {s.name: s.default for s in describe(cls)}
    signature = inspect.signature(cls.__init__)
    return {p.name: p.default for p in signature.parameters.values() if p.name != "self"}


def make(name: str, **params: Any) -> Detector:
    """Instantiate a registered detector by name with keyword parameters."""
    allowed = params_of(name)
    for key in params:
        if key not in allowed:
            raise InputError(f"detector.{name}.{key}", f"unknown parameter; allowed: {', '.join(allowed)}")
    return detector_class(name)(**params)
