"""Detectors and scenarios from other installed packages, through entry points.

A package declares ``name = "module:Class"`` in the entry-point group ``tdbench.detectors`` or
``tdbench.scenarios``; the class is imported when first used and checked like a built-in: it
subclasses the base class, its ``name`` is the entry point's name, and every ``__init__``
parameter is a keyword with a default (its config is those defaults).

>>> sorted(entry_point_targets("tdbench.nothing"))
[]
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

from scenarios.errors import InputError

DETECTORS = "tdbench.detectors"
SCENARIOS = "tdbench.scenarios"


def entry_point_targets(group: str) -> dict[str, str]:
    """name -> ``"module:Class"`` of every installed entry point in ``group``."""
    return {ep.name: ep.value for ep in entry_points(group=group)}


def merged(group: str, builtin: dict[str, Any]) -> dict[str, Any]:
    """The built-ins and the group's plugins; a plugin may not reuse a built-in's name."""
    plugins = entry_point_targets(group)
    for name in plugins:
        if name in builtin:
            raise InputError(group, f"plugin {name!r} ({plugins[name]}) reuses the name of a built-in")
    return {**builtin, **plugins}


def load_class(group: str, name: str, target: str, base: type) -> type:
    """Import ``"module:Class"`` and check it as a ``base`` named ``name`` with keyword defaults."""
    module, _, attr = target.partition(":")
    where = f"{group}.{name}"
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as error:
        raise InputError(where, f"cannot import {target!r}: {error}") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise InputError(where, f"{target} must be a subclass of {base.__module__}.{base.__name__}")
    declared = getattr(cls, "name", None)
    if declared != name:
        raise InputError(where, f"{target}.name must be the entry point's name {name!r}; got {declared!r}")
    for p in inspect.signature(cls).parameters.values():
        if p.kind is not p.POSITIONAL_OR_KEYWORD and p.kind is not p.KEYWORD_ONLY:
            raise InputError(where, f"{target}: parameter {p.name!r} must be an explicit keyword")
        if p.default is p.empty:
            raise InputError(where, f"{target}: parameter {p.name!r} needs a default")
    return cls


def defaults(cls: type) -> dict[str, Any]:
    """A class's keyword parameters and their defaults."""
    return {p.name: p.default for p in inspect.signature(cls).parameters.values()}


def config_node(cls: type) -> dict[str, Any]:
    """The Hydra config of a plugin class: its ``_target_`` and every parameter at its default."""
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults(cls).items()}
    return {"_target_": f"{cls.__module__}.{cls.__qualname__}", **values}
