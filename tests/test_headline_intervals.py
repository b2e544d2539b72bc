"""Monte Carlo coverage, at fast settings, of the headline's intervals of false episodes per quiet
week, ARL0 and budget use on the scored seeds, on a known-truth generator (tests/mc_headline.py;
the thorough variant is bench_headline_intervals.py). A nominal 95% interval must cover 93%."""

from __future__ import annotations

import mc_headline as mc
import numpy as np
import pytest

from harness.analysis.headline.inference import rate_interval, reciprocal


@pytest.mark.parametrize("overdispersed", [False, True], ids=["poisson", "overdispersed"])
@pytest.mark.parametrize("rate", [0.3, 3.0])
@pytest.mark.parametrize("n_seeds", [5, 10])
def test_rate_arl0_and_budget_intervals_cover_at_least_93_percent(n_seeds, rate, overdispersed):
    found = mc.coverage(n_seeds, 400, rate, overdispersed)
    assert min(found.values()) >= 0.93, found


def test_no_false_episode_still_bounds_the_rate_and_arl0():
    rate = rate_interval(np.zeros((5, 1)), np.full((5, 1), 2.0), mc.STATS)  # 10 quiet weeks, none
    assert rate.value == 0.0 and rate.lo == 0.0
    assert rate.hi == pytest.approx(-np.log(0.025) / 10)  # the exact Poisson bound of no count
    arl = reciprocal(rate)
    assert np.isnan(arl.value) and arl.lo == pytest.approx(10 / -np.log(0.025)) and arl.hi == np.inf
