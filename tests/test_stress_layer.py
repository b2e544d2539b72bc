"""Transport's stress layer by partial selection equals the first quartile of a full lexsort."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.transport import offered_load, quartile_size, stress_layer


def lexsort_layer(arrival: np.ndarray, capacity: np.ndarray, outflow: np.ndarray) -> np.ndarray:
    """The definition: sort every unit by (load desc, arrival desc, capacity + outflow asc, index)."""
    load = offered_load(arrival, capacity)
    order = np.lexsort((capacity + outflow, -arrival, -load))
    return order[: quartile_size(len(arrival))]


def tied_values(draw, n: int, choices: list[float]) -> np.ndarray:
    """Values drawn from a few choices, so that ties are common."""
    return np.array(draw(st.lists(st.sampled_from(choices), min_size=n, max_size=n)))


@settings(max_examples=300)
@given(st.data(), st.one_of(st.integers(1, 40), st.integers(200, 1200)))
def test_partial_selection_equals_the_lexsort_with_ties(data, n):
    arrival = tied_values(data.draw, n, [0.0, 1.0, 2.0, 4.0, 8.0])
    capacity = tied_values(data.draw, n, [0.0, 2.0, 4.0, 8.0])  # 0: infinite load with arrivals
    outflow = tied_values(data.draw, n, [0.0, 0.5, 1.0])
    layer = stress_layer(arrival, capacity, outflow)
    assert layer.tolist() == lexsort_layer(arrival, capacity, outflow).tolist()


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
