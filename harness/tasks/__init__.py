"""The jobs ``tdbench task=...`` can run. Each task module exposes ``validate`` and ``run``.

``validate(cfg)`` raises InputError for bad input and writes nothing; ``run(cfg, out_dir)`` does
the work in Hydra's output folder and returns the exit code.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, get_args

from scenarios.errors import InputError
from scenarios.params import Section, param

TaskName = Literal[
    "study", "calibrate", "report", "evaluate", "bench", "overhead", "tune", "monitor", "compare", "rules"
]
TASKS: dict[str, str] = {name: f"harness.tasks.{name}" for name in get_args(TaskName)}  # name -> module


class TaskInputs(Section):
    """What a task works on, besides the study's settings."""

    task: TaskName = param("study", "what to run (tdbench --help lists the tasks)")
    run_dir: str | None = param(None, "task=report: the run folder to rebuild")
    sweep_dir: str | None = param(None, "task=compare: the sweep folder whose jobs to compare")
    data: str | None = param(None, "task=evaluate: historical observations, a .csv or .parquet file")
    labels: str | None = param(None, "task=evaluate: event labels (.csv or .parquet); null: derive the truth")


STUDY_SETTINGS = (
    "seeds",
    "first_seed",
    "scenario",
    "detector",
    "org",
    "scoring",
    "executor",
    "statistics",
    "headline",
    "calibrate",
)
EVERY_TASK = ("task", "progress")
READS: dict[str, tuple[str, ...]] = {  # the top-level settings each task reads, besides EVERY_TASK
    "study": (*STUDY_SETTINGS, "stop", "report", "tune", "overhead"),
    "calibrate": STUDY_SETTINGS,
    "report": ("run_dir", "executor", "headline", "calibrate"),  # calibrate: its split only (task check)
    "evaluate": ("detector", "scoring", "executor", "statistics", "data", "labels", "historical", "report"),
    "bench": (),
    "overhead": ("detector", "org", "scoring", "overhead"),
    "tune": (*STUDY_SETTINGS, "tune"),
    "monitor": ("detector", "scenario", "org", "monitor", "historical"),
    "compare": ("sweep_dir",),
    "rules": ("run_dir", "monitor", "detector", "scenario"),
}


def first_difference(value: Any, default: Any, path: str) -> str | None:
    """The dotted path of the first setting where ``value`` differs from ``default``, or None; a
    mapping with other keys (another selection of a group) differs as a whole.

    >>> given = {"stop": {"batch": 5, "compare": ["a", "b"]}}
    >>> default = {"stop": {"batch": 5, "compare": None}}
    >>> first_difference(given, default, "")
    'stop.compare'
    >>> first_difference({"scenario": {"ramp": {}}}, {"scenario": {"ramp": {}, "spike": {}}}, "")
    'scenario'
    >>> first_difference({"seeds": 10}, {"seeds": 10}, "") is None
    True
    """
    if isinstance(value, dict) and isinstance(default, dict):
        if set(value) != set(default):
            return path
        for key in value:
            where = f"{path}.{key}" if path else str(key)
            found = first_difference(value[key], default[key], where)
            if found:
                return found
        return None
    return None if value == default else path


def check_read(task: str, settings: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Refuse a setting the task would ignore: one changed from its default outside ``READS[task]``."""
    TaskInputs(**{name: settings[name] for name in TaskInputs.model_fields if name in settings})
    reads = {*EVERY_TASK, *READS[task]}
    for key in settings:
        if key in reads or key == "hydra":
            continue
        where = first_difference(settings.get(key), defaults.get(key), str(key))
        if where:
            raise InputError(
                where, f"task={task} does not read it; it reads: {', '.join(sorted(reads - {'task'}))}"
            )


def task_module(name: str) -> ModuleType:
    if name not in TASKS:
        raise InputError("task", f"unknown task {name!r}; allowed: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])


def summary(name: str) -> str:
    """The first sentence of a task module's docstring, after its leading ``tdbench ...``: part (read
    from the source, so ``--help`` imports none of the tasks)."""
    spec = importlib.util.find_spec(TASKS[name])
    source = Path(spec.origin).read_text() if spec and spec.origin else ""
    text = " ".join((ast.get_docstring(ast.parse(source)) or "").split())
    text = re.sub(r"^.*?``:\s*", "", text).replace("``", "")
    return re.split(r"(?<=\.)\s", text, maxsplit=1)[0]


def settings_help(task: str, config: Mapping[str, Any]) -> str:
    """The settings ``task`` reads at their values in the composed ``config``, for ``--help``."""
    from harness.reference import help_text  # imports every declaring module: only for --help

    if task not in TASKS:
        raise InputError("task", f"unknown task {task!r}; allowed: {', '.join(TASKS)}")
    return help_text(task, config)


def tasks_help() -> str:
    """One line per task, for ``tdbench --help``."""
    width = max(len(name) for name in TASKS) + len("task=")
    return "\n".join(f"  {'task=' + name:<{width}}  {summary(name)}" for name in TASKS)
