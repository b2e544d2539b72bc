"""A run folder's config.yaml, read without trusting it.

A run folder may come from someone else, so its config.yaml is data, not code: every ``_target_``
in it must name a registered detector or scenario class (the built-ins and the installed plugins,
``registered_targets``) before anything is imported or built from it. The command line and the
conf folders are the user's own and may name any class (harness.config.build checks what it
builds); a run folder may not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import detectors
import scenarios
from scenarios.catalogue import CATALOGUE
from scenarios.errors import InputError

TARGET = "_target_"


def _dotted(target: str) -> str:
    return target.replace(":", ".")


def registered_targets() -> set[str]:
    """The ``_target_`` strings of every registered detector and scenario, read from the registries
    (a plugin's class is loaded to learn where it is defined: installed plugins are trusted)."""
    known = {_dotted(t) for t in detectors.registry().values()}
    known |= {f"{cls.__module__}.{cls.__qualname__}" for cls in CATALOGUE.values()}
    for name in (n for n in detectors.available() if detectors.is_plugin(n)):
        cls = detectors.detector_class(name)
        known.add(f"{cls.__module__}.{cls.__qualname__}")
    for name in (n for n in scenarios.available() if scenarios.is_plugin(n)):
        cls = scenarios.scenario_class(name)
        known.add(f"{cls.__module__}.{cls.__qualname__}")
    return known


def targets(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every ``_target_`` key in a plain nested config."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == TARGET:
                found.append((where, value))
            else:
                found.extend(targets(value, where))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(targets(value, f"{path}[{i}]"))
    return found


def saved_config(run_dir: Path) -> DictConfig:
    """``run_dir/config.yaml``; InputError when it cannot be read or names a class that is not a
    registered detector or scenario."""
    path = Path(run_dir) / "config.yaml"
    try:
        saved = OmegaConf.load(path)
        plain = OmegaConf.to_container(saved, resolve=False)
    except (OSError, OmegaConfBaseException, ValueError) as error:
        text = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError("run_dir", f"cannot read its config.yaml: {text}") from None
    if not isinstance(saved, DictConfig):
        raise InputError("run_dir", f"{str(path)!r} is not a tdbench config (not a mapping)")
    allowed = registered_targets()
    for where, value in targets(plain):
        if not isinstance(value, str) or value not in allowed:
            raise InputError(
                where,
                f"{value!r} in {path} is not a registered detector or scenario; a run folder's config may "
                "name only those (built-in or installed plugins), so nothing in it was imported or run",
            )
    return saved
