"""Ground-truth targets from hand-built state sequences."""

import numpy as np

from scenarios.org import OrgConfig
from scenarios.truth import TruthSpec, derive_events, hysteresis

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
