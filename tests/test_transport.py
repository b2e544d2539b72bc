"""Transport metrics: hypothesis properties and the roadmap's alert rules."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import detectors
from detectors import transport
from detectors.base import Level, Readings
from detectors.transport import (
    TransportDetector,
    boundary_layer_thickness,
    critical_saturation_alert,
    effective_diffusion,
    layer_peclet,
    layer_weights,
    peclet_number,
    saturation_gradient,
    split_layer_peclet,
    time_to_saturation,
)
from scenarios import InputError, simulate

rates = st.floats(0, 100, allow_nan=False)
n_units = st.integers(1, 30)


def unit_arrays(n):
    return arrays(np.float64, n, elements=st.one_of(st.just(0.0), st.floats(1e-3, 50)))


@given(rates, rates, rates, st.floats(0.1, 5))
def test_peclet_is_non_decreasing_in_arrival_rate(a, b, capacity, length):
    low, high = sorted((a, b))
    assert peclet_number(low, capacity, length) <= peclet_number(high, capacity, length)


@given(st.data(), n_units)
def test_layer_peclet_is_non_decreasing_in_the_system_arrival_rate(data, n):
    """More work arriving everywhere (scaled exactly, by a power of two) never lowers Pe."""
    arrival = data.draw(unit_arrays(n))
    capacity = data.draw(unit_arrays(n))
    outflow = data.draw(unit_arrays(n))
    factor = data.draw(st.sampled_from([1.0, 2.0, 4.0, 8.0]))
    before, layer_before = layer_peclet(arrival, capacity, outflow, 1.0)
    after, layer_after = layer_peclet(arrival * factor, capacity, outflow, 1.0)
    assert after >= before
    assert layer_after.tolist() == layer_before.tolist()


def test_one_unit_entering_the_stress_layer_can_lower_its_peclet():
    """A property of DESIGN's layer (top quartile by arrival/capacity, Pe with outflow): a unit with
    a large outflow that climbs into the layer displaces one with a larger contribution."""
    capacity = np.full(4, 4.0)
    outflow = np.array([0.0, 10.0, 0.0, 0.0])
    arrival = np.array([2.9, 2.8, 1.0, 1.0])
    before, _ = layer_peclet(arrival, capacity, outflow, 1.0)
    arrival[1] = 3.0
    after, layer = layer_peclet(arrival, capacity, outflow, 1.0)
    assert layer.tolist() == [1]
    assert after == pytest.approx(3 / 14) and before == pytest.approx(2.9 / 4)


@given(st.floats(0, 1), n_units)
def test_gradient_is_zero_for_uniform_load(u, n):
    assert saturation_gradient([{"utilization": u}] * n) == pytest.approx(0.0, abs=1e-12)


@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(0, 1)))
def test_gradient_is_non_negative_and_thickness_a_fraction(u):
    units = [{"utilization": x} for x in u]
    assert saturation_gradient(units) >= -1e-12
    assert 0.0 <= boundary_layer_thickness(units) <= 1.0


@given(st.data(), st.integers(2, 20))
def test_metrics_do_not_depend_on_unit_numbering(data, n):
    units = [
        {
            "utilization": data.draw(st.floats(0, 1)),
            "arrival_rate": data.draw(st.floats(0, 20)),
            "service_capacity": data.draw(st.sampled_from([0.0, 2.0, 4.0, 6.0])),
            "transfer_out_rate": data.draw(st.floats(0, 5)),
            "transfer_in_rate": data.draw(st.floats(0, 5)),
            "completion_rate": data.draw(st.floats(0, 5)),
            "staff": data.draw(st.sampled_from([0.0, 2.0, 4.0])),
        }
        for _ in range(n)
    ]
    order = data.draw(st.permutations(range(n)))
    shuffled = [units[i] for i in order]
    a, b = critical_saturation_alert(units), critical_saturation_alert(shuffled)
    for key in ("peclet_number", "saturation_gradient", "boundary_layer_thickness", "time_to_saturation_h"):
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12) or (a[key] == b[key])
    assert a["level"] == b["level"]


def test_peclet_reduces_to_offered_load_without_rebalancing():
    """The roadmap's 'derive the Pe threshold from queuing theory (80% = Pe 0.8)'."""
    arrival = np.array([3.2, 1.0, 1.0, 1.0])
    pe, layer = layer_peclet(arrival, np.full(4, 4.0), np.zeros(4), 1.0)
    assert pe == pytest.approx(0.8) and layer.tolist() == [0]


def test_rebalancing_outflow_lowers_peclet():
    arrival, capacity = np.array([5.0, 1.0, 1.0, 1.0]), np.full(4, 4.0)
    without, _ = layer_peclet(arrival, capacity, np.zeros(4), 1.0)
    with_outflow, _ = layer_peclet(arrival, capacity, np.array([1.0, 0, 0, 0]), 1.0)
    assert with_outflow == pytest.approx(1.0)
    assert without == pytest.approx(1.25)


def test_time_to_saturation_cases():
    assert time_to_saturation(0.6, 0.2, 0.0) == pytest.approx(2.0)
    assert time_to_saturation(0.6, 0.2, 0.2) == math.inf
    assert time_to_saturation(1.0, 0.5, 0.1) == 0.0


def test_effective_diffusion_is_nan_without_gradient_and_signed_by_net_outflow():
    flat = [{"utilization": 0.5, "arrival_rate": 2, "service_capacity": 4, "transfer_out_rate": 1}] * 4
    assert math.isnan(effective_diffusion(flat))
    hot = [{"utilization": 1.0, "arrival_rate": 5, "service_capacity": 4, "transfer_out_rate": 2}]
    cool = [{"utilization": 0.5, "arrival_rate": 2, "service_capacity": 4, "transfer_in_rate": 2 / 3}] * 3
    # net outflow of the layer 2/h, L = 1, mean_S u - mean u = 1 - 0.625
    assert effective_diffusion(hot + cool) == pytest.approx(2 / 0.375)


@pytest.mark.parametrize(
    ("pe_units", "gradient_units", "level", "messages"),
    [
        (3.0, 0.5, "OK", []),
        (3.3, 0.5, "WARNING", ["WARNING: Pe trending toward unstable"]),
        (4.9, 0.5, "CRITICAL", ["CRITICAL: Task arrival outpacing rebalancing"]),
    ],
)
def test_alert_rules(pe_units, gradient_units, level, messages):
    units = [{"utilization": gradient_units, "arrival_rate": pe_units, "service_capacity": 4.0}] * 4
    alert = critical_saturation_alert(units)
    assert alert["level"] == level and alert["messages"] == messages


def test_phase3_preset_is_critical_from_pe_one():
    units = [{"utilization": 0.5, "arrival_rate": 4.2, "service_capacity": 4.0}] * 4
    assert critical_saturation_alert(units)["level"] == "WARNING"
    assert critical_saturation_alert(units, pe_critical_threshold=1.0)["level"] == "CRITICAL"


def test_thick_boundary_layer_warns_even_at_low_pe():
    units = [{"utilization": 0.9, "arrival_rate": 1.0, "service_capacity": 4.0}] * 2 + [
        {"utilization": 0.1, "arrival_rate": 1.0, "service_capacity": 4.0}
    ] * 2
    alert = critical_saturation_alert(units)
    assert alert["level"] == "WARNING" and alert["messages"] == ["Risk of cascade failure"]


def test_detector_warns_on_hot_units_and_implicates_them():
    trace = simulate("uneven", seed=3, hot_rho=1.6, warmup_days=1, scenario_days=3)
    readings = TransportDetector().run(trace)
    late = trace.time_h > trace.meta["onsets_h"]["uneven"] + 6
    hot = trace.meta["scenario_units"]
    assert (readings.level[late] >= Level.WARNING).mean() > 0.9
    implicated = readings.units[late].mean(axis=0)
    assert implicated[hot].min() > implicated[[u for u in range(12) if u not in hot]].max()


@pytest.mark.parametrize("bad", [{"tau_h": -1}, {"pe_critical": 0.5}, {"boundary_warning": 2}])
def test_bad_parameters_are_rejected(bad):
    with pytest.raises(InputError, match="detector.transport"):
        TransportDetector(**bad)


@pytest.fixture(scope="module")
def steady_runs():
    """Three full default runs at steady rho 0.6, where every unit's true offered load is 0.6."""
    return [simulate("steady", seed=seed) for seed in (0, 1, 2)]


def mean_scored_pe(traces, **params) -> float:
    scores = [TransportDetector(**params).run(t).score[t.time_h > t.layout.warmup_h] for t in traces]
    return float(np.concatenate(scores).mean())


def test_split_layer_measures_pe_without_the_selection_bias_at_steady_load(steady_runs):
    """6,048 scored health checks: the split estimator reads 0.6 where the plain one reads ~0.95."""
    assert abs(mean_scored_pe(steady_runs, layer="split") - 0.6) < 0.05
    assert mean_scored_pe(steady_runs, layer="plain") > 0.85  # the bias the split option removes


def test_split_layer_is_invariant_to_unit_numbering_with_ties():
    """Tied units share the layer's last place, so Pe measured on the other half cannot depend on
    which of them a sort would have put first."""
    first = [[3.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0] * 8]  # arrival, outflow
    second = [[1.0, 4.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0], [0.0] * 8]
    halves = np.array([first, second])
    capacity = np.full(8, 4.0)
    reference = split_layer_peclet(halves, capacity, 1.0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        order = rng.permutation(8)
        assert split_layer_peclet(halves[:, :, order], capacity[order], 1.0) == pytest.approx(reference)
    # unit 0 and a third of units 1-3 on the first half; their arrivals on the second: 1 + (4 + 0 + 2) / 3
    weights = layer_weights(halves[0, 0], capacity, halves[0, 1])
    assert weights @ halves[1, 0] == pytest.approx(3.0)


def test_split_layer_still_sees_hot_units():
    trace = simulate("uneven", seed=3, hot_rho=1.6, warmup_days=1, scenario_days=3)
    readings = TransportDetector(layer="split").run(trace)
    late = trace.time_h > trace.meta["onsets_h"]["uneven"] + 6
    assert (readings.level[late] >= Level.WARNING).mean() > 0.9


def test_layer_must_be_plain_or_split():
    with pytest.raises(InputError, match="detector.transport.layer"):
        TransportDetector(layer="slow")


@pytest.mark.parametrize(
    ("detector", "params"), [("transport", {}), ("transport", {"layer": "split"}), ("transport_online", {})]
)
def test_batch_run_in_blocks_of_steps_equals_the_stream(detector, params, monkeypatch):
    """A batch run over many units works through its steps in blocks (``step_blocks``): however
    the steps are split, the readings equal the streaming update() exactly."""
    trace = simulate("spike", seed=2, n_units=9, warmup_days=0.5, scenario_days=1.0)
    monkeypatch.setattr(transport, "BLOCK_VALUES", 9 * 7)  # blocks of 7 steps: many, the last short
    assert len(transport.step_blocks(len(trace), 9)) > 3 and len(trace) % 7
    made = lambda: detectors.make(detector, **params)  # noqa: E731
    streaming = made()
    streaming.reset(trace.layout)
    readings = [streaming.update(trace.observation(k)) for k in range(len(trace))]
    assert made().run(trace).equals(Readings.from_list(trace.time_h, readings, trace.layout.n_units))
