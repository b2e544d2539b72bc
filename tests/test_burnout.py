"""The fire index's known values and the burnout detector on traces with known hours."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.base import Level
from detectors.burnout import (
    CLASSES,
    DMC_K,
    FFMC_K,
    BurnoutDetector,
    danger_class,
    fire_weather_index,
    moisture_code,
)
from scenarios.errors import InputError
from scenarios.trace import FIELD_INDEX, FIELDS, Layout, Trace, Truth


def test_known_values():
    assert moisture_code(75.0, 60.0, FFMC_K) == pytest.approx(58.3, abs=0.05)
    assert moisture_code(270.0, 240.0, DMC_K) == pytest.approx(26.8, abs=0.05)
    index = fire_weather_index(75.0, 260.0, 0.4, 8.0)
    assert index["fwi"] == pytest.approx(41.3, abs=0.05)
    assert CLASSES[int(danger_class(index["fwi"]))] == "HIGH"


def test_codes_follow_the_module_formulas():
    index = fire_weather_index(75.0, 260.0, 0.4, 8.0)
    e = 2.71828
    ffmc = 100 * (1 - e ** (-3.5 * 0.25))
    dmc = 100 * (1 - e ** (-2.5 * 20 / 240))
    dc = 100 * 0.6**1.5
    isi = 0.35 * ffmc * 1.8
    bui = 0.9 * dmc * dc / (dmc + 0.4 * dc)
    fwi = 0.12 * isi * (0.626 * bui**0.809 + 2)
    for key, value in {"ffmc": ffmc, "dmc": dmc, "dc": dc, "isi": isi, "bui": bui, "fwi": fwi}.items():
        assert float(index[key]) == pytest.approx(value, rel=1e-12), key


def test_edges_of_the_formulas():
    assert moisture_code(50.0, 60.0, FFMC_K) == 0.0  # no excess, no dryness
    assert moisture_code(10_000.0, 60.0, FFMC_K) == pytest.approx(100.0)  # capped at 100
    assert fire_weather_index(90.0, 300.0, 0.4, -10.0)["fwi"] == 0.0  # max(0, 1 + v / 10) = 0
    assert fire_weather_index(90.0, 200.0, 1.0, 0.0)["bui"] == 0.0  # DMC and DC both 0
    # DMC and DC are at most 100, so BUI is at most 0.9 * 100 * 100 / 140: fD's branch above 80 is dead
    assert float(fire_weather_index(1e6, 1e6, 0.0, 0.0)["bui"]) == pytest.approx(9000 / 140)
    assert danger_class([19.99, 20.0, 39.9, 40.0, 60.0, 79.9, 80.0]).tolist() == [0, 1, 1, 2, 3, 3, 4]


def test_textbook_uses_the_exact_exponential_and_barely_differs():
    faithful = fire_weather_index(75.0, 260.0, 0.4, 8.0, variant="faithful")["fwi"]
    textbook = fire_weather_index(75.0, 260.0, 0.4, 8.0, variant="textbook")["fwi"]
    assert faithful != textbook
    assert textbook == pytest.approx(faithful, rel=1e-5)


def busy_trace(fractions: np.ndarray, warmup_h: float = 0.0, staff: float = 4.0) -> Trace:
    """A trace whose units are busy the given fraction of each health check; fractions is (T, N)."""
    dt = 0.25
    t, n = fractions.shape
    values = np.zeros((t, len(FIELDS), n))
    values[:, FIELD_INDEX["staff_on_duty"]] = staff
    values[:, FIELD_INDEX["busy_hours"]] = fractions * staff * dt
    layout = Layout(np.full(n, staff), np.ones(n), np.ones((n, n)) - np.eye(n), dt, warmup_h)
    return Trace(dt * np.arange(1, t + 1), values, layout, {}, Truth(np.zeros((t, n))))


def test_absolute_hours_feed_the_index():
    f = 75.0 / 168.0  # 75 h a week per staff member on duty
    trace = busy_trace(np.column_stack((np.full(8 * 96, f), np.full(8 * 96, 0.25))))
    readings = BurnoutDetector(hours="absolute").run(trace)
    expected = fire_weather_index(np.array([75.0, 42.0]), np.array([720 * f, 180.0]), 0.7, 0.0)
    assert readings.score[-1] == pytest.approx(float(expected["fwi"][0]), rel=1e-9)
    assert readings.detail["ffmc"][-1] == pytest.approx(58.3, abs=0.05)
    assert readings.detail["weekly_hours"][-1] == pytest.approx(75.0)
    assert readings.level[-1] == int(danger_class(expected["fwi"][0]))
    assert readings.units[-1].tolist() == (danger_class(expected["fwi"]) > 0).tolist()


def test_scaled_hours_put_the_baseline_mean_on_the_target():
    fractions = np.full((4 * 96, 2), 0.5)
    readings = BurnoutDetector(hours="scaled").run(busy_trace(fractions, warmup_h=24.0))
    assert (readings.level[: 96 - 1] == Level.OK).all() and (readings.score[: 96 - 1] == 0).all()
    assert readings.detail["weekly_hours"][-1] == pytest.approx(60.0)
    assert readings.detail["ffmc"][-1] == pytest.approx(0.0, abs=1e-9)  # at the target: no excess
    doubled = fractions.copy()
    doubled[2 * 96 :] = 1.0
    hot = BurnoutDetector(hours="scaled", week_h=24.0).run(busy_trace(doubled, warmup_h=24.0))
    assert hot.detail["weekly_hours"][-1] == pytest.approx(120.0)


def test_velocity_compares_whole_weeks():
    """With a 6 h week: v = W(t) - W(t - 6 h) once 12 h of history exist, and 0 before."""
    fractions = np.full((96, 1), 0.5)
    fractions[36:] = 0.75  # from 9 h on
    readings = BurnoutDetector(hours="absolute", week_h=6.0, history_days=1.0).run(busy_trace(fractions))
    k = 47  # 12 h: both weeks whole; W(12 h) = 105 h/week, W(6 h) = 84 h/week (the step is at 9 h)
    w_now, w_before = 168 * (0.5 * 12 + 0.75 * 12) / 24, 168 * 0.5
    assert readings.detail["weekly_hours"][k] == pytest.approx(105.0)
    monthly = 720 * (0.5 * 36 + 0.75 * 12) / 48
    expected = fire_weather_index(w_now, monthly, 0.7, w_now - w_before)
    assert readings.detail["isi"][k] == pytest.approx(float(expected["isi"]), rel=1e-9)
    k = 46  # 11.75 h: the earlier week is not whole yet, so v = 0
    w_now = 168 * (0.5 * 13 + 0.75 * 11) / 24
    assert readings.detail["isi"][k] == pytest.approx(
        float(moisture_code(w_now, 60.0, FFMC_K)) * 0.35, rel=1e-9
    )


def test_history_window_drops_old_hours():
    fractions = np.zeros((3 * 96, 1))
    fractions[:96] = 1.0  # busy on day 1 only
    readings = BurnoutDetector(hours="absolute", week_h=12.0, history_days=1.0).run(busy_trace(fractions))
    assert readings.detail["dmc"][96 - 1] > 0
    assert readings.detail["dmc"][2 * 96] == 0.0  # day 1 has left the 1-day history
    assert readings.detail["weekly_hours"][2 * 96] == 0.0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"satisfaction": 1.5}, "satisfaction"),
        ({"ffmc_target": 0.0}, "ffmc_target"),
        ({"history_days": 3.0}, "history_days"),  # shorter than the week
        ({"variant": "cffdrs"}, "variant"),
        ({"hours": "daily"}, "hours"),
    ],
)
def test_bad_parameters_are_named(params, field):
    with pytest.raises(InputError) as error:
        BurnoutDetector(**params)
    assert error.value.field == f"detector.burnout.{field}"
