"""Combinations: any / all / k-of-n within a coincidence window, configured by member names."""

from __future__ import annotations

import hydra.utils
import numpy as np
import pytest
from omegaconf import OmegaConf

import detectors
from detectors.base import Detector, Level, Reading
from detectors.combo import ComboDetector
from harness.config import build
from scenarios import simulate
from scenarios.errors import InputError
from scenarios.trace import FIELDS, Layout, Observation, Trace, Truth


class Scripted(Detector):
    """Plays a script of levels, one per health check, implicating ``unit`` while at WARNING or above."""

    name = "scripted"

    def __init__(self, levels: tuple[int, ...] = (), unit: int = 0) -> None:
        self.levels = tuple(levels)
        self.unit = unit

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        self._k = 0

    def step(self, obs: Observation) -> Reading:
        level = self.levels[self._k] if self._k < len(self.levels) else 0
        self._k += 1
        return Reading(float(level), level, (self.unit,) if level >= Level.WARNING else ())


@pytest.fixture
def scripted(monkeypatch):
    for name in ("a", "b", "c"):
        monkeypatch.setitem(detectors._REGISTRY, name, "test_combo:Scripted")


def quiet_trace(t: int = 12, n: int = 3) -> Trace:
    values = np.zeros((t, len(FIELDS), n))
    layout = Layout(np.full(n, 4.0), np.ones(n), np.ones((n, n)) - np.eye(n), 0.25, 0.0)
    return Trace(0.25 * np.arange(1, t + 1), values, layout, {}, Truth(np.zeros((t, n))))


def combo(scripts: dict[str, list[int]], **params) -> ComboDetector:
    units = {"a": 0, "b": 1, "c": 2}
    member_params = {name: {"levels": tuple(levels), "unit": units[name]} for name, levels in scripts.items()}
    return ComboDetector(members=list(scripts), member_params=member_params, **params)


def test_rules_at_one_health_check(scripted):
    scripts = {"a": [2, 2, 0, 3], "b": [0, 2, 0, 2], "c": [0, 0, 0, 2]}
    trace = quiet_trace(4)
    any_ = combo(scripts, rule="any", window_h=0.0).run(trace)
    all_ = combo(scripts, rule="all", window_h=0.0).run(trace)
    two = combo(scripts, rule="k_of_n", k=2, window_h=0.0).run(trace)
    assert any_.level.tolist() == [2, 2, 0, 3]
    assert all_.level.tolist() == [0, 0, 0, 2]
    assert two.level.tolist() == [0, 2, 0, 2]
    assert any_.score.tolist() == [1.0, 2.0, 0.0, 3.0]  # members counting
    assert any_.units[1].tolist() == [True, True, False]
    assert not two.units[0].any()  # not alerting: no units


def test_level_is_the_highest_level_enough_members_reached(scripted):
    scripts = {"a": [3, 4], "b": [2, 1]}
    trace = quiet_trace(2)
    assert combo(scripts, rule="any", window_h=0.0).run(trace).level.tolist() == [3, 4]
    assert combo(scripts, rule="all", window_h=0.0).run(trace).level.tolist() == [2, 1]  # WATCH: not both


def test_coincidence_window(scripted):
    # a fires at step 2 (t = 0.75 h), b at step 5 (t = 1.5 h): 0.75 h apart
    scripts = {"a": [0, 0, 2, 0, 0, 0, 0, 0, 0, 0], "b": [0, 0, 0, 0, 0, 2, 0, 0, 0, 0]}
    trace = quiet_trace(10)
    wide = combo(scripts, rule="all", window_h=1.0).run(trace)
    assert wide.level.tolist() == [0, 0, 0, 0, 0, 2, 2, 0, 0, 0]  # the window [t - 1 h, t] is closed
    assert combo(scripts, rule="all", window_h=0.5).run(trace).level.max() == 0
    held = combo(scripts, rule="any", window_h=1.0).run(trace)
    # a counts on [0.75, 1.75] h = steps 2..6, b on [1.5, 2.5] h = steps 5..9
    assert held.level.tolist() == [0, 0, 2, 2, 2, 2, 2, 2, 2, 2]
    assert held.score.tolist() == [0, 0, 1, 1, 1, 2, 2, 1, 1, 1]
    assert held.units[8].tolist() == [False, True, False]  # only b still counts


def test_members_see_every_observation_and_combination_equals_members():
    trace = simulate("spike", seed=2, n_units=4, warmup_days=1, scenario_days=1)
    either = ComboDetector(members=["transport", "utilization"], rule="any", window_h=0.0).run(trace)
    transport = detectors.make("transport").run(trace)
    utilization = detectors.make("utilization").run(trace)
    expected = np.maximum(transport.level, utilization.level)
    np.testing.assert_array_equal(either.level >= Level.WARNING, expected >= Level.WARNING)
    np.testing.assert_array_equal(either.detail["transport_score"], transport.score)
    assert ComboDetector.is_combination and not detectors.detector_class("transport").is_combination


def test_preset_format_builds_through_hydra_and_the_harness():
    spec = {
        "_target_": "detectors.combo.ComboDetector",
        "members": ["transport", "spc"],
        "member_params": {"spc": {"variant": "faithful"}},
        "rule": "all",
        "window_h": 1.0,
    }
    from_hydra = hydra.utils.instantiate(OmegaConf.create(spec))
    from_harness = build(spec, "detector.transport_spc_all")
    assert from_hydra.members == from_harness.members == ["transport", "spc"]
    assert from_hydra.required == 2
    with pytest.raises(InputError) as error:
        build({**spec, "member_params": {"spc": {"variant": "bogus"}}}, "detector.transport_spc_all")
    assert "variant" in str(error.value)


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"members": []}, "members", "non-empty"),
        ({"members": "transport"}, "members", "must be a list of strings"),
        ({"members": ["transport", "transport"]}, "members", "unique"),
        ({"members": ["transport", "nope"]}, "members", "unknown member 'nope'"),
        ({"members": ["transport", "combo"]}, "members", "unknown member 'combo'"),
        ({"members": ["transport"], "member_params": {"spc": {}}}, "member_params.spc", "names no member"),
        ({"members": ["transport", "spc"], "rule": "most"}, "rule", "any, all, k_of_n"),
        ({"members": ["transport", "spc"], "rule": "k_of_n", "k": 3}, "k", "from 1 to 2"),
        ({"members": ["transport", "spc"], "window_h": -1.0}, "window_h", ">= 0"),
        ({"members": ["transport", "spc"], "member_params": {"spc": {"bogus": 1}}}, "spc.bogus", "unknown"),
        # a member is checked against its own declarations; the error names it
        (
            {"members": ["transport", "spc"], "member_params": {"spc": {"variant": "bogus"}}},
            "detector.combo.member_params.spc.variant",
            "must be one of faithful, textbook; got 'bogus'",
        ),
        ({"members": ["transport", "cusum"], "window_h": float("nan")}, "window_h", "a number of hours >= 0"),
        ({"members": ["transport", "cusum"], "k": True}, "k", "an integer >= 1; got True"),
    ],
)
def test_bad_configuration_is_named(params, field, words):
    with pytest.raises(InputError, match=words) as error:
        ComboDetector(**params)
    assert error.value.field.endswith(field)
