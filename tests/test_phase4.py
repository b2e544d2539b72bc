"""The report's "Does phase 4 add value?": the verdict from the paired intervals, and the section in
a study's report."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from studies import run_task

from harness.analysis.phase4 import TITLE, verdict

NAN = np.nan


def pair(warned: tuple[float, float], lead: tuple[float, float]) -> dict:
    """A pair row: (difference, Holm-adjusted p) of warned and of the median lead."""
    return {
        "warned_diff": warned[0],
        "warned_p_holm": warned[1],
        "lead_diff_h": lead[0],
        "lead_p_holm": lead[1],
    }


@pytest.mark.parametrize(
    ("warned", "lead", "answer"),
    [
        ((0.06, 0.01), (0.5, 0.4), "yes: the online forecast warns ahead of more events"),
        ((0.01, 0.9), (1.5, 0.001), "yes: the online forecast warns earlier"),
        ((-0.05, 0.02), (0.1, 0.8), "no: the online forecast warns ahead of fewer events"),
        ((-0.05, 0.02), (-2.0, 0.03), "no: the online forecast warns ahead of fewer events and warns later"),
        ((0.05, 0.01), (-2.0, 0.01), "mixed: it gains on one measure and loses on the other"),
        (
            (0.01, 0.6),
            (0.1, 0.9),
            "not shown: the seeds do not distinguish it from transport at family-wise 5%",
        ),
        (
            (0.01, 0.6),
            (NAN, NAN),
            "not shown: the seeds do not distinguish it from transport at family-wise 5%",
        ),
    ],
)
def test_verdict_follows_the_adjusted_p_values(warned, lead, answer):
    assert verdict(pair(warned, lead)) == answer


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
    assert "transport_online" in section and "out of fold" in section and "Holm p" in section
