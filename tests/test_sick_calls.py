"""The thinning draw of sick calls has the distribution of independent Bernoulli draws per member.

Each unit's count over many draws is compared with Binomial(on_duty, p) by a chi-square test, and the
positions chosen within a unit with the uniform distribution; the test's own error rate is checked by
Monte Carlo on numpy's binomial draws, and its power on a draw that forgets to thin.
"""

import numpy as np
import pytest
from scipy import stats

from scenarios.model import draw_sick_calls

ON_DUTY = np.array([4.0, 3.0, 0.0, 5.0, 4.0, 1.0])
UNEVEN = np.array([0.05, 0.3, 0.2, 0.1, 0.3, 0.15])  # tired units: a probability per unit
EVEN = np.full(len(ON_DUTY), 0.2)  # nobody tired: every unit at p_max, nothing to thin
DRAWS = 20_000
ALPHA = 1e-3  # for the file's fixed-seed checks together, split evenly among them (Bonferroni)
CHECKS = 4  # two cases, each checking the units (and positions) and the total


def binomial_pvalue(counts: np.ndarray, n: int, p: float) -> float:
    """Chi-square p-value of ``counts`` (one per draw) against Binomial(n, p); the upper categories
    are pooled until each expects at least 5."""
    observed = np.bincount(counts, minlength=n + 1).astype(float)[: n + 1]
    expected = len(counts) * stats.binom.pmf(np.arange(n + 1), n, p)
    expected[-1] += len(counts) - expected.sum()  # numerical remainder
    while len(expected) > 2 and expected[-1] < 5:
        expected[-2] += expected[-1]
        observed[-2] += observed[-1]
        expected, observed = expected[:-1], observed[:-1]
    return float(stats.chisquare(observed, expected).pvalue)


def sample(draw, p: np.ndarray, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Counts per (draw, unit), and the positions chosen in each unit, over DRAWS draws at ``p``."""
    rng = np.random.default_rng(seed)
    p_of = None if (p == p.max()).all() else (lambda units: p[units])
    counts = np.zeros((DRAWS, len(ON_DUTY)), dtype=np.int64)
    positions: list[list[int]] = [[] for _ in ON_DUTY]
    for i in range(DRAWS):
        units, within = draw(rng, ON_DUTY, int(ON_DUTY.sum()), float(p.max()), p_of)
        np.add.at(counts[i], units, 1)
        for unit, j in zip(units.tolist(), within.tolist(), strict=True):
            positions[unit].append(j)
    return counts, [np.array(chosen, dtype=np.int64) for chosen in positions]


def pvalues(counts: np.ndarray, positions: list[np.ndarray], p: np.ndarray) -> list[float]:
    """One p-value per staffed unit for its count, and one for the positions chosen in it."""
    out = []
    for unit, (n, p_unit) in enumerate(zip(ON_DUTY.astype(int), p, strict=True)):
        if n == 0:
            assert counts[:, unit].sum() == 0 and len(positions[unit]) == 0
            continue
        out.append(binomial_pvalue(counts[:, unit], n, p_unit))
        if n > 1:
            out.append(float(stats.chisquare(np.bincount(positions[unit], minlength=n)).pvalue))
    return out


def total_pvalue(total: np.ndarray, p: np.ndarray) -> float:
    """Chi-square p-value of the total per draw against the exact distribution of a sum of
    independent binomials (a convolution), the upper tail pooled to expect at least 5."""
    pmf = np.array([1.0])
    for n, p_unit in zip(ON_DUTY.astype(int), p, strict=True):
        pmf = np.convolve(pmf, stats.binom.pmf(np.arange(n + 1), n, p_unit))
    expected = len(total) * pmf
    observed = np.bincount(total, minlength=len(pmf)).astype(float)
    cut = int(np.argmax(np.cumsum(expected[::-1])[::-1] < 5))  # first category whose tail expects < 5
    expected = np.append(expected[: cut - 1], expected[cut - 1 :].sum())
    observed = np.append(observed[: cut - 1], observed[cut - 1 :].sum())
    return float(stats.chisquare(observed, expected).pvalue)


@pytest.mark.parametrize("p", [UNEVEN, EVEN], ids=["uneven", "even"])
def test_thinning_draw_matches_independent_bernoulli_members(p):
    counts, positions = sample(draw_sick_calls, p, seed=11)
    assert all(
        (pos >= 0).all() and (pos < n).all() for pos, n in zip(positions, ON_DUTY, strict=True) if len(pos)
    )
    found = pvalues(counts, positions, p)
    assert min(found) > ALPHA / CHECKS / len(found), found
    # units are independent: the total has the distribution of a sum of independent binomials
    total = counts.sum(axis=1)
    assert abs(total.mean() - (ON_DUTY * p).sum()) < 4 * np.sqrt((ON_DUTY * p * (1 - p)).sum() / DRAWS)
    assert total_pvalue(total, p) > ALPHA / CHECKS


def test_the_check_rejects_a_draw_that_does_not_thin():
    def unthinned(rng, on_duty, total, p_max, p_of):
        return draw_sick_calls(rng, on_duty, total, p_max)  # every unit at the highest probability

    found = pvalues(*sample(unthinned, UNEVEN, seed=11), UNEVEN)
    assert min(found) < 1e-9


@pytest.mark.parametrize(("n", "p"), [(4, 0.3), (5, 0.1), (1, 0.15)])
def test_the_binomial_check_holds_its_error_rate(n, p):
    """Under the null (numpy's binomial), the 5% test rejects about 5% of 400 samples."""
    rng = np.random.default_rng(5)
    samples = rng.binomial(n, p, size=(400, DRAWS // 4))
    rejected = np.mean([binomial_pvalue(counts, n, p) < 0.05 for counts in samples])
    assert 0.02 <= rejected <= 0.09  # binomial(400, 0.05) lies here with probability > 0.99


def test_no_staff_or_no_hazard_calls_nobody():
    rng = np.random.default_rng(0)
    for on_duty, p_max in ((np.zeros(3), 0.5), (np.full(3, 4.0), 0.0)):
        units, positions = draw_sick_calls(rng, on_duty, int(on_duty.sum()), p_max)
        assert len(units) == len(positions) == 0
    units, positions = draw_sick_calls(rng, np.full(3, 4.0), 12, 0.5, lambda units: np.zeros(len(units)))
    assert len(units) == len(positions) == 0  # every candidate thinned away
    units, positions = draw_sick_calls(rng, np.array([2.0, 3.0]), 5, 1.0)  # everyone, in order
    assert units.tolist() == [0, 0, 1, 1, 1] and positions.tolist() == [0, 1, 0, 1, 2]
