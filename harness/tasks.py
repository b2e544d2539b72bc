"""The jobs ``tdbench task=...`` can run. Each task module exposes ``validate`` and ``run``.

``validate(cfg)`` raises InputError for bad input and writes nothing; ``run(cfg, out_dir)`` does
the work in Hydra's output folder and returns the exit code.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from scenarios.errors import InputError

TASKS: dict[str, str] = {
    "study": "harness.study_task",
    "calibrate": "harness.calibrate_task",
    "report": "harness.report_task",
    "evaluate": "harness.evaluate_task",
    "bench": "harness.bench_task",
}


def task_module(name: str) -> ModuleType:
    if name not in TASKS:
        raise InputError("task", f"unknown task {name!r}; allowed: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])
