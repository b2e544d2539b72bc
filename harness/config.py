"""From the composed Hydra config to a validated study; every problem becomes one InputError."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from detectors.base import Detector
from harness.analysis.calibrate import CalibrationSpec
from harness.analysis.headline import HeadlineSpec
from harness.analysis.scoring import ScoringSpec
from harness.analysis.statistics import StatisticsSpec
from harness.run.budget import GB, Limits, check_budget, machine_memory
from scenarios.catalogue import Scenario
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
    max_job_memory_gb: float | None = None  # None: this machine's memory, shared by its workers

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
        memory = self.max_job_memory_gb
        if memory is not None and (
            isinstance(memory, bool) or not isinstance(memory, int | float) or not 0 < memory < float("inf")
        ):
            raise InputError(
                "executor.max_job_memory_gb", f"must be a number of GB > 0, or null; got {memory!r}"
            )
        module = EXTRAS.get(self.name)
        if module and importlib.util.find_spec(module) is None:
            raise InputError(
                "executor.name", f"{self.name} needs the optional extra: pip install -e '.[{self.name}]'"
            )

    @property
    def workers(self) -> int:
        """Worker processes to start: ``n_jobs``, or with -1 every core (-2 all but one, ...)."""
        from joblib import cpu_count  # imported when used: joblib is slow to import

        return self.n_jobs if self.n_jobs > 0 else max(1, cpu_count() + 1 + self.n_jobs)

    def limits(self) -> Limits:
        """Memory a job may use: ``max_job_memory_gb``, or this machine's memory shared by the jobs
        that run on it at once (one when the workers are a remote cluster's)."""
        machine = machine_memory()
        if self.max_job_memory_gb is not None:
            return Limits(self.max_job_memory_gb * GB, "executor.max_job_memory_gb", machine)
        here = 1 if self.name == "serial" or self.address is not None else self.workers
        shared = f"{here} workers sharing this machine's {machine / GB:.3g} GB" if here > 1 else "this host"
        return Limits(machine / here, f"{shared}; set executor.max_job_memory_gb or executor.n_jobs", machine)


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
    headline: HeadlineSpec = HeadlineSpec()
    calibrate: CalibrationSpec = CalibrationSpec()  # also the headline's seed split
    progress: bool = True
    searches: dict[str, dict] = field(default_factory=dict)  # detector -> its YAML's ``search:``
    overhead_sample: float = 0.125  # share of each scenario's seeds whose cells also time update()
    #: The headline's (calibration, test) seeds when the stopping rule fixed them; None: split_seeds.
    split: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    @property
    def overhead_every(self) -> int:
        """The streaming replay is timed on the cells of one seed in this many."""
        return max(1, round(1 / self.overhead_sample))


def resolve(target: str, where: str) -> Any:
    """Import ``package.module.Name``."""
    module, _, name = str(target).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise InputError(f"{where}._target_", f"cannot import {target!r}") from None


def build(spec: Mapping[str, Any], where: str) -> Any:
    """Instantiate ``spec['_target_']`` with the other keys, naming any unknown parameter."""
    if not isinstance(spec, Mapping) or "_target_" not in spec:
        raise InputError(where, "needs a _target_ naming the class to build")
    cls = resolve(spec["_target_"], where)
    params = {k: v for k, v in spec.items() if k != "_target_"}
    try:
        allowed = [p for p in inspect.signature(cls).parameters if p != "self"]
    except (TypeError, ValueError):
        raise InputError(
            f"{where}._target_", f"{spec['_target_']!r} is not a class or function with keyword parameters"
        ) from None
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


def build_as(kind: type, spec: Mapping[str, Any], where: str) -> Any:
    """``build``, checking that the result is a ``kind`` (a Detector, a Scenario)."""
    built = build(spec, where)
    if not isinstance(built, kind):
        raise InputError(
            f"{where}._target_",
            f"{spec['_target_']!r} builds a {type(built).__name__}, not a {kind.__module__}.{kind.__name__}",
        )
    return built


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


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(where, f"must be true or false; got {value!r}")
    return value


def check_selected(value: Any, default: Any, selected: Mapping[str, Any], where: str, kind: str) -> None:
    """A setting that names detectors (or scenarios) must name selected ones, unless it keeps its
    default (then whatever depends on it is left out when that one is not selected)."""
    names = [value] if isinstance(value, str) else list(value)
    if value == default:
        return
    for name in names:
        if name not in selected:
            raise InputError(where, f"names no selected {kind} ({name!r}); selected: {', '.join(selected)}")


def load_study(cfg: DictConfig | Mapping[str, Any]) -> StudyConfig:
    """Validate the whole config: every scenario and detector is built once here, and a study whose
    jobs would not fit in memory is refused (harness.run.budget)."""
    raw = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    scenarios = raw.get("scenario") or {}
    detectors = raw.get("detector") or {}
    if not scenarios:
        raise InputError("scenario", "select at least one scenario, e.g. scenario=[ramp,spike]")
    if not detectors:
        raise InputError("detector", "select at least one detector, e.g. detector=[transport]")
    searches = {name: spec["search"] for name, spec in detectors.items() if "search" in spec}
    detectors = {name: {k: v for k, v in spec.items() if k != "search"} for name, spec in detectors.items()}
    built_scenarios = {name: build_as(Scenario, spec, f"scenario.{name}") for name, spec in scenarios.items()}
    built_detectors = {name: build_as(Detector, spec, f"detector.{name}") for name, spec in detectors.items()}

    n_seeds = _int(raw.get("seeds"), "seeds", 1)
    first = _int(raw.get("first_seed", 0), "first_seed", 0)
    org = raw.get("org") or {}
    org_config = _dataclass(OrgConfig, org, "org")
    scoring_raw = dict(raw.get("scoring") or {})
    truth = scoring_raw.pop("truth", {}) or {}
    _dataclass(TruthSpec, truth, "scoring.truth")
    criteria_raw = scoring_raw.pop("criteria", {}) or {}
    if "lead_scenarios" in criteria_raw:
        lead = criteria_raw["lead_scenarios"]
        if isinstance(lead, str) or not isinstance(lead, list | tuple):
            raise InputError("scoring.criteria.lead_scenarios", f"must be a list of scenarios; got {lead!r}")
        criteria_raw["lead_scenarios"] = tuple(lead)
    criteria = _dataclass(Criteria, criteria_raw, "scoring.criteria")
    check_selected(
        criteria.lead_scenarios,
        Criteria.lead_scenarios,
        scenarios,
        "scoring.criteria.lead_scenarios",
        "scenario",
    )
    scoring_raw["thresholds"] = dict(scoring_raw.get("thresholds") or {})
    for name in scoring_raw["thresholds"]:
        if name not in detectors:
            raise InputError(
                f"scoring.thresholds.{name}", f"names no selected detector; selected: {', '.join(detectors)}"
            )
    scoring = _dataclass(ScoringSpec, scoring_raw, "scoring")
    executor = _dataclass(ExecutorSpec, raw.get("executor") or {}, "executor")
    stats = StatisticsSpec.from_config(raw)
    check_selected(stats.reference, StatisticsSpec.reference, detectors, "statistics.reference", "detector")
    check_selected(stats.baseline, StatisticsSpec.baseline, detectors, "statistics.baseline", "detector")
    progress = _bool(raw.get("progress", True), "progress")
    sample = (raw.get("overhead") or {}).get("sample", StudyConfig.overhead_sample)
    if isinstance(sample, bool) or not isinstance(sample, int | float) or not 0 < sample <= 1:
        raise InputError("overhead.sample", f"must be a number > 0 and <= 1; got {sample!r}")
    check_budget(built_scenarios, built_detectors, org_config, n_seeds, first, executor.limits())
    return StudyConfig(
        scenarios=scenarios,
        detectors=detectors,
        seeds=tuple(range(first, first + n_seeds)),
        org=org,
        truth=truth,
        scoring=scoring,
        criteria=criteria,
        executor=executor,
        stats=stats,
        headline=HeadlineSpec.from_config(raw.get("headline")),
        calibrate=CalibrationSpec.from_config(raw.get("calibrate") or {}, list(detectors)),
        progress=progress,
        searches=searches,
        overhead_sample=float(sample),
    )
