"""The jobs ``tdbench task=...`` can run. Each task module exposes ``validate`` and ``run``.

``validate(cfg)`` raises InputError for bad input and writes nothing; ``run(cfg, out_dir)`` does
the work in Hydra's output folder and returns the exit code.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType

from scenarios.errors import InputError

TASKS: dict[str, str] = {
    "study": "harness.tasks.study",
    "calibrate": "harness.tasks.calibrate",
    "report": "harness.tasks.report",
    "evaluate": "harness.tasks.evaluate",
    "bench": "harness.tasks.bench",
    "overhead": "harness.tasks.overhead",
    "tune": "harness.tasks.tune",
    "monitor": "harness.tasks.monitor",
    "compare": "harness.tasks.compare",
}


def task_module(name: str) -> ModuleType:
    if name not in TASKS:
        raise InputError("task", f"unknown task {name!r}; allowed: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])


def summary(name: str) -> str:
    """The first sentence of a task module's docstring, after its leading ``tdbench ...``: part."""
    text = " ".join((task_module(name).__doc__ or "").split())
    text = re.sub(r"^.*?``:\s*", "", text).replace("``", "")
    return re.split(r"(?<=\.)\s", text, maxsplit=1)[0]


def tasks_help() -> str:
    """One line per task, for ``tdbench --help``."""
    width = max(len(name) for name in TASKS) + len("task=")
    return "\n".join(f"  {'task=' + name:<{width}}  {summary(name)}" for name in TASKS)
