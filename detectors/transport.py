"""Transport dynamics: the roadmap's new module (Peclet number, saturation gradient, boundary layer).

The public functions take the roadmap's signatures (scalars and lists of per-unit dicts), the thin
layer a service would call. Each unit dict may carry:

``utilization``        busy fraction of the unit's staff, 0..1
``arrival_rate``       tasks arriving per hour
``service_capacity``   tasks the staff on duty can serve per hour (staff_on_duty * mu)
``transfer_out_rate``  tasks rebalanced out per hour (the observed diffusive outflow)
``transfer_in_rate``   tasks rebalanced in per hour
``completion_rate``    tasks completed per hour
``staff``              staff on duty

Underneath, ``TransportDetector`` works on arrays over units.

Choosing the stress layer as the top quartile of noisy rate estimates and measuring its Pe on the
same estimates inflates Pe (the winner's curse). ``layer='plain'`` is the roadmap's estimator, as
DESIGN specifies it. ``layer='split'`` cross-fits: health checks alternate between two halves with
their own EWMAs; the layer chosen on one half is measured on the other, both ways, and the two Pe
values are averaged. Arrivals in disjoint intervals are independent, so the choice no longer
selects the measurement's noise.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np

from detectors.base import Detector, Level, Reading, Readings, ewma_alpha
from scenarios.params import param
from scenarios.trace import FIELD_INDEX, FIELDS, Layout, Observation, Trace, check_values

PE_WARNING_THRESHOLD = 0.8
PE_CRITICAL_THRESHOLD = 1.2
PE_CRITICAL_THRESHOLD_PHASE3 = 1.0
GRADIENT_WARNING_THRESHOLD = 0.15
BOUNDARY_LAYER_WARNING_THRESHOLD = 0.4
SATURATION_LEVEL = 0.8
CHARACTERISTIC_LENGTH = 1.0
WARNING_MESSAGE = "WARNING: Pe trending toward unstable"
CRITICAL_MESSAGE = "CRITICAL: Task arrival outpacing rebalancing"
STAFF, QUEUE, BUSY_HOURS = (FIELD_INDEX[f] for f in ("staff_on_duty", "queue", "busy_hours"))
assert FIELDS[:4] == ("arrivals", "completions", "transfers_out", "transfers_in")  # the rates' rows
SAMPLED_SELECTION_UNITS = 2048  # from this many units on, load_floor brackets the k-th load on a sample
FLOOR_SIGMAS = 4.0
LEXSORT_UNITS = 128  # below this many candidates layer_order sorts on all three keys at once


def peclet_number(
    task_arrival_rate: float, rebalancing_capacity: float, characteristic_length: float = 1.0
) -> float:
    """Advection over diffusion: arrival rate * L / capacity to move work away.

    >>> peclet_number(8.0, 10.0)
    0.8
    >>> peclet_number(1.0, 0.0), peclet_number(0.0, 0.0)
    (inf, 0.0)
    """
    if rebalancing_capacity > 0:
        return task_arrival_rate * characteristic_length / rebalancing_capacity
    return math.inf if task_arrival_rate > 0 else 0.0


def raw_rates(values: np.ndarray, dt_h: float, out: np.ndarray, duty_hours: np.ndarray) -> np.ndarray:
    """Health checks' rows arrival, completion, outflow and inflow per hour, and the busy fraction of
    the staff on duty (nobody on duty: busy while tasks wait), into ``out``: (fields, N) values give
    (5, N), and (steps, fields, N) give (steps, 5, N); ``duty_hours`` (N or steps x N) is scratch."""
    np.divide(values[..., :4, :], dt_h, out=out[..., :4, :])
    np.multiply(values[..., STAFF, :], dt_h, out=duty_hours)
    busy = out[..., 4, :]
    np.greater(values[..., QUEUE, :], 0, out=busy)
    np.divide(values[..., BUSY_HOURS, :], duty_hours, out=busy, where=duty_hours > 0)
    np.minimum(busy, 1.0, out=busy)
    return out


BLOCK_VALUES = 1 << 20  # (steps, units) values a batch run's temporaries hold at a time


def step_blocks(t: int, n: int) -> list[slice]:
    """Consecutive blocks of the ``t`` steps, each with at most about ``BLOCK_VALUES`` values over
    ``n`` units (at least one step), for arithmetic whose temporaries need not span the whole run.

    >>> step_blocks(5, 1 << 19)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    size = max(1, BLOCK_VALUES // max(n, 1))
    return [slice(k, min(k + size, t)) for k in range(0, t, size)]


def stress_layer(arrival: np.ndarray, capacity: np.ndarray, outflow: np.ndarray) -> np.ndarray:
    """Indices of the top quartile (at least one unit) by offered load arrival/capacity.

    Ties break on higher arrival, then lower capacity + outflow, then the lower index, so the
    chosen set's totals do not depend on how units are numbered. The layer comes in that order:
    the first k of a full lexsort, found by sorting only the units at or above a floor that at
    least k loads reach (``load_floor``, O(N)).

    >>> stress_layer(np.array([1.0, 3.0, 2.0, 0.0]), np.full(4, 4.0), np.zeros(4)).tolist()
    [1]
    """
    return layer_of(offered_load(arrival, capacity), arrival, capacity + outflow)


def layer_of(load: np.ndarray, arrival: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """``stress_layer`` from each unit's offered load and capacity + outflow (``cost``).

    Only units at or above the k-th largest load can be in the layer; ordering all units at or
    above any lower floor gives the same first k, in the same order (``load_floor``).
    """
    k = quartile_size(load.size)
    top = (load >= load_floor(load, k)).nonzero()[0]  # every unit that can be in the layer, ties included
    if top.size <= 1:  # one unit, or none when loads are NaN (never from validated observations)
        return top
    return top[layer_order(load[top], arrival[top], cost[top])[:k]]


def load_floor(load: np.ndarray, k: int) -> float:
    """A load that at least ``k`` units reach, at most the k-th largest and usually close to it.

    From ``SAMPLED_SELECTION_UNITS`` units on, the floor is an upper quantile of a fixed sample of
    1/16 of the units, taken ``FLOOR_SIGMAS`` standard deviations of the sample's rank below the
    layer's share (Floyd and Rivest's bracket), so that one comparison over all units replaces a
    selection over them; if fewer than k units reach it (rarely), and for fewer units, the floor
    is the k-th largest load itself (``np.partition``).

    >>> load_floor(np.array([3.0, 1.0, 2.0, 0.0]), 2)
    2.0
    """
    n = load.size
    if n >= SAMPLED_SELECTION_UNITS:
        sample = load[sample_units(n)]
        m, share = sample.size, k / n
        rank = min(m, math.ceil(share * m + FLOOR_SIGMAS * math.sqrt(m * share * (1 - share))))
        floor = np.partition(sample, m - rank)[m - rank]
        if np.count_nonzero(load >= floor) >= k:
            return float(floor)
    return float(np.partition(load, n - k)[n - k])


@lru_cache(maxsize=8)
def sample_units(n: int) -> np.ndarray:
    """A fixed sample of n // 16 of ``n`` units (the same for every call: it only sets the speed)."""
    sample = np.sort(np.random.default_rng(n).choice(n, n // 16, replace=False))
    sample.flags.writeable = False  # shared by every call
    return sample


def layer_order(load: np.ndarray, arrival: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Order of units (given in index order) by load desc, arrival desc, cost asc, then index.

    The later keys only break ties of the load: one stable sort on the load suffices unless two
    units of equal load differ in arrival or cost, and only then are all three keys sorted. Below
    ``LEXSORT_UNITS`` units the three-key sort is cheaper than the check and comes first.

    >>> layer_order(np.array([1.0, 2.0, 1.0]), np.array([1.0, 1.0, 2.0]), np.zeros(3)).tolist()
    [1, 2, 0]
    """
    if load.size < LEXSORT_UNITS:
        return np.lexsort((cost, -arrival, -load))
    order = np.argsort(-load, kind="stable")
    by_load = load[order]
    tied = by_load[1:] == by_load[:-1]
    if tied.any():
        arrival_by_load, cost_by_load = arrival[order], cost[order]
        differ = (arrival_by_load[1:] != arrival_by_load[:-1]) | (cost_by_load[1:] != cost_by_load[:-1])
        if (tied & differ).any():
            return np.lexsort((cost, -arrival, -load))
    return order


def quartile_size(n: int) -> int:
    return max(1, math.ceil(n / 4))


def offered_load(arrival: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """arrival / capacity per unit: inf with arrivals and no capacity, 0 with neither.

    A vanishing capacity gives inf, which is the answer. Units without capacity are rare, so all
    units are divided and those few overwritten (a masked divide costs several times a plain one).

    >>> offered_load(np.array([2.0, 1.0, 0.0]), np.array([4.0, 0.0, 0.0])).tolist()
    [0.5, inf, 0.0]
    """
    with np.errstate(all="ignore"):
        load = arrival / capacity
    idle = ~(capacity > 0)
    if idle.any():
        load[idle] = np.where(arrival[idle] > 0, np.inf, 0.0)
    return load


def layer_peclet(
    arrival: np.ndarray, capacity: np.ndarray, outflow: np.ndarray, length: float
) -> tuple[float, np.ndarray]:
    """Pe of the stress layer S = L * sum_S arrival / sum_S (capacity + outflow), and S."""
    cost = capacity + outflow
    layer = layer_of(offered_load(arrival, capacity), arrival, cost)
    return peclet_number(float(arrival[layer].sum()), float(cost[layer].sum()), length), layer


def layer_weights(arrival: np.ndarray, capacity: np.ndarray, outflow: np.ndarray) -> np.ndarray:
    """Membership of each unit in the stress layer: 1 inside, 0 outside; units tied with the layer's
    last place (same offered load, arrival and capacity + outflow) share its remaining places equally.

    Totals over the layer of other data than it was chosen on then do not depend on unit numbering.

    >>> arrival = np.array([3.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # two places: unit 0 and a third of 1-3
    >>> layer_weights(arrival, np.full(8, 4.0), np.zeros(8)).round(3).tolist()
    [1.0, 0.333, 0.333, 0.333, 0.0, 0.0, 0.0, 0.0]
    """
    cost = capacity + outflow
    load = offered_load(arrival, capacity)
    layer = layer_of(load, arrival, cost)
    last = layer[np.lexsort((-cost[layer], arrival[layer], load[layer]))[0]]
    tied = (load == load[last]) & (arrival == arrival[last]) & (cost == cost[last])
    weights = np.zeros(arrival.size)
    weights[layer] = 1.0
    weights[tied] = np.count_nonzero(weights[tied]) / np.count_nonzero(tied)
    return weights


def split_layer_weights(arrival: np.ndarray, capacity: np.ndarray, outflow: np.ndarray) -> np.ndarray:
    """``layer_weights`` of every step at once: (T, N) rates in, (T, N) weights out, equal row by
    row. The layer's last place has the least (load, arrival, -cost) of the layer, so the units tied
    with it are those with its values.

    >>> arrival = np.array([[3.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    >>> split_layer_weights(arrival, np.full((1, 8), 4.0), np.zeros((1, 8))).round(3).tolist()
    [[1.0, 0.333, 0.333, 0.333, 0.0, 0.0, 0.0, 0.0]]
    """
    t, n = arrival.shape
    cost = capacity + outflow
    load = offered_load(arrival.reshape(-1), capacity.reshape(-1)).reshape(t, n)
    k = quartile_size(n)
    layer = np.lexsort((cost, -arrival, -load), axis=-1)[:, :k]
    in_layer = np.zeros((t, n), dtype=bool)
    np.put_along_axis(in_layer, layer, True, axis=1)
    last = layer[:, -1:]
    tied = np.ones((t, n), dtype=bool)
    for values in (load, arrival, cost):
        tied &= values == np.take_along_axis(values, last, axis=1)
    share = np.count_nonzero(in_layer & tied, axis=1) / np.count_nonzero(tied, axis=1)
    return np.where(tied, share[:, None], in_layer.astype(float))


def split_layer_peclet(halves: np.ndarray, capacity: np.ndarray, length: float) -> float:
    """Cross-fitted Pe of the stress layer from two independent halves of the rate estimates.

    ``halves`` is (2, 2, N): per half, arrival and outflow rates. The layer chosen on each half
    (``layer_weights``) is measured on the other; the result is the mean of the two Pe values.

    >>> halves = np.array([[[4.0, 1.0, 1.0, 1.0], [0.0] * 4], [[2.0, 1.0, 1.0, 1.0], [0.0] * 4]])
    >>> split_layer_peclet(halves, np.full(4, 4.0), 1.0)  # unit 0 chosen on each half: (2/4 + 4/4) / 2
    0.75
    """
    total = 0.0
    for select, measure in ((0, 1), (1, 0)):
        weights = layer_weights(halves[select, 0], capacity, halves[select, 1])
        arrival, outflow = halves[measure]
        total += peclet_number(float(weights @ arrival), float(weights @ (capacity + outflow)), length)
    return total / 2


def gradient_of(utilization: np.ndarray, length: float = 1.0) -> float:
    """Mean utilization of the top quartile minus the system mean, over L."""
    if utilization.size == 0:
        return 0.0
    n = utilization.size
    k = quartile_size(n)
    top = np.partition(utilization, n - k)[n - k :]
    return float((np.add.reduce(top) / k - np.add.reduce(utilization) / n) / length)


def saturation_gradient(units_data: list[dict], characteristic_length: float = 1.0) -> float:
    """Workload density differential between the most stressed quartile and the system.

    >>> saturation_gradient([{"utilization": u} for u in (0.5, 0.5, 0.5, 0.5)])
    0.0
    >>> saturation_gradient([{"utilization": u} for u in (1.0, 0.5, 0.5, 0.5)])
    0.375
    """
    return gradient_of(_column(units_data, "utilization"), characteristic_length)


def boundary_layer_thickness(units_data: list[dict], saturation_level: float = SATURATION_LEVEL) -> float:
    """Fraction of units at or above the saturation level.

    >>> boundary_layer_thickness([{"utilization": u} for u in (0.9, 0.8, 0.2, 0.1)])
    0.5
    """
    utilization = _column(units_data, "utilization")
    return float((utilization >= saturation_level).mean()) if utilization.size else 0.0


def effective_diffusion(units_data: list[dict], characteristic_length: float = 1.0) -> float:
    """D_eff = (net transfers out of the stress layer per hour) * L / (mean_S u - mean u).

    NaN when the stress layer is no busier than the system (no gradient to diffuse down).
    """
    arrival, capacity, outflow = (
        _column(units_data, k) for k in ("arrival_rate", "service_capacity", "transfer_out_rate")
    )
    layer = stress_layer(arrival, capacity, outflow)
    utilization = _column(units_data, "utilization")
    inflow = _column(units_data, "transfer_in_rate")
    return diffusion_of(layer, utilization, outflow, inflow, characteristic_length)


def diffusion_of(
    layer: np.ndarray, utilization: np.ndarray, outflow: np.ndarray, inflow: np.ndarray, length: float
) -> float:
    mean = np.add.reduce(utilization) / utilization.size
    difference = np.add.reduce(utilization[layer]) / layer.size - mean
    if abs(difference) < 1e-9:
        return math.nan
    return float(np.add.reduce(outflow[layer] - inflow[layer]) * length / difference)


def time_to_saturation(current_util: float, arrival_rate: float, rebalancing_rate: float) -> float:
    """Hours until utilization reaches 1 at the current net fill rate (rates in capacity fractions
    per hour): (1 - u) / (arrival - rebalancing) when positive, else inf; 0 if already saturated
    with net inflow.

    >>> time_to_saturation(0.5, 0.3, 0.1)
    2.5
    >>> time_to_saturation(0.5, 0.1, 0.3), time_to_saturation(1.0, 0.3, 0.1)
    (inf, 0.0)
    """
    return soonest_saturation(
        np.array([current_util]), np.array([arrival_rate - rebalancing_rate]), np.ones(1)
    )


def soonest_saturation(util: np.ndarray, net: np.ndarray, staff: np.ndarray) -> float:
    """Hours until the first unit is full: the least (1 - u) / fill over units whose fill rate
    net / staff (capacity fractions per hour) is positive, inf if none. A unit without staff and
    with net inflow is full now (0 h).

    net / staff is inf, -inf or NaN for a unit without staff (as its net is positive, negative or
    zero), which are exactly the cases full now, never and never; a vanishing fill rate gives inf.
    The other units' hours are replaced by inf rather than masked in the reduction (which costs
    several times as much).
    """
    with np.errstate(all="ignore"):
        fill = net / staff
        hours = np.maximum(0.0, 1.0 - util) / fill
    return float(np.minimum.reduce(np.where(fill > 0, hours, np.inf), initial=np.inf))


def critical_saturation_alert(
    units_data: list[dict],
    pe_warning_threshold: float = PE_WARNING_THRESHOLD,
    pe_critical_threshold: float = PE_CRITICAL_THRESHOLD,
    gradient_warning_threshold: float = GRADIENT_WARNING_THRESHOLD,
    boundary_layer_warning_threshold: float = BOUNDARY_LAYER_WARNING_THRESHOLD,
    characteristic_length: float = CHARACTERISTIC_LENGTH,
    saturation_level: float = SATURATION_LEVEL,
) -> dict:
    """The roadmap's phase-3 alert rules on a snapshot of units: metrics, level and messages.

    >>> units = [{"utilization": 0.95, "arrival_rate": 4.0, "service_capacity": 4.0,
    ...           "transfer_out_rate": 0.0}] + [{"utilization": 0.5, "arrival_rate": 2.0,
    ...           "service_capacity": 4.0, "transfer_out_rate": 0.0}] * 3
    >>> alert = critical_saturation_alert(units)
    >>> alert["level"], alert["peclet_number"], alert["messages"]
    ('WARNING', 1.0, ['WARNING: Pe trending toward unstable', 'Increase inter-unit communication'])
    """
    metrics = transport_metrics(
        arrival=_column(units_data, "arrival_rate"),
        capacity=_column(units_data, "service_capacity"),
        outflow=_column(units_data, "transfer_out_rate"),
        inflow=_column(units_data, "transfer_in_rate"),
        completion=_column(units_data, "completion_rate"),
        utilization=_column(units_data, "utilization"),
        staff=_column(units_data, "staff"),
        length=characteristic_length,
        saturation_level=saturation_level,
    )
    level, messages, _ = alert_rules(
        metrics["pe"],
        metrics["gradient"],
        metrics["thickness"],
        pe_warning_threshold,
        pe_critical_threshold,
        gradient_warning_threshold,
        boundary_layer_warning_threshold,
    )
    return {
        "peclet_number": metrics["pe"],
        "saturation_gradient": metrics["gradient"],
        "boundary_layer_thickness": metrics["thickness"],
        "effective_diffusion": metrics["d_eff"],
        "time_to_saturation_h": metrics["time_to_saturation_h"],
        "level": Level(level).name,
        "messages": messages,
    }


def transport_metrics(
    arrival: np.ndarray,
    capacity: np.ndarray,
    outflow: np.ndarray,
    inflow: np.ndarray,
    completion: np.ndarray,
    utilization: np.ndarray,
    staff: np.ndarray,
    length: float,
    saturation_level: float,
) -> dict:
    """All transport metrics from per-unit arrays (rates per hour, utilization 0..1)."""
    cost = capacity + outflow
    net = arrival - completion - outflow  # tasks per hour filling each unit
    load = offered_load(arrival, capacity)
    layer = layer_of(load, arrival, cost)
    saturated = utilization >= saturation_level
    n = utilization.size
    return {
        "pe": peclet_number(float(np.add.reduce(arrival[layer])), float(np.add.reduce(cost[layer])), length),
        "layer": layer,
        "arrival": arrival,
        "capacity": capacity,
        "outflow": outflow,
        "cost": cost,  # capacity + outflow
        "load": load,  # offered load arrival / capacity
        "gradient": gradient_of(utilization, length),
        "thickness": float(np.count_nonzero(saturated) / n),
        "saturated": saturated,
        "d_eff": diffusion_of(layer, utilization, outflow, inflow, length),
        "time_to_saturation_h": soonest_saturation(utilization, net, staff),
        "utilization": utilization,
        "length": length,
    }


def alert_rules(
    pe: float,
    gradient: float,
    thickness: float,
    pe_warning: float,
    pe_critical: float,
    gradient_warning: float,
    boundary_warning: float,
) -> tuple[int, list[str], tuple[str, ...]]:
    """Level, messages and the rules that fired (``pe``, ``gradient``, ``boundary``) of the phase-3
    rules, which read only the layer's Pe, the saturation gradient and the boundary layer.

    >>> alert_rules(1.0, 0.2, 0.0, 0.8, 1.2, 0.15, 0.4)
    (2, ['WARNING: Pe trending toward unstable', 'Increase inter-unit communication'], ('pe', 'gradient'))
    """
    level, messages, fired = Level.OK, [], []
    if pe >= pe_warning:
        critical = pe >= pe_critical
        level = Level.CRITICAL if critical else Level.WARNING
        messages.append(CRITICAL_MESSAGE if critical else WARNING_MESSAGE)
        fired.append("pe")
    if gradient > gradient_warning and pe > pe_warning:
        level = max(level, Level.WARNING)
        messages.append("Increase inter-unit communication")
        fired.append("gradient")
    if thickness > boundary_warning:
        level = max(level, Level.WARNING)
        messages.append("Risk of cascade failure")
        fired.append("boundary")
    return int(level), messages, tuple(fired)


def implicated_units(
    metrics: dict, fired: tuple[str, ...], pe_warning: float, gradient_warning: float
) -> np.ndarray:
    """Units the fired rules implicate, each rule the units that meet it on their own, so units that
    see the same data are implicated alike: for the Pe rule, units whose own Pe reaches the warning
    level (at least one does whenever the layer's does); for the gradient rule, units above the mean
    by more than the gradient threshold; for the boundary layer, the saturated units.
    """
    utilization, length = metrics["utilization"], metrics["length"]
    implicated = np.zeros(utilization.size, dtype=bool)
    if "pe" in fired:
        with np.errstate(over="ignore"):  # arrival * L may overflow to inf, the answer
            implicated |= offered_load(metrics["arrival"] * length, metrics["cost"]) >= pe_warning
    if "gradient" in fired:
        implicated |= (utilization - utilization.sum() / utilization.size) / length > gradient_warning
    if "boundary" in fired:
        implicated |= metrics["saturated"]
    return implicated.nonzero()[0]


def _column(units_data: list[dict], key: str) -> np.ndarray:
    return np.array([float(unit.get(key, 0.0)) for unit in units_data], dtype=float)


class StressLayerDetector(Detector):
    """The settings shared by the detectors that read the stress layer's Pe from EWMA rates
    (transport, transport_online)."""

    tau_h: float = param(1.0, "time constant of the EWMA rates (0: no smoothing)", unit="hours", ge=0)
    pe_warning: float = param(PE_WARNING_THRESHOLD, "WARNING at a Pe of the stress layer >= this", ge=0)
    pe_critical: float = param(PE_CRITICAL_THRESHOLD, "CRITICAL at a Pe >= this; at least pe_warning", ge=0)
    saturation_level: float = param(SATURATION_LEVEL, "a unit is saturated at this utilization", ge=0, le=1)
    characteristic_length: float | None = param(
        None, "L of Pe; null: the organisation's mean hop distance between units", gt=0
    )

    def __post_init__(self) -> None:
        warning = self.pe_warning
        self.require(self.pe_critical >= warning, "pe_critical", f"must be >= pe_warning ({warning})")


class TransportDetector(StressLayerDetector):
    """Streams the transport metrics: EWMA rates per unit, Pe of the stress layer, alert rules.

    score = Pe. Rates are EWMAs with time constant ``tau_h`` (initialised at the first
    observation); utilization is the EWMA of busy staff-hours over staff-hours on duty.
    ``layer='split'`` measures Pe cross-fitted on alternate health checks (``split_layer_peclet``):
    each half keeps EWMAs of arrivals and outflow with the same time constant, updated on its own
    checks and initialised at the first observation. Everything else (gradient, boundary layer,
    D_eff, implicated units) reads the EWMAs of all checks, so with ``split`` a Pe alert can
    implicate no unit when no unit's own Pe reaches the warning level.

    >>> from scenarios import simulate
    >>> trace = simulate("steady", seed=0, n_units=4, warmup_days=0.25, scenario_days=0.25)
    >>> readings = TransportDetector().run(trace)
    >>> sorted(readings.detail)
    ['boundary_layer', 'd_eff', 'gradient', 'pe', 'time_to_saturation_h']
    """

    name = "transport"
    score_label = "Pe of the stress layer (dimensionless)"

    gradient_warning: float = param(
        GRADIENT_WARNING_THRESHOLD, "WARNING at a saturation gradient above this while Pe > pe_warning", ge=0
    )
    boundary_warning: float = param(
        BOUNDARY_LAYER_WARNING_THRESHOLD,
        "WARNING at a saturated fraction of units above this",
        ge=0,
        le=1,
    )
    layer: Literal["plain", "split"] = param(
        "plain", "plain: the roadmap's Pe; split: Pe cross-fitted on alternate health checks"
    )

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        n = layout.n_units
        self._alpha = ewma_alpha(layout.dt_h, self.tau_h)
        self._length = self.characteristic_length or layout.characteristic_length
        # rows: arrival, completion, outflow, inflow (FIELDS order), utilization
        self._raw = np.empty((5, n))  # this health check's
        self._rates = np.empty((5, n))  # their EWMAs
        self._change = np.empty((5, n))
        self._duty = np.empty(n)
        self._capacity = np.empty(n)
        self._started = False
        self._half_alpha = ewma_alpha(2 * layout.dt_h, self.tau_h)  # each half sees every other check
        self._halves: np.ndarray | None = None  # split: (2, 2, N): per half, arrival and outflow
        self._k = 0

    def observe(self, obs: Observation) -> dict:
        """Advance the EWMA rates by one observation; return ``transport_metrics`` of the new rates.

        Its arrays are the detector's own buffers, valid until the next ``observe``.
        """
        values, raw, rates = obs.values, self._raw, self._rates
        staff = values[STAFF]
        raw_rates(values, self.layout.dt_h, raw, self._duty)
        if self._started:
            change = np.subtract(raw, rates, out=self._change)
            change *= self._alpha
            rates += change
        else:
            rates[:] = raw
            self._started = True
        arrival, completion, outflow, inflow, utilization = rates
        capacity = np.multiply(staff, self.layout.service_rate, out=self._capacity)
        metrics = transport_metrics(
            arrival,
            capacity,
            outflow,
            inflow,
            completion,
            utilization,
            staff,
            self._length,
            self.saturation_level,
        )
        if self.layer == "split":
            metrics["pe"] = split_layer_peclet(self._split_rates(raw[0:3:2]), capacity, self._length)
        return metrics

    def step(self, obs: Observation) -> Reading:
        metrics = self.observe(obs)
        pe = metrics["pe"]
        level, _, fired = alert_rules(
            pe,
            metrics["gradient"],
            metrics["thickness"],
            self.pe_warning,
            self.pe_critical,
            self.gradient_warning,
            self.boundary_warning,
        )
        units = implicated_units(metrics, fired, self.pe_warning, self.gradient_warning) if fired else ()
        detail = {
            "pe": pe,
            "gradient": metrics["gradient"],
            "boundary_layer": metrics["thickness"],
            "d_eff": metrics["d_eff"],
            "time_to_saturation_h": metrics["time_to_saturation_h"],
        }
        return Reading(pe, level, units, detail)

    def run(self, trace: Trace) -> Readings:
        """Reset plus ``update`` at every step, as arrays over (steps, units): the EWMAs stay a loop
        over steps of the same array operations; the layer, Pe and rules are computed for every step
        at once. ``layer='split'`` finds each half's layer weights for every step at once too
        (``split_pe_over``)."""
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        m = self.metrics_over(trace)
        if self.layer == "split":
            m["pe"] = self.split_pe_over(trace, m["capacity"])
        pe, gradient, thickness = m["pe"], m["gradient"], m["thickness"]
        pe_rule = pe >= self.pe_warning
        gradient_rule = (gradient > self.gradient_warning) & (pe > self.pe_warning)
        boundary_rule = thickness > self.boundary_warning
        level = np.where(pe_rule, np.where(pe >= self.pe_critical, Level.CRITICAL, Level.WARNING), Level.OK)
        level = np.where((gradient_rule | boundary_rule) & (level < Level.WARNING), Level.WARNING, level)
        utilization, length = m["utilization"], m["length"]
        units = np.empty(utilization.shape, dtype=bool)
        for rows in step_blocks(*units.shape):
            with np.errstate(over="ignore"):
                own_pe = offered_load(m["arrival"][rows] * length, m["cost"][rows]) >= self.pe_warning
            u = utilization[rows]
            above = (u - u.sum(axis=1, keepdims=True) / u.shape[1]) / length
            units[rows] = (
                (pe_rule[rows, None] & own_pe)
                | (gradient_rule[rows, None] & (above > self.gradient_warning))
                | (boundary_rule[rows, None] & m["saturated"][rows])
            )
        detail = {
            "pe": pe,
            "gradient": gradient,
            "boundary_layer": thickness,
            "d_eff": m["d_eff"],
            "time_to_saturation_h": m["time_to_saturation_h"],
        }
        return Readings(
            np.asarray(trace.time_h, dtype=float), pe.copy(), level.astype(np.int8), units, detail
        )

    def metrics_over(self, trace: Trace) -> dict:
        """``observe`` at every step of a trace after ``reset``, as arrays: per step (T,) and per step
        and unit (T, N). The plain layer only."""
        values, layout = trace.values, self.layout
        t, n = len(trace), layout.n_units
        staff = values[:, STAFF]
        rates = np.empty((t, 5, n))
        for rows in step_blocks(t, 5 * n):  # a block of health checks' raw rates at a time
            size = rows.stop - rows.start
            raw = raw_rates(values[rows], layout.dt_h, np.empty((size, 5, n)), np.empty((size, n)))
            for k, raw_k in enumerate(raw, rows.start):
                rates[k] = rates[k - 1] + (raw_k - rates[k - 1]) * self._alpha if k else raw_k
        arrival, completion, outflow, inflow, utilization = (rates[:, i] for i in range(5))
        capacity = staff * layout.service_rate
        cost = capacity + outflow
        k = quartile_size(n)
        load, layer = np.empty((t, n)), np.empty((t, k), dtype=np.intp)
        top, soonest = np.empty(t), np.empty(t)
        for rows in step_blocks(t, n):  # temporaries of a block of steps at a time (memory)
            load[rows] = offered_load(arrival[rows].reshape(-1), capacity[rows].reshape(-1)).reshape(-1, n)
            layer[rows] = np.lexsort((cost[rows], -arrival[rows], -load[rows]), axis=-1)[:, :k]
            top[rows] = np.add.reduce(np.partition(utilization[rows], n - k, axis=1)[:, n - k :], axis=1)
            with np.errstate(all="ignore"):
                fill = arrival[rows] - completion[rows]
                fill -= outflow[rows]  # tasks per hour filling each unit
                fill /= staff[rows]
                hours = np.subtract(1.0, utilization[rows])
                np.maximum(0.0, hours, out=hours)
                hours /= fill
            hours[~(fill > 0)] = np.inf
            soonest[rows] = np.minimum.reduce(hours, axis=1, initial=np.inf)
        on_layer = lambda x: np.take_along_axis(x, layer, axis=1)  # noqa: E731
        length = self._length
        layer_arrival = np.add.reduce(on_layer(arrival), axis=1)
        layer_cost = np.add.reduce(on_layer(cost), axis=1)
        with np.errstate(all="ignore"):  # peclet_number over steps
            pe = np.where(
                layer_cost > 0, layer_arrival * length / layer_cost, np.where(layer_arrival > 0, np.inf, 0.0)
            )
        saturated = utilization >= self.saturation_level
        mean = np.add.reduce(utilization, axis=1) / n
        gradient = (top / k - mean) / length
        difference = np.add.reduce(on_layer(utilization), axis=1) / k - mean
        moved = np.add.reduce(on_layer(outflow) - on_layer(inflow), axis=1)
        with np.errstate(all="ignore"):
            d_eff = np.where(np.abs(difference) < 1e-9, np.nan, moved * length / difference)
        return {
            "pe": pe,
            "arrival": arrival,
            "capacity": capacity,
            "outflow": outflow,
            "cost": cost,
            "load": load,
            "layer": layer,
            "layer_arrival": layer_arrival,
            "gradient": gradient,
            "thickness": np.count_nonzero(saturated, axis=1) / n,
            "saturated": saturated,
            "d_eff": d_eff,
            "time_to_saturation_h": soonest,
            "utilization": utilization,
            "length": length,
        }

    def split_pe_over(self, trace: Trace, capacity: np.ndarray) -> np.ndarray:
        """``split_layer_peclet`` at every step of a trace after ``reset``, as ``observe`` with
        ``layer='split'`` computes it: the halves' EWMAs stay a loop over steps, each half's layer
        weights are found for all steps at once, and the four dot products per step are the same
        1-D products the stream takes."""
        raw = trace.values[:, 0:3:2] / self.layout.dt_h  # (T, 2, N): arrival and outflow rates
        t = len(raw)
        halves = np.empty((t, 2, 2, raw.shape[-1]))  # per step, per half: arrival and outflow EWMAs
        if t:
            halves[0] = raw[0]
        for k in range(1, t):
            halves[k] = halves[k - 1]
            half = halves[k, k % 2]
            half += self._half_alpha * (raw[k] - half)
        weights = np.empty((2, t, capacity.shape[1]))  # per half: its layer weights at every step
        for rows in step_blocks(t, capacity.shape[1]):  # the selection's temporaries a block at a time
            for i in (0, 1):
                weights[i, rows] = split_layer_weights(halves[rows, i, 0], capacity[rows], halves[rows, i, 1])
        cost = [capacity + halves[:, i, 1] for i in (0, 1)]
        length, pe = self._length, np.empty(t)
        for k in range(t):
            total = 0.0
            for select, measure in ((0, 1), (1, 0)):
                w = weights[select][k]
                total += peclet_number(float(w @ halves[k, measure, 0]), float(w @ cost[measure][k]), length)
            pe[k] = total / 2
        return pe

    def _split_rates(self, raw: np.ndarray) -> np.ndarray:
        """Update the half of this health check (even or odd) with its arrival and outflow rates."""
        if self._halves is None:
            self._halves = np.stack((raw, raw))
        else:
            half = self._halves[self._k % 2]
            half += self._half_alpha * (raw - half)
        self._k += 1
        return self._halves
