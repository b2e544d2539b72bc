"""``tdbench task=monitor``: the periodic health check over a live source, served to Prometheus.

Every ``monitor.interval_s`` on the source's clock (simulated seconds for ``monitor.source=sim``,
wall-clock seconds between reads of a file) each new observation goes through the monitored
detectors (the study's classes and YAML); the gauges are served on ``monitor.host``:``monitor.port``
and alerts are written as JSON lines. With ``monitor.from_run=RUN`` the monitored detectors are
those the study's headline found feasible within its false-alarm budget (or ``monitor.detectors``)
and each alerts while its score >= the threshold the study chose, in episodes as the harness scores
them; without it, the shipped levels are used (level changes), as the start-up line says. The
baselines (null, random) are monitored only when named in ``monitor.detectors``. The first
``monitor.warmup_h`` hours of observations only prime the detectors. Stops cleanly on SIGINT /
SIGTERM (exit 0). The roadmap's variables (PE_WARNING_THRESHOLD, ...), when set in the environment,
override the ``transport`` detector's parameters; TRANSPORT_ENABLED=false leaves it out.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from omegaconf import DictConfig

from detectors.transport import TransportDetector
from detectors.transport_online import TransportOnlineDetector
from detectors.tuner import river
from harness.config import build, load_study
from harness.live.alerts import AlertSink, LevelChanges, ThresholdEpisodes, refused_address
from harness.live.choice import BASELINES, RunChoice, read_run
from harness.live.file_source import FileSource
from harness.live.runner import Monitor, Stopper
from harness.live.service import ResilienceService
from harness.live.settings import PARAMETER_OF, MonitorSettings, ResilienceTransportConfig
from harness.live.sim_source import SimSource
from harness.tasks.evaluate import historical_spec
from scenarios import cell_rng
from scenarios.catalogue import Scenario
from scenarios.errors import InputError
from scenarios.historical import HistoricalSpec
from scenarios.org import OrgConfig
from scenarios.params import config_dict

TRANSPORT = "transport"  # the detector whose reading feeds the roadmap's gauges and messages


def log(line: str) -> None:
    print(f"tdbench monitor: {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class MonitorPlan:
    """Everything the monitor needs, validated."""

    settings: MonitorSettings
    detectors: dict[str, dict]  # name -> Hydra spec, the environment's roadmap variables applied
    from_env: dict[str, bool | float]  # the roadmap variables set in the environment
    org: OrgConfig | None  # source=sim
    scenario: Scenario | None  # source=sim
    historical: HistoricalSpec | None  # source=FILE
    choice: RunChoice | None  # monitor.from_run
    warmup_h: float


#: monitor settings read here (the others: harness/live/settings.py) -> their defaults
CHOICE_SETTINGS = {"from_run": None, "detectors": None, "warmup_h": None}


def choice_settings(raw: dict) -> tuple[str | None, list[str] | None, float | None]:
    """Pop and check ``monitor.from_run``, ``monitor.detectors`` and ``monitor.warmup_h``."""
    values = {key: raw.pop(key, default) for key, default in CHOICE_SETTINGS.items()}
    from_run, named, warmup_h = values["from_run"], values["detectors"], values["warmup_h"]
    if from_run is not None and (not isinstance(from_run, str) or not from_run):
        raise InputError("monitor.from_run", f"must be a finished study's folder or null; got {from_run!r}")
    if named is not None:
        if isinstance(named, list) and None in named:
            raise InputError(
                "monitor.detectors",
                'the null baseline is written "null" (quoted), as YAML reads null as none',
            )
        if not isinstance(named, list) or not named or not all(isinstance(n, str) and n for n in named):
            raise InputError("monitor.detectors", f"must be a list of detector names or null; got {named!r}")
        if len(set(named)) != len(named):
            raise InputError("monitor.detectors", f"names a detector twice: {named!r}")
    if warmup_h is not None:
        ok = isinstance(warmup_h, int | float) and not isinstance(warmup_h, bool) and math.isfinite(warmup_h)
        if not ok or warmup_h < 0:
            raise InputError(
                "monitor.warmup_h",
                f"must be a number of hours >= 0 or null (the study's warm-up); got {warmup_h!r}",
            )
    return from_run, named, warmup_h


def monitored(
    detectors: dict[str, dict], named: list[str] | None, choice: RunChoice | None
) -> dict[str, dict]:
    """The detectors to run: the study's choice, or those named, or every selected one but the baselines."""
    if choice is not None:
        return {name: detectors[name] for name in choice.select(named, detectors)}
    if named is not None:
        for name in named:
            if name not in detectors:
                raise InputError(
                    "monitor.detectors", f"{name!r} is not selected; selected: {', '.join(detectors)}"
                )
        return {name: detectors[name] for name in named}
    chosen = {name: spec for name, spec in detectors.items() if name not in BASELINES}
    if not chosen:
        raise InputError(
            "detector",
            f"only baselines ({', '.join(BASELINES)}) are selected: name them in monitor.detectors",
        )
    return chosen


def prepare(cfg: DictConfig) -> MonitorPlan:
    if importlib.util.find_spec("prometheus_client") is None:
        raise InputError("task", "monitor needs the optional extra: pip install -e '.[monitor]'")
    section = dict(config_dict(cfg).get("monitor") or {})
    from_run, named, warmup_h = choice_settings(section)
    settings = MonitorSettings.from_config(section)
    study = load_study(cfg)
    config = ResilienceTransportConfig.from_env()
    from_env = config.set_in_environment()
    detectors = dict(study.detectors)
    if named is not None and not config.TRANSPORT_ENABLED and TRANSPORT in named:
        raise InputError("monitor.detectors", f"names {TRANSPORT}, but TRANSPORT_ENABLED=false")
    if not config.TRANSPORT_ENABLED:
        detectors.pop(TRANSPORT, None)
        if not detectors:
            raise InputError(
                "TRANSPORT_ENABLED", "false leaves no detector to run; select others with detector=[...]"
            )
        unused = [k for k in from_env if k in PARAMETER_OF]
        if unused:
            raise InputError(unused[0], "is set in the environment, but TRANSPORT_ENABLED=false")
    elif from_env:
        if TRANSPORT not in detectors:
            raise InputError(
                next(iter(from_env)),
                f"is set in the environment, but no {TRANSPORT} detector is selected "
                f"(detector=[{TRANSPORT},...])",
            )
        params = {PARAMETER_OF[k]: v for k, v in from_env.items() if k in PARAMETER_OF}
        detectors[TRANSPORT] = {**detectors[TRANSPORT], **params}
        build(detectors[TRANSPORT], f"detector.{TRANSPORT}")
    choice = None if from_run is None else read_run(from_run)
    detectors = monitored(detectors, named, choice)
    if TRANSPORT in detectors and not isinstance(build(detectors[TRANSPORT], TRANSPORT), TransportDetector):
        raise InputError(
            f"detector.{TRANSPORT}._target_",
            "task=monitor reads the roadmap's gauges from this detector: it must be a TransportDetector",
        )
    org = scenario = historical = None
    if settings.simulated:
        if settings.scenario not in study.scenarios:
            raise InputError(
                "monitor.scenario",
                f"{settings.scenario!r} is not among the selected scenarios: {', '.join(study.scenarios)}",
            )
        org = OrgConfig(**study.org)
        scenario = build(study.scenarios[settings.scenario], f"scenario.{settings.scenario}")
        scenario.plan(cell_rng(scenario.name, settings.seed), org)  # raises for a bad combination
    else:
        historical = historical_spec(cfg)
    if settings.alert_log is not None and not Path(settings.alert_log).parent.is_dir():
        raise InputError("monitor.alert_log", f"no such folder for {settings.alert_log!r}")
    if settings.webhook is not None:
        refused = refused_address(urlparse(settings.webhook).hostname or "")
        if refused:
            raise InputError("monitor.webhook", refused)
    settings.check_listen()
    if warmup_h is None:  # as the harness scores: after the simulation's or the data's warm-up
        warmup_h = org.warmup_h if settings.simulated else historical.warmup_h
    return MonitorPlan(settings, detectors, from_env, org, scenario, historical, choice, float(warmup_h))


def alerting(plan: MonitorPlan, transport: str | None) -> tuple[LevelChanges | ThresholdEpisodes, list[str]]:
    """The alert policy and the lines that tell the user which it is."""
    choice = plan.choice
    if choice is None:
        line = (
            "alerting at the shipped levels (a line per level change): no study's thresholds are in use; "
            "monitor.from_run=RUN applies those a study chose"
        )
        return LevelChanges(transport), [line]
    thresholds = {name: choice.thresholds[name] for name in plan.detectors}
    budget = ", ".join(f"{k} <= {v:g}" for k, v in choice.budget.items()) or "its budget"
    basis = f"threshold chosen by {choice.run_dir}"
    lines = [
        f"alerting on the thresholds {choice.run_dir}'s headline chose ({budget}); alert episodes merge "
        f"within the refractory gap of {choice.refractory_h:g} h (its scoring.refractory_h)"
    ]
    lines += [choice.describe(name) for name in thresholds]
    if plan.org is not None and plan.org.dt_h != choice.dt_h:
        lines.append(
            f"the study observed every {choice.dt_h:g} h, this simulation every {plan.org.dt_h:g} h "
            "(org.dt_h): its thresholds and episodes were measured at the study's step"
        )
    return ThresholdEpisodes(thresholds, choice.refractory_h, transport, basis), lines


def validate(cfg: DictConfig) -> None:
    plan = prepare(cfg)
    if not plan.settings.simulated:
        open_source(plan, report=log)  # checks the file's header now


def open_source(plan: MonitorPlan, report: Callable[[str], None]) -> SimSource | FileSource:
    settings = plan.settings
    if settings.simulated:
        return SimSource(plan.scenario, settings.seed, plan.org, settings.interval_s, settings.speed)
    return FileSource(settings.source, plan.historical, settings.interval_s, report)


def run(cfg: DictConfig, out_dir: Path) -> int:
    from harness.live.exporter import PrometheusExporter  # the optional extra validate() asks for

    stopper = Stopper()
    stopper.install()
    try:
        plan = prepare(cfg)
        settings = plan.settings
        detectors = {name: build(spec, f"detector.{name}") for name, spec in plan.detectors.items()}
        service = ResilienceService(
            detectors, transport=TRANSPORT if TRANSPORT in detectors else None, interval_s=settings.interval_s
        )
        tuner = next((n for n, d in detectors.items() if isinstance(d, TransportOnlineDetector)), None)
        if tuner is not None:
            river()  # imported now, not in the first health check
        policy, policy_lines = alerting(plan, service.transport)
        thresholds = policy.thresholds if isinstance(policy, ThresholdEpisodes) else None
        exporter = PrometheusExporter(
            list(detectors),
            service.transport,
            settings.host,
            settings.port,
            tuner=tuner,
            thresholds=thresholds,
        )

        def report(line: str) -> None:
            log(line)
            exporter.count_failure()

        source = open_source(plan, report)
        try:
            sink = AlertSink(settings.alert_log, settings.webhook, report=log, on_drop=exporter.dropped.inc)
        except OSError as error:
            raise InputError("monitor.alert_log", f"cannot write to it: {error.strerror or error}") from None
        try:
            url = exporter.start()
        except OSError as error:
            sink.close()
            where = f"{settings.host}:{settings.port}"
            raise InputError("monitor.port", f"cannot listen on {where}: {error.strerror or error}") from None
    except InputError as error:
        stopper.restore()
        print(f"tdbench: error: {error}", file=sys.stderr)
        return 2
    if settings.exposure():
        log(f"warning: {settings.exposure()}")
    for name, value in plan.from_env.items():
        log(f"{name}={value} from the environment")
    if service.transport is None:
        log(f"no detector named {TRANSPORT!r} is selected: the resilience_* gauges are not exported")
    alerts = settings.alert_log or "stdout"
    for line in policy_lines:
        log(line)
    log(
        f"serving {url}; a health check every {settings.interval_s:g} s of {source.description}; "
        f"{len(detectors)} detectors ({', '.join(detectors)}); alerts to {alerts}"
    )
    monitor = Monitor(service, source, exporter, sink, log, settings.max_checks, policy, plan.warmup_h)
    try:
        reason = monitor.run(stopper)
    finally:
        stopper.restore()
        exporter.close()
        sink.close()
    last = "" if monitor.last_time_h is None else f" (last at time_h {monitor.last_time_h:g})"
    log(f"{reason} after {monitor.checks} health checks{last}")
    return 0
