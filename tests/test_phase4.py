"""The report's "Does phase 4 add value?": the verdict from the paired intervals, and the section in
a study's report."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from studies import run_task

from harness.analysis.phase4 import TITLE, verdict

NAN = np.nan


def pair(recall: tuple[float, float], lead: tuple[float, float]) -> dict:
    return {
        "recall_diff_lo": recall[0],
        "recall_diff_hi": recall[1],
        "lead_diff_h_lo": lead[0],
        "lead_diff_h_hi": lead[1],
    }


@pytest.mark.parametrize(
    ("recall", "lead", "answer"),
    [
        ((0.02, 0.10), (-1.0, 2.0), "yes: the online forecast detects more events"),
        ((-0.05, 0.05), (0.5, 3.0), "yes: the online forecast warns earlier"),
        ((-0.10, -0.01), (-1.0, 1.0), "no: the online forecast detects fewer events"),
        ((-0.10, -0.01), (-3.0, -0.5), "no: the online forecast detects fewer events and warns later"),
        ((0.01, 0.10), (-3.0, -0.5), "mixed: it gains on one measure and loses on the other"),
        ((-0.05, 0.05), (-1.0, 1.0), "not shown: the test seeds do not distinguish it from transport"),
        ((-0.05, 0.05), (NAN, NAN), "not shown: the test seeds do not distinguish it from transport"),
    ],
)
def test_verdict_follows_the_intervals(recall, lead, answer):
    assert verdict(pair(recall, lead)) == answer


@pytest.mark.skipif(importlib.util.find_spec("river") is None, reason="needs the optional extra 'online'")
def test_the_report_answers_the_gate(tmp_path):
    out = tmp_path / "run"
    code = run_task(
        out,
        "scenario=[ramp,spike,steady]",
        "detector=[transport,transport_online]",
        "seeds=4",
        "org.n_units=4",
        "org.warmup_days=1",
        "org.scenario_days=3",
        "executor=serial",
        "progress=false",
    )
    assert code == 0
    report = (out / "report.md").read_text()
    section = report.split(f"## {TITLE}", 1)[1].split("\n## ", 1)[0]
    assert "Answer: " in section
    assert "transport_online" in section and "calibration seeds" in section
