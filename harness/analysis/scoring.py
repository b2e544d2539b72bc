"""Scoring one run's readings against its ground truth (DESIGN section 5). Units are hours.

A reading at step k is taken at ``time_h[k]`` and holds until the next health check, so an alert
episode covering steps i..j is the half-open interval [time_h[i], time_h[j] + dt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from detectors.base import Level, Readings
from scenarios.errors import InputError
from scenarios.params import Section, param
from scenarios.trace import Event, Trace
from scenarios.truth import TARGETS, runs


class ScoringSpec(Section):
    """How alerts become episodes and how episodes meet events."""

    section: ClassVar[str] = "scoring"

    alert_level: int = param(int(Level.WARNING), "an alert is a reading at this level or above", ge=1, le=4)
    thresholds: dict[str, Annotated[float, Field(allow_inf_nan=True)]] = param(
        {}, "detector -> score threshold: an alert is a score at or above it (instead of the level)"
    )
    refractory_h: float = param(1.0, "alert runs closer than this merge into one episode", unit="hours", ge=0)
    horizon_h: float = param(24.0, "H: how early a warning may come and still count", unit="hours", ge=0)
    grace_h: float = param(1.0, "G: how late a warning may come and still count", unit="hours", ge=0)

    @model_validator(mode="after")
    def _thresholds_are_numbers(self) -> ScoringSpec:
        for detector, value in self.thresholds.items():
            if np.isnan(value):
                raise InputError(f"scoring.thresholds.{detector}", f"must be a number; got {value!r}")
        return self


def alert_mask(readings: Readings, spec: ScoringSpec, detector: str = "") -> np.ndarray:
    """Steps at which the detector is alerting: score >= its threshold if one is set, else level."""
    threshold = spec.thresholds.get(detector)
    if threshold is not None:
        return readings.score >= threshold
    return readings.level >= spec.alert_level


def find_episodes(time_h: np.ndarray, mask: np.ndarray, dt_h: float, refractory_h: float) -> np.ndarray:
    """Alert episodes as (first step, last step) index pairs; runs closer than refractory_h merge.

    >>> t = np.arange(1, 11) * 0.25
    >>> find_episodes(t, np.array([0, 1, 1, 0, 1, 0, 0, 0, 0, 1], dtype=bool), 0.25, 1.0).tolist()
    [[1, 4], [9, 9]]
    """
    starts, lengths = runs(mask, 1)
    if starts.size == 0:
        return np.zeros((0, 2), dtype=int)
    stops = starts + lengths - 1
    gaps = time_h[starts[1:]] - (time_h[stops[:-1]] + dt_h)
    opens = np.concatenate(([True], gaps >= refractory_h))
    closes = np.concatenate((opens[1:], [True]))
    return np.column_stack((starts[opens], stops[closes]))


def episode_reduce(ufunc: np.ufunc, values: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """``ufunc`` reduced over the steps of each episode (first step, last step), along axis 0.

    >>> episode_reduce(np.maximum, np.array([1.0, 5.0, 2.0, 7.0, 3.0]), np.array([[0, 1], [3, 4]])).tolist()
    [5.0, 7.0]
    """
    if len(pairs) == 0:
        return values[:0]
    bounds = np.column_stack((pairs[:, 0], pairs[:, 1] + 1)).ravel()
    padded = np.concatenate((values, values[-1:]))  # reduceat needs every bound inside the array
    return ufunc.reduceat(padded, bounds, axis=0)[::2]


@dataclass
class RunScore:
    """Per-event rows, per-episode rows and the run's summary metrics."""

    events: pd.DataFrame
    episodes: pd.DataFrame
    metrics: dict[str, float]


def event_spans(events: Sequence[Event], spec: ScoringSpec) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of every event's span of relevance: its warning window and its critical period."""
    onset = np.array([e.onset_h for e in events])
    end = np.array([e.end_h for e in events])
    return onset - spec.horizon_h, np.maximum(onset + spec.grace_h, end)


def quiet_steps(
    time_h: np.ndarray, scored: np.ndarray, events: Sequence[Event], spec: ScoringSpec
) -> np.ndarray:
    """The scored steps outside every event's span of relevance: quiet time."""
    span_lo, span_hi = event_spans(events, spec)
    in_span = ((time_h[:, None] >= span_lo[None, :]) & (time_h[:, None] <= span_hi[None, :])).any(axis=1)
    return scored & ~in_span


def score_run(trace: Trace, readings: Readings, spec: ScoringSpec, detector: str = "") -> RunScore:
    """Score a detector's readings on one run."""
    dt = trace.layout.dt_h
    time_h = trace.time_h
    scored = trace.scored()
    mask = alert_mask(readings, spec, detector) & scored
    pairs = find_episodes(time_h, mask, dt, spec.refractory_h)
    ep_start = time_h[pairs[:, 0]]
    ep_end = time_h[pairs[:, 1]] + dt
    ep_open = pairs[:, 1] == len(time_h) - 1

    events = trace.truth.events
    span_lo, span_hi = event_spans(events, spec)
    overlaps = (ep_start[:, None] <= span_hi[None, :]) & (ep_end[:, None] > span_lo[None, :])
    ep_true = overlaps.any(axis=1)
    quiet = quiet_steps(time_h, scored, events, spec)
    episodes = pd.DataFrame(
        {
            "start_h": ep_start,
            "end_h": ep_end,
            "n_steps": pairs[:, 1] - pairs[:, 0] + 1,
            "true": ep_true,
            "open": ep_open,
            "max_score": episode_reduce(np.maximum, readings.score, pairs).tolist(),
            "units": [_units_text(units) for units in episode_reduce(np.logical_or, readings.units, pairs)],
        }
    )

    rows = [
        _score_event(e, ep_start, ep_end, ep_open, readings, mask, time_h, spec)
        for e in events
        if e.onset_h > trace.layout.warmup_h
    ]
    event_frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    metrics = run_metrics(event_frame, episodes, quiet, mask, dt)
    return RunScore(event_frame, episodes, metrics)


EVENT_COLUMNS = [
    "target",
    "onset_h",
    "end_h",
    "ended",
    "units",
    "detected",
    "alert_h",
    "lead_h",
    "reset_h",
    "reset_censored",
    "jaccard",
]


def _score_event(
    event: Event,
    ep_start: np.ndarray,
    ep_end: np.ndarray,
    ep_open: np.ndarray,
    readings: Readings,
    mask: np.ndarray,
    time_h: np.ndarray,
    spec: ScoringSpec,
) -> dict:
    t, e = event.onset_h, event.end_h
    lo = t - spec.horizon_h
    in_window = np.flatnonzero((ep_start <= t + spec.grace_h) & (ep_end > lo))
    detected = in_window.size > 0
    alert = max(float(ep_start[in_window].min()), lo) if detected else np.nan
    lead = t - alert if detected else np.nan

    through_end = np.flatnonzero((ep_start <= e) & (ep_end > lo))
    if through_end.size and event.ended:
        last = through_end[np.argmax(ep_end[through_end])]
        reset, censored = max(0.0, float(ep_end[last] - e)), bool(ep_open[last])
    else:
        reset, censored = np.nan, not event.ended

    jaccard = np.nan
    if event.target == "unit_saturation":
        steps = mask & (time_h >= lo) & (time_h <= e)
        if steps.any():
            implicated = set(np.flatnonzero(readings.units[steps].any(axis=0)).tolist())
            truth = set(event.units)
            jaccard = len(implicated & truth) / len(implicated | truth)
    return {
        "target": event.target,
        "onset_h": t,
        "end_h": e,
        "ended": event.ended,
        "units": ",".join(map(str, event.units)),
        "detected": detected,
        "alert_h": alert,
        "lead_h": lead,
        "reset_h": reset,
        "reset_censored": censored,
        "jaccard": jaccard,
    }


def run_metrics(
    events: pd.DataFrame, episodes: pd.DataFrame, quiet: np.ndarray, mask: np.ndarray, dt: float
) -> dict[str, float]:
    """Summary of one run. Counts are kept so that studies can pool them exactly."""
    n_episodes = len(episodes)
    n_false = int((~episodes["true"]).sum()) if n_episodes else 0
    quiet_h = float(quiet.sum() * dt)
    metrics: dict[str, float] = {
        "n_episodes": n_episodes,
        "n_false": n_false,
        "fp_rate": n_false / n_episodes if n_episodes else np.nan,
        "quiet_h": quiet_h,
        "alert_quiet_h": float((quiet & mask).sum() * dt),
        "false_per_1000_quiet_h": 1000.0 * n_false / quiet_h if quiet_h > 0 else np.nan,
        "alert_h": float(mask.sum() * dt),
    }
    targets = events["target"].to_numpy()
    detected = events["detected"].to_numpy(dtype=bool)
    leads = events["lead_h"].to_numpy(dtype=float)
    for target in TARGETS:
        of_target = targets == target
        n = int(np.count_nonzero(of_target))
        n_detected = int(np.count_nonzero(detected & of_target))
        metrics[f"n_events_{target}"] = n
        metrics[f"n_detected_{target}"] = n_detected
        metrics[f"recall_{target}"] = n_detected / n if n else np.nan
        metrics[f"median_lead_h_{target}"] = median_lead(leads[of_target])
    return metrics


def median_lead(leads: np.ndarray) -> float:
    """Median lead time with missed events (NaN) ranked below every detected one, never as zero.

    Returns -inf when at least half the events were missed, NaN when there are no events.

    >>> median_lead(np.array([3.0, np.nan, 5.0])), median_lead(np.array([3.0, np.nan]))
    (3.0, -inf)
    """
    if leads.size == 0:
        return np.nan
    return float(np.median(np.where(np.isnan(leads), -np.inf, leads)))


def _units_text(mask: np.ndarray) -> str:
    return ",".join(map(str, np.flatnonzero(mask).tolist()))
