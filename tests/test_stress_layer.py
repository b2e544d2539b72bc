"""Transport's stress layer by partial selection equals the first quartile of a full lexsort."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.transport import (
    LEXSORT_UNITS,
    SAMPLED_SELECTION_UNITS,
    layer_order,
    load_floor,
    offered_load,
    quartile_size,
    sample_units,
    stress_layer,
)


def lexsort_layer(arrival: np.ndarray, capacity: np.ndarray, outflow: np.ndarray) -> np.ndarray:
    """The definition: sort every unit by (load desc, arrival desc, capacity + outflow asc, index)."""
    load = offered_load(arrival, capacity)
    order = np.lexsort((capacity + outflow, -arrival, -load))
    return order[: quartile_size(len(arrival))]


def tied_values(draw, n: int, choices: list[float]) -> np.ndarray:
    """Values drawn from a few choices, so that ties are common."""
    return np.array(draw(st.lists(st.sampled_from(choices), min_size=n, max_size=n)))


SIZES = st.one_of(st.integers(1, 40), st.integers(200, 1200))
SAMPLED_SIZES = st.integers(SAMPLED_SELECTION_UNITS, SAMPLED_SELECTION_UNITS + 1500)  # the sampled floor


@settings(max_examples=300)
@given(st.data(), SIZES)
def test_partial_selection_equals_the_lexsort_with_ties(data, n):
    arrival = tied_values(data.draw, n, [0.0, 1.0, 2.0, 4.0, 8.0])
    capacity = tied_values(data.draw, n, [0.0, 2.0, 4.0, 8.0])  # 0: infinite load with arrivals
    outflow = tied_values(data.draw, n, [0.0, 0.5, 1.0])
    layer = stress_layer(arrival, capacity, outflow)
    assert layer.tolist() == lexsort_layer(arrival, capacity, outflow).tolist()


@settings(max_examples=40, deadline=None)
@given(st.data(), SAMPLED_SIZES, st.integers(2, 40))
def test_sampled_selection_equals_the_lexsort_with_ties(data, n, distinct):
    """From SAMPLED_SELECTION_UNITS on, with few or many distinct loads (ties at the floor)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    arrival = rng.integers(0, distinct, n).astype(float)
    capacity = rng.choice([0.0, 2.0, 4.0, 8.0], n, p=[0.02, 0.3, 0.5, 0.18])
    outflow = rng.choice([0.0, 0.5, 1.0], n)
    layer = stress_layer(arrival, capacity, outflow)
    assert layer.tolist() == lexsort_layer(arrival, capacity, outflow).tolist()


@settings(max_examples=100, deadline=None)
@given(st.data(), st.one_of(SIZES, SAMPLED_SIZES))
def test_load_floor_is_reached_by_at_least_k_units_and_at_most_the_kth_load(data, n):
    load = np.repeat(tied_values(data.draw, min(n, 40), [0.0, 0.25, 0.5, 1.0, 2.0, np.inf]), -(-n // 40))[:n]
    load = np.random.default_rng(n).permutation(load)
    k = data.draw(st.integers(1, n))
    kth = np.sort(load)[n - k]  # the k-th largest, by the full sort
    floor = load_floor(load, k)
    assert floor <= kth and np.count_nonzero(load >= floor) >= k
    if n < SAMPLED_SELECTION_UNITS:
        assert floor == kth


def test_load_floor_falls_back_to_the_kth_load_when_the_sample_misses():
    n = SAMPLED_SELECTION_UNITS
    load = np.ones(n)
    load[np.setdiff1d(np.arange(n), sample_units(n))[0]] = 0.0  # the least load, outside the sample
    assert load_floor(load, n) == 0.0  # the sample's least load, 1.0, leaves one unit out
    assert load_floor(load, n - 1) == 1.0


@settings(max_examples=200)
@given(st.data(), st.integers(LEXSORT_UNITS, LEXSORT_UNITS + 100))
def test_layer_order_equals_the_lexsort_with_ties(data, n):
    load = tied_values(data.draw, n, [0.0, 0.5, 1.0, np.inf])
    arrival = tied_values(data.draw, n, [0.0, 1.0, 2.0])
    cost = tied_values(data.draw, n, [1.0, 2.0])
    assert layer_order(load, arrival, cost).tolist() == np.lexsort((cost, -arrival, -load)).tolist()


def test_partial_selection_equals_the_lexsort_on_continuous_rates():
    rng = np.random.default_rng(0)
    for n in (1, 3, 12, 100, 10_000):
        arrival = rng.gamma(2.0, 2.0, n)
        capacity = rng.choice([4.0, 3.0, 0.0], n, p=[0.8, 0.15, 0.05])
        outflow = rng.exponential(0.5, n) * (rng.random(n) < 0.3)
        assert (
            stress_layer(arrival, capacity, outflow).tolist()
            == lexsort_layer(arrival, capacity, outflow).tolist()
        )


def test_layer_order_equals_the_lexsort_on_tiled_units():
    """Ties of load only between exact copies of a unit: the stable sort on the load alone."""
    rng = np.random.default_rng(1)
    load, arrival, cost = (np.tile(rng.gamma(2.0, 2.0, 50), 10) for _ in range(3))
    assert layer_order(load, arrival, cost).tolist() == np.lexsort((cost, -arrival, -load)).tolist()
