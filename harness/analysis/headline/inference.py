"""Paired comparisons of the headline, with the seed as the unit and the family adjusted together.

Every detector is compared with each of ``headline.references`` once per unordered pair, on the
same target events of the same seeds (out of fold): the difference of ``warned`` (paired by seed,
macro over scenarios) and the mean over seeds of the difference of the seeds' median leads (a miss
counts as the latest possible lead, ``-grace_h``). Each difference has a t interval over seeds and a
p-value (harness.analysis.statistics); all p-values of the family (both measures of every pair) are
Holm-adjusted together, and a pair is *decided at family-wise 5%* when an adjusted p-value is below
0.05.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.headline.spec import HeadlineSpec
from harness.analysis.statistics import (
    Estimate,
    StatisticsSpec,
    by_seed,
    holm,
    jackknife_se,
    paired_mean,
    paired_share,
    t_interval,
)

FAMILY_ALPHA = 0.05
PAIR_COLUMNS = [
    "detector",
    "reference",
    "events",
    "warned_diff",
    "warned_diff_lo",
    "warned_diff_hi",
    "warned_p",
    "warned_p_holm",
    "lead_diff_h",
    "lead_diff_h_lo",
    "lead_diff_h_hi",
    "lead_p",
    "lead_p_holm",
    "decided",
    "sentence",
]


def rate_interval(counts: np.ndarray, exposure: np.ndarray, stats: StatisticsSpec) -> Estimate:
    """A rate sum(counts) / sum(exposure) of per-seed sums (n_seeds, 1) of counted episodes (false
    episodes per quiet week, false alarms per quiet hour), with the union of two intervals: the
    exact Poisson (Garwood) interval of the pooled count, which holds when few episodes are seen,
    and a leave-one-seed-out jackknife t interval on the log scale (n - 1 degrees of freedom, n the
    seeds with exposure; log of (count + 1/2) / exposure), which holds when seeds differ more than
    Poisson. NaN bounds with fewer than two such seeds."""
    from scipy import special

    counts = np.atleast_2d(np.asarray(counts, float)).sum(1)
    exposure = np.atleast_2d(np.asarray(exposure, float)).sum(1)
    total, time = counts.sum(), exposure.sum()
    value = total / time if time > 0 else np.nan
    seen = exposure > 0
    n = int(seen.sum())
    if n < 2:
        return Estimate(value, np.nan, np.nan)
    counts, exposure = counts[seen], exposure[seen]
    tail = (1 - stats.confidence) / 2
    lo = special.gammaincinv(total, tail) / time if total > 0 else 0.0
    hi = special.gammaincinv(total + 1, 1 - tail) / time
    log_rate = lambda c, t: np.log((c + 0.5) / t)  # noqa: E731
    se = jackknife_se(log_rate(total - counts, time - exposure))
    log_lo, log_hi, _ = t_interval(float(log_rate(total, time)), se, n - 1, stats)
    if np.isfinite(log_lo):
        lo, hi = min(lo, float(np.exp(log_lo))), max(hi, float(np.exp(log_hi)))
    return Estimate(float(value), float(lo), float(hi))


def reciprocal(rate: Estimate) -> Estimate:
    """The mean time between episodes of a rate: 1 / value (NaN without an episode), 1 / hi to
    1 / lo (unbounded above when lo is 0)."""
    inverse = lambda x: np.inf if x == 0 else 1 / x  # noqa: E731
    value = inverse(rate.value) if rate.value > 0 else np.nan
    return Estimate(value, inverse(rate.hi), inverse(rate.lo))


def seed_median_leads(events: pd.DataFrame, target: str, seeds: Sequence[int], floor: float) -> np.ndarray:
    """Each seed's median lead over its ``target`` events, a miss counting as ``floor``; NaN for a
    seed without events."""
    mine = events[events["target"] == target] if len(events) else events
    groups = by_seed(mine, seeds, "lead_h")
    return np.array([np.median(np.where(np.isnan(g), floor, g)) if len(g) else np.nan for g in groups])


@dataclass(frozen=True)
class PairInput:
    """What a detector brings to its pairs: counts by (seed, scenario) and per-seed median leads."""

    events: np.ndarray
    warned: np.ndarray
    leads: np.ndarray
    over_budget: bool


def pair_table(
    order: Sequence[str], inputs: Mapping[str, PairInput], spec: HeadlineSpec, stats: StatisticsSpec
) -> pd.DataFrame:
    """headline_pairs.csv: every detector of ``order`` that has inputs against each reference that
    has them, each unordered pair once (in ``order``'s order), the family Holm-adjusted."""
    rows, seen = [], set()
    for reference in spec.references:
        if reference not in inputs:
            continue
        for detector in order:
            pair = frozenset((detector, reference))
            if detector == reference or detector not in inputs or pair in seen:
                continue
            seen.add(pair)
            a, b = inputs[detector], inputs[reference]
            warned = paired_share(a.warned, b.warned, a.events, stats)
            lead = paired_mean(a.leads, b.leads, stats)
            rows.append(
                {
                    "detector": detector,
                    "reference": reference,
                    "events": int(a.events.sum()),
                    "warned_diff": warned.estimate,
                    "warned_diff_lo": warned.lo,
                    "warned_diff_hi": warned.hi,
                    "warned_p": warned.p,
                    "lead_diff_h": lead.estimate,
                    "lead_diff_h_lo": lead.lo,
                    "lead_diff_h_hi": lead.hi,
                    "lead_p": lead.p,
                    "over_budget": [n for n in (detector, reference) if inputs[n].over_budget],
                }
            )
    if not rows:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    table = pd.DataFrame(rows)
    adjusted = holm(np.concatenate([table["warned_p"], table["lead_p"]]))
    table["warned_p_holm"], table["lead_p_holm"] = adjusted[: len(table)], adjusted[len(table) :]
    table["decided"] = (table["warned_p_holm"] < FAMILY_ALPHA) | (table["lead_p_holm"] < FAMILY_ALPHA)
    table["sentence"] = [pair_sentence(r, spec) for r in table.to_dict("records")]
    return table[PAIR_COLUMNS]


def oriented(pairs: pd.DataFrame, detector: str, reference: str) -> dict | None:
    """The pair table's row of {detector, reference} as ``detector`` minus ``reference`` (each
    unordered pair is stored once, in either order: a stored reverse has its differences negated
    and its intervals mirrored); None when the pair is not in the table."""
    for a, b, sign in ((detector, reference, 1.0), (reference, detector, -1.0)):
        rows = pairs[(pairs["detector"] == a) & (pairs["reference"] == b)] if len(pairs) else pairs
        if len(rows):
            row = rows.to_dict("records")[0]
            for name in ("warned_diff", "lead_diff_h"):
                lo, hi = row[f"{name}_lo"], row[f"{name}_hi"]
                row[name] *= sign
                row[f"{name}_lo"], row[f"{name}_hi"] = (lo, hi) if sign > 0 else (-hi, -lo)
            return {**row, "detector": detector, "reference": reference}
    return None


def _signed(x: float, fmt: str) -> str:
    return "n/a" if not np.isfinite(x) else format(x, "+" + fmt)


def _p(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.2g}"


def pair_sentence(row: Mapping, spec: HeadlineSpec) -> str:
    """One sentence: the two differences with their intervals and adjusted p-values, and whether the
    pair is decided at family-wise 5%."""
    a, b = row["detector"], row["reference"]
    head = f"{a} vs {b}"
    if row.get("over_budget"):
        head += f" ({', '.join(row['over_budget'])} over budget on the scored seeds)"
    if not row["events"]:
        return f"{head}: no {spec.target} events on the scored seeds."
    pts = lambda x: _signed(100 * x, ".0f")  # noqa: E731
    warned = (
        f"warned {pts(row['warned_diff'])} pts [{pts(row['warned_diff_lo'])}, {pts(row['warned_diff_hi'])}] "
        f"(Holm p {_p(row['warned_p_holm'])})"
    )
    lead = (
        f"median lead {_signed(row['lead_diff_h'], '.1f')} h [{_signed(row['lead_diff_h_lo'], '.1f')}, "
        f"{_signed(row['lead_diff_h_hi'], '.1f')}] (Holm p {_p(row['lead_p_holm'])})"
    )
    findings = []
    if row["warned_p_holm"] < FAMILY_ALPHA:
        findings.append(f"{a} warns {'more' if row['warned_diff'] > 0 else 'fewer'} events ahead")
    if row["lead_p_holm"] < FAMILY_ALPHA:
        findings.append(f"{a} warns {'earlier' if row['lead_diff_h'] > 0 else 'later'}")
    verdict = "decided at family-wise 5%: " + " and ".join(findings) if findings else "not distinguishable"
    return f"{head}: {warned}, {lead}: {verdict}."
