"""The jobs ``tdbench task=...`` can run. Each task module exposes ``validate`` and ``run``.

``validate(cfg)`` raises InputError for bad input and writes nothing; ``run(cfg, out_dir)`` does
the work in Hydra's output folder and returns the exit code.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from scenarios.errors import InputError

TASKS: dict[str, str] = {
    "study": "harness.tasks.study",
    "calibrate": "harness.tasks.calibrate",
    "report": "harness.tasks.report",
    "evaluate": "harness.tasks.evaluate",
    "bench": "harness.tasks.bench",
    "overhead": "harness.tasks.overhead",
}


def task_module(name: str) -> ModuleType:
    if name not in TASKS:
        raise InputError("task", f"unknown task {name!r}; allowed: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])
