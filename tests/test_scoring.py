"""The scorer on hand-built alerts and events with known lead times, false episodes and resets.

Health checks every hour at t = 1, 2, ..., T, so step k is at hour k + 1.
"""

import numpy as np
import pytest

from detectors.base import Readings
from harness.analysis.scoring import ScoringSpec, find_episodes, median_lead, score_run
from scenarios import InputError
from scenarios.trace import FIELDS, Event, Layout, Trace, Truth

T = 100


def case(on_hours, events, warmup_h=0.0, units=None, n_units=2, score=None):
    """A trace with given events, and readings alerting (level 2) at the given hours."""
    time_h = np.arange(1, T + 1, dtype=float)
    layout = Layout(
        np.full(n_units, 4.0), np.ones(n_units), 1.0 - np.eye(n_units), dt_h=1.0, warmup_h=warmup_h
    )
    trace = Trace(
        time_h, np.zeros((T, len(FIELDS), n_units)), layout, {}, Truth(np.zeros((T, n_units)), events)
    )
    level = np.isin(time_h, on_hours).astype(np.int8) * 2
    unit_mask = np.zeros((T, n_units), dtype=bool)
    if units is not None:
        unit_mask[np.ix_(level > 0, units)] = True
    readings = Readings(time_h, level.astype(float) if score is None else score, level, unit_mask, {})
    return trace, readings


def breach(onset, end, ended=True, units=(0, 1)):
    return Event("utilization_breach", onset, end, units, ended)


DEFAULT = ScoringSpec()


def run(on_hours, events, spec=DEFAULT, **kw):
    trace, readings = case(on_hours, events, **kw)
    return score_run(trace, readings, spec)


def test_lead_time_is_onset_minus_first_alert_in_window():
    result = run(range(26, 35), [breach(30, 40)])
    (event,) = result.events.itertuples()
    assert event.detected and event.alert_h == 26 and event.lead_h == 4


def test_lead_time_is_capped_at_the_horizon():
    result = run(range(1, 35), [breach(50, 60)])
    assert result.events.loc[0, "lead_h"] == 24 and result.events.loc[0, "alert_h"] == 26


def test_late_alert_within_grace_is_negative_lead_and_later_is_missed():
    assert run([31], [breach(30, 40)]).events.loc[0, "lead_h"] == -1
    missed = run([32], [breach(30, 33)]).events.loc[0]
    assert not missed.detected and np.isnan(missed.lead_h)


def test_episode_ending_before_the_window_does_not_detect():
    # the alert at hour 5 holds until hour 6; the window of an onset at 30 opens at hour 6
    assert not run([5], [breach(30, 40)]).events.loc[0, "detected"]
    assert run([6], [breach(30, 40)]).events.loc[0, "lead_h"] == 24


def test_false_and_true_episodes_and_fp_rate():
    result = run([5, 6, 60, 61], [breach(60, 65)])  # first pair is >24 h before onset: false
    assert result.episodes["true"].tolist() == [False, True]
    assert result.metrics["fp_rate"] == 0.5 and result.metrics["n_false"] == 1


def test_alert_during_a_critical_period_after_the_window_is_true():
    result = run([70], [breach(30, 80)])
    assert result.episodes["true"].tolist() == [True]
    assert not result.events.loc[0, "detected"]  # but it did not warn in time


def test_runs_closer_than_the_refractory_gap_merge():
    # runs at 10-11 and 13: the first holds until 12, so the gap is 1 h: not merged at 1 h ...
    assert len(run([10, 11, 13], []).episodes) == 2
    # ... merged when the refractory gap is 1.5 h
    merged = run([10, 11, 13], [], spec=ScoringSpec(refractory_h=1.5)).episodes
    assert merged[["start_h", "end_h", "n_steps"]].values.tolist() == [[10, 14, 4]]


def test_reset_time_from_event_end_to_episode_end():
    assert run(range(26, 45), [breach(30, 40)]).events.loc[0, "reset_h"] == 5  # alert off from 45
    assert run(range(26, 35), [breach(30, 40)]).events.loc[0, "reset_h"] == 0
    censored = run(range(26, T + 1), [breach(30, 40)]).events.loc[0]
    assert censored.reset_censored and censored.reset_h == T + 1 - 40
    open_event = run(range(26, 35), [breach(30, T, ended=False)]).events.loc[0]
    assert open_event.reset_censored and np.isnan(open_event.reset_h)


def test_warmup_is_observed_but_not_scored():
    result = run(range(1, 15), [breach(10, 20), breach(40, 45)], warmup_h=12)
    assert result.events["onset_h"].tolist() == [40]  # the event during warm-up is not scored
    assert result.episodes["start_h"].tolist() == [13]  # the alert is cut at the end of warm-up
    assert result.episodes["true"].tolist() == [True]  # ... and overlaps that event's critical period


def test_quiet_time_and_alert_fractions():
    result = run([2, 3, 90], [breach(50, 55)])
    # event span [onset - 24, end] = [26, 55]: 30 hourly checks; 70 quiet hours; alerting at 2, 3, 90
    assert result.metrics["quiet_h"] == 70
    assert result.metrics["alert_quiet_h"] == 3
    assert result.metrics["false_per_1000_quiet_h"] == pytest.approx(2000 / 70)


def test_root_cause_jaccard_for_unit_saturation():
    event = Event("unit_saturation", 30, 40, (0,), True)
    one = run(range(28, 32), [event], units=[0]).events.loc[0, "jaccard"]
    both = run(range(28, 32), [event], units=[0, 1]).events.loc[0, "jaccard"]
    assert one == 1.0 and both == 0.5
    assert np.isnan(run([], [event]).events.loc[0, "jaccard"])


def test_threshold_scoring_uses_the_score_not_the_level():
    trace, readings = case([], [breach(30, 40)])
    readings.score[:] = 0.0
    readings.score[27:35] = 2.0  # hours 28..35
    spec = ScoringSpec(thresholds={"x": 1.5})
    assert score_run(trace, readings, spec, "x").events.loc[0, "lead_h"] == 2
    assert not score_run(trace, readings, spec, "other").events.loc[0, "detected"]


def test_find_episodes_indices():
    t = np.arange(1.0, 9.0)
    mask = np.array([1, 1, 0, 0, 0, 1, 0, 1], dtype=bool)
    assert find_episodes(t, mask, 1.0, 1.0).tolist() == [[0, 1], [5, 5], [7, 7]]  # gaps of 1 h
    assert find_episodes(t, mask, 1.0, 1.5).tolist() == [[0, 1], [5, 7]]
    assert find_episodes(t, np.zeros(8, dtype=bool), 1.0, 1.0).shape == (0, 2)


def test_median_lead_ranks_missed_events_lowest():
    assert median_lead(np.array([1.0, 2.0, np.nan])) == 1.0
    assert median_lead(np.array([np.nan, np.nan, 5.0])) == -np.inf
    assert np.isnan(median_lead(np.array([])))


@pytest.mark.parametrize(
    ("field", "value"), [("alert_level", 0), ("horizon_h", -1), ("grace_h", float("nan"))]
)
def test_bad_scoring_settings(field, value):
    with pytest.raises(InputError, match=f"scoring.{field}"):
        ScoringSpec(**{field: value})
