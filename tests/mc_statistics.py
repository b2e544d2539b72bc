"""Known-truth generators and Monte Carlo checks of the seed-level statistics (used by
test_statistics_mc.py at fast settings and bench_statistics.py at thorough ones).

A study's shape: per seed and scenario a negative-binomial number of target events (mean rates from
0.5 to 15 per seed, dispersion 2: many zero cells), each warned with a probability that varies by
seed and by seed x scenario on the logit scale. The true shares are expectations over that
heterogeneity, computed by Gauss-Hermite quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from harness.analysis.statistics import (
    StatisticsSpec,
    holm,
    mean_interval,
    median_lead_ci,
    paired_mean,
    paired_share,
    share_interval,
)

SPEC = StatisticsSpec()


def tolerance(rate: float, reps: int) -> float:
    """Two Monte Carlo standard errors of an estimated rate: a fast check with few replications
    fails only when the true rate is clearly beyond its limit."""
    return 2 * float(np.sqrt(rate * (1 - rate) / reps))


@dataclass(frozen=True)
class Shape:
    rates: tuple[float, ...] = (0.5, 1.0, 1.5, 2.5, 4.0, 6.0, 8.0, 15.0)  # events per seed, by scenario
    warn: tuple[float, ...] = (0.3, 0.5, 0.6, 0.4, 0.7, 0.55, 0.45, 0.35)  # median warn probability
    dispersion: float = 2.0  # negative-binomial size: variance = mean + mean^2 / dispersion
    seed_sd: float = 0.5  # logit-scale spread of warn probabilities between seeds
    cell_sd: float = 0.5  # ... and between seed x scenario cells

    def expected_warn(self, shift: float = 0.0) -> np.ndarray:
        """E[warn probability] per scenario, over the seed and cell heterogeneity."""
        z, w = np.polynomial.hermite_e.hermegauss(80)
        sd = np.hypot(self.seed_sd, self.cell_sd)
        logits = special.logit(np.array(self.warn)) + shift
        return (special.expit(logits[:, None] + sd * z) * w).sum(1) / w.sum()

    def truth(self, macro: bool, shift: float = 0.0) -> float:
        p = self.expected_warn(shift)
        return float(p.mean() if macro else (np.array(self.rates) * p).sum() / sum(self.rates))

    def events(self, rng: np.random.Generator, n_seeds: int) -> np.ndarray:
        rates = np.array(self.rates)
        return rng.poisson(rng.gamma(self.dispersion, rates / self.dispersion, (n_seeds, rates.size)))

    def warned(self, rng: np.random.Generator, den: np.ndarray, shift: float = 0.0) -> np.ndarray:
        n_seeds, n_strata = den.shape
        logits = (
            special.logit(np.array(self.warn))
            + shift
            + rng.normal(0, self.seed_sd, (n_seeds, 1))
            + rng.normal(0, self.cell_sd, (n_seeds, n_strata))
        )
        return rng.binomial(den, special.expit(logits))


def share_coverage(n_seeds: int, reps: int, macro: bool, seed: int = 1, shape: Shape = Shape()) -> float:
    """Share of ``reps`` studies whose share_interval covers the true share."""
    rng, truth, hits = np.random.default_rng(seed), shape.truth(macro), 0
    for _ in range(reps):
        den = shape.events(rng, n_seeds)
        est = share_interval(shape.warned(rng, den), den, SPEC, macro)
        hits += est.lo <= truth <= est.hi
    return hits / reps


def paired_share_rates(
    n_seeds: int, reps: int, macro: bool, shift: float, seed: int = 2, shape: Shape = Shape()
) -> tuple[float, float]:
    """(coverage of the true difference, rejection rate at 5%) of paired_share for detector a
    (warn logits shifted by ``shift``) against b on the same events; shift 0: the null."""
    rng, hits, rejected = np.random.default_rng(seed), 0, 0
    truth = shape.truth(macro, shift) - shape.truth(macro)
    for _ in range(reps):
        den = shape.events(rng, n_seeds)
        pair = paired_share(shape.warned(rng, den, shift), shape.warned(rng, den), den, SPEC, macro)
        hits += pair.lo <= truth <= pair.hi
        rejected += pair.p < 0.05
    return hits / reps, rejected / reps


def family_error(
    n_seeds: int, reps: int, detectors: int = 6, references: int = 2, seed: int = 3, shape: Shape = Shape()
) -> float:
    """Share of studies where any of detectors x references paired comparisons (all under the null)
    has a Holm-adjusted p < 0.05."""
    rng, errors = np.random.default_rng(seed), 0
    for _ in range(reps):
        den = shape.events(rng, n_seeds)
        nums = [shape.warned(rng, den) for _ in range(detectors + references)]
        p = [
            paired_share(nums[d], nums[detectors + r], den, SPEC).p
            for d in range(detectors)
            for r in range(references)
        ]
        errors += bool((holm(p) < 0.05).any())
    return errors / reps


def mean_coverage(n_seeds: int, reps: int, gamma_shape: float, seed: int = 4) -> float:
    """Coverage of mean_interval for per-seed values drawn from a gamma distribution (mean 1), the
    shape of per-seed means of waiting times (ARL0) or budget use."""
    values = np.random.default_rng(seed).gamma(gamma_shape, 1 / gamma_shape, (reps, n_seeds))
    return float(np.mean([(e.lo <= 1 <= e.hi) for e in map(lambda v: mean_interval(v, SPEC), values)]))


def paired_mean_error(n_seeds: int, reps: int, seed: int = 5) -> float:
    """Rejection rate at 5% of paired_mean under the null: per-seed values of two detectors sharing a
    seed effect, each with its own skewed (gamma) noise."""
    rng = np.random.default_rng(seed)
    common = rng.gamma(2.0, 1.0, (reps, n_seeds, 1))
    a, b = (common[..., 0] + rng.gamma(2.0, 1.0, (reps, n_seeds)) for _ in range(2))
    return float(np.mean([paired_mean(x, y, SPEC).p < 0.05 for x, y in zip(a, b, strict=True)]))


LEAD_MISSED = 0.2  # share of events missed
LEAD_SEED_SD = 2.0  # h: seed-to-seed shift of lead times


def lead_truth() -> float:
    """The true median lead: leads are missed (lowest) with probability LEAD_MISSED, else
    uniform(0, 24) h shifted by a normal seed effect; solves P(lead <= m) = 1/2."""
    from scipy import optimize

    z, w = np.polynomial.hermite_e.hermegauss(80)

    def below(m: float) -> float:
        u = np.clip((m - LEAD_SEED_SD * z) / 24, 0, 1)
        return LEAD_MISSED + (1 - LEAD_MISSED) * float((u * w).sum() / w.sum()) - 0.5

    return float(optimize.brentq(below, 0, 24))


def median_lead_coverage(n_seeds: int, reps: int, seed: int = 6, events: float = 6.0) -> float:
    """Coverage of median_lead_ci when each seed has a Poisson number of events."""
    rng, truth, hits = np.random.default_rng(seed), lead_truth(), 0
    for _ in range(reps):
        groups = []
        for _ in range(n_seeds):
            n = rng.poisson(events)
            leads = rng.uniform(0, 24, n) + rng.normal(0, LEAD_SEED_SD)
            leads[rng.random(n) < LEAD_MISSED] = np.nan
            groups.append(leads)
        lo, hi = median_lead_ci(groups, -1.0, SPEC)
        hits += lo <= truth <= hi
    return hits / reps


def sequential_error(
    reps: int,
    looks: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 35, 40, 45),
    macro: bool = True,
    fixed: bool = False,
    seed: int = 7,
    shape: Shape = Shape(),
    per_seed: bool = False,
) -> float:
    """Share of null studies (two detectors alike) that the seeds-until-decided rule declares
    different at some look: each look's paired_share interval at the nominal level of its
    O'Brien-Fleming-type spending boundary (``fixed``: at 95% at every look, the naive rule).
    ``per_seed``: paired_mean of skewed per-seed values instead (as paired_mean_error), the shape
    of per-seed median leads."""
    from scipy import stats

    from harness.analysis.statistics import spending_boundaries

    levels = np.full(len(looks), SPEC.confidence)
    if not fixed:
        levels = 1 - 2 * stats.norm.sf(spending_boundaries(np.array(looks) / looks[-1], 1 - SPEC.confidence))
    specs = [StatisticsSpec(confidence=float(level)) for level in levels]
    rng, errors = np.random.default_rng(seed), 0
    for _ in range(reps):
        if per_seed:
            common = rng.gamma(2.0, 1.0, (looks[-1], 1))
            a, b = (common[:, 0] + rng.gamma(2.0, 1.0, looks[-1]) for _ in range(2))
            pairs = (paired_mean(a[:n], b[:n], spec) for n, spec in zip(looks, specs, strict=True))
        else:
            den = shape.events(rng, looks[-1])
            a, b = shape.warned(rng, den), shape.warned(rng, den)
            pairs = (
                paired_share(a[:n], b[:n], den[:n], spec, macro) for n, spec in zip(looks, specs, strict=True)
            )
        errors += any(pair.lo > 0 or pair.hi < 0 for pair in pairs)
    return errors / reps
