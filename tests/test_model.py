"""The SimPy organisation model: conservation, determinism, queueing theory, parameters."""

from math import factorial

import numpy as np
import pytest

import scenarios
from scenarios import InputError, OrgConfig, Trace
from scenarios.graph import CompleteGraph, MatrixGraph, RingGraph

SHORT = {"n_units": 6, "warmup_days": 1.0, "scenario_days": 3.0}
RING_7 = np.minimum(
    np.abs(np.subtract.outer(np.arange(7), np.arange(7))),
    7 - np.abs(np.subtract.outer(np.arange(7), np.arange(7))),
)


def cumulative(trace: Trace, field: str) -> np.ndarray:
    return np.cumsum(getattr(trace, field), axis=0)


@pytest.mark.parametrize("name", scenarios.available())
def test_every_task_is_accounted_for(name):
    """arrivals + transfers in = completions + transfers out + queue + busy, per unit and step."""
    trace = scenarios.simulate(name, seed=5, **SHORT)
    inflow = cumulative(trace, "arrivals") + cumulative(trace, "transfers_in")
    outflow = cumulative(trace, "completions") + cumulative(trace, "transfers_out")
    assert np.array_equal(inflow, outflow + trace.queue + trace.busy)
    in_transit = (cumulative(trace, "transfers_out") - cumulative(trace, "transfers_in")).sum(axis=1)
    assert (in_transit >= 0).all()
    system = cumulative(trace, "completions").sum(1) + trace.queue.sum(1) + trace.busy.sum(1) + in_transit
    assert np.array_equal(cumulative(trace, "arrivals").sum(axis=1), system)
    assert (trace.busy <= trace.staff_on_duty).all()
    assert (trace.busy_hours <= trace.staff_on_duty.max() * trace.layout.dt_h + 1e-9).all()


def test_same_seed_same_trace_other_seed_other_trace():
    a = scenarios.simulate("spike", seed=3, **SHORT)
    b = scenarios.simulate("spike", seed=3, **SHORT)
    c = scenarios.simulate("spike", seed=4, **SHORT)
    assert np.array_equal(a.values, b.values) and a.truth.events == b.truth.events
    assert a.meta == b.meta
    assert not np.array_equal(a.values, c.values)
    assert a.meta["onsets_h"] != c.meta["onsets_h"]  # onsets are jittered per seed


def erlang_c_queue(c: int, rho: float) -> float:
    """Mean number waiting in an M/M/c queue with utilization rho."""
    a = c * rho
    head = sum(a**k / factorial(k) for k in range(c))
    tail = a**c / factorial(c) / (1 - rho)
    return tail / (head + tail) * rho / (1 - rho)


@pytest.mark.parametrize("c", [1, 4, 10])
@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9])
def test_single_unit_reproduces_erlang_c(c, rho):
    """One unit, no rebalancing, no absences, constant load: M/M/c mean queue and utilization."""
    trace = scenarios.simulate(
        "steady",
        seed=11,
        rho=rho,
        n_units=1,
        staff_per_unit=c,
        rebalance_capacity_per_h=0,
        absence_hazard_per_h=0,
        warmup_days=20,
        scenario_days=300,
    )
    scored = trace.scored()
    queue = trace.queue[scored, 0]
    batches = queue[: queue.size // 20 * 20].reshape(20, -1).mean(axis=1)
    standard_error = batches.std(ddof=1) / np.sqrt(batches.size)
    expected = erlang_c_queue(c, rho)
    assert abs(queue.mean() - expected) < 4 * standard_error + 0.01, (queue.mean(), expected)
    utilization = trace.busy_hours[scored, 0].sum() / (c * trace.layout.dt_h * scored.sum())
    assert utilization == pytest.approx(rho, abs=0.02)


def test_overrides_reach_model_and_scenario_parameters():
    trace = scenarios.simulate(
        "uneven",
        seed=1,
        n_units=8,
        staff_per_unit=3,
        hot_rho=1.4,
        rebalance_capacity_per_h=0,
        warmup_days=1,
        scenario_days=2,
    )
    assert trace.layout.n_units == 8 and (trace.layout.staff == 3).all()
    assert trace.meta["params"]["scenario"]["hot_rho"] == 1.4
    assert trace.transfers_out.sum() == 0  # no rebalancing capacity, no transfers
    hot = trace.meta["scenario_units"]
    late = trace.time_h > trace.meta["onsets_h"]["uneven"]
    assert trace.truth.arrival_rate[late][:, hot].mean() == pytest.approx(1.4 * 3, rel=1e-9)


def test_rebalancing_moves_work_from_hot_to_cool_units():
    trace = scenarios.simulate("uneven", seed=2, warmup_days=1, scenario_days=3)
    hot = trace.meta["scenario_units"]
    cool = [u for u in range(trace.layout.n_units) if u not in hot]
    late = trace.time_h > trace.meta["onsets_h"]["uneven"]
    out, into = trace.transfers_out[late], trace.transfers_in[late]
    assert out[:, hot].sum() > 5 * out[:, cool].sum()
    assert into[:, cool].sum() > 5 * into[:, hot].sum()


def test_rebalancing_capacity_caps_transfers_per_hour():
    trace = scenarios.simulate("uneven", seed=2, rebalance_capacity_per_h=2, warmup_days=1, scenario_days=3)
    per_hour = trace.transfers_out.sum(axis=1).reshape(-1, 4).sum(axis=1)
    assert per_hour.max() <= 2 + 1  # a token bucket of one round's allowance (at least 1 task)
    assert trace.transfers_out.sum() > 0


def test_rebalancing_failure_stops_transfers_at_the_failure():
    trace = scenarios.simulate("rebalancing_failure", seed=0, warmup_days=1, scenario_days=4)
    failure = trace.meta["onsets_h"]["failure"]
    after = trace.time_h > failure + trace.layout.dt_h
    assert trace.transfers_out[~after].sum() > 0
    assert trace.transfers_out[after].sum() == 0


def test_absences_rise_with_fatigue_and_remove_capacity():
    calm = scenarios.simulate("steady", seed=0, rho=0.3, absence_hazard_per_h=0.02, **SHORT)
    busy = scenarios.simulate("steady", seed=0, rho=0.95, absence_hazard_per_h=0.02, **SHORT)
    assert busy.absences.sum() > 1.5 * calm.absences.sum() > 0
    none = scenarios.simulate("steady", seed=0, absence_hazard_per_h=0, **SHORT)
    assert none.absences.sum() == 0 and (none.staff_on_duty == 4).all()
    assert (busy.staff_on_duty < 4).any()


def test_staff_loss_sends_half_the_unit_home_for_two_days():
    trace = scenarios.simulate("staff_loss", seed=7, absence_hazard_per_h=0, warmup_days=1, scenario_days=5)
    (unit,) = trace.meta["scenario_units"]
    onset = trace.meta["onsets_h"]["staff_loss"]
    during = (trace.time_h >= onset + 1) & (trace.time_h < onset + 47)
    assert (trace.staff_on_duty[during, unit] == 2).all()
    assert (trace.staff_on_duty[~during & (trace.time_h > onset + 49), unit] == 4).all()


def test_swap_requests_grow_with_backlog():
    calm = scenarios.simulate("steady", seed=0, rho=0.5, **SHORT)
    jammed = scenarios.simulate("steady", seed=0, rho=1.3, **SHORT)
    assert jammed.swap_requests.sum() > 5 * calm.swap_requests.sum()


def test_lognormal_service_has_the_configured_mean():
    trace = scenarios.simulate("steady", seed=0, service_cv=2.0, absence_hazard_per_h=0, **SHORT)
    served = trace.busy_hours.sum() / trace.completions.sum()
    assert served == pytest.approx(1.0, rel=0.1)


def test_ring_graph_has_hop_distances_and_mean_length():
    layout = OrgConfig(n_units=6, graph="ring").layout()
    assert layout.graph.distances(0, np.arange(6)).tolist() == [0, 1, 2, 3, 2, 1]
    assert layout.characteristic_length == pytest.approx(9 / 5)
    assert OrgConfig().layout().characteristic_length == 1.0


@pytest.mark.parametrize(
    "graph",
    [
        CompleteGraph(7),
        RingGraph(7),
        RingGraph(7).permuted(np.array([3, 0, 6, 1, 5, 2, 4])),
        MatrixGraph(RING_7),
    ],
)
def test_scalar_distance_agrees_with_distances(graph):
    every = np.arange(7)
    pairs = [graph.distance(i, j) for i in range(7) for j in range(7)]
    assert pairs == np.concatenate([graph.distances(i, every) for i in range(7)]).tolist()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"n_units": 0}, "org.n_units"),
        ({"staff_per_unit": -1}, "org.staff_per_unit"),
        ({"staff_per_unit": 0}, "org.staff_per_unit"),
        ({"dt_h": 1e9}, "org.dt_h"),
        ({"dt_h": 1e-3}, "org.dt_h"),
        ({"rebalance_interval_h": 1e-9}, "org.rebalance_interval_h"),
        ({"graph": "star"}, "org.graph"),
        ({"dt_h": 0}, "org.dt_h"),
        ({"rebalance_capacity_per_h": float("nan")}, "org.rebalance_capacity_per_h"),
        ({"rho": -0.1}, "scenario.steady.rho"),
        ({"flux_capacitor": 1}, "scenario.steady.flux_capacitor"),
    ],
)
def test_bad_parameters_name_the_field(overrides, field):
    with pytest.raises(InputError) as error:
        scenarios.simulate("steady", seed=0, **overrides)
    assert error.value.field == field


def test_unknown_scenario_lists_the_catalogue():
    with pytest.raises(InputError, match="allowed: ramp, spike"):
        scenarios.simulate("tsunami", seed=0)


def test_unloaded_organisation_simulates():
    trace = scenarios.simulate("steady", seed=0, rho=0.0, **SHORT)
    assert trace.arrivals.sum() == 0 and trace.busy.sum() == 0


def test_trace_round_trips_through_parquet(tmp_path):
    trace = scenarios.simulate("spike", seed=2, **SHORT)
    trace.to_parquet(tmp_path / "t.parquet")
    back = Trace.from_parquet(tmp_path / "t.parquet")
    assert np.array_equal(back.values, trace.values) and np.array_equal(back.time_h, trace.time_h)
    assert back.truth.events == trace.truth.events
    assert np.array_equal(back.truth.arrival_rate, trace.truth.arrival_rate)
    assert back.meta == trace.meta and back.layout.to_dict() == trace.layout.to_dict()


def test_to_frame_is_tidy():
    trace = scenarios.simulate("steady", seed=0, **SHORT)
    frame = trace.to_frame()
    assert len(frame) == len(trace) * trace.layout.n_units
    assert list(frame.columns[:2]) == ["time_h", "unit"]
    assert frame["arrivals"].dtype.kind == "i" and frame["busy_hours"].dtype.kind == "f"
    assert frame["arrivals"].sum() == trace.arrivals.sum()
