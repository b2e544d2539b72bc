"""The detector contract (DESIGN section 4), checked on every registered detector like scikit-learn's
check_estimator: causality, batch == streaming, determinism, unit-permutation invariance, zero
capacity and empty units, rejection of bad input, and instantiation from each Hydra config; and the
scenario contract: named as registered, keyword defaults, deterministic per seed, valid traces.

Every name in ``detectors.available()`` and ``scenarios.available()``, installed plugins included,
runs with its defaults, and every configuration in conf/detector with its own parameters; detectors
whose windows outlast the small test traces also run with short windows, and variants run too.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import hydra.utils
import numpy as np
import pytest
from omegaconf import OmegaConf

import detectors
import scenarios
from detectors import Detector, Readings
from harness.cli import compose_checked
from harness.config import build
from scenarios import simulate
from scenarios.catalogue import Scenario
from scenarios.errors import InputError
from scenarios.params import check_values as check_setting
from scenarios.params import describe
from scenarios.trace import FIELD_INDEX, Layout, Observation, Trace, Truth, check_values

CONF = Path(__file__).resolve().parent.parent / "conf" / "detector"
SHORT = {  # extra parameter sets whose windows fit in a few days
    "spc": [
        {"variant": "textbook", "period_h": 2.0},
        {"variant": "textbook", "period_h": 2.0, "hours": "absolute", "sigma_estimator": "stdev"},
    ],
    "seismic": [
        {"variant": "textbook", "nsta": 2, "nlta": 6, "signal": "absences"},
        {"variant": "textbook", "method": "classic", "nsta": 2, "nlta": 6},
        {"variant": "faithful", "method": "classic", "nsta": 2, "nlta": 6, "sample_h": 0.5},
    ],
    "burnout": [{"variant": "textbook", "week_h": 12.0, "history_days": 1.0, "baseline_h": 6.0}],
    "csd": [{"window_h": 3.0, "trend_h": 3.0, "tau_warning": 0.2}],
    "cusum": [{"sample_h": 0.25, "h_sigma": 2.0, "baseline_h": 6.0}],
    "random": [{"rate_per_day": 12.0, "duration_h": 0.5, "seed": 3}],
    "combo": [
        {"members": ["utilization", "cusum"], "rule": "k_of_n", "k": 2, "window_h": 2.0},
        {"members": ["transport", "random", "csd"], "member_params": {"random": {"rate_per_day": 8.0}}},
    ],
}
CONFIGS = sorted(CONF.glob("*.yaml"))


def config_case(path: Path) -> tuple[str, dict]:
    """A config file as (registry name of its ``_target_`` class, its parameters)."""
    spec = OmegaConf.to_container(OmegaConf.load(path))[path.stem]
    spec.pop("search", None)  # task=tune's search space, never a parameter
    cls = hydra.utils.get_class(spec.pop("_target_"))
    names = [name for name in detectors.available() if detectors.detector_class(name) is cls]
    assert names, f"{path.name}: its class is not registered"
    return names[0], spec


def at_defaults(name: str, params: dict) -> bool:
    defaults = detectors.params_of(name)
    return all(_same(value, defaults[key]) for key, value in params.items())


def _same(value, default) -> bool:
    return list(value) == list(default) if isinstance(default, tuple) else value == default


DEFAULTS = [(name, {}) for name in detectors.available()]
SHORTS = [(name, params) for name, sets in SHORT.items() if name in detectors.available() for params in sets]
FROM_CONFIGS = [(path.stem, case) for path in CONFIGS if not at_defaults(*(case := config_case(path)))]
CASES = DEFAULTS + SHORTS + [case for _, case in FROM_CONFIGS]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(DEFAULTS + SHORTS)] + [stem for stem, _ in FROM_CONFIGS]


@pytest.fixture(autouse=True)
def extra_installed(request) -> None:
    """Skip (visibly) the cases of a detector whose optional extra is not installed."""
    params = getattr(request.node, "callspec", None)
    params = params.params if params else {}
    name = params.get("name") or getattr(params.get("path"), "stem", None)
    if name in detectors.available():
        needs = detectors.detector_class(name).requires
        if needs and importlib.util.find_spec(needs[0]) is None:
            pytest.skip(f"{name} needs the optional extra {needs[1]!r}")


@pytest.fixture(scope="module")
def trace() -> Trace:
    return simulate("ramp", seed=3, n_units=5, warmup_days=1.0, scenario_days=2.0)


@pytest.fixture(scope="module")
def other() -> Trace:
    return simulate("spike", seed=4, n_units=5, warmup_days=1.0, scenario_days=2.0)


def fresh(name: str, params: dict) -> Detector:
    return detectors.make(name, **params)


def streamed(detector: Detector, trace: Trace) -> Readings:
    detector.reset(trace.layout)
    detector.use_stream(trace.stream)
    readings = [detector.update(trace.observation(k)) for k in range(len(trace))]
    return Readings.from_list(trace.time_h, readings, trace.layout.n_units)


def with_values(trace: Trace, values: np.ndarray, layout: Layout | None = None) -> Trace:
    return Trace(trace.time_h, values, layout or trace.layout, dict(trace.meta), trace.truth)


def check_readings(readings: Readings, trace: Trace) -> None:
    assert len(readings) == len(trace)
    assert not np.isnan(readings.score).any(), "score must never be NaN"
    assert readings.level.min() >= 0 and readings.level.max() <= 4
    assert readings.units.shape == (len(trace), trace.layout.n_units)


def zero_staff(trace: Trace) -> Trace:
    """A unit with nobody on duty (and work waiting), then the whole organisation without staff."""
    values = trace.values.copy()
    t = len(trace)
    idle = slice(t // 3, 2 * t // 3)
    for field in ("staff_on_duty", "busy", "busy_hours", "completions"):
        values[idle, FIELD_INDEX[field], 0] = 0.0
    values[idle, FIELD_INDEX["queue"], 0] += 5.0
    for field in ("staff_on_duty", "busy", "busy_hours"):
        values[t // 2 : t // 2 + 12, FIELD_INDEX[field]] = 0.0
    return with_values(trace, values)


def with_empty_unit(trace: Trace) -> Trace:
    """One more unit, without staff, that never sees work."""
    n, layout = trace.layout.n_units, trace.layout
    staff = np.append(layout.staff, 0.0)
    distance = np.ones((n + 1, n + 1)) - np.eye(n + 1)
    empty = Layout(staff, np.append(layout.service_rate, 1.0), distance, layout.dt_h, layout.warmup_h)
    values = np.concatenate((trace.values, np.zeros((len(trace), trace.values.shape[1], 1))), axis=2)
    return Trace(trace.time_h, values, empty, dict(trace.meta), Truth(np.zeros((len(trace), n + 1))))


def first_steps(trace: Trace, n: int) -> Trace:
    """The first ``n`` health checks only (shorter than any window)."""
    truth = Truth(trace.truth.arrival_rate[:n])
    return Trace(trace.time_h[:n], trace.values[:n], trace.layout, dict(trace.meta), truth)


def idle(trace: Trace) -> Trace:
    """An organisation that never sees work."""
    values = trace.values.copy()
    values[:, [FIELD_INDEX[f] for f in FIELD_INDEX if f != "staff_on_duty"]] = 0.0
    return with_values(trace, values)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_batch_equals_streaming(name, params, trace, other):
    """``run`` (a detector's batch path) equals reset plus ``update`` at every step, exactly, on
    ordinary traces and on the edge traces."""
    for run in (trace, other, zero_staff(trace), with_empty_unit(trace), idle(trace), first_steps(trace, 3)):
        batch = fresh(name, params).run(run)
        check_readings(batch, run)
        assert batch.equals(streamed(fresh(name, params), run))


@pytest.fixture(scope="module")
def every_scenario() -> list[Trace]:
    return [
        simulate(name, seed=seed, n_units=6, warmup_days=1.0, scenario_days=3.0)
        for name in scenarios.available()
        for seed in (0, 1)
    ]


#: Settings that take another batch path than the defaults', checked on every scenario too.
OTHER_BATCH_PATHS = [("transport", {"layer": "split"})]
EVERY_SCENARIO = DEFAULTS + [case for case in OTHER_BATCH_PATHS if case[0] in detectors.available()]


EVERY_SCENARIO_IDS = ["-".join([name, *map(str, params.values())]) for name, params in EVERY_SCENARIO]


@pytest.mark.parametrize(("name", "params"), EVERY_SCENARIO, ids=EVERY_SCENARIO_IDS)
def test_batch_equals_streaming_on_every_scenario(name, params, every_scenario):
    for run in every_scenario:
        assert fresh(name, params).run(run).equals(streamed(fresh(name, params), run)), run.meta


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_reading_units_are_distinct_indices(name, params, trace):
    """Each reading's units: a tuple of ints or a 1-D integer array of distinct unit indices."""
    detector = fresh(name, params)
    detector.reset(trace.layout)
    for k in range(len(trace)):
        units = detector.update(trace.observation(k)).units
        if isinstance(units, np.ndarray):
            assert units.ndim == 1 and units.dtype.kind in "iu", units.dtype
        else:
            assert isinstance(units, tuple) and all(isinstance(u, int) for u in units), units
        assert len(set(np.asarray(units).tolist())) == len(units)
        assert all(0 <= u < trace.layout.n_units for u in np.asarray(units).tolist())


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_deterministic_and_reset_clears_state(name, params, trace, other):
    detector = fresh(name, params)
    first = detector.run(trace)
    detector.run(other)  # state from another run must not leak into the next
    assert detector.run(trace).equals(first)
    assert fresh(name, params).run(trace).equals(first)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_causal(name, params, trace, other):
    """Readings up to step k do not change when any data after k changes."""
    reference = fresh(name, params).run(trace)
    for k in (len(trace) // 3, 2 * len(trace) // 3):
        for future in (other.values[k:], np.zeros_like(trace.values[k:]), trace.values[k:] * 3.0):
            values = trace.values.copy()
            values[k:] = future
            changed = fresh(name, params).run(with_values(trace, values))
            assert changed.head(k).equals(reference.head(k)), f"step < {k} changed with the future"


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_unit_permutation(name, params, trace):
    """Relabelling units leaves system-level output unchanged and relabels the implicated units."""
    order = np.array([3, 0, 4, 1, 2])
    original = fresh(name, params).run(trace)
    permuted = fresh(name, params).run(trace.permuted(order))
    np.testing.assert_array_equal(permuted.level, original.level)
    np.testing.assert_allclose(permuted.score, original.score, rtol=1e-9, atol=1e-12)
    assert permuted.detail.keys() == original.detail.keys()
    for key in original.detail:
        np.testing.assert_allclose(
            permuted.detail[key], original.detail[key], rtol=1e-9, atol=1e-12, err_msg=key
        )
    np.testing.assert_array_equal(permuted.units, original.units[:, order])


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_implicated_units_follow_relabelling_among_identical_units(name, params):
    """Units that see identical data are implicated alike, so a relabelling relabels the units."""
    base = simulate("spike", seed=0, n_units=4, warmup_days=1.0, scenario_days=2.0)
    twins = np.array([0, 1, 2, 3, 0, 1, 2, 3])  # every unit has an identical twin
    layout = base.layout.permuted(twins)
    layout = Layout(
        layout.staff, layout.service_rate, np.ones((8, 8)) - np.eye(8), layout.dt_h, layout.warmup_h
    )
    doubled = Trace(
        base.time_h, base.values[:, :, twins], layout, {}, Truth(base.truth.arrival_rate[:, twins])
    )
    order = np.array([4, 1, 6, 3, 0, 5, 2, 7])  # swap units 0 and 2 with their twins
    original = fresh(name, params).run(doubled)
    permuted = fresh(name, params).run(doubled.permuted(order))
    np.testing.assert_array_equal(permuted.units, original.units[:, order])


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_zero_staff_on_duty(name, params, trace):
    check_readings(fresh(name, params).run(zero_staff(trace)), trace)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_empty_unit_and_idle_organisation(name, params, trace):
    wider = with_empty_unit(trace)
    check_readings(fresh(name, params).run(wider), wider)
    check_readings(fresh(name, params).run(idle(trace)), trace)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_rejects_bad_input(name, params, trace):
    detector = fresh(name, params)
    with pytest.raises(InputError, match="reset"):
        fresh(name, params).update(trace.observation(0))
    detector.reset(trace.layout)
    for bad, words in ((np.nan, "NaN"), (-1.0, ">= 0"), (np.inf, "finite")):
        values = trace.values[5].copy()
        values[FIELD_INDEX["arrivals"], 1] = bad
        with pytest.raises(InputError, match=words) as error:
            detector.update(Observation(float(trace.time_h[5]), values))
        assert error.value.field == f"{detector.name}.update"
        run_values = trace.values.copy()
        run_values[7, FIELD_INDEX["busy_hours"], 2] = bad
        with pytest.raises(InputError, match=words):
            detector.run(with_values(trace, run_values))
    with pytest.raises(InputError, match="shape"):
        detector.reset(trace.layout)
        detector.update(Observation(0.25, np.zeros((len(FIELD_INDEX), trace.layout.n_units + 1))))


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_score_label_names_the_quantity_and_unit(name, params):
    """Figure axes read ``score_label``: built-ins name the quantity and its unit, "Pe (...)"."""
    label = fresh(name, params).score_label
    assert isinstance(label, str) and label
    if not detectors.is_plugin(name):
        assert label != "score" and label.endswith(")"), label


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_instantiates_with_hydra(path, trace):
    cfg = OmegaConf.load(path)
    assert list(cfg) == [path.stem], "a config file nests its content under its own name"
    node = OmegaConf.masked_copy(cfg[path.stem], [k for k in cfg[path.stem] if k != "search"])
    detector = hydra.utils.instantiate(node)
    assert isinstance(detector, Detector)
    assert type(detector) is detectors.detector_class(detector.name), "the config's class is registered"
    check_readings(detector.run(trace), trace)


# A combination has no meaningful defaults to list; conf/detector/combo_example.yaml shows one.
@pytest.mark.parametrize("name", [n for n in detectors.available() if n != "combo"])
def test_every_detector_has_a_config_with_its_defaults(name):
    """Each registered detector has a config file that spells out every parameter at its default."""
    cls = detectors.detector_class(name)
    target = f"{cls.__module__}.{cls.__name__}"
    configs = [OmegaConf.to_container(OmegaConf.load(p))[p.stem] for p in CONFIGS]
    configs = [{k: v for k, v in c.items() if k != "search"} for c in configs]
    if detectors.is_plugin(name):  # a plugin's config is the one tdbench composes for it
        (cfg,) = compose_checked([f"detector=[{name}]"])
        configs.append(OmegaConf.to_container(cfg.detector)[name])
    mine = [c for c in configs if c["_target_"] == target]
    assert mine, f"no config in conf/detector has _target_ {target}"
    defaults = detectors.params_of(name)
    assert any(
        set(c) - {"_target_"} == set(defaults) and all(_same(c[k], defaults[k]) for k in defaults)
        for c in mine
    ), f"no config of {name} lists every parameter at its default"


BUILT_IN = [name for name in detectors.available() if not detectors.is_plugin(name)]
SETTINGS = [(name, s) for name in BUILT_IN for s in describe(detectors.detector_class(name))]
NUMBERS = [(name, s.name) for name, s in SETTINGS if s.allowed.startswith("a number")]
INTEGERS = [(name, s.name) for name, s in SETTINGS if s.allowed.startswith("an integer")]


@pytest.mark.parametrize("name", BUILT_IN)
def test_settings_are_declared_with_meaning_and_valid_defaults(name):
    """Each built-in detector declares its settings (``scenarios.params``): each has a one-line
    meaning, and its default passes its own bounds (pydantic does not check defaults)."""
    cls = detectors.detector_class(name)
    settings = describe(cls)
    assert [s.name for s in settings] == list(inspect.signature(cls).parameters)
    for setting in settings:
        assert setting.doc and setting.allowed, setting
        check_setting(cls, setting.name, [setting.default], f"detector.{name}")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "1"])
@pytest.mark.parametrize(("name", "setting"), NUMBERS, ids=[f"{n}.{s}" for n, s in NUMBERS])
def test_a_number_setting_refuses_what_is_not_a_finite_number(name, setting, bad):
    with pytest.raises(InputError, match=r": must be a number") as error:
        detectors.make(name, **{setting: bad})
    assert error.value.field == f"detector.{name}.{setting}" and str(error.value).endswith(f"; got {bad!r}")


@pytest.mark.parametrize("bad", [2.5, 1.0, True, "1", None])
@pytest.mark.parametrize(("name", "setting"), INTEGERS, ids=[f"{n}.{s}" for n, s in INTEGERS])
def test_an_integer_setting_refuses_what_is_not_an_integer(name, setting, bad):
    with pytest.raises(InputError, match=r": must be an integer") as error:
        detectors.make(name, **{setting: bad})
    assert error.value.field == f"detector.{name}.{setting}"


@pytest.mark.parametrize("name", BUILT_IN)
def test_an_unknown_setting_is_named_with_the_allowed_ones(name):
    allowed = ", ".join(s.name for s in describe(detectors.detector_class(name)))
    for make in (detectors.make, lambda n, **p: detectors.detector_class(n)(**p)):
        with pytest.raises(InputError, match=f"unknown parameter; allowed: {allowed}$") as error:
            make(name, nosuch=1.0)
        assert error.value.field == f"detector.{name}.nosuch"


SMALL_ORG = {"n_units": 4, "warmup_days": 0.5, "scenario_days": 4.0}


@pytest.mark.parametrize("name", scenarios.available())
def test_scenario_contract(name):
    """Registered under its own name, keyword parameters with defaults, one trace per seed."""
    cls = scenarios.scenario_class(name)
    assert issubclass(cls, Scenario) and cls.name == name and isinstance(cls.null_control, bool)
    assert all(v is not inspect.Parameter.empty for v in scenarios.scenario_params(cls).values())
    first = simulate(name, seed=2, **SMALL_ORG)
    again = simulate(name, seed=2, **SMALL_ORG)
    other = simulate(name, seed=3, **SMALL_ORG)
    assert first.meta["scenario"] == name and first.meta["null_control"] == cls.null_control
    assert np.array_equal(first.values, again.values) and first.truth.events == again.truth.events
    assert not np.array_equal(first.values, other.values)
    check_values(first.values, name)
    assert first.values.shape == (len(first.time_h), len(FIELD_INDEX), SMALL_ORG["n_units"])


@pytest.mark.parametrize("name", scenarios.available())
def test_scenario_config_composes_and_builds(name):
    """``scenario=[name]`` composes (a conf file, or a plugin's generated config) and builds."""
    (cfg,) = compose_checked([f"scenario=[{name}]"])
    spec = OmegaConf.to_container(cfg.scenario)[name]
    built = build(spec, f"scenario.{name}")
    assert type(built) is scenarios.scenario_class(name)
    assert {k: v for k, v in spec.items() if k != "_target_"} == scenarios.scenario_params(type(built))


@pytest.mark.bench
@pytest.mark.parametrize("name", detectors.available())
def test_update_cost(name, benchmark):
    """Per-update cost at the default 12 units (run with: pytest -m bench)."""
    trace = simulate("ramp", seed=0, warmup_days=1.0, scenario_days=1.0)
    detector = detectors.make(name)

    def replay() -> None:
        detector.reset(trace.layout)
        for k in range(len(trace)):
            detector.update(trace.observation(k))

    benchmark.pedantic(replay, rounds=5, iterations=1)
    per_update_ms = benchmark.stats.stats.median / len(trace) * 1e3
    benchmark.extra_info["per_update_ms"] = per_update_ms
    assert per_update_ms < 50.0  # the roadmap's overhead criterion, per health check
