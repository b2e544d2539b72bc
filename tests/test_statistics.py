"""Bootstrap intervals over seeds, Holm's correction and the paired lead-time tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.analysis.statistics import (
    StatisticsSpec,
    distinct_resamples,
    holm,
    km_median,
    mean_interval,
    median_lead_ci,
    paired_mean,
    paired_share,
    ratio_ci,
    resampled,
    resamples,
    seed_bootstrap,
    seed_weights,
    share_interval,
)
from scenarios.errors import InputError

SPEC = StatisticsSpec(n_resamples=500)


def coverage(draw_and_ci, truth: float, n_studies: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_studies):
        lo, hi = draw_and_ci(rng)
        hits += lo <= truth <= hi
    return hits / n_studies


def test_ratio_ci_covers_the_true_fp_rate_at_about_the_nominal_rate():
    """Synthetic study: 20 seeds, each with a Poisson number of episodes, each false with p = 0.3."""

    def study(rng):
        episodes = rng.poisson(6, size=20) + 1
        false = rng.binomial(episodes, 0.3)
        return ratio_ci(false, episodes, SPEC)

    rate = coverage(study, 0.3, n_studies=300, seed=1)
    assert 0.90 <= rate <= 0.99, rate  # nominal 0.95; 300 studies give a standard error of ~0.013
    assert coverage(study, 0.36, n_studies=300, seed=1) < 0.8  # and the intervals are not vacuous


def test_median_lead_ci_covers_the_true_median_with_misses_at_about_the_nominal_rate():
    """Leads: missed with probability 0.2, else uniform on [0, 24] h: true median lead = 9 h."""

    def study(rng):
        groups = []
        for _ in range(20):
            n = rng.integers(1, 6)
            leads = rng.uniform(0, 24, size=n)
            leads[rng.random(n) < 0.2] = np.nan
            groups.append(leads)
        return median_lead_ci(groups, -1.0, SPEC)

    rate = coverage(study, 9.0, n_studies=300, seed=2)
    assert 0.90 <= rate <= 0.99, rate
    assert coverage(study, 12.0, n_studies=300, seed=2) < 0.8


def test_mostly_missed_reads_as_missed():
    groups = [np.array([np.nan, np.nan, 3.0]), np.array([np.nan]), np.array([np.nan, 5.0])]
    lo, hi = median_lead_ci(groups, -1.0, SPEC)
    assert lo == -np.inf  # at least the lower bound: half the events or more were missed
    assert hi == -np.inf or hi <= 5.0


def test_bootstrap_is_reproducible_and_needs_two_seeds():
    num, den = np.array([1, 4, 2, 0]), np.array([5, 9, 4, 3])
    assert ratio_ci(num, den, SPEC) == ratio_ci(num, den, SPEC)
    assert ratio_ci(num, den, SPEC) != ratio_ci(num, den, StatisticsSpec(n_resamples=500, seed=1))
    assert np.isnan(ratio_ci(np.array([1]), np.array([2]), SPEC)).all()
    assert np.isnan(seed_bootstrap(1, lambda idx: idx.sum(-1) * 1.0, SPEC)).all()


def test_seeds_without_a_denominator_carry_no_information():
    num, den = np.array([1, 4, 2, 0, 0]), np.array([5, 9, 4, 0, 0])
    assert ratio_ci(num, den, SPEC) == ratio_ci(num[:3], den[:3], SPEC)


def test_interval_brackets_a_constant_statistic():
    lo, hi = ratio_ci(np.array([2, 4, 6]), np.array([4, 8, 12]), SPEC)
    assert lo == hi == 0.5


def test_statistics_spec_validates_and_reads_config():
    with pytest.raises(InputError, match="statistics.method"):
        StatisticsSpec(method="jackknife")
    with pytest.raises(InputError, match="statistics.n_resamples"):
        StatisticsSpec(n_resamples=3)
    with pytest.raises(InputError, match="statistics.colour"):
        StatisticsSpec.from_config({"statistics": {"colour": 1}})
    spec = StatisticsSpec.from_config({"statistics": {"n_resamples": 99, "coverage_h": [1, 3]}})
    assert spec.n_resamples == 99 and spec.coverage_h == (1, 3)


def test_holm_matches_the_step_down_definition():
    p = np.array([0.04, 0.001, 0.03, 0.2])
    # sorted: 0.001*4 = 0.004, 0.03*3 = 0.09, 0.04*2 = 0.08 -> 0.09 (monotone), 0.2*1 = 0.2
    assert holm(p).tolist() == pytest.approx([0.09, 0.004, 0.09, 0.2])
    assert holm([]).size == 0


def events_frame(leads: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for detector, values in leads.items():
        for i, lead in enumerate(values):
            rows.append(
                {
                    "detector": detector,
                    "scenario": "ramp" if i % 2 else "spike",
                    "seed": i,
                    "target": "t",
                    "onset_h": 100.0 + i,
                    "lead_h": lead,
                }  # fmt: skip
            )
    return pd.DataFrame(rows)


def test_share_interval_macro_and_pooled_estimates():
    num = np.array([[1, 0, 0], [3, 1, 0]])
    den = np.array([[2, 1, 0], [4, 1, 0]])  # the third stratum has no events: left out of the macro
    macro = share_interval(num, den, SPEC)
    pooled = share_interval(num, den, SPEC, macro=False)
    assert macro.value == pytest.approx((4 / 6 + 1 / 2) / 2)
    assert pooled.value == pytest.approx(5 / 8)
    assert 0 <= macro.lo <= macro.value <= macro.hi <= 1
    assert np.isnan(share_interval(np.zeros((3, 2)), np.zeros((3, 2)), SPEC).value)


def test_paired_share_is_the_difference_with_a_t_test():
    rng = np.random.default_rng(0)
    den = rng.poisson(3, (10, 4))
    a, b = rng.binomial(den, 0.7), rng.binomial(den, 0.3)
    pair = paired_share(a, b, den, SPEC)
    assert pair.estimate == pytest.approx(
        share_interval(a, den, SPEC).value - share_interval(b, den, SPEC).value
    )
    assert pair.lo < pair.estimate < pair.hi and pair.p < 0.01
    same = paired_share(a, a, den, SPEC)
    assert (same.estimate, same.lo, same.hi, same.p) == (0, 0, 0, 1)


def test_mean_interval_and_paired_mean_are_t_intervals_over_non_missing_seeds():
    values = np.array([1.0, 2.0, np.nan, 4.0])
    est = mean_interval(values, SPEC)
    ref = sps.ttest_1samp([1.0, 2.0, 4.0], 0).confidence_interval(0.95)
    assert (est.value, est.lo, est.hi) == pytest.approx((7 / 3, ref.low, ref.high))
    pair = paired_mean(np.array([3.0, 2.0, 5.0, np.nan]), np.array([1.0, 1.0, 1.0, 1.0]), SPEC)
    test = sps.ttest_rel([3.0, 2.0, 5.0], [1.0, 1.0, 1.0])
    assert (pair.estimate, pair.p) == pytest.approx((7 / 3, test.pvalue))


def test_resamples_are_bounded_and_a_bootstrap_too_big_for_the_machine_is_refused():
    from harness.cli import check

    with pytest.raises(InputError, match="statistics.n_resamples: must be an integer >= 10 and <= 100000"):
        StatisticsSpec(n_resamples=10**12)
    study = ["scenario=[ramp]", "detector=[utilization]", "statistics.n_resamples=100000", "seeds=100000"]
    with pytest.raises(InputError, match=r"^statistics.n_resamples=100000, seeds=100000: a bootstrap of"):
        check(study)


@pytest.mark.parametrize("n_seeds", [2, 3, 4])
def test_few_seeds_evaluate_each_distinct_resample_once_with_the_same_numbers(n_seeds):
    """With few seeds the resamples repeat: the statistic runs once per distinct resample, and every
    resample's value is bit for bit what the statistic gives on all resamples, for the statistics
    the harness bootstraps (sums of indexed values, seed-weighted matrix products, Kaplan-Meier)."""
    spec = StatisticsSpec(n_resamples=2000, seed=7)
    rows, _ = distinct_resamples(n_seeds, spec.n_resamples, spec.seed, 100)
    assert 4 * len(rows) <= spec.n_resamples  # the distinct path is the one taken
    rng = np.random.default_rng(n_seeds)
    num, den = rng.integers(0, 9, n_seeds).astype(float), rng.integers(1, 9, n_seeds).astype(float)
    table = rng.exponential(3.0, (n_seeds, 300))
    times, censored = rng.exponential(5.0, 40), rng.random(40) < 0.3
    owner = rng.integers(0, n_seeds, 40)
    statistics = {
        "ratio": lambda idx: num[idx].sum(-1) / den[idx].sum(-1),
        "weighted": lambda idx: (
            (seed_weights(idx, n_seeds) @ table).sum(-1) / np.maximum(seed_weights(idx, n_seeds) @ num, 1.0)
        ),
        "km": lambda idx: km_median(times, censored, seed_weights(idx, n_seeds)[..., owner]),
    }
    for name, statistic in statistics.items():
        every = np.concatenate(
            [statistic(idx) for idx in resamples(n_seeds, spec.n_resamples, spec.seed, 100)], axis=-1
        )
        once = resampled(n_seeds, statistic, spec, 100)
        assert np.array_equal(once, every, equal_nan=True), name
