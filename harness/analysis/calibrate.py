"""Exact threshold sweeps and held-out threshold selection (DESIGN section 6).

Every distinct score value of a detector is a candidate threshold. Rather than re-scoring each run
once per threshold, every quantity the scorer reports is written as a sum of *threshold intervals*
derived from the scores once, then counted for all thresholds in one sorted pass.

Let ``e[i]`` be step i's score when it is scored (after warm-up, not NaN), else -inf: at threshold
theta the alerting steps are ``{i: e[i] >= theta}``. Consecutive alerting steps p < n belong to one
episode when they are adjacent or ``time[n] - (time[p] + dt) < refractory`` ("linked"). Linking is
monotone (a linked pair links every pair nested inside it), so, with ``hi[p]`` the last step linked
to p and ``lo[i]`` the first step linked to i:

* i starts an episode iff it alerts and no step in ``[lo[i], i - 1]`` does, i.e. for theta in
  ``(m[i], e[i]]`` with ``m[i] = max e[lo[i] .. i-1]``. Episodes at theta = starts at theta.
* An episode is false iff it lies in a *quiet range*: the steps whose cell [t, t + dt) fits
  strictly between two merged event spans. The false episodes inside a quiet range [P, Q] are
  ``starts in [P, Q] - [an episode crosses Q|Q+1] + [an episode covers all of [P, Q]]``; the last
  two terms are monotone in theta, each a single interval ``theta <= y``. ``y`` of the crossing is
  the best directly linked pair straddling the boundary; ``y`` of the covering is a widest path from
  before P to after Q, where a chain p -> n survives theta iff every minimal gap
  ``[x + 1, hi[x]]`` (p <= x, hi[x] < n) still holds an alerting step.
* An event's alert time is at most tau (tau in [onset - H, onset + G]) iff an episode overlaps
  [onset - H, tau], which holds for theta up to the best step whose cell meets that window, or the
  best linked pair straddling it. Its lead time at theta is therefore the largest ``onset - tau``
  whose window threshold is >= theta: a few monotone pieces per event, swept once for the median.

The result equals :func:`harness.scoring.score_run` with ``ScoringSpec(thresholds={name: theta})`` at
every threshold (tests/test_calibrate.py checks this on random readings and events).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from detectors.base import Readings
from harness.analysis.scoring import RunScore, ScoringSpec, score_run
from scenarios.errors import InputError
from scenarios.graph import MatrixGraph
from scenarios.params import Section, param
from scenarios.trace import FIELDS, Event, Layout, Trace, Truth
from scenarios.truth import TARGETS, Target

CURVE_COLUMNS = [
    "threshold",
    "n_episodes",
    "n_false",
    "fp_rate",
    "false_per_1000_quiet_h",
    "quiet_h",
    "quiet_alert_fraction",
    "n_events",
    "n_detected",
    "recall",
    "median_lead_h",
]


@dataclass(frozen=True, eq=False)
class Run:
    """What a sweep needs of one run: step times, one detector's scores, and the hidden truth."""

    time_h: np.ndarray
    score: np.ndarray
    dt_h: float
    warmup_h: float
    events: tuple[Event, ...]

    @classmethod
    def from_trace(cls, trace: Trace, score: np.ndarray) -> Run:
        return cls(
            trace.time_h,
            np.asarray(score, float),
            trace.layout.dt_h,
            trace.layout.warmup_h,
            tuple(trace.truth.events),
        )

    def scored_at(self, threshold: float, spec: ScoringSpec) -> RunScore:
        """:func:`harness.analysis.scoring.score_run` of this run at ``score >= threshold`` (no unit
        is implicated: root-cause overlap is not defined here)."""
        n = len(self.time_h)
        graph = MatrixGraph(np.zeros((1, 1)))
        layout = Layout(np.ones(1), np.ones(1), graph, dt_h=self.dt_h, warmup_h=self.warmup_h)
        trace = Trace(
            self.time_h, np.zeros((n, len(FIELDS), 1)), layout, {}, Truth(np.zeros((n, 1)), list(self.events))
        )
        readings = Readings(self.time_h, self.score, np.zeros(n, np.int8), np.zeros((n, 1), bool), {})
        at = ScoringSpec(**{**spec.to_dict(), "thresholds": {"run": float(threshold)}})
        return score_run(trace, readings, at, "run")


# ---------------------------------------------------------------- range extremes (sparse tables)


def _table(x: np.ndarray, op: np.ufunc) -> np.ndarray:
    """Sparse table: row k holds op over x[i : i + 2**k] (valid for i <= len(x) - 2**k)."""
    rows = [x]
    span = 1
    while 2 * span <= len(x):
        prev = rows[-1]
        row = prev.copy()
        n = len(x) - 2 * span + 1
        row[:n] = op(prev[:n], prev[span : span + n])
        rows.append(row)
        span *= 2
    return np.stack(rows)


def _query(table: np.ndarray, op: np.ufunc, lo: np.ndarray, hi: np.ndarray, empty: float) -> np.ndarray:
    """op over x[lo .. hi] (inclusive) elementwise; ``empty`` where lo > hi."""
    lo, hi = np.broadcast_arrays(np.asarray(lo), np.asarray(hi))
    ok = lo <= hi
    last = table.shape[1] - 1
    a = np.clip(lo, 0, last)
    length = np.where(ok, hi - lo + 1, 1)
    k = np.frexp(length.astype(float))[1] - 1  # floor(log2(length)), exact
    b = np.clip(np.where(ok, hi, a) - (1 << k) + 1, 0, last)
    return np.where(ok, op(table[k, a], table[k, b]), empty)


# ---------------------------------------------------------------- one run's threshold intervals


@dataclass
class _Intervals:
    """A run's contributions. Episode counts: theta in (lo, hi]; events: active while theta <= D."""

    start_lo: np.ndarray
    start_hi: np.ndarray
    false_lo: np.ndarray
    false_hi: np.ndarray
    false_w: np.ndarray
    detect: np.ndarray  # (events,) highest threshold at which each event is detected
    piece_event: np.ndarray  # lead pieces: event index, lead, highest threshold reaching it
    piece_lead: np.ndarray
    piece_bound: np.ndarray
    quiet_scores: np.ndarray  # effective scores of the quiet steps (each alerts for dt while >= theta)
    dt_h: float
    quiet_h: float


class _Steps:
    """Linking structure and range extremes of one run's effective scores."""

    def __init__(self, time_h: np.ndarray, e: np.ndarray, dt: float, refractory: float) -> None:
        n = len(time_h)
        self.n, self.time_h, self.e = n, time_h, e
        self.end = time_h + dt  # a cell's end, computed as the scorer computes an episode's end
        idx = np.arange(n)
        # hi[p]: last step linked to p (p + 1 always; further while time[n] - end[p] < refractory)
        cand = np.searchsorted(time_h, self.end + refractory, side="left") - 1
        while True:  # settle floating-point ties with the scorer's exact expression
            nxt = np.minimum(cand + 1, n - 1)
            up = (cand + 1 <= n - 1) & (time_h[nxt] - self.end < refractory)
            down = (cand > idx) & ~(time_h[np.clip(cand, 0, n - 1)] - self.end < refractory)
            if not (up.any() or down.any()):
                break
            cand = cand + up - down
        self.hi = np.minimum(np.maximum(cand, idx + 1), n - 1)
        self.lo = np.searchsorted(self.hi, idx, side="left")  # first step linked to i
        self.max_e = _table(e, np.maximum)
        self.before = self.range_max(self.lo, idx - 1)  # best score in i's backward link window
        after = self.range_max(idx + 1, self.hi)  # best score in p's forward link window (x.. hi)
        self.min_after = _table(after, np.minimum)

    def range_max(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return _query(self.max_e, np.maximum, lo, hi, -np.inf)

    def straddle(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Best min(e[p], e[n]) over directly linked p <= a < b <= n (-inf if none)."""
        a, b = np.asarray(a), np.asarray(b)
        ok = (a >= 0) & (b <= self.n - 1) & (a < b)
        first = np.where(ok, self.lo[np.minimum(b, self.n - 1)], 0)  # p is linked to b iff p >= lo[b]
        width = int(np.max(np.where(ok, a - first + 1, 0), initial=0))
        p = a[..., None] - np.arange(width)
        use = ok[..., None] & (p >= first[..., None])
        p = np.where(use, p, 0)
        value = np.minimum(self.e[p], self.range_max(np.where(use, b[..., None], 0), self.hi[p]))
        return np.where(use, value, -np.inf).max(axis=-1, initial=-np.inf)

    def widest(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Highest threshold at which one episode holds steps both before ``start`` and after ``stop``."""
        ok = (start >= 1) & (stop <= self.n - 2)
        s, q = np.where(ok, start, 0), np.where(ok, stop, 0)
        first, last = self.lo[s], self.hi[q]
        width_p = int(np.max(np.where(ok, s - first, 0), initial=0))
        width_n = int(np.max(np.where(ok, last - q, 0), initial=0))
        p = (s - 1)[:, None, None] - np.arange(width_p)[None, :, None]  # last alerting step before start
        n = (q + 1)[:, None, None] + np.arange(width_n)[None, None, :]  # first alerting step after stop
        use = ok[:, None, None] & (p >= first[:, None, None]) & (n <= last[:, None, None])
        p, n = np.where(use, p, 0), np.where(use, n, 0)
        gaps = _query(self.min_after, np.minimum, p, self.lo[n] - 1, np.inf)  # every gap between bridged
        value = np.minimum(np.minimum(self.e[p], self.e[n]), gaps)
        return np.where(use, value, -np.inf).max(axis=(1, 2), initial=-np.inf)


def _merged_spans(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of closed intervals [lo, hi] as disjoint sorted intervals."""
    order = np.argsort(lo, kind="stable")
    out_lo: list[float] = []
    out_hi: list[float] = []
    for a, b in zip(lo[order].tolist(), hi[order].tolist(), strict=True):
        if out_hi and a <= out_hi[-1]:
            out_hi[-1] = max(out_hi[-1], b)
        else:
            out_lo.append(a)
            out_hi.append(b)
    return np.array(out_lo, float), np.array(out_hi, float)


def _intervals(run: Run, spec: ScoringSpec, target: str) -> _Intervals:
    """One run's threshold intervals: episode starts, false-episode terms, event pieces."""
    time_h = np.asarray(run.time_h, float)
    dt = run.dt_h
    scored = time_h > run.warmup_h
    score = np.asarray(run.score, float)
    e = np.where(scored & ~np.isnan(score), score, -np.inf)
    steps = _Steps(time_h, e, dt, spec.refractory_h)

    starts = e > steps.before
    start_lo, start_hi = steps.before[starts], e[starts]

    onset = np.array([ev.onset_h for ev in run.events], float)
    end = np.array([ev.end_h for ev in run.events], float)
    span_lo = onset - spec.horizon_h
    span_hi = np.maximum(onset + spec.grace_h, end)
    in_span = ((time_h[:, None] >= span_lo[None, :]) & (time_h[:, None] <= span_hi[None, :])).any(axis=1)
    quiet = scored & ~in_span
    quiet_h = float(quiet.sum() * dt)

    # false episodes: quiet ranges [P, Q] between merged spans
    u_lo, u_hi = _merged_spans(span_lo, span_hi)
    gap_lo = np.concatenate(([-np.inf], u_hi))
    gap_hi = np.concatenate((u_lo, [np.inf]))
    first = np.searchsorted(time_h, gap_lo, side="right")
    last = np.searchsorted(steps.end, gap_hi, side="right") - 1
    keep = first <= last
    first, last = first[keep], last[keep]
    in_quiet = np.zeros(len(time_h) + 1, int)
    np.add.at(in_quiet, first, 1)
    np.add.at(in_quiet, last + 1, -1)
    quiet_start = starts & (np.cumsum(in_quiet)[:-1] > 0)
    cross = steps.straddle(last, last + 1)
    cover = steps.widest(first, last)
    false_lo = np.concatenate((steps.before[quiet_start], np.full(2 * len(first), -np.inf)))
    false_hi = np.concatenate((e[quiet_start], cross, cover))
    false_w = np.concatenate((np.ones(quiet_start.sum()), -np.ones(len(first)), np.ones(len(first))))

    # events of the target: window thresholds for every candidate alert time
    mine = [ev for ev in run.events if ev.target == target and ev.onset_h > run.warmup_h]
    t = np.array([ev.onset_h for ev in mine], float)
    lo_w = t - spec.horizon_h
    hi_w = t + spec.grace_h
    x0 = np.searchsorted(steps.end, lo_w, side="right")  # first cell ending after onset - H
    step0 = np.searchsorted(time_h, lo_w, side="right")  # first step after onset - H
    step1 = np.searchsorted(time_h, hi_w, side="right") - 1  # last step at or before onset + G
    width = int(np.max(step1 - step0 + 2, initial=1))
    col = np.arange(width)[None, :]
    x_end = np.where(col == 0, step0[:, None] - 1, step0[:, None] + col - 1)  # last step <= tau
    valid = (col == 0) | (x_end <= step1[:, None])
    tau = np.where(col == 0, lo_w[:, None], time_h[np.clip(x_end, 0, len(time_h) - 1)])
    x_last = np.minimum(x_end, len(time_h) - 1)
    bound = np.maximum(
        steps.range_max(np.broadcast_to(x0[:, None], x_end.shape), x_last),
        steps.straddle(np.broadcast_to(x0[:, None] - 1, x_end.shape), x_last + 1),
    )
    bound = np.where(valid, bound, -np.inf)
    best = np.maximum.accumulate(bound, axis=1)
    record = valid & (bound > np.concatenate((np.full((len(t), 1), -np.inf), best[:, :-1]), axis=1))
    rows, _ = np.nonzero(record)
    return _Intervals(
        start_lo=start_lo,
        start_hi=start_hi,
        false_lo=false_lo,
        false_hi=false_hi,
        false_w=false_w,
        detect=best[:, -1] if len(t) else np.zeros(0),
        piece_event=rows,
        piece_lead=(t[:, None] - tau)[record],
        piece_bound=bound[record],
        quiet_scores=e[quiet],
        dt_h=dt,
        quiet_h=quiet_h,
    )


# ---------------------------------------------------------------- the sweep over all runs


def candidate_thresholds(runs: Sequence[Run]) -> np.ndarray:
    """Every distinct score value at a scored step (NaN and -inf never alert), ascending."""
    values = [r.score[(r.time_h > r.warmup_h) & ~np.isnan(r.score)] for r in runs]
    out = np.unique(np.concatenate(values)) if values else np.zeros(0)
    return out[out > -np.inf]


def _count(thresholds: np.ndarray, lo: np.ndarray, hi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sum of the integer weights w over the intervals (lo, hi] containing each threshold, in one
    sorted pass: +w where an interval starts to hold, -w where it stops, then a running sum."""
    n = len(thresholds)
    a = np.searchsorted(thresholds, lo, side="right")
    b = np.searchsorted(thresholds, hi, side="right")
    use = a < b
    delta = np.bincount(a[use], w[use], minlength=n + 1) - np.bincount(b[use], w[use], minlength=n + 1)
    return np.rint(np.cumsum(delta)[:n]).astype(np.int64)


def _median_leads(
    bound: np.ndarray, lead: np.ndarray, event: np.ndarray, n_events: int, n: int
) -> np.ndarray:
    """Median lead (missed ranked lowest) at thresholds 0..n-1, from pieces "event reaches lead while
    threshold index < bound". Leads only grow as the threshold falls, so two rank pointers walk up."""
    if n_events == 0:
        return np.full(n, np.nan)
    out = np.full(n, -np.inf)
    keep = bound > 0
    bound, lead, event = bound[keep], lead[keep], event[keep]
    levels, rank = np.unique(lead, return_inverse=True)
    rank = rank + 1  # 0 is "missed"
    order = np.argsort(-bound, kind="stable")
    values = [-np.inf, *levels.tolist()]
    hist = [0] * len(values)
    hist[0] = n_events
    current = [0] * n_events
    wanted = ((n_events - 1) // 2, n_events // 2)
    pointer, below = [0, 0], [0, 0]
    bounds, events, ranks = bound[order].tolist(), event[order].tolist(), rank[order].tolist()
    marks: list[tuple[int, float]] = []
    for i, (b, ev, r) in enumerate(zip(bounds, events, ranks, strict=True)):
        old = current[ev]
        if r > old:
            current[ev] = r
            hist[old] -= 1
            hist[r] += 1
            for s in (0, 1):
                if old < pointer[s] <= r:
                    below[s] -= 1
                while below[s] + hist[pointer[s]] <= wanted[s]:
                    below[s] += hist[pointer[s]]
                    pointer[s] += 1
        if i + 1 == len(bounds) or bounds[i + 1] != b:
            marks.append((b, (values[pointer[0]] + values[pointer[1]]) / 2))
    for k, (b, value) in enumerate(marks):
        out[(marks[k + 1][0] if k + 1 < len(marks) else 0) : b] = value
    return out


class Sweep:
    """The threshold intervals of a set of runs, derived once from their scores; ``curve`` then
    evaluates every metric at any thresholds in one sorted pass.

    >>> run = Run(np.arange(1, 9) * 1.0, np.array([0, 0, 2, 2, 0, 1, 0, 0.0]), 1.0, 0.0, ())
    >>> Sweep([run], ScoringSpec(refractory_h=1.0)).curve()[["threshold", "n_episodes"]].values.tolist()
    [[0.0, 1.0], [1.0, 2.0], [2.0, 1.0]]
    """

    def __init__(self, runs: Sequence[Run], spec: ScoringSpec, target: str = "utilization_breach") -> None:
        if target not in TARGETS:
            raise InputError("calibrate.target", f"must be one of {', '.join(TARGETS)}; got {target!r}")
        parts = [_intervals(run, spec, target) for run in runs]
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts]) if parts else np.zeros(0)  # noqa: E731
        self.candidates = candidate_thresholds(runs)
        self.start = cat("start_lo"), cat("start_hi")
        self.false: tuple[np.ndarray, ...] = cat("false_lo"), cat("false_hi"), cat("false_w")
        self.detect = np.sort(cat("detect"))
        offsets = np.cumsum([0] + [len(p.detect) for p in parts])  # events numbered across runs
        shifted = (p.piece_event + o for p, o in zip(parts, offsets[:-1], strict=True))
        self.piece_event = np.concatenate([np.zeros(0, int), *shifted])
        self.piece_lead, self.piece_bound = cat("piece_lead"), cat("piece_bound")
        self.quiet_h = float(sum(p.quiet_h for p in parts))
        # quiet steps' scores by step length (counted exactly, then times dt)
        self.quiet: dict[float, np.ndarray] = {}
        for p in parts:
            self.quiet[p.dt_h] = np.concatenate((self.quiet.get(p.dt_h, np.zeros(0)), p.quiet_scores))

    @classmethod
    def combine(cls, sweeps: Sequence[Sweep]) -> Sweep:
        """The sweep of all runs of ``sweeps`` together, without deriving any run's intervals again
        (each run's sweep derived once serves every subset of runs, e.g. every fold)."""
        out = cls.__new__(cls)
        cat = lambda get: np.concatenate([np.zeros(0), *(get(s) for s in sweeps)])  # noqa: E731
        out.candidates = np.unique(cat(lambda s: s.candidates))
        out.start = cat(lambda s: s.start[0]), cat(lambda s: s.start[1])
        out.false = tuple(cat(lambda s, i=i: s.false[i]) for i in range(3))
        out.detect = np.sort(cat(lambda s: s.detect))
        offsets = np.cumsum([0] + [len(s.detect) for s in sweeps])
        shifted = (s.piece_event + o for s, o in zip(sweeps, offsets[:-1], strict=True))
        out.piece_event = np.concatenate([np.zeros(0, int), *shifted])
        out.piece_lead, out.piece_bound = cat(lambda s: s.piece_lead), cat(lambda s: s.piece_bound)
        out.quiet_h = float(sum(s.quiet_h for s in sweeps))
        out.quiet = {}
        for s in sweeps:
            for dt, scores in s.quiet.items():
                out.quiet[dt] = np.concatenate((out.quiet.get(dt, np.zeros(0)), scores))
        return out

    def covered(self, lead_h: float, thresholds: np.ndarray) -> np.ndarray:
        """Number of target events warned at least ``lead_h`` ahead at each (increasing) threshold:
        an event's lead at theta is its longest lead piece still reached at theta."""
        best = np.full(len(self.detect), -np.inf)
        reach = self.piece_lead >= lead_h
        np.maximum.at(best, self.piece_event[reach], self.piece_bound[reach])
        return len(best) - np.searchsorted(np.sort(best), np.asarray(thresholds, float), side="left")

    def curve(
        self, thresholds: np.ndarray | Sequence[float] | None = None, warned_h: float | None = None
    ) -> pd.DataFrame:
        """Pooled metrics at each threshold (default: every distinct score value), as CURVE_COLUMNS;
        counts add up over runs before any ratio is taken, as in summary.csv. With ``warned_h``, also
        ``n_warned`` and ``warned``: target events warned at least that many hours ahead."""
        grid = self.candidates if thresholds is None else np.asarray(thresholds, float).reshape(-1)
        if np.isnan(grid).any() or (grid == -np.inf).any() or (np.diff(grid) <= 0).any():
            raise InputError("thresholds", "must be increasing numbers > -inf")
        n = len(grid)
        n_episodes = _count(grid, *self.start, np.ones(len(self.start[0])))
        n_false = _count(grid, *self.false)
        n_events = len(self.detect)
        n_detected = n_events - np.searchsorted(self.detect, grid, side="left")
        bound = np.searchsorted(grid, self.piece_bound, side="right")
        median = _median_leads(bound, self.piece_lead, self.piece_event, n_events, n)
        alert_quiet_h = np.zeros(n)
        for dt, scores in sorted(self.quiet.items()):
            alert_quiet_h += dt * _count(grid, np.full(len(scores), -np.inf), scores, np.ones(len(scores)))
        ratio = lambda num, den: num / den if den > 0 else np.full(n, np.nan)  # noqa: E731
        frame = pd.DataFrame(
            {
                "threshold": grid,
                "n_episodes": n_episodes,
                "n_false": n_false,
                "fp_rate": np.where(n_episodes > 0, n_false / np.maximum(n_episodes, 1), np.nan),
                "false_per_1000_quiet_h": ratio(1000.0 * n_false, self.quiet_h),
                "quiet_h": np.full(n, self.quiet_h),
                "quiet_alert_fraction": ratio(alert_quiet_h, self.quiet_h),
                "n_events": np.full(n, n_events),
                "n_detected": n_detected,
                "recall": ratio(n_detected, n_events),
                "median_lead_h": median,
            },
            columns=CURVE_COLUMNS,
        )
        if warned_h is None:
            return frame
        n_warned = self.covered(warned_h, grid)
        return frame.assign(n_warned=n_warned, warned=ratio(n_warned, n_events))


def operating_curve(
    runs: Sequence[Run],
    spec: ScoringSpec,
    target: str = "utilization_breach",
    thresholds: np.ndarray | Sequence[float] | None = None,
) -> pd.DataFrame:
    """Pooled metrics of ``runs`` at every threshold (default: every distinct score value)."""
    return Sweep(runs, spec, target).curve(thresholds)


# ---------------------------------------------------------------- held-out selection


class FpAnalysis(Section):
    """``calibrate.fp_analysis``: the share of episodes at score >= threshold not followed by an event."""

    section: ClassVar[str] = "calibrate.fp_analysis"

    detector: str = param("transport", "the detector analysed")
    thresholds: tuple[Annotated[float, Field(allow_inf_nan=False)], ...] = param(
        (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4), "its thresholds, increasing"
    )

    @model_validator(mode="after")
    def _increasing(self) -> FpAnalysis:
        if (np.diff(np.asarray(self.thresholds, float)) <= 0).any():
            raise InputError("calibrate.fp_analysis.thresholds", "must be increasing finite numbers")
        return self


class CalibrationSpec(Section):
    """What ``tdbench task=calibrate`` tunes (config section ``calibrate``); its seed split is the
    headline's too."""

    section: ClassVar[str] = "calibrate"

    rule: Literal["budget", "lead"] = param(
        "budget", "budget: the headline's rule and budget; lead: the former rule (max_fp_rate, min_recall)"
    )
    target: Target = param("utilization_breach", "events whose warnings the threshold is tuned for")
    calibration_fraction: float = param(
        0.5, "share of the seeds that choose thresholds; the rest test them", gt=0, lt=1
    )
    split_seed: int = param(0, "which seeds go where (deterministic)", ge=0)
    max_fp_rate: float = param(0.15, "rule lead: pooled FP rate <= this on the calibration seeds", ge=0, le=1)
    min_recall: float = param(0.8, "rule lead: recall of target events >= this", ge=0, le=1)
    max_quiet_alert_fraction: float | None = param(
        None, "rule lead, optional: share of quiet time spent alerting <= this", ge=0, le=1
    )
    detectors: tuple[str, ...] | None = param(None, "the detectors calibrated; null: every selected detector")
    fp_analysis: FpAnalysis = param(FpAnalysis(), "the false-positive analysis of one detector")

    @model_validator(mode="after")
    def _rule_settings(self) -> CalibrationSpec:
        if self.rule == "budget" and self.max_quiet_alert_fraction is not None:
            raise InputError(
                "calibrate.max_quiet_alert_fraction",
                "applies to calibrate.rule=lead only (rule budget limits quiet alerting by headline.budget)",
            )
        return self

    @property
    def fp_detector(self) -> str:
        return self.fp_analysis.detector

    @property
    def fp_thresholds(self) -> tuple[float, ...]:
        return self.fp_analysis.thresholds

    @classmethod
    def from_config(cls, raw: dict, selected: Sequence[str]) -> CalibrationSpec:
        """From the ``calibrate`` section of a resolved config; ``selected``: the study's detectors."""
        spec = cls(**dict(raw or {}))
        if spec.detectors is not None and not all(n in selected for n in spec.detectors):
            raise InputError(
                "calibrate.detectors", f"must list selected detectors; selected: {', '.join(selected)}"
            )
        fp = spec.fp_analysis.detector
        if fp != FpAnalysis.model_fields["detector"].default and fp not in selected:
            raise InputError(
                "calibrate.fp_analysis.detector",
                f"names no selected detector ({fp!r}); selected: {', '.join(selected)}",
            )
        return spec


def split_seeds(seeds: Sequence[int], fraction: float, split_seed: int) -> tuple[list[int], list[int]]:
    """Deterministic split of the seeds into calibration and test sets (each non-empty).

    >>> split_seeds(range(10), 0.5, 0)
    ([2, 3, 4, 6, 7], [0, 1, 5, 8, 9])
    """
    seeds = sorted(int(s) for s in seeds)
    if len(seeds) < 2:
        raise InputError(
            "seeds", f"calibration needs at least 2 seeds (calibration and test); got {len(seeds)}"
        )
    n_cal = min(max(int(round(fraction * len(seeds))), 1), len(seeds) - 1)
    order = np.random.default_rng(split_seed).permutation(len(seeds))
    return sorted(seeds[i] for i in order[:n_cal]), sorted(seeds[i] for i in order[n_cal:])


def extend_split(
    calibration: Sequence[int], test: Sequence[int], added: Sequence[int], fraction: float, split_seed: int
) -> tuple[list[int], list[int]]:
    """Add a batch of seeds to a split without moving any seed already split: of the ``added``
    seeds, as many go to calibration as bring its share of all seeds back to ``fraction`` (rounded),
    picked by a permutation of the batch drawn from ``(split_seed, first added seed)``.

    >>> extend_split([2, 3, 4, 6, 7], [0, 1, 5, 8, 9], [10, 11, 12, 13], 0.5, 0)
    ([2, 3, 4, 6, 7, 11, 13], [0, 1, 5, 8, 9, 10, 12])
    >>> extend_split([1], [0], [2], 0.5, 0)  # round(1.5) = 2: the odd seed may go either way
    ([1, 2], [0])
    """
    added = sorted(int(s) for s in added)
    if not added:
        return sorted(calibration), sorted(test)
    total = len(calibration) + len(test) + len(added)
    n_cal = min(max(int(round(fraction * total)) - len(calibration), 0), len(added))
    order = np.random.default_rng([split_seed, added[0]]).permutation(len(added))
    return (
        sorted([*calibration, *(added[i] for i in order[:n_cal])]),
        sorted([*test, *(added[i] for i in order[n_cal:])]),
    )


def choose(
    curve: pd.DataFrame, max_fp_rate: float, min_recall: float, max_quiet_alert_fraction: float | None = None
) -> pd.Series | None:
    """The row maximising median lead subject to FP rate <= max and recall >= min (a threshold
    without episodes has no false alarm), and optionally a bound on the share of quiet time spent
    alerting. Ties go to the highest threshold, which alerts least: lead times saturate at H, and
    the episode-based FP rate cannot see a detector that never stops alerting (one long episode
    per run overlaps every event)."""
    fp = curve["fp_rate"].fillna(0.0)
    ok = (fp <= max_fp_rate) & (curve["recall"] >= min_recall)
    if max_quiet_alert_fraction is not None:
        ok &= curve["quiet_alert_fraction"].fillna(0.0) <= max_quiet_alert_fraction
    feasible = curve[ok]
    if feasible.empty:
        return None
    ranked = feasible.sort_values(["median_lead_h", "threshold"], ascending=[False, False], kind="stable")
    return ranked.iloc[0]


METRICS = [
    "threshold",
    "fp_rate",
    "recall",
    "median_lead_h",
    "quiet_alert_fraction",
    "n_episodes",
    "n_events",
]


Pick = Callable[[pd.DataFrame], tuple[pd.Series | None, dict]]
"""A selection rule: an operating curve -> (the chosen row or None, extra columns for the choice)."""


def lead_rule(max_fp_rate: float, min_recall: float, max_quiet_alert_fraction: float | None = None) -> Pick:
    """The former rule (``calibrate.rule: lead``): :func:`choose`; when nothing is feasible, how far
    the constraints are out of reach."""

    def pick(curve: pd.DataFrame) -> tuple[pd.Series | None, dict]:
        best = choose(curve, max_fp_rate, min_recall, max_quiet_alert_fraction)
        if best is not None:
            return best, {}
        fp = curve["fp_rate"].fillna(0.0)
        quiet = curve["quiet_alert_fraction"].fillna(0.0) <= (max_quiet_alert_fraction or np.inf)
        return None, {
            "best_fp_at_min_recall": float(fp[quiet & (curve["recall"] >= min_recall)].min()),
            "best_recall_at_max_fp": float(curve["recall"][quiet & (fp <= max_fp_rate)].max()),
        }

    return pick


def calibrate_detector(
    calibration: Sequence[Run],
    test: Sequence[Run],
    spec: ScoringSpec,
    target: str,
    pick: Pick,
    warned_h: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Operating curves on both seed sets (with ``warned`` when ``warned_h`` is given), the held-out
    choice and the oracle, by the rule ``pick``.

    Returns (curves with a ``split`` column, choices): one choice row ``calibrated`` (tuned on the
    calibration runs, reported on the test runs) and one ``oracle (tuned on test)``.
    """
    sweeps = {"calibration": Sweep(calibration, spec, target), "test": Sweep(test, spec, target)}
    curves = {split: sweep.curve(warned_h=warned_h) for split, sweep in sweeps.items()}
    metrics = [m for m in METRICS if m != "threshold"] + (["warned"] if warned_h is not None else [])
    rows = []
    for choice, tuned_on in (("calibrated", "calibration"), ("oracle (tuned on test)", "test")):
        best, extra = pick(curves[tuned_on])
        row: dict = {"choice": choice, "tuned_on": tuned_on, "feasible": best is not None, **extra}
        if best is not None:
            row["threshold"] = float(best["threshold"])
            for split, sweep in sweeps.items():
                point = sweep.curve([row["threshold"]], warned_h).iloc[0]
                row.update({f"{split}_{m}": point[m] for m in metrics})
        rows.append(row)
    frame = pd.concat([c.assign(split=name) for name, c in curves.items()], ignore_index=True)
    return frame, pd.DataFrame(rows)
