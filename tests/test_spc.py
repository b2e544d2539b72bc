"""Western Electric rules on fixtures, and the SPC detector on traces with known hours."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.base import Level, Readings
from detectors.spc import SpcDetector, rule_levels, western_electric
from scenarios import simulate
from scenarios.errors import InputError
from scenarios.graph import CompleteGraph
from scenarios.trace import FIELD_INDEX, FIELDS, Layout, Trace, Truth

CENTRE, SIGMA = 60.0, 5.0  # limits: 65 / 70 / 75 above, 55 / 50 / 45 below

# (points oldest first, the rules that fire on the latest point)
FIRES = [
    ([60, 76], {1}),
    ([60, 44], {1}),
    ([60, 71, 72], {2}),
    ([71, 60, 72], {2}),
    ([49, 48], set()),  # rule 2 needs three points
    ([60, 49, 48], {2}),
    ([66, 66, 60, 66, 66], {3}),
    ([54, 54, 54, 60, 54], {3}),
    ([61] * 8, {4}),
    ([59] * 8, {4}),
    ([61] * 7, set()),  # rule 4 needs eight points
    ([76, 71, 60], {2}),  # a point beyond 3 sigma also counts beyond 2 sigma
    ([66, 66, 66, 66, 66, 66, 66, 76], {1, 3, 4}),
]
ON_A_LIMIT = [  # a point exactly on a limit is inside it
    [60, 75],
    [60, 45],
    [70, 70, 71],
    [50, 60, 50],
    [65, 66, 66, 66, 60],
    [55, 55, 54, 54, 60],
    [61] * 7 + [60],
    [60] * 8,
]
MIXED_SIDES = [  # sides are never mixed
    [71, 49, 60],
    [71, 60, 49],
    [66, 54, 66, 54, 66],
    [54, 66, 54, 66, 54],
    [61] * 4 + [59] * 4,
]


def fired(points) -> set[int]:
    rules = western_electric(np.array(points, dtype=float)[:, None], np.array([CENTRE]), np.array([SIGMA]))
    return {i + 1 for i in np.flatnonzero(rules[:, 0])}


@pytest.mark.parametrize(("points", "rules"), FIRES)
def test_each_rule_fires_on_its_fixture(points, rules):
    assert fired(points) == rules


@pytest.mark.parametrize("points", ON_A_LIMIT)
def test_a_point_on_a_limit_does_not_fire(points):
    assert fired(points) == set()


@pytest.mark.parametrize("points", MIXED_SIDES)
def test_sides_are_never_mixed(points):
    assert fired(points) == set()


def test_rules_run_per_chart_and_map_to_levels():
    charts = [[60, 60, 60, 60, 60, 60, 60, 76], [60, 60, 60, 60, 60, 60, 71, 72], [61] * 8, [60] * 8]
    points = np.array(charts, dtype=float).T
    rules = western_electric(points, np.full(4, CENTRE), np.full(4, SIGMA))
    for j, chart in enumerate(charts):
        assert {i + 1 for i in np.flatnonzero(rules[:, j])} == fired(chart)
    assert rule_levels(rules).tolist() == [Level.CRITICAL, Level.WARNING, Level.WATCH, Level.OK]


WEEK = 672  # health checks of 15 minutes in a 168 h week
SHIFT = 32  # ... in an 8 h period


def hours_trace(
    weekly: list[list[float]], period_steps: int = SHIFT, staff: float = 4.0, warmup_h=16.0
) -> Trace:
    """A trace whose units work the given weekly-equivalent hours, one value per period."""
    dt = 0.25
    weekly_arr = np.array(weekly, dtype=float)  # (periods, N)
    n_periods, n = weekly_arr.shape
    values = np.zeros((n_periods * period_steps, len(FIELDS), n))
    values[:, FIELD_INDEX["staff_on_duty"]] = staff
    values[:, FIELD_INDEX["busy_hours"]] = np.repeat(weekly_arr / 168.0, period_steps, axis=0) * staff * dt
    layout = Layout(np.full(n, staff), np.ones(n), np.ones((n, n)) - np.eye(n), dt, warmup_h)
    t = len(values)
    return Trace(dt * np.arange(1, t + 1), values, layout, {}, Truth(np.zeros((t, n))))


def week_end(w: int) -> int:
    """Index of the last health check of week w (1-based)."""
    return WEEK * w - 1


def test_faithful_charts_weeks_against_the_module_limits_and_holds_the_level():
    # one baseline week (the warm-up), then unit 1 works 80 h (beyond 75 h = 60 + 3 x 5) in week 3
    trace = hours_trace([[60, 60], [61, 62], [59, 80], [60, 60]], period_steps=WEEK, warmup_h=168.0)
    readings = SpcDetector(variant="faithful", hours="absolute").run(trace)
    assert (readings.level[: week_end(3)] == Level.OK).all()
    assert (readings.level[week_end(3) : week_end(4)] == Level.CRITICAL).all()  # held all week
    assert readings.units[week_end(3)].tolist() == [False, True]
    assert readings.score[week_end(3)] == pytest.approx(4.0)  # (80 - 60) / 5
    assert readings.detail["rule1"][week_end(3)] == 1.0
    assert readings.detail["hours"][week_end(3)] == pytest.approx(80.0)
    assert readings.level[-1] == Level.OK
    changes = np.flatnonzero(np.diff(readings.score)) + 1
    assert set(changes) <= {week_end(w) for w in (1, 2, 3, 4)}  # a weekly chart moves once a week


def test_faithful_never_applies_its_weekly_sigma_to_shorter_points():
    with pytest.raises(InputError, match="168 h weeks") as error:
        SpcDetector(variant="faithful", period_h=8.0)
    assert error.value.field == "detector.spc.period_h"
    assert SpcDetector(variant="faithful", period_h=168.0).period_h == 168.0


def test_scaled_hours_put_the_baseline_mean_on_the_target():
    # busy fraction 0.5 in the baseline week (= 60 h after scaling); 0.55 (= 66 h, beyond 1 sigma) after
    f = 0.5 * 168.0
    trace = hours_trace([[f]] + [[1.1 * f]] * 8, period_steps=WEEK, warmup_h=168.0)
    readings = SpcDetector(variant="faithful", hours="scaled").run(trace)
    assert readings.detail["hours"][week_end(2)] == pytest.approx(66.0)
    assert readings.level[week_end(4)] == Level.OK  # 3 of 5 beyond 1 sigma
    assert readings.level[week_end(5)] == Level.WARNING  # rule 3: 4 of 5 beyond 1 sigma
    assert readings.detail["rule4"][week_end(8)] == 0.0  # the baseline point on the centre line breaks rule 4
    assert readings.detail["rule4"][week_end(9)] == 1.0  # 8 in a row above the centre line


def test_faithful_refuses_a_week_outside_0_to_168_hours_and_holds_the_level():
    # baseline busy fraction 0.25 -> scale 240: a week at fraction 0.75 reads 180 h, which the module refuses
    trace = hours_trace(
        [[42.0, 42.0], [42.0, 56.0], [42.0, 126.0], [42.0, 42.0]], period_steps=WEEK, warmup_h=168.0
    )
    readings = SpcDetector(variant="faithful", hours="scaled").run(trace)
    assert readings.detail["hours"][week_end(2)] == pytest.approx(80.0)  # 56 h x 60 / 42
    assert readings.level[week_end(2)] == Level.CRITICAL
    assert readings.detail["refused"][week_end(2)] == 0.0
    # week 3 (180 h) is refused: unit 1 keeps its chart (80 h, CRITICAL) and the count says so
    assert readings.detail["refused"][week_end(3)] == 1.0
    assert readings.level[week_end(3)] == Level.CRITICAL
    assert readings.detail["hours"][week_end(3)] == pytest.approx(80.0)
    assert readings.level[week_end(4)] == Level.OK  # week 4 charts 60 h again
    assert readings.detail["refused"][-1] == 1.0
    textbook = SpcDetector(variant="textbook", hours="scaled", period_h=168.0).run(trace)
    assert textbook.detail["refused"].max() == 0.0  # the textbook chart has no weekly input check


def test_textbook_estimates_centre_and_moving_range_sigma_from_the_baseline():
    baseline = [58.0, 62.0, 60.0, 64.0]  # centre 61, mean moving range 10/3, sigma 10/3/1.128
    sigma = (10.0 / 3.0) / 1.128
    inside, beyond = 61.0 + 2.9 * sigma, 61.0 + 3.1 * sigma
    trace = hours_trace([[h, h] for h in baseline] + [[61.0, 61.0], [inside, beyond]], warmup_h=32.0)
    readings = SpcDetector(variant="textbook", hours="absolute").run(trace)
    last = len(trace) - 1
    assert readings.level[last] == Level.CRITICAL
    assert readings.units[last].tolist() == [False, True]
    assert readings.score[last] == pytest.approx(3.1)
    scaled = SpcDetector(variant="textbook", hours="scaled").run(trace)
    np.testing.assert_array_equal(scaled.level, readings.level)  # z-scores do not depend on the scale
    np.testing.assert_allclose(scaled.score, readings.score, rtol=1e-9, atol=1e-9)


def test_textbook_sample_standard_deviation_option():
    baseline = [58.0, 62.0, 60.0, 64.0]  # centre 61, sample standard deviation sqrt(20 / 3)
    sigma = np.sqrt(20.0 / 3.0)
    trace = hours_trace([[h] for h in baseline] + [[61.0 + 2.5 * sigma]], warmup_h=32.0)
    readings = SpcDetector(variant="textbook", hours="absolute", sigma_estimator="stdev").run(trace)
    assert readings.score[-1] == pytest.approx(2.5)
    moving = SpcDetector(variant="textbook", hours="absolute").run(trace)
    assert moving.score[-1] == pytest.approx(2.5 * sigma / ((10.0 / 3.0) / 1.128))


def test_faithful_weekly_chart_is_causal_and_streams_like_the_batch():
    """The contract suite's traces are shorter than a week; the weekly chart gets its own check."""
    trace = simulate("ramp", seed=2, n_units=5)
    batch = SpcDetector().run(trace)
    detector = SpcDetector()
    detector.reset(trace.layout)
    streamed = [detector.update(trace.observation(k)) for k in range(len(trace))]
    assert batch.equals(Readings.from_list(trace.time_h, streamed, trace.layout.n_units))
    k = week_end(2) + 1
    values = trace.values.copy()
    values[k:, FIELD_INDEX["busy_hours"]] *= 1.3
    changed = SpcDetector().run(Trace(trace.time_h, values, trace.layout, {}, trace.truth))
    assert changed.head(k).equals(batch.head(k))
    assert not changed.equals(batch)


def test_units_without_staff_are_not_charted():
    trace = hours_trace([[60, 60], [60, 60], [60, 80]])
    layout = trace.layout
    empty = Layout(np.array([4.0, 0.0]), layout.service_rate, CompleteGraph(2), layout.dt_h, layout.warmup_h)
    readings = SpcDetector(hours="absolute").run(Trace(trace.time_h, trace.values, empty, {}, trace.truth))
    assert readings.level.max() == Level.OK
    assert not readings.units.any()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"variant": "classic"}, "variant"),
        ({"period_h": 0.0}, "period_h"),
        ({"sigma_hours": -1.0}, "sigma_hours"),
        ({"variant": "textbook", "sigma_hours": 5.0}, "sigma_hours"),
        ({"variant": "textbook", "sigma_estimator": "range"}, "sigma_estimator"),
        ({"sigma_estimator": "stdev"}, "sigma_estimator"),
        ({"hours": "relative"}, "hours"),
        ({"baseline_h": 0.0}, "baseline_h"),
    ],
)
def test_bad_parameters_are_named(params, field):
    with pytest.raises(InputError) as error:
        SpcDetector(**params)
    assert error.value.field == f"detector.spc.{field}"
