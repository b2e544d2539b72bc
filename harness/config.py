"""From the composed Hydra config to a validated study; every problem becomes one InputError."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.analysis.scoring import ScoringSpec
from harness.analysis.statistics import StatisticsSpec
from scenarios.errors import InputError
from scenarios.org import OrgConfig
from scenarios.truth import TruthSpec

EXECUTORS = ("local", "serial", "dask", "ray")
EXTRAS = {"dask": "distributed", "ray": "ray"}  # executor -> module its optional extra installs


@dataclass(frozen=True)
class Criteria:
    """The roadmap's success criteria, as DESIGN section 5 measures them."""

    lead_h: float = 2.0
    lead_target: str = "utilization_breach"
    lead_scenarios: tuple[str, ...] = ("ramp", "spike")
    fp_rate: float = 0.15
    unique_recall: float = 0.5
    overhead_ms: float = 50.0


@dataclass(frozen=True)
class ExecutorSpec:
    name: str = "local"
    n_jobs: int = -1
    address: str | None = None  # dask scheduler address; None starts a LocalCluster
    cell_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            raise InputError("executor.name", f"must be one of {', '.join(EXECUTORS)}; got {self.name!r}")
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int) or self.n_jobs == 0:
            raise InputError(
                "executor.n_jobs", f"must be a non-zero integer (-1: all cores); got {self.n_jobs!r}"
            )
        timeout = self.cell_timeout_s
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise InputError(
                "executor.cell_timeout_s", f"must be a number of seconds > 0, or null; got {timeout!r}"
            )
        if self.address is not None and self.name not in EXTRAS:
            raise InputError(
                "executor.address", f"only the {' and '.join(EXTRAS)} executors connect to an address"
            )
        if self.address is not None and (not isinstance(self.address, str) or not self.address):
            raise InputError(
                "executor.address",
                f"must be a scheduler address such as tcp://host:8786; got {self.address!r}",
            )
        module = EXTRAS.get(self.name)
        if module and importlib.util.find_spec(module) is None:
            raise InputError(
                "executor.name", f"{self.name} needs the optional extra: pip install -e '.[{self.name}]'"
            )


@dataclass(frozen=True)
class StudyConfig:
    scenarios: dict[str, dict]  # name -> {"_target_": ..., params}
    detectors: dict[str, dict]
    seeds: tuple[int, ...]
    org: dict
    truth: dict
    scoring: ScoringSpec
    criteria: Criteria
    executor: ExecutorSpec
    stats: StatisticsSpec = StatisticsSpec()
    progress: bool = True


def resolve(target: str, where: str) -> Any:
    """Import ``package.module.Name``."""
    module, _, name = str(target).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise InputError(f"{where}._target_", f"cannot import {target!r}") from None


def build(spec: Mapping[str, Any], where: str) -> Any:
    """Instantiate ``spec['_target_']`` with the other keys, naming any unknown parameter."""
    if "_target_" not in spec:
        raise InputError(where, "needs a _target_ naming the class to build")
    cls = resolve(spec["_target_"], where)
    params = {k: v for k, v in spec.items() if k != "_target_"}
    allowed = [p for p in inspect.signature(cls).parameters if p != "self"]
    for key in params:
        if key not in allowed:
            raise InputError(f"{where}.{key}", f"unknown parameter; allowed: {', '.join(allowed)}")
    try:
        return cls(**params)
    except InputError as error:  # "detector.<class name>[.<parameter>]" becomes "<where>[.<parameter>]"
        parameter = error.field.split(".")[2:]
        raise InputError(".".join([where, *parameter[-1:]]), error.problem) from None
    except (TypeError, ValueError) as error:
        raise InputError(where, str(error)) from None


def _dataclass(cls: type, values: Mapping[str, Any], where: str) -> Any:
    allowed = [f.name for f in fields(cls)]
    for key in values:
        if key not in allowed:
            raise InputError(f"{where}.{key}", f"unknown parameter; allowed: {', '.join(allowed)}")
    try:
        return cls(**values)
    except InputError:
        raise
    except (TypeError, ValueError) as error:
        raise InputError(where, str(error)) from None


def _int(value: Any, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(where, f"must be an integer >= {low}; got {value!r}")
    return value


def load_study(cfg: DictConfig | Mapping[str, Any]) -> StudyConfig:
    """Validate the whole config: every scenario and detector is built once here."""
    raw = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    scenarios = raw.get("scenario") or {}
    detectors = raw.get("detector") or {}
    if not scenarios:
        raise InputError("scenario", "select at least one scenario, e.g. scenario=[ramp,spike]")
    if not detectors:
        raise InputError("detector", "select at least one detector, e.g. detector=[transport]")
    for name, spec in scenarios.items():
        build(spec, f"scenario.{name}")
    for name, spec in detectors.items():
        build(spec, f"detector.{name}")

    n_seeds = _int(raw.get("seeds"), "seeds", 1)
    first = _int(raw.get("first_seed", 0), "first_seed", 0)
    org = raw.get("org") or {}
    _dataclass(OrgConfig, org, "org")
    scoring_raw = dict(raw.get("scoring") or {})
    truth = scoring_raw.pop("truth", {}) or {}
    _dataclass(TruthSpec, truth, "scoring.truth")
    criteria_raw = scoring_raw.pop("criteria", {}) or {}
    if "lead_scenarios" in criteria_raw:
        criteria_raw["lead_scenarios"] = tuple(criteria_raw["lead_scenarios"])
    criteria = _dataclass(Criteria, criteria_raw, "scoring.criteria")
    scoring_raw["thresholds"] = dict(scoring_raw.get("thresholds") or {})
    for name in scoring_raw["thresholds"]:
        if name not in detectors:
            raise InputError(
                f"scoring.thresholds.{name}", f"names no selected detector; selected: {', '.join(detectors)}"
            )
    scoring = _dataclass(ScoringSpec, scoring_raw, "scoring")
    executor = _dataclass(ExecutorSpec, raw.get("executor") or {}, "executor")
    return StudyConfig(
        scenarios=scenarios,
        detectors=detectors,
        seeds=tuple(range(first, first + n_seeds)),
        org=org,
        truth=truth,
        scoring=scoring,
        criteria=criteria,
        executor=executor,
        stats=StatisticsSpec.from_config(raw),
        progress=bool(raw.get("progress", True)),
    )
