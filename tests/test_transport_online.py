"""The phase-4 tuner and its detector: labels from the horizon only, the Pe derivation of the label,
learning that beats persistence, and everything else working without river installed.
(The detector contract itself runs in test_contract.py.)"""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest

import detectors
from detectors.transport import TransportDetector, peclet_number
from detectors.transport_online import TransportOnlineDetector
from detectors.tuner import DynamicDiffusionTuner
from harness import cli
from scenarios import simulate
from scenarios.errors import InputError

needs_river = pytest.mark.skipif(
    importlib.util.find_spec("river") is None, reason="needs the optional extra 'online'"
)

HORIZON = 16  # 4 h of 15-minute health checks


class Recorder:
    """Stands in for the river model: records what it learns, predicts no change."""

    def __init__(self) -> None:
        self.learned: list[tuple[dict, float]] = []

    def learn_one(self, x: dict, y: float) -> None:
        self.learned.append((x, y))

    def predict_one(self, x: dict) -> float:
        return 0.0


@pytest.fixture(scope="module")
def trace():
    return simulate("ramp", seed=5, n_units=8, warmup_days=1.0, scenario_days=2.0)


@needs_river
def test_a_row_is_labelled_one_horizon_later_with_the_need_then():
    tuner = DynamicDiffusionTuner(horizon_steps=3)
    recorder = tuner._model = Recorder()
    need = [float(k * k) for k in range(10)]
    for k, required in enumerate(need):
        assert tuner.update({"step": float(k)}, required) == required  # no change learned: persistence
        assert len(recorder.learned) == max(0, k - 2)  # nothing is labelled before its horizon
        assert all(row["step"] <= k - 3 for row, _ in recorder.learned)  # only data up to now
    for row, label in recorder.learned:
        step = int(row["step"])
        assert label == need[step + 3] - need[step]
        assert row["required"] == need[step]
        assert row["required_change"] == (need[step] - need[step - 3] if step >= 3 else 0.0)
    assert tuner.n_learned == 7


@needs_river
def test_the_label_is_the_capacity_that_puts_pe_at_the_warning_threshold(trace):
    """Before anything is learned the forecast is persistence: the recommendation is k* now, and
    k* as the layer's outflow gives Pe = pe_warning exactly."""
    online = TransportOnlineDetector()
    transport = TransportDetector()
    online.reset(trace.layout)
    transport.reset(trace.layout)
    checked = 0
    for k in range(HORIZON):
        obs = trace.observation(k)
        reading = online.update(obs)
        metrics = transport.observe(obs)
        layer, length = metrics["layer"], metrics["length"]
        arrival, capacity = metrics["arrival"][layer].sum(), metrics["capacity"][layer].sum()
        need = length * arrival / 0.8 - capacity
        assert reading.detail["recommended_capacity"] == pytest.approx(max(0.0, need), rel=1e-9, abs=1e-12)
        assert reading.detail["labels_learned"] == 0
        assert reading.score == pytest.approx(metrics["pe"], rel=1e-9)
        if need > 0:
            assert peclet_number(arrival, capacity + need, length) == pytest.approx(0.8, rel=1e-12)
            checked += 1
    assert checked > 0, "no health check needed rebalancing; pick another trace"
    assert online.update(trace.observation(HORIZON)).detail["labels_learned"] == 1


@needs_river
def test_levels_follow_the_forecast_pe(trace):
    readings = TransportOnlineDetector(pe_warning=0.7, pe_critical=1.0).run(trace)
    forecast = readings.detail["pe_forecast"]
    expected = np.where(forecast >= 1.0, 3, np.where(forecast >= 0.7, 2, 0))
    np.testing.assert_array_equal(readings.level, expected)
    assert (readings.units.any(axis=1) == (readings.level >= 2)).all()
    assert (readings.detail["recommended_capacity"] >= 0).all()


@needs_river
def test_learning_forecasts_a_daily_cycle_better_than_persistence():
    """A need with a 24 h cycle and noise: the tuner learns the cycle from the time of day."""
    rng = np.random.default_rng(0)
    tuner = DynamicDiffusionTuner(horizon_steps=HORIZON)
    steps = 96 * 14
    hours = np.arange(steps) * 0.25
    need = np.sin(2 * math.pi * hours / 24) + 0.1 * rng.standard_normal(steps)
    forecast = np.array(
        [
            tuner.update(
                {"day_sin": math.sin(2 * math.pi * h / 24), "day_cos": math.cos(2 * math.pi * h / 24)}, n
            )
            for h, n in zip(hours, need, strict=True)
        ]
    )
    later = slice(steps // 2, steps - HORIZON)
    truth = need[HORIZON:][later]
    learned = np.abs(forecast[:-HORIZON][later] - truth).mean()
    persistence = np.abs(need[:-HORIZON][later] - truth).mean()
    assert learned < 0.5 * persistence


@needs_river
def test_bad_parameters_name_the_field():
    for params, field in (
        ({"horizon_h": 0.0}, "horizon_h"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"l2": -1.0}, "l2"),
        ({"pe_critical": 0.5}, "pe_critical"),
    ):
        with pytest.raises(InputError) as error:
            detectors.make("transport_online", **params)
        assert error.value.field.endswith(field)


@pytest.fixture
def without_river(monkeypatch):
    """River hidden: importing it (or any of its modules) raises ImportError."""
    for name in [m for m in sys.modules if m == "river" or m.startswith("river.")] + ["river"]:
        monkeypatch.setitem(sys.modules, name, None)


def test_without_river_the_detector_names_the_extra_and_others_work(without_river, trace):
    with pytest.raises(InputError, match=r"pip install -e '\.\[online\]'") as error:
        detectors.make("transport_online")
    assert error.value.field == "detector.transport_online"
    assert len(detectors.make("transport").run(trace)) == len(trace)


def run_cli(monkeypatch, capsys, args: list[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tdbench", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    return exit_.value.code, capsys.readouterr().err


def test_without_river_selecting_it_exits_2_with_one_line(without_river, monkeypatch, capsys, tmp_path):
    out = tmp_path / "run"
    code, err = run_cli(
        monkeypatch, capsys, ["detector=[transport,transport_online]", f"hydra.run.dir={out}"]
    )
    assert code == 2
    assert err == (
        "tdbench: error: detector.transport_online: needs river, from the optional extra 'online': "
        "pip install -e '.[online]'\n"
    )
    assert not out.exists()


def test_without_river_the_default_study_leaves_it_out_and_says_so(without_river, capsys):
    args = cli.leave_out_missing_extras(["seeds=2"])
    assert args == ["seeds=2", "~detector.transport_online"]
    assert capsys.readouterr().err == (
        "tdbench: note: detector transport_online left out: it needs the optional extra 'online' "
        "(pip install -e '.[online]')\n"
    )
    cli.check(args)  # the rest of the default study validates
    assert cli.leave_out_missing_extras(["detector=[transport]"]) == ["detector=[transport]"]


@needs_river
def test_with_river_nothing_is_left_out():
    assert cli.leave_out_missing_extras(["seeds=2"]) == ["seeds=2"]
