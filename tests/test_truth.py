"""Ground-truth targets from hand-built state sequences."""

from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from scenarios.org import OrgConfig
from scenarios.trace import Event
from scenarios.truth import TruthSpec, derive_events, hysteresis, merge_unit_periods, trailing_mean_at_least

DT = 0.25


def events_from(busy, queue, staff, spec=None):
    busy, queue, staff = (np.asarray(x, dtype=float) for x in (busy, queue, staff))
    layout = OrgConfig(n_units=busy.shape[1], staff_per_unit=4).layout()
    time_h = DT * np.arange(1, len(busy) + 1)
    return derive_events(time_h, busy, queue, staff, layout, spec or TruthSpec())


def test_hysteresis_needs_sustain_and_clear():
    x = np.array([9, 0, 9, 9, 7, 7, 0, 0, 9, 0, 0])
    assert hysteresis(x >= 8, x < 2, sustain=2, clear=2) == [(2, 6, True)]
    assert hysteresis(x >= 8, x < 2, sustain=3, clear=2) == []


def test_utilization_breach_onset_and_end():
    # one unit of 4 staff: 2 h at 50%, 2 h at 100%, 2 h at 75% (between off and on), 2 h idle
    busy = [[2]] * 8 + [[4]] * 8 + [[3]] * 8 + [[0]] * 8
    (event,) = [
        e
        for e in events_from(busy, np.zeros((32, 1)), np.full((32, 1), 4))
        if e.target == "utilization_breach"
    ]
    # step k is at (k + 1) * DT. The trailing 1 h mean first reaches 0.8 at step 10 (.5, 1, 1, 1)
    assert event.onset_h == 11 * DT
    # 75% (not < 0.75) keeps it active; the first idle step (24) drops the mean to .5625
    assert event.end_h == 25 * DT and event.ended


def test_short_breach_is_not_an_event():
    busy = [[2]] * 8 + [[4]] * 4 + [[2]] * 8
    assert not [
        e
        for e in events_from(busy, np.zeros((20, 1)), np.full((20, 1), 4))
        if e.target == "utilization_breach"
    ]


def test_unit_saturation_merges_overlapping_units_and_censors_open_events():
    steps = 20
    queue = np.zeros((steps, 3))
    queue[2:10, 0] = 9  # backlog 9/4 = 2.25 h >= 2 h for 2 h
    queue[6:12, 2] = 12
    queue[15:, 1] = 20  # still saturated at the end
    events = [
        e
        for e in events_from(np.zeros((steps, 3)), queue, np.full((steps, 3), 4))
        if e.target == "unit_saturation"
    ]
    assert [(e.onset_h, e.units, e.ended) for e in events] == [(3 * DT, (0, 2), True), (16 * DT, (1,), False)]
    assert events[0].end_h == 13 * DT  # unit 2 drains at step 12 (index), which starts the quiet hour


def test_unit_without_staff_but_with_queue_is_saturated():
    queue = np.zeros((10, 2))
    queue[:, 0] = 1
    staff = np.full((10, 2), 4)
    staff[:, 0] = 0
    (event,) = [e for e in events_from(np.zeros((10, 2)), queue, staff) if e.target == "unit_saturation"]
    assert event.units == (0,)


def exact_mean(num, den, k, window):
    lo = max(0, k - window + 1)
    pairs = zip(num[lo : k + 1], den[lo : k + 1], strict=True)
    return sum(Fraction(int(a), int(b)) for a, b in pairs) / (k + 1 - lo)


def test_trailing_mean_ties_are_exact_after_a_long_history():
    # utilization is a ratio of small integers, so window means of exactly 0.75 and 0.80 are common;
    # after thousands of steps a difference of a floating cumulative sum puts some on the wrong side
    rng = np.random.default_rng(3)
    n, window = 4000, 4
    den = rng.choice([44.0, 45.0, 47.0, 48.0], n)
    num = np.round(den * rng.choice([0.6, 0.75, 0.8, 0.85, 0.9, 1.0], n))
    num[-8:], den[-8:] = [36, 40, 40, 44, 36, 45, 44, 43], [48, 50, 50, 55, 45, 45, 55, 43]
    means = [exact_mean(num, den, k, window) for k in range(n)]
    for level in (Fraction(3, 4), Fraction(4, 5)):
        assert level in means  # the series holds exact ties
        assert trailing_mean_at_least(num, den, window, float(level)).tolist() == [m >= level for m in means]


def test_breach_onset_and_end_on_exact_ties():
    # one unit of 5 staff (ratios k / 5) after a long quiet history: the 1 h (4-step) mean reaches
    # exactly 0.80 at p + 3 and stays there; on the way down it reads exactly 0.75 (not < 0.75)
    p = 3000
    busy = [3] * p + [3, 5, 4, 4, 4, 4, 4, 4, 4, 3] + [3] * 12
    n = len(busy)
    (event,) = [
        e
        for e in events_from(np.array(busy)[:, None], np.zeros((n, 1)), np.full((n, 1), 5))
        if e.target == "utilization_breach"
    ]
    assert event.onset_h == (p + 3 + 1) * DT  # step k is at (k + 1) * DT
    # p + 9 holds (4, 4, 4, 3) = 0.75, still on; p + 10 holds (4, 4, 3, 3) = 0.70 < 0.75
    assert event.end_h == (p + 10 + 1) * DT and event.ended


def merged_by_definition(periods, time_h):
    """Overlapping periods joined into one event, the group's end recomputed at every period."""
    groups = []
    for period in sorted(periods):
        if groups and period[0] <= max(p[1] for p in groups[-1]):
            groups[-1].append(period)
        else:
            groups.append([period])
    events = []
    for group in groups:
        end = max(p[1] for p in group)
        ended = all(p[2] for p in group if p[1] == end)
        units = tuple(sorted({p[3] for p in group}))
        events.append(Event("unit_saturation", float(time_h[group[0][0]]), float(time_h[end]), units, ended))
    return events


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 12), st.booleans(), st.integers(0, 6)), max_size=40)
)
def test_merged_unit_periods_match_their_definition(raw):
    periods = [(onset, min(onset + length, 49), ended, unit) for onset, length, ended, unit in raw]
    time_h = DT * np.arange(1, 51)
    assert merge_unit_periods(periods, time_h) == merged_by_definition(periods, time_h)
