"""``tdbench task=monitor``: the periodic health check over a live source, served to Prometheus.

Every ``monitor.interval_s`` on the source's clock (simulated seconds for ``monitor.source=sim``,
wall-clock seconds between reads of a file) each new observation goes through every configured
detector (the study's classes and YAML); the gauges are served on ``monitor.host``:``monitor.port``
and each level change is written as JSON alert lines. Stops cleanly on SIGINT / SIGTERM (exit 0).
The roadmap's variables (PE_WARNING_THRESHOLD, ...), when set in the environment, override the
``transport`` detector's parameters; TRANSPORT_ENABLED=false leaves it out.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from detectors.transport import TransportDetector
from detectors.transport_online import TransportOnlineDetector
from harness.config import build, load_study
from harness.live.alerts import AlertSink
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


def prepare(cfg: DictConfig) -> MonitorPlan:
    if importlib.util.find_spec("prometheus_client") is None:
        raise InputError("task", "monitor needs the optional extra: pip install -e '.[monitor]'")
    raw = OmegaConf.to_container(cfg, resolve=True)
    settings = MonitorSettings.from_config(raw.get("monitor"))
    study = load_study(cfg)
    config = ResilienceTransportConfig.from_env()
    from_env = config.set_in_environment()
    detectors = dict(study.detectors)
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
    settings.check_listen()
    return MonitorPlan(settings, detectors, from_env, org, scenario, historical)


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
        exporter = PrometheusExporter(
            list(detectors), service.transport, settings.host, settings.port, tuner=tuner
        )

        def report(line: str) -> None:
            log(line)
            exporter.count_failure()

        source = open_source(plan, report)
        try:
            sink = AlertSink(settings.alert_log, settings.webhook)
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
    log(
        f"serving {url}; a health check every {settings.interval_s:g} s of {source.description}; "
        f"{len(detectors)} detectors; alerts to {alerts}"
    )
    monitor = Monitor(service, source, exporter, sink, log, settings.max_checks)
    try:
        reason = monitor.run(stopper)
    finally:
        stopper.restore()
        exporter.close()
        sink.close()
    last = "" if monitor.last_time_h is None else f" (last at time_h {monitor.last_time_h:g})"
    log(f"{reason} after {monitor.checks} health checks{last}")
    return 0
