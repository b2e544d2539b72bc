"""From the composed Hydra config to a validated study; every problem becomes one InputError."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from omegaconf import DictConfig
from pydantic import field_validator, model_validator

from detectors.base import Detector
from harness.analysis.calibrate import CalibrationSpec
from harness.analysis.headline import HeadlineSpec
from harness.analysis.scoring import ScoringSpec
from harness.analysis.statistics import StatisticsSpec
from harness.run.budget import GB, Limits, check_budget, machine_memory
from scenarios.catalogue import Scenario
from scenarios.errors import InputError
from scenarios.org import OrgConfig
from scenarios.params import Section, config_dict, param
from scenarios.truth import Target, TruthSpec

ExecutorName = Literal["local", "serial", "dask", "ray"]
EXTRAS = {"dask": "distributed", "ray": "ray"}  # executor -> module its optional extra installs


MAX_SEED = 2**63 - 1  # seeds are stored as 64-bit integers


class Criteria(Section):
    """The roadmap's success criteria, as DESIGN section 5 measures them."""

    section: ClassVar[str] = "scoring.criteria"

    lead_h: float = param(2.0, "criterion 1: median lead time at least this", unit="hours", ge=0)
    lead_target: Target = param("utilization_breach", "criterion 1: events whose lead counts")
    lead_scenarios: tuple[str, ...] = param(("ramp", "spike"), "criterion 1: scenarios whose events count")
    fp_rate: float = param(0.15, "criterion 2: false-positive rate (pooled) below this", ge=0, le=1)
    unique_recall: float = param(
        0.5, "criterion 3: caught at recall >= this; unique when the others are below", ge=0, le=1
    )
    overhead_ms: float = param(50.0, "criterion 4: cost per update below this", unit="milliseconds", gt=0)


#: Why executor=ray needs an address: tdbench starts no server that listens beyond 127.0.0.1 unasked.
RAY_NEEDS_ADDRESS = (
    "executor=ray needs a running Ray cluster's address (ray://head:10001, auto), or local to start a "
    "Ray instance here that listens on every network interface without authentication (Ray cannot "
    "bind to 127.0.0.1); executor=dask or local stay on 127.0.0.1"
)


class ExecutorSpec(Section):
    """Where the study's cells run."""

    section: ClassVar[str] = "executor"

    name: ExecutorName = param(
        "local", "local: worker processes here; serial: in this process; dask or ray: a cluster"
    )
    n_jobs: int = param(-1, "worker processes (not 0); -1: every core, -2: all but one, ...")
    address: str | None = param(
        None,
        "a dask scheduler (tcp://host:8786; null: a cluster on 127.0.0.1) or Ray cluster (ray://head:10001, "
        "auto; local: start one here, listening on every interface)",
    )
    cell_timeout_s: float | None = param(
        None, "time limit of each simulation and each detector cell; null: no limit", unit="seconds", gt=0
    )
    max_job_memory_gb: float | None = param(
        None, "memory one job may use; null: this machine's, shared by its workers", unit="GB", gt=0
    )

    @model_validator(mode="after")
    def _consistent(self) -> ExecutorSpec:
        if self.n_jobs == 0:
            raise InputError("executor.n_jobs", "must be a non-zero integer (-1: all cores); got 0")
        if self.address is not None and self.name not in EXTRAS:
            raise InputError(
                "executor.address", f"only the {' and '.join(EXTRAS)} executors connect to an address"
            )
        if self.address == "":
            raise InputError("executor.address", "must be a scheduler address such as tcp://host:8786")
        if self.name == "ray" and self.address is None:
            raise InputError("executor.address", RAY_NEEDS_ADDRESS)
        if self.address == "local" and self.name != "ray":
            raise InputError("executor.address", "local starts a Ray instance: only with executor=ray")
        module = EXTRAS.get(self.name)
        if module and importlib.util.find_spec(module) is None:
            raise InputError(
                "executor.name", f"{self.name} needs the optional extra: pip install -e '.[{self.name}]'"
            )
        return self

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
        remote = self.address is not None and self.address != "local"
        here = 1 if self.name == "serial" or remote else self.workers
        shared = f"{here} workers sharing this machine's {machine / GB:.3g} GB" if here > 1 else "this host"
        return Limits(machine / here, f"{shared}; set executor.max_job_memory_gb or executor.n_jobs", machine)


class OverheadSpec(Section):
    """The ``overhead:`` settings: the study's sample of timed streaming replays, task=overhead's sizes."""

    section: ClassVar[str] = "overhead"

    sample: float = param(
        0.125,
        "study: share of each scenario's seeds whose cells also time the streaming update() "
        "(one seed in round(1 / sample), the first always)",
        gt=0,
        le=1,
    )
    units: tuple[int, ...] = param(
        (3, 12, 48, 192, 768), "task=overhead: organisation sizes of the resized replay"
    )

    @field_validator("units")
    @classmethod
    def _sizes(cls, units: tuple[int, ...]) -> tuple[int, ...]:
        if not units or min(units) < 1:
            raise InputError(
                "overhead.units", f"must be a non-empty list of integers >= 1; got {list(units)}"
            )
        return units


class TuneSpec(Section):
    """The ``tune`` config section."""

    section: ClassVar[str] = "tune"

    announce_above: int = param(20, "a detector searching more configurations says so before it starts", ge=1)

    @classmethod
    def from_config(cls, cfg: DictConfig | Mapping) -> TuneSpec:
        return cls(**(cfg.get("tune") or {}))


class ReportSpec(Section):
    """The ``report:`` settings."""

    section: ClassVar[str] = "report"

    enabled: bool = param(True, "write report.md and figures/ at the end of a study (and of task=evaluate)")
    timeline_seed: int | None = param(
        None, "seed drawn in each scenario's timeline; null: its most typical seed"
    )


MAX_SEEDS = 10_000  # of a stopping rule's study


class StopSpec(Section):
    """The ``stop:`` settings; ``compare`` None: no stopping rule, the study runs ``seeds`` seeds."""

    section: ClassVar[str] = "stop"

    compare: tuple[str, str] | None = param(
        None, "[detector, reference] (reference in headline.references): add seeds until decided"
    )
    metric: Literal["warned", "lead"] = param(
        "warned", "the headline's paired difference the rule decides on"
    )
    halfwidth: float = param(0.05, "stop when the interval's half-width is below this", gt=0)
    batch: int = param(5, "seeds added at each look", ge=1, le=MAX_SEEDS)
    max_seeds: int = param(50, "never more seeds than this", ge=1, le=MAX_SEEDS)

    @property
    def compared(self) -> tuple[str, str]:
        """The (detector, reference) pair the rule decides on; only with a stopping rule."""
        if self.compare is None:
            raise ValueError("no stopping rule: stop.compare is null")
        return self.compare

    def looks(self, first: int) -> list[int]:
        """The planned looks' seed counts, starting with ``first`` seeds."""
        return [*range(first, self.max_seeds, self.batch), self.max_seeds]


class StudySettings(Section):
    """The top-level settings of a study."""

    seeds: int = param(10, "seeds per scenario", ge=1)
    first_seed: int = param(0, "seeds run first_seed .. first_seed + seeds - 1", ge=0, le=MAX_SEED)
    progress: bool = param(True, "progress bar on stderr")

    @model_validator(mode="after")
    def _seeds_fit(self) -> StudySettings:
        if self.first_seed + self.seeds - 1 > MAX_SEED:
            raise InputError(
                "first_seed", f"must leave room for {self.seeds} seeds below 2**63; got {self.first_seed}"
            )
        return self


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


def demand_label(study: StudyConfig) -> str:
    """What the study's demand is, from its scenarios' labels (a recorded series names its source), for
    the titles of report.md and headline.md; empty when every scenario draws its own profile."""
    labels = [
        build(spec, f"scenario.{name}").label for name, spec in study.scenarios.items() if "_target_" in spec
    ]
    return "; ".join(dict.fromkeys(label for label in labels if label))


def build_as(kind: type, spec: Mapping[str, Any], where: str) -> Any:
    """``build``, checking that the result is a ``kind`` (a Detector, a Scenario)."""
    built = build(spec, where)
    if not isinstance(built, kind):
        raise InputError(
            f"{where}._target_",
            f"{spec['_target_']!r} builds a {type(built).__name__}, not a {kind.__module__}.{kind.__name__}",
        )
    return built


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
    raw = config_dict(cfg)
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

    top = StudySettings(**{name: raw[name] for name in StudySettings.model_fields if name in raw})
    org = raw.get("org") or {}
    org_config = OrgConfig(**org)
    scoring_raw = dict(raw.get("scoring") or {})
    truth = scoring_raw.pop("truth", {}) or {}
    TruthSpec(**truth)
    criteria = Criteria(**(scoring_raw.pop("criteria", {}) or {}))
    check_selected(
        criteria.lead_scenarios,
        Criteria.model_fields["lead_scenarios"].default,
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
    scoring = ScoringSpec(**scoring_raw)
    executor = ExecutorSpec(**(raw.get("executor") or {}))
    stats = StatisticsSpec.from_config(raw)
    baseline = StatisticsSpec.model_fields["baseline"].default
    check_selected(stats.baseline, baseline, detectors, "statistics.baseline", "detector")
    overhead = OverheadSpec(**(raw.get("overhead") or {}))
    check_budget(
        built_scenarios,
        built_detectors,
        org_config,
        top.seeds,
        top.first_seed,
        executor.limits(),
        stats.n_resamples,
    )
    return StudyConfig(
        scenarios=scenarios,
        detectors=detectors,
        seeds=tuple(range(top.first_seed, top.first_seed + top.seeds)),
        org=org,
        truth=truth,
        scoring=scoring,
        criteria=criteria,
        executor=executor,
        stats=stats,
        headline=HeadlineSpec.from_config(raw.get("headline")),
        calibrate=CalibrationSpec.from_config(raw.get("calibrate") or {}, list(detectors)),
        progress=top.progress,
        searches=searches,
        overhead_sample=overhead.sample,
    )
