"""The baselines: null, random, critical slowing down (csd) and CUSUM."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from detectors.base import Level
from detectors.csd import CsdDetector, RollingKendall
from detectors.cusum import CusumDetector
from detectors.null import NullDetector
from detectors.random_alerts import RandomDetector
from scenarios import simulate
from scenarios.errors import InputError
from scenarios.trace import FIELD_INDEX, FIELDS, Layout, Trace, Truth


def utilization_trace(u: np.ndarray, warmup_h: float = 0.0, n: int = 3) -> Trace:
    """A trace whose system utilization (busy staff-hours over staff-hours on duty) is u per step."""
    dt = 0.25
    t = len(u)
    values = np.zeros((t, len(FIELDS), n))
    values[:, FIELD_INDEX["staff_on_duty"]] = 4.0
    values[:, FIELD_INDEX["busy_hours"]] = (u * 4.0 * dt)[:, None]
    layout = Layout(np.full(n, 4.0), np.ones(n), np.ones((n, n)) - np.eye(n), dt, warmup_h)
    return Trace(dt * np.arange(1, t + 1), values, layout, {}, Truth(np.zeros((t, n))))


def test_null_never_alerts():
    readings = NullDetector().run(simulate("spike", seed=1, n_units=4, warmup_days=1, scenario_days=3))
    assert not readings.level.any() and not readings.score.any() and not readings.units.any()


def test_random_alerts_at_its_rate_whatever_the_data():
    trace = utilization_trace(np.zeros(200 * 96))  # 200 days
    readings = RandomDetector(rate_per_day=2.0, duration_h=2.0, seed=5).run(trace)
    alerting = readings.level == Level.WARNING
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate(([0], alerting.astype(int), [0])))))[::2]
    assert (runs % 8 == 0).all()  # each episode lasts 2 h = 8 steps (episodes may follow each other)
    starts = alerting.sum() / 8
    # starts form a Poisson process at 2 / day over the time not spent alerting
    expected = 2.0 * 200 * (1 - alerting.mean())
    assert abs(starts - expected) < 4 * np.sqrt(expected)
    np.testing.assert_array_equal(readings.score, alerting.astype(float))
    busy = utilization_trace(np.full(200 * 96, 0.9))
    assert RandomDetector(rate_per_day=2.0, duration_h=2.0, seed=5).run(busy).equals(readings)
    other_seed = RandomDetector(rate_per_day=2.0, duration_h=2.0, seed=6).run(trace)
    assert not np.array_equal(other_seed.level, readings.level)
    assert not RandomDetector(rate_per_day=0.0).run(trace).level.any()


def test_random_draws_each_cells_own_schedule():
    """The schedule comes from the cell's (scenario, seed) stream: different across cells, the same
    on a rerun and in the streaming replay the study uses."""
    from harness.run.replay import replay

    detector = RandomDetector(rate_per_day=4.0)
    traces = {
        (scenario, seed): simulate(scenario, seed=seed, n_units=3, warmup_days=1, scenario_days=2)
        for scenario in ("steady", "diurnal")
        for seed in (0, 1)
    }
    levels = {cell: detector.run(trace).level.tobytes() for cell, trace in traces.items()}
    assert len(set(levels.values())) == len(levels)
    for cell, trace in traces.items():
        assert replay(RandomDetector(rate_per_day=4.0), trace)[0].level.tobytes() == levels[cell]


def test_rolling_kendall_equals_scipy_tau_b_with_ties():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 6, size=120).astype(float)  # many ties
    tau = RollingKendall(25)
    for i, value in enumerate(x):
        got = tau.push(value)
        if i >= 24:
            window = x[i - 24 : i + 1]
            assert got == pytest.approx(kendalltau(np.arange(25), window).statistic, abs=1e-12)
        else:
            assert got == 0.0
    constant = RollingKendall(5)
    assert [constant.push(1.0) for _ in range(8)][-1] == 0.0  # all tied: no trend


def test_csd_indicators_and_warning_on_rising_variance():
    rng = np.random.default_rng(0)
    t = 4 * 96
    noise = rng.normal(size=t)
    ar = np.zeros(t)
    for k in range(1, t):  # AR(1) whose coefficient and innovation size both grow
        ar[k] = (0.9 * k / t) * ar[k - 1] + (0.01 + 0.05 * k / t) * noise[k]
    u = np.clip(0.5 + ar, 0.0, 1.0)
    readings = CsdDetector(window_h=12.0, trend_h=12.0).run(utilization_trace(u))
    k = t - 1
    window = u[k - 47 : k + 1] - u[k - 47 : k + 1].mean()
    assert readings.detail["variance"][k] == pytest.approx(window @ window / 48)
    assert readings.detail["ar1"][k] == pytest.approx((window[:-1] @ window[1:]) / (window @ window))
    assert readings.score[k] == min(readings.detail["tau_variance"][k], readings.detail["tau_ar1"][k])
    assert (readings.score[: 2 * 48 - 2] == 0).all()  # indicators and their trend need two windows
    assert readings.level.max() == Level.WARNING
    assert ((readings.score >= 0.7) == (readings.level == Level.WARNING)).all()
    flat = CsdDetector(window_h=12.0, trend_h=12.0).run(utilization_trace(np.full(t, 0.6)))
    assert not flat.level.any() and not flat.score.any()


def test_cusum_hand_computed():
    # baseline: 4 hourly samples 0.4, 0.6, 0.4, 0.6 -> mean 0.5, sigma 0.11547 (ddof 1)
    baseline = [0.4, 0.6, 0.4, 0.6]
    after = [0.5, 0.8, 0.8, 0.9, 0.5, 0.3, 0.3, 0.3]
    u = np.repeat(baseline + after, 4)
    readings = CusumDetector(k_sigma=0.5, h_sigma=5.0).run(utilization_trace(u, warmup_h=4.0))
    sigma = np.std(baseline, ddof=1)
    s, expected = 0.0, []
    for x in after:
        s = max(0.0, s + (x - 0.5) / sigma - 0.5)
        expected.append(s)
    hourly = readings.score[4 * 5 - 1 :: 4]
    np.testing.assert_allclose(hourly, expected, rtol=1e-9)
    assert (readings.level[: 4 * 4 + 3] == Level.OK).all()  # baseline, then first sample below h
    levels = readings.level[4 * 5 - 1 :: 4]
    np.testing.assert_array_equal(levels, [Level.WARNING if v > 5.0 else Level.OK for v in expected])
    np.testing.assert_array_equal(readings.score[4 * 5 : 4 * 6 - 1], hourly[0])  # held within the hour


def test_cusum_with_given_mean_and_sigma_needs_no_baseline():
    u = np.repeat([0.5, 0.7, 0.7, 0.9], 4)
    readings = CusumDetector(mean=0.5, sigma=0.1, sample_h=1.0).run(utilization_trace(u, warmup_h=0.0))
    np.testing.assert_allclose(readings.score[3::4], [0.0, 1.5, 3.0, 6.5], rtol=1e-9)
    np.testing.assert_array_equal(readings.level[3::4], [0, 0, 0, 2])


@pytest.mark.parametrize(
    ("cls", "params", "field"),
    [
        (RandomDetector, {"rate_per_day": -1.0}, "detector.random.rate_per_day"),
        (RandomDetector, {"seed": -1}, "detector.random.seed"),
        (CsdDetector, {"tau_warning": 1.5}, "detector.csd.tau_warning"),
        (CsdDetector, {"window_h": 0.0}, "detector.csd.window_h"),
        (CusumDetector, {"h_sigma": 0.0}, "detector.cusum.h_sigma"),
        (CusumDetector, {"sigma": 0.0}, "detector.cusum.sigma"),
    ],
)
def test_bad_parameters_are_named(cls, params, field):
    with pytest.raises(InputError) as error:
        cls(**params)
    assert error.value.field == field
