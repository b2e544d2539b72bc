"""Known-truth generator for the headline's rate intervals (false episodes per quiet week, ARL0)
and its budget use on the scored seeds, and their Monte Carlo coverage.

Each seed has its quiet hours (uniform 100-400 h) and, for ARL0, its null-control quiet hours
(uniform 50-200 h). False episodes arrive as a Poisson process at ``rate`` per quiet week, times a
per-seed factor (gamma, mean 1, shape 2) when ``overdispersed``: seeds then differ more than
Poisson. Each episode alerts for an exponential time (mean 2 h): the quiet alerting. ARL0's truth is
the mean quiet time to a false alarm, one week / rate; a seed's exposure is its quiet time to the
first false alarm on its null controls, or all of it when none comes.
"""

from __future__ import annotations

import numpy as np

from harness.analysis.headline import HeadlineSpec
from harness.analysis.headline.inference import rate_interval, reciprocal
from harness.analysis.headline.metrics import budget_use_interval
from harness.analysis.headline.spec import WEEK_H
from harness.analysis.statistics import StatisticsSpec, share_interval

STATS = StatisticsSpec()
BUDGET = HeadlineSpec()  # 1% quiet alerting, 1 false episode per quiet week
EPISODE_H = 2.0
RATES = (0.3, 1.0, 3.0)  # false episodes per quiet week: mostly zero-episode seeds at 0.3


def coverage(n_seeds: int, reps: int, rate: float, overdispersed: bool, seed: int = 0) -> dict[str, float]:
    """Share of ``reps`` simulated studies whose 95% interval holds the truth, per quantity."""
    rng = np.random.default_rng([seed, n_seeds, int(rate * 100), overdispersed])
    truth = {
        "false_per_quiet_week": rate,
        "arl0_h": WEEK_H / rate,
        "budget_use_test": max(
            rate * EPISODE_H / WEEK_H / BUDGET.quiet_alert_fraction, rate / BUDGET.false_per_quiet_week
        ),
    }
    hits = dict.fromkeys(truth, 0)
    for _ in range(reps):
        factor = rng.gamma(2.0, 0.5, n_seeds) if overdispersed else np.ones(n_seeds)
        quiet = rng.uniform(100, 400, n_seeds)
        episodes = rng.poisson(rate * factor * quiet / WEEK_H)
        alerting = rng.gamma(episodes, EPISODE_H)  # a sum of exponential episode lengths; 0 for none
        week = rate_interval(episodes[:, None], (quiet / WEEK_H)[:, None], STATS)
        share = share_interval(alerting[:, None], quiet[:, None], STATS, macro=False)
        null_quiet = rng.uniform(50, 200, n_seeds)
        first = rng.exponential(WEEK_H / (rate * factor))
        alarms, exposure = (first < null_quiet).astype(float), np.minimum(first, null_quiet)
        found = {
            "false_per_quiet_week": week,
            "arl0_h": reciprocal(rate_interval(alarms[:, None], exposure[:, None], STATS)),
            "budget_use_test": budget_use_interval(share, week, BUDGET),
        }
        for name, estimate in found.items():
            hits[name] += bool(estimate.lo <= truth[name] <= estimate.hi)
    return {name: hit / reps for name, hit in hits.items()}
