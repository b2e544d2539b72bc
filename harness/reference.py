"""The settings reference, derived from the declarations: ``tdbench [task=...] --help`` and
docs/reference/settings.md (``python -m harness.reference > docs/reference/settings.md``).

Each config section names the class that declares its settings: a pydantic model
(``scenarios.params.Section``, ``BaseSettings``) or a ``Declared`` class. A class not declared yet
(a dataclass, a plugin with its own ``__init__``) shows its names and defaults only.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel

from harness.analysis.calibrate import CalibrationSpec
from harness.analysis.headline import HeadlineSpec
from harness.analysis.scoring import ScoringSpec
from harness.analysis.statistics import StatisticsSpec
from harness.config import (
    Criteria,
    ExecutorSpec,
    OverheadSpec,
    ReportSpec,
    StopSpec,
    StudySettings,
    TuneSpec,
    resolve,
)
from harness.live.settings import MonitorSettings, ResilienceTransportConfig
from harness.tasks import EVERY_TASK, READS, TASKS, TaskInputs
from scenarios.historical import HistoricalSpec
from scenarios.org import OrgConfig
from scenarios.params import Declared, Setting, config_dict, describe
from scenarios.truth import TruthSpec

ENVIRONMENT = "environment variables"
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@dataclass(frozen=True)
class Group:
    """The settings under one dotted ``path``, read by the tasks that read the top-level ``key``."""

    key: str
    path: str
    owner: type
    title: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)  # configured values shown as defaults

    def settings(self) -> list[Setting]:
        if not declared(self.owner) and self.values:  # the config's keys, until the class declares them
            return [Setting(name, value, "", None, "") for name, value in flat(self.values)]
        values = dict(flat(self.values))
        return [replace(s, default=values.get(s.name, s.default)) for s in settings_of(self.owner)]

    def heading(self) -> str:
        doc = (self.owner.__doc__ or "").strip().split("\n\n")[0]
        text = self.title or " ".join(doc.split()).replace("``", "")
        if self.key in ("scenario", "detector"):
            text = f"{text} ({self.owner.__module__}.{self.owner.__qualname__})"
        if not declared(self.owner):
            text += " Not declared yet: the meanings are in the comments of its file under conf/."
        return text

    def name(self, setting: Setting) -> str:
        return f"{self.path}.{setting.name}" if self.path and self.path != ENVIRONMENT else setting.name


def declared(owner: type) -> bool:
    """Whether a class declares its settings (a pydantic model, or a Declared class without its own
    ``__init__``)."""
    return issubclass(owner, BaseModel) or (
        issubclass(owner, Declared) and owner.__init__ is Declared.__init__
    )


def settings_of(owner: type) -> list[Setting]:
    """The declared settings of a class, or the keyword defaults of one not declared yet."""
    if declared(owner):
        return describe(owner)
    return [Setting(p.name, p.default, "", None, "") for p in inspect.signature(owner).parameters.values()]


def flat(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested settings as (dotted name, value) pairs."""
    out: list[tuple[str, Any]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        out += flat(value, f"{name}.") if isinstance(value, Mapping) and value else [(name, value)]
    return out


def conf_file(path: Path) -> dict[str, Any]:
    """A file of the conf folder (a YAML mapping) as plain Python, its interpolations as written."""
    loaded = OmegaConf.load(path)
    assert isinstance(loaded, DictConfig), f"{path} is not a mapping"
    return config_dict(loaded, resolve=False)


def default_config() -> dict[str, Any]:
    """conf/config.yaml's own sections (the groups' files aside)."""
    return conf_file(CONF_DIR / "config.yaml")


def options(group: str) -> dict[str, dict[str, Any]]:
    """The conf folder's options of a group (``detector``, ``scenario``): name -> its config."""
    out = {}
    for path in sorted((CONF_DIR / group).glob("*.yaml")):
        for name, spec in conf_file(path).items():
            if isinstance(spec, dict) and "_target_" in spec:
                out[str(name)] = spec
    return out


def built_groups(kind: str, specs: Mapping[str, Any]) -> list[Group]:
    """A group per selected scenario or detector, from its config (``_target_`` and values)."""
    out = []
    for name, spec in specs.items():
        if isinstance(spec, Mapping) and "_target_" in spec:
            owner = resolve(spec["_target_"], f"{kind}.{name}")
            values = {k: v for k, v in spec.items() if k not in ("_target_", "search")}
            out.append(Group(kind, f"{kind}.{name}", owner, values=values))
    return out


def groups(config: Mapping[str, Any] | None = None) -> list[Group]:
    """Every config section and the class declaring it, in the order of conf/config.yaml. With a
    composed ``config``: its selected scenarios and detectors at their configured values; without:
    every catalogue scenario and every conf/detector option."""
    if config is None:
        chosen = {kind: options(kind) for kind in ("scenario", "detector")}
    else:
        chosen = {kind: config.get(kind) or {} for kind in ("scenario", "detector")}
    sections = config if config is not None else default_config()
    return [
        replace(group, values=sections.get(group.key) or {}) if group.key == group.path else group
        for group in sections_of(chosen)
    ]


def sections_of(chosen: Mapping[str, Mapping[str, Any]]) -> list[Group]:
    return [
        Group("", "", StudySettings),
        Group("", "", TaskInputs),
        *built_groups("scenario", chosen["scenario"]),
        *built_groups("detector", chosen["detector"]),
        Group("org", "org", OrgConfig),
        Group("scoring", "scoring", ScoringSpec),
        Group("scoring", "scoring.truth", TruthSpec),
        Group("scoring", "scoring.criteria", Criteria),
        Group("executor", "executor", ExecutorSpec),
        Group("stop", "stop", StopSpec),
        Group("report", "report", ReportSpec),
        Group("overhead", "overhead", OverheadSpec),
        Group("historical", "historical", HistoricalSpec),
        Group("monitor", "monitor", MonitorSettings),
        Group(
            "monitor", ENVIRONMENT, ResilienceTransportConfig, "task=monitor reads the roadmap's variables"
        ),
        Group("statistics", "statistics", StatisticsSpec),
        Group("headline", "headline", HeadlineSpec),
        Group("calibrate", "calibrate", CalibrationSpec),
        Group("tune", "tune", TuneSpec),
    ]


def reads(task: str, name: str) -> bool:
    """Whether ``task`` reads the setting or section ``name`` (its top-level key)."""
    return name.split(".")[0] in {*EVERY_TASK, *READS[task]}


def task_groups(task: str, config: Mapping[str, Any] | None = None) -> Iterator[tuple[Group, list[Setting]]]:
    """The groups ``task`` reads, each with the settings of it the task reads."""
    for group in groups(config):
        chosen = [s for s in group.settings() if reads(task, group.key or s.name)]
        if chosen:
            yield group, chosen


def shown(value: Any) -> str:
    """A default as it is written on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ",".join(shown(v) for v in value) + "]"
    if value is inspect.Parameter.empty:
        return "(required)"
    return str(value)


def meaning(setting: Setting) -> str:
    return "; ".join(part for part in (setting.doc, setting.allowed) if part)


def help_text(task: str, config: Mapping[str, Any] | None = None) -> str:
    """The settings ``task`` reads, grouped by section: name=value (the composed ``config``'s, else the
    default), then its meaning and allowed values."""
    config = dict(config or {})
    lines = [f"Settings of task={task} (name=value, then meaning; allowed values):"]
    for group, chosen in task_groups(task, config):
        lines.append(f"{group.path or 'top level'}: {group.heading()}")
        for setting in chosen:
            name = group.name(setting)
            value = (
                configured(config, name, setting.default) if group.path != ENVIRONMENT else setting.default
            )
            lines.append(f"  {name}={shown(value)}")
            if meaning(setting):
                lines.append(f"      {meaning(setting)}")
    return "\n".join(lines)


def configured(config: Mapping[str, Any], name: str, default: Any) -> Any:
    node: Any = config
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """docs/reference/settings.md: every section, its settings and the tasks that read it."""
    out = [
        "# Settings reference",
        "",
        "Generated from the declarations in the code (`python -m harness.reference >"
        " docs/reference/settings.md`); `tdbench task=NAME --help` prints the same for one task.",
        "Set any of them on the command line, e.g. `tdbench org.n_units=24 scenario.ramp.rho_end=1.2`;",
        "a bad value is one line naming the setting and what it allows, and exit code 2.",
        "",
        "A plugin scenario or detector declares its settings the same way, as class attributes:",
        '`rate_h: float = param(1.0, "what it means", unit="hours", gt=0)` (`scenarios.params`);',
        "its constructor, validation and `--help` entry follow from that one line.",
    ]
    for group in groups():
        settings = group.settings()
        if not settings:
            continue
        readers = [t for t in TASKS if any(reads(t, group.key or s.name) for s in settings)]
        out += ["", f"## {group.path or 'Top level: ' + group.heading()}", "", cell(group.heading()), ""]
        out += [f"Read by: {', '.join(f'task={t}' for t in readers)}.", ""]
        out += ["| setting | default | meaning | allowed |", "|---|---|---|---|"]
        for s in settings:
            row = (group.name(s), shown(s.default), s.doc, s.allowed)
            out.append(
                "| " + " | ".join(f"`{cell(v)}`" if i < 2 else cell(v) for i, v in enumerate(row)) + " |"
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
