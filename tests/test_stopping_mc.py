"""Monte Carlo check, at fast settings, that seeds-until-decided keeps its error rate over all its
looks: two alike detectors, 9 looks (5 to 45 seeds), the macro share of events warned (the
headline's metric). The thorough figures are in bench_statistics.py."""

from __future__ import annotations

import mc_statistics as mc

REPS = 300


def test_alpha_spending_keeps_the_false_decided_rate_over_nine_looks_within_5_percent():
    rate = mc.sequential_error(REPS)
    assert rate <= 0.05 + mc.tolerance(0.05, REPS), rate


def test_alpha_spending_holds_for_paired_per_seed_values_too():
    rate = mc.sequential_error(REPS, per_seed=True)
    assert rate <= 0.05 + mc.tolerance(0.05, REPS), rate


def test_re_testing_a_fixed_95_percent_interval_at_every_look_would_not():
    assert mc.sequential_error(150, fixed=True) > 0.10  # the check can see optional stopping
