"""The simulated organisation, its scenario catalogue and ground truth.

>>> trace = simulate("steady", seed=1, n_units=3, warmup_days=0.5, scenario_days=0.5)
>>> trace.values.shape
(96, 10, 3)
"""

from __future__ import annotations

import inspect
import zlib
from typing import Any

import numpy as np

from scenarios import plugins
from scenarios.catalogue import CATALOGUE, Scenario
from scenarios.errors import InputError
from scenarios.model import run_model, unit_rates
from scenarios.org import OrgConfig
from scenarios.recorded import Recorded
from scenarios.trace import FIELDS, Event, Layout, Observation, Trace, Truth
from scenarios.truth import TARGETS, TruthSpec, derive_events

__all__ = [
    "FIELDS",
    "TARGETS",
    "Event",
    "InputError",
    "Layout",
    "Observation",
    "OrgConfig",
    "Scenario",
    "Trace",
    "Truth",
    "TruthSpec",
    "available",
    "is_plugin",
    "make",
    "scenario_class",
    "simulate",
]


#: The scenarios shipped here: the synthetic catalogue, and demand that follows a recorded series.
BUILTIN: dict[str, type[Scenario]] = {**CATALOGUE, Recorded.name: Recorded}


def available() -> list[str]:
    """Names of the built-in scenarios and of the installed plugins (entry-point group
    ``tdbench.scenarios``, ``scenarios.plugins``)."""
    return list(plugins.merged(plugins.SCENARIOS, BUILTIN))


def is_plugin(name: str) -> bool:
    return name not in BUILTIN and name in available()


def scenario_class(name: str) -> type[Scenario]:
    """The class of a built-in or plugin scenario."""
    known = plugins.merged(plugins.SCENARIOS, BUILTIN)
    if name not in known:
        raise InputError("scenario", f"unknown scenario {name!r}; allowed: {', '.join(known)}")
    if name in BUILTIN:
        return BUILTIN[name]
    return plugins.load_class(plugins.SCENARIOS, name, known[name], Scenario)


def make(name: str, **params: Any) -> Scenario:
    """Build a built-in or plugin scenario by name, with keyword parameters."""
    cls = scenario_class(name)
    allowed = scenario_params(cls)
    for key in params:
        if key not in allowed:
            raise InputError(f"scenario.{name}.{key}", f"unknown parameter; allowed: {', '.join(allowed)}")
    return cls(**params)


def scenario_params(cls: type[Scenario]) -> dict[str, Any]:
    """A scenario class's keyword parameters and their defaults (its declared settings)."""
    return {p.name: p.default for p in inspect.signature(cls).parameters.values()}


def cell_rng(name: str, seed: int) -> np.random.Generator:
    """The one random generator of a (scenario, seed) cell: same inputs, same stream, anywhere."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError("seed", f"must be an integer >= 0; got {seed!r}")
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def simulate(
    scenario: str | Scenario,
    seed: int,
    *,
    org: OrgConfig | None = None,
    truth: TruthSpec | None = None,
    **overrides: Any,
) -> Trace:
    """Simulate one run of ``scenario`` with ``seed``.

    ``overrides`` reach every model parameter (the fields of OrgConfig, such as ``n_units`` or
    ``rebalance_capacity_per_h``) and, when ``scenario`` is a name, the scenario's own parameters
    (such as ``rho`` or ``onset_day``).
    """
    org_fields = set(OrgConfig.names())
    org_overrides = {k: v for k, v in overrides.items() if k in org_fields}
    scenario_overrides = {k: v for k, v in overrides.items() if k not in org_fields}
    if isinstance(scenario, str):
        scenario = make(scenario, **scenario_overrides)
    elif scenario_overrides:
        key = next(iter(scenario_overrides))
        raise InputError(key, f"unknown model parameter; allowed: {', '.join(sorted(org_fields))}")
    base = (org or OrgConfig()).to_dict()
    org = OrgConfig(**{**base, **org_overrides})
    truth = truth or TruthSpec()

    rng = cell_rng(scenario.name, seed)
    plan = scenario.plan(rng, org)
    time_h, values = run_model(org, plan, rng)
    layout = org.layout()
    at = lambda name: values[:, FIELDS.index(name), :]  # noqa: E731
    events = derive_events(time_h, at("busy"), at("queue"), at("staff_on_duty"), layout, truth)
    meta = {
        "scenario": scenario.name,
        "seed": int(seed),
        "null_control": scenario.null_control,
        "warmup_h": org.warmup_h,
        "params": {"scenario": vars(scenario).copy(), "org": org.to_dict()},
        "onsets_h": plan.onsets_h,
        "scenario_units": list(plan.units),
    }
    rates = unit_rates(plan, org, time_h - org.dt_h / 2)
    return Trace(time_h, values, layout, meta, Truth(rates, events))
