"""``tdbench task=rules run_dir=RUN``: write Prometheus alerting and recording rules for what a finished
study chose, and a ``promtool test rules`` file whose expected alerts are the harness's episodes.

The detectors are the ones ``task=monitor monitor.from_run=RUN`` would run (the headline's feasible
ones, baselines aside, or ``monitor.detectors``), each built from this config's detector group by
name with the study's parameters; the run folder is read as data. The test simulates
``monitor.scenario`` with ``monitor.seed`` on the study's organisation (``org`` of its config.yaml),
runs each detector over it, scores the readings with the study's thresholds and refractory gap, and
expects the rule to fire at every episode the harness scored and nowhere else it checks. Both files
land in this command's output folder (``hydra.run.dir``):

    promtool check rules tdbench_rules.yml && promtool test rules tdbench_rules_test.yml
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from omegaconf import DictConfig

from detectors.transport import TransportDetector
from harness.config import build, load_study
from harness.live.choice import RunChoice, first_difference, read_run
from harness.live.promrules import (
    RULE_FILE,
    TEST_FILE,
    describe_checks,
    keep_firing_for_s,
    promtool_test,
    rule_file,
)
from harness.tasks.monitor import choice_settings
from scenarios import simulate
from scenarios.catalogue import Scenario
from scenarios.errors import InputError
from scenarios.org import OrgConfig
from scenarios.params import config_dict

TRANSPORT = "transport"


@dataclass(frozen=True)
class RulesPlan:
    choice: RunChoice
    detectors: dict[str, dict]  # chosen name -> this config's spec (the study's parameters)
    scenario: Scenario
    seed: int
    org: OrgConfig


def prepare(cfg: DictConfig) -> RulesPlan:
    run_dir = cfg.get("run_dir")
    if not run_dir:
        raise InputError(
            "run_dir", "give a finished study's folder, e.g. run_dir=results/runs/2025-01-31/12-00-00"
        )
    section = dict(config_dict(cfg).get("monitor") or {})
    _, named, _ = choice_settings(section)
    choice = read_run(str(run_dir), where="run_dir")
    study = load_study(cfg)
    chosen = choice.select(named, study.detectors)
    name, seed = section.get("scenario", "ramp"), section.get("seed", 0)
    if name not in study.scenarios:
        raise InputError(
            "monitor.scenario", f"{name!r} is not among the selected scenarios: {', '.join(study.scenarios)}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError("monitor.seed", f"must be an integer >= 0; got {seed!r}")
    ran = choice.scenarios.get(name)
    differs = None if ran is None else first_difference(ran, study.scenarios[name])
    if differs:
        key, was, now = differs
        raise InputError(f"scenario.{name}.{key}", f"the study ran {was!r}, this config has {now!r}")
    try:
        org = OrgConfig(**choice.org)
    except TypeError as error:
        raise InputError("run_dir", f"its config.yaml's org section is not this version's: {error}") from None
    scenario = build(study.scenarios[name], f"scenario.{name}")
    return RulesPlan(choice, {n: study.detectors[n] for n in chosen}, scenario, seed, org)


def validate(cfg: DictConfig) -> None:
    prepare(cfg)


def write_yaml(path: Path, data: dict) -> None:
    """Write through a temporary file and a rename: never half a file; the user's umask applies."""
    text = yaml.safe_dump(data, sort_keys=False, width=10**9, allow_unicode=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp.name, 0o666 & ~umask)
    os.replace(tmp.name, path)


def run(cfg: DictConfig, out_dir: Path) -> int:
    try:
        plan = prepare(cfg)
    except InputError as error:
        print(f"tdbench: error: {error}", file=sys.stderr)
        return 2
    choice = plan.choice
    detectors = {name: build(spec, f"detector.{name}") for name, spec in plan.detectors.items()}
    transport = detectors.get(TRANSPORT)
    params = None
    if isinstance(transport, TransportDetector):
        params = {"pe_warning": transport.pe_warning, "pe_critical": transport.pe_critical}
    thresholds = {name: choice.thresholds[name] for name in detectors}
    rules = rule_file(choice, thresholds, params, plan.org.dt_h)
    trace = simulate(plan.scenario, plan.seed, org=plan.org)
    readings = {name: detector.run(trace) for name, detector in detectors.items()}
    test = promtool_test(rules, trace, readings, choice, thresholds, TRANSPORT if params else None)
    write_yaml(out_dir / RULE_FILE, rules)
    write_yaml(out_dir / TEST_FILE, test)
    firing, silent = describe_checks(test["tests"])
    keep = keep_firing_for_s(choice.refractory_h, plan.org.dt_h) / 60.0
    print(
        f"rules: {out_dir / RULE_FILE} ({len(thresholds)} alerting rules: {', '.join(thresholds)}; "
        f"keep_firing_for {keep:g} min for a refractory gap of {choice.refractory_h:g} h at checks every "
        f"{plan.org.dt_h * 60:g} min)\n"
        f"test: {out_dir / TEST_FILE} (simulated {plan.scenario.name}, seed {plan.seed}: {firing} evaluations"
        f" expect the harness's episodes firing, {silent} expect none)\n"
        f"check: promtool check rules {out_dir / RULE_FILE} && promtool test rules {out_dir / TEST_FILE}"
    )
    return 0
