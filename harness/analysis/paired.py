"""A paired comparison of two detectors on the same events, with a bootstrap CI over seeds.

Events pair by (scenario, seed, target, onset). ``recall``: the difference in the share of events
detected (a - b, in recall points as a fraction). ``lead``: the median of the lead-time differences
(a - b, hours; positive = a warns earlier) over events both detected. The interval resamples seeds,
as every CI of the study does (``harness.analysis.statistics``).

>>> events = pd.DataFrame({
...     "scenario": "s", "seed": [0, 0, 1, 1], "target": "t", "onset_h": [1.0, 1.0, 2.0, 2.0],
...     "detector": ["a", "b", "a", "b"], "detected": [True, False, True, True],
...     "lead_h": [3.0, np.nan, 5.0, 1.0]})
>>> result = paired_difference(events, "a", "b", "recall", "t", StatisticsSpec())
>>> result.estimate, result.n_events, result.n_seeds
(0.5, 2, 2)
>>> paired_difference(events, "a", "b", "lead", "t", StatisticsSpec()).estimate
4.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.statistics import PAIR_KEYS, StatisticsSpec, by_seed, median_ci, ratio_ci, sums_by_seed

METRICS = ("recall", "lead")


@dataclass(frozen=True)
class PairedDifference:
    """a - b on shared events: point estimate and CI (NaN where undefined), events and seeds used."""

    estimate: float
    lo: float
    hi: float
    n_events: int
    n_seeds: int

    @property
    def halfwidth(self) -> float:
        return (self.hi - self.lo) / 2


def paired_difference(
    events: pd.DataFrame, a: str, b: str, metric: str, target: str, spec: StatisticsSpec
) -> PairedDifference:
    """``a`` minus ``b`` on the ``target`` events both were scored on (``metric``: recall or lead)."""
    rows = events[events["target"] == target]
    pairs = rows[rows["detector"] == a].merge(
        rows[rows["detector"] == b], on=PAIR_KEYS, suffixes=("_a", "_b")
    )
    seeds = sorted(pairs["seed"].unique())
    if metric == "recall":
        pairs = pairs.assign(
            diff=pairs["detected_a"].astype(float) - pairs["detected_b"].astype(float), one=1.0
        )
        total, count = sums_by_seed(pairs, seeds, "diff"), sums_by_seed(pairs, seeds, "one")
        estimate = total.sum() / count.sum() if count.sum() else np.nan
        lo, hi = ratio_ci(total, count, spec)
    else:
        pairs = pairs[pairs["detected_a"].astype(bool) & pairs["detected_b"].astype(bool)]
        pairs = pairs.assign(diff=pairs["lead_h_a"] - pairs["lead_h_b"])
        estimate = float(pairs["diff"].median()) if len(pairs) else np.nan
        lo, hi = median_ci(by_seed(pairs, seeds, "diff"), spec)
    return PairedDifference(float(estimate), float(lo), float(hi), len(pairs), int(pairs["seed"].nunique()))
