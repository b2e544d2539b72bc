"""Uncertainty and paired tests over a study's runs (DESIGN section 5, "Statistics"); the seed is
the unit of inference (docs/explanation/statistics.md gives each method's measured coverage).

* Shares of events (``share_interval``, macro over strata or pooled): jackknife over seeds on the
  logit scale, Student t with Bell-McCaffrey degrees of freedom (``effective_df``).
* Paired differences of shares on the same events (``paired_share``) and of per-seed values
  (``paired_mean``): a t interval and two-sided t test; ``holm`` adjusts a family's p-values.
* Means of per-seed values (``mean_interval``): Student t with n - 1 degrees of freedom.
* Medians (``median_ci``, ``median_lead_ci``): Woodruff's interval, the share of values at or below
  the median read back as quantiles; missed events rank below every detected one.
* Bootstrap intervals (``seed_bootstrap``, ``ratio_ci``, ``km_median_ci``) resample *seeds* (every
  run of a resampled seed comes along); seeds without information on a ratio are left out.
* Kaplan-Meier medians of right-censored durations (reset times), vectorised over resamples.
* Group-sequential looks (``spending_boundaries``, ``look_levels``): O'Brien-Fleming-type alpha
  spending for seeds-until-decided (harness/run/stopping.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from omegaconf import DictConfig
from pydantic import Field

from scenarios.params import Section, config_dict, param

METHODS = ("percentile", "basic", "bca")
MISSED = -1.0e9  # a missed event's lead time while an interval is computed (below every lead)
MAX_RESAMPLES = 100_000
PAIR_KEYS = ["scenario", "seed", "target", "onset_h"]


class StatisticsSpec(Section):
    """How intervals and tests are computed (config section ``statistics``)."""

    section: ClassVar[str] = "statistics"

    n_resamples: int = param(
        2000, "resamples of the seeds where an interval is a bootstrap", ge=10, le=MAX_RESAMPLES
    )
    confidence: float = param(0.95, "confidence level of every interval", gt=0, lt=1)
    method: Literal["percentile", "basic", "bca"] = param(
        "percentile", "bootstrap interval (scipy.stats.bootstrap)"
    )
    seed: int = param(0, "random stream of the resampling (reproducible intervals)", ge=0)
    baseline: str = param("utilization", "first_alert.csv: every detector's first alert against this one")
    coverage_h: tuple[Annotated[float, Field(allow_inf_nan=False)], ...] = param(
        (1.0, 2.0, 4.0, 8.0), "lead-time coverage W(h) columns of summary.csv", unit="hours"
    )

    @classmethod
    def from_config(cls, cfg: DictConfig | Mapping[str, Any]) -> StatisticsSpec:
        return cls(**dict(config_dict(cfg).get("statistics") or {}))

    @property
    def label(self) -> str:
        return f"{self.confidence:.0%} intervals over seeds (the seed is the unit)"


def seed_bootstrap(
    n_seeds: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    spec: StatisticsSpec,
    batch: int | None = None,
) -> tuple[float, float]:
    """Confidence interval of ``statistic(idx)``, where ``idx`` (..., n) holds resampled seed indices.

    The statistic must be vectorised over leading axes and return finite numbers; ``batch`` bounds
    how many resamples it gets at once (memory). Fewer than two seeds give no interval (NaN, NaN).

    The percentile and basic intervals are ``scipy.stats.bootstrap``'s, bit for bit, computed
    without its per-call set-up: the resampled indices depend only on (n_seeds, n_resamples, seed,
    batch), so they are drawn once per process (``resamples``) and the statistic's distribution goes
    to ``scipy.stats.quantile`` as SciPy's does. BCa calls SciPy itself (it needs the jackknife).

    >>> from scipy import stats
    >>> spec = StatisticsSpec(n_resamples=200)
    >>> ours = seed_bootstrap(5, lambda idx: (idx**2).mean(-1), spec)
    >>> theirs = stats.bootstrap(
    ...     (np.arange(5),), lambda idx, axis=-1: (idx**2).mean(-1), n_resamples=200,
    ...     method="percentile", rng=np.random.default_rng(0),
    ... ).confidence_interval
    >>> ours == (float(theirs.low), float(theirs.high))
    True
    """
    from scipy import stats  # here, not at import: a study's workers and start-up need none of it

    if n_seeds < 2:
        return np.nan, np.nan
    if spec.method == "bca":
        return _scipy_bootstrap(n_seeds, statistic, spec, batch)
    theta = resampled(n_seeds, statistic, spec, batch)
    alpha = np.asarray((1 - spec.confidence) / 2, dtype=theta.dtype)
    low, high = stats.quantile(theta, np.stack((alpha, 1 - alpha), axis=-1), axis=-1)
    if spec.method == "basic":
        centre = statistic(np.arange(n_seeds))
        low, high = 2 * centre - high, 2 * centre - low
    return float(low), float(high)


def resampled(
    n_seeds: int, statistic: Callable[[np.ndarray], np.ndarray], spec: StatisticsSpec, batch: int | None
) -> np.ndarray:
    """``statistic`` at every resample of ``resamples``, in order (along the last axis). Each
    resample's value depends on its own row of seed indices only, so where few seeds make the rows
    repeat (at most a quarter of them distinct), the statistic runs once per distinct row, in
    batches of at most ``batch``, and the values are read back for every resample."""
    blocks = resamples(n_seeds, spec.n_resamples, spec.seed, batch)
    rows, inverse = distinct_resamples(n_seeds, spec.n_resamples, spec.seed, batch)
    if 4 * len(rows) > spec.n_resamples:
        return np.concatenate([statistic(idx) for idx in blocks], axis=-1)
    size = batch or len(rows)
    values = [statistic(rows[k : k + size]) for k in range(0, len(rows), size)]
    return np.concatenate(values, axis=-1)[..., inverse]


@cache
def distinct_resamples(
    n_seeds: int, n_resamples: int, seed: int, batch: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``resamples`` and, per resample, the index of its row among them."""
    rows, inverse = np.unique(
        np.concatenate(resamples(n_seeds, n_resamples, seed, batch)), axis=0, return_inverse=True
    )
    rows.flags.writeable = False
    return rows, inverse.reshape(-1)


@cache
def resamples(n_seeds: int, n_resamples: int, seed: int, batch: int | None) -> tuple[np.ndarray, ...]:
    """The seed indices ``scipy.stats.bootstrap`` draws with ``rng=np.random.default_rng(seed)``:
    one (resamples, n_seeds) block per batch (read-only: shared by every interval)."""
    rng = np.random.default_rng(seed)
    size = batch or n_resamples
    blocks = tuple(
        rng.integers(0, n_seeds, (min(size, n_resamples - k), n_seeds), dtype=np.int64)
        for k in range(0, n_resamples, size)
    )
    for block in blocks:
        block.flags.writeable = False
    return blocks


def _scipy_bootstrap(
    n_seeds: int, statistic: Callable[[np.ndarray], np.ndarray], spec: StatisticsSpec, batch: int | None
) -> tuple[float, float]:
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # BCa on a constant statistic
        result = stats.bootstrap(
            (np.arange(n_seeds),),
            lambda idx, axis=-1: statistic(idx),
            vectorized=True,
            n_resamples=spec.n_resamples,
            confidence_level=spec.confidence,
            method="BCa",
            rng=np.random.default_rng(spec.seed),
            batch=batch,
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def ratio_ci(numerator: np.ndarray, denominator: np.ndarray, spec: StatisticsSpec) -> tuple[float, float]:
    """CI of sum(numerator) / sum(denominator), given per-seed sums; seeds with denominator 0 left out."""
    keep = np.asarray(denominator) > 0
    num, den = np.asarray(numerator, float)[keep], np.asarray(denominator, float)[keep]
    return seed_bootstrap(len(num), lambda idx: num[idx].sum(-1) / den[idx].sum(-1), spec)


def median_ci(groups: Sequence[np.ndarray], spec: StatisticsSpec) -> tuple[float, float]:
    """CI of the median of all values (NaN left out), given each seed's values (seeds without
    values left out): Woodruff's interval, seeds as clusters.

    The share of values at or below the median, F(median), gets ``share_interval``'s interval over
    seeds (jackknife, logit scale); moved to centre on 1/2, its ends are read back as quantiles of
    all values. Fewer than two seeds with values: NaN.

    >>> median_ci([np.array([1.0, 2.0]), np.array([3.0]), np.array([4.0, 5.0, 6.0])], StatisticsSpec())
    (1.0, 6.0)
    """
    groups = [g[~np.isnan(g)] for g in (np.asarray(g, float) for g in groups)]
    groups = [g for g in groups if g.size]
    if len(groups) < 2:
        return np.nan, np.nan
    values = np.concatenate(groups)
    middle = np.median(values)
    below = np.array([[(g <= middle).sum()] for g in groups], float)
    sizes = np.array([[g.size] for g in groups], float)
    at = share_interval(below, sizes, spec, macro=False)
    if not np.isfinite(at.lo):
        return np.nan, np.nan
    probs = np.clip([0.5 - (at.value - at.lo), 0.5 + (at.hi - at.value)], 0, 1)
    lo, hi = np.quantile(values, probs, method="inverted_cdf")
    return float(lo), float(hi)


def median_lead_ci(groups: Sequence[np.ndarray], floor: float, spec: StatisticsSpec) -> tuple[float, float]:
    """CI of the median lead time (NaN = missed, ranked lowest), given each seed's events' leads.

    ``floor`` is the lowest possible lead time (-grace_h): a bound below it reads -inf ("missed").
    """
    coded = [np.where(np.isnan(g), MISSED, g) for g in map(np.asarray, groups)]
    lo, hi = median_ci(coded, spec)
    decode = lambda x: -np.inf if x < floor else x  # noqa: E731
    return (decode(lo), decode(hi)) if np.isfinite(lo) else (lo, hi)


def seed_weights(idx: np.ndarray, n_seeds: int) -> np.ndarray:
    """How often each seed occurs in each resample: (..., n) indices -> (..., n_seeds) counts."""
    return (np.asarray(idx)[..., None] == np.arange(n_seeds)).sum(axis=-2).astype(float)


def km_median(times: np.ndarray, censored: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Kaplan-Meier median of right-censored durations: the smallest time at which the estimated
    survival S(t) = prod over event times t_i <= t of (1 - d_i / n_i) is <= 1/2 (a censored value
    is a lower bound: it stays at risk up to its time, events at the same time come first).
    ``weights`` (..., m) counts each value that many times (bootstrap resamples along leading
    axes). inf when S never reaches 1/2 (the median exceeds every time observed); NaN without values.

    >>> float(km_median(np.array([1.0, 2, 3, 4, 5]), np.array([0, 1, 0, 1, 0], bool)))
    5.0
    >>> float(km_median(np.array([1.0, 2, 3, 4]), np.zeros(4, bool)))
    2.0
    """
    times = np.asarray(times, float)
    censored = np.asarray(censored, bool)
    w = np.ones(times.shape) if weights is None else np.asarray(weights, float)
    if times.size == 0:
        return np.full(w.shape[:-1], np.nan)
    unique, where = np.unique(times, return_inverse=True)
    onehot = np.zeros((times.size, unique.size))
    onehot[np.arange(times.size), where] = 1.0
    deaths = (w * ~censored) @ onehot
    at_risk = np.flip(np.cumsum(np.flip(w @ onehot, -1), -1), -1)
    factor = 1.0 - np.divide(deaths, at_risk, out=np.zeros_like(deaths), where=at_risk > 0)
    survival = np.cumprod(factor, axis=-1)
    below = survival <= 0.5 + 1e-12
    first = np.argmax(below, axis=-1)
    out = np.where(below.any(axis=-1), unique[first], np.inf)
    return np.where(w.sum(axis=-1) > 0, out, np.nan)


def km_median_ci(
    groups: Sequence[tuple[np.ndarray, np.ndarray]], spec: StatisticsSpec
) -> tuple[float, float]:
    """CI of the Kaplan-Meier median, given each seed's (times, censored); seeds without values are
    left out. A bound beyond every observed time reads inf."""
    groups = [(np.asarray(t, float), np.asarray(c, bool)) for t, c in groups if len(t)]
    if not groups:
        return np.nan, np.nan
    times = np.concatenate([t for t, _ in groups])
    censored = np.concatenate([c for _, c in groups])
    owner = np.concatenate([np.full(len(t), i) for i, (t, _) in enumerate(groups)])
    beyond = float(times.max()) + 1.0  # a finite stand-in for "not reached" inside the bootstrap

    def statistic(idx: np.ndarray) -> np.ndarray:
        weights = seed_weights(idx, len(groups))[..., owner]
        value = km_median(times, censored, weights)
        return np.where(np.isinf(value), beyond, value)

    lo, hi = seed_bootstrap(len(groups), statistic, spec, batch=500)
    decode = lambda x: np.inf if x >= beyond else x  # noqa: E731
    return decode(lo), decode(hi)


def by_seed(frame: pd.DataFrame, seeds: Sequence[int], column: str) -> list[np.ndarray]:
    """Values of ``column`` per seed, in the order of ``seeds`` (empty arrays for absent seeds)."""
    if not len(frame):
        return [np.zeros(0) for _ in seeds]
    owner, values = frame["seed"].to_numpy(), frame[column].to_numpy(float)
    return [values[owner == s] for s in seeds]


def sums_by_seed(frame: pd.DataFrame, seeds: Sequence[int], column: str) -> np.ndarray:
    return np.array([g.sum() for g in by_seed(frame, seeds, column)], float)


# ---------------------------------------------------------------- seed-level intervals and paired tests


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval over seeds."""

    value: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Paired:
    """Detector minus reference, paired by seed: the difference, its interval and two-sided p-value."""

    estimate: float
    lo: float
    hi: float
    p: float


def share(num: np.ndarray, den: np.ndarray, macro: bool = True) -> np.ndarray:
    """Share of events warned, over the last two axes (..., n_seeds, n_strata) of counts.

    ``macro``: the mean over strata with any event of each stratum's pooled share
    num.sum(seeds) / den.sum(seeds); otherwise the share pooled over everything. NaN without events.

    >>> num, den = np.array([[1, 0, 0], [3, 1, 0]]), np.array([[2, 1, 0], [4, 1, 0]])
    >>> float(share(num, den)), float(share(num, den, macro=False))
    (0.5833333333333333, 0.625)
    """
    num, den = np.asarray(num, float), np.asarray(den, float)
    if not macro:
        num, den = num.sum(-1, keepdims=True), den.sum(-1, keepdims=True)
    totals = den.sum(-2)
    having = totals > 0
    shares = np.divide(num.sum(-2), totals, out=np.zeros_like(totals), where=having)
    count = having.sum(-1)
    return np.where(count > 0, shares.sum(-1) / np.maximum(count, 1), np.nan)


def leave_one_out(num: np.ndarray, den: np.ndarray, macro: bool = True) -> np.ndarray:
    """The share without each seed in turn: (n_seeds,) from (n_seeds, n_strata) counts."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    return share(num.sum(0) - num[:, None], den.sum(0) - den[:, None], macro)


def jackknife_se(leave_one_out_values: np.ndarray) -> float:
    """Jackknife standard error from the leave-one-seed-out values of a statistic."""
    v = np.asarray(leave_one_out_values, float)
    n = v.size
    return float(np.sqrt((n - 1) / n * ((v - v.mean()) ** 2).sum()))


def effective_df(den: np.ndarray, macro: bool = True) -> float:
    """Degrees of freedom for a share's t interval: Satterthwaite's approximation for a cluster-
    robust (CR2) variance of the share, seeds as clusters, under independent events (Bell and
    McCaffrey 2002, as in Imbens and Kolesar 2016). n - 1 when every seed has the same events in
    every stratum, fewer when a few seeds hold most of them; a stratum seen in one seed only adds
    no information on the variance. NaN when no stratum is seen in two seeds.

    >>> effective_df(np.full((5, 2), 3)), round(effective_df(np.array([[20], [1], [1], [1], [1]])), 2)
    (4.0, 1.31)
    """
    den = np.atleast_2d(np.asarray(den, float))
    if not macro:
        den = den.sum(1, keepdims=True)
    den = den[:, den.sum(0) > 0]
    totals = den.sum(0)
    share_of = den / totals  # (seeds, strata): each seed's part of each stratum's events
    inside = share_of < 1
    weight = np.where(inside, 1 / (totals * np.sqrt(np.where(inside, 1 - share_of, 1))), 0.0)
    # gram[g, h] = sum over strata s of weight[g, s] weight[h, s] totals[s] (delta_gh share_of[g, s]
    #   - share_of[g, s] share_of[h, s]): the covariances of the seeds' terms under independent events
    scaled = weight * share_of
    gram = np.diag((weight**2 * share_of * totals).sum(1)) - (scaled * totals) @ scaled.T
    spread = float((gram**2).sum())
    return float(np.trace(gram) ** 2 / spread) if spread > 0 else np.nan


def t_interval(value: float, se: float, df: float, spec: StatisticsSpec) -> tuple[float, float, float]:
    """(lo, hi, two-sided p of value = 0) of a Student t interval with ``df`` degrees of freedom.
    NaN for an undefined value, standard error or df (fewer than two seeds); a zero standard error
    gives [value, value] and p 1 (value 0) or 0."""
    from scipy import special  # Student t quantile and distribution function, without stats' overhead

    if not (np.isfinite(value) and np.isfinite(se) and np.isfinite(df) and df > 0):
        return np.nan, np.nan, np.nan
    if se == 0:
        return value, value, float(value == 0)
    half = float(special.stdtrit(df, (1 + spec.confidence) / 2)) * se
    return value - half, value + half, float(2 * special.stdtr(df, -abs(value) / se))


def share_interval(num: np.ndarray, den: np.ndarray, spec: StatisticsSpec, macro: bool = True) -> Estimate:
    """Share of events (see ``share``) with a jackknife t interval over seeds on the logit scale.

    The logit is taken of (share * events + 1/2) / (events + 1), ``events`` the total count, so
    shares of 0 and 1 stay finite; the interval is mapped back, inside [0, 1]. Every seed counts,
    with or without events; fewer than two seeds with events give a NaN interval.
    """
    num, den = np.atleast_2d(np.asarray(num, float)), np.atleast_2d(np.asarray(den, float))
    value = float(share(num, den, macro))
    if (den.sum(1) > 0).sum() < 2:
        return Estimate(value, np.nan, np.nan)
    from scipy import special

    events = den.sum()
    to_logit = lambda x: special.logit((x * events + 0.5) / (events + 1))  # noqa: E731
    from_logit = lambda y: float(np.clip((special.expit(y) * (events + 1) - 0.5) / events, 0, 1))  # noqa: E731
    se = jackknife_se(to_logit(leave_one_out(num, den, macro)))
    lo, hi, _ = t_interval(float(to_logit(value)), se, effective_df(den, macro), spec)
    return Estimate(value, from_logit(lo), from_logit(hi))


def paired_share(
    num_a: np.ndarray, num_b: np.ndarray, den: np.ndarray, spec: StatisticsSpec, macro: bool = True
) -> Paired:
    """Share of detector a minus share of detector b on the same events (``den``), paired by seed:
    a jackknife t interval and t test of the difference."""
    num_a, num_b = np.atleast_2d(np.asarray(num_a, float)), np.atleast_2d(np.asarray(num_b, float))
    den = np.atleast_2d(np.asarray(den, float))
    value = float(share(num_a, den, macro) - share(num_b, den, macro))
    if (den.sum(1) > 0).sum() < 2:
        return Paired(value, np.nan, np.nan, np.nan)
    loo = leave_one_out(num_a, den, macro) - leave_one_out(num_b, den, macro)
    return Paired(value, *t_interval(value, jackknife_se(loo), effective_df(den, macro), spec))


def mean_interval(values: np.ndarray, spec: StatisticsSpec) -> Estimate:
    """Mean of per-seed values (NaN left out) with a t interval over seeds."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if not v.size:
        return Estimate(np.nan, np.nan, np.nan)
    value = float(v.mean())
    se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else np.nan
    lo, hi, _ = t_interval(value, se, v.size - 1, spec)
    return Estimate(value, lo, hi)


def paired_mean(a: np.ndarray, b: np.ndarray, spec: StatisticsSpec) -> Paired:
    """Mean of per-seed differences a - b (seeds where either is NaN left out): t interval, t test."""
    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[~np.isnan(d)]
    if not d.size:
        return Paired(np.nan, np.nan, np.nan, np.nan)
    value = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else np.nan
    return Paired(value, *t_interval(value, se, d.size - 1, spec))


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjustment; NaN p-values stay NaN and do not count in the family.

    >>> holm([0.01, 0.04, 0.03, np.nan]).round(3).tolist()
    [0.03, 0.06, 0.06, nan]
    """
    p = np.asarray(pvalues, float)
    out = np.full(p.shape, np.nan)
    defined = np.flatnonzero(~np.isnan(p))
    order = defined[np.argsort(p[defined], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


# ---------------------------------------------------------------- group-sequential looks

SEQUENTIAL_METHOD = "group-sequential, Lan-DeMets O'Brien-Fleming-type alpha spending"


def obf_spent(fraction: np.ndarray, alpha: float) -> np.ndarray:
    """Two-sided alpha spent by information ``fraction`` under O'Brien-Fleming-type spending (Lan and
    DeMets 1983), alpha/2 on each side: 2 (2 - 2 Phi(z_{1 - alpha/4} / sqrt(fraction)))."""
    from scipy import stats

    return 4 * stats.norm.sf(stats.norm.isf(alpha / 4) / np.sqrt(np.asarray(fraction, float)))


def spending_boundaries(fractions: ArrayLike, alpha: float) -> np.ndarray:
    """Two-sided z boundaries c_k of looks at increasing information ``fractions`` (the last 1): a
    standardised difference |Z_k| >= c_k at look k decides, and under the null the chance of deciding
    by look k is ``obf_spent`` of its fraction (``alpha`` by the last). The crossing probabilities of
    the Brownian motion B(t) = Z sqrt(t) are integrated numerically on a grid, look by look.

    >>> spending_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.05).round(2).tolist()  # as gsDesign's sfLDOF
    [4.88, 3.36, 2.68, 2.29, 2.03]
    """
    from scipy import optimize, stats

    t = np.asarray(fractions, float)
    spend = np.diff(obf_spent(t, alpha), prepend=0.0)
    step = 0.02
    grid = np.arange(-10, 10 + step / 2, step)
    points, mass = np.zeros(1), np.ones(1)  # B(0) = 0: the paths still running, and their probability
    bounds = []
    for k in range(len(t)):
        sd = np.sqrt(t[k] - (t[k - 1] if k else 0.0))  # B(t_k) = B(t_{k-1}) + N(0, sd^2)
        b = optimize.brentq(_beyond, 0.0, 60.0, args=(points, mass, sd, spend[k])) if spend[k] > 0 else np.inf
        bounds.append(b / np.sqrt(t[k]))
        running = np.abs(grid) < b
        density = stats.norm.pdf((grid[running, None] - points) / sd) @ mass / sd
        points, mass = grid[running], density * step
    return np.array(bounds)


def _beyond(b: float, points: np.ndarray, mass: np.ndarray, sd: float, target: float) -> float:
    """P(|B_next| >= b) - target, B_next = B + N(0, sd^2), B on ``points`` with ``mass``."""
    from scipy import stats

    return (
        float((mass * (stats.norm.cdf((-b - points) / sd) + stats.norm.sf((b - points) / sd))).sum()) - target
    )


def look_levels(fractions: ArrayLike, alpha: float) -> np.ndarray:
    """The confidence level of each look's interval (1 - its nominal two-sided alpha): a paired
    interval at this level that excludes 0 crosses the look's ``spending_boundaries``."""
    from scipy import stats

    return 1 - 2 * stats.norm.sf(spending_boundaries(fractions, alpha))
