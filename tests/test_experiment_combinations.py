"""The combination-testing preset (``tdbench +experiment=combinations``), end to end.

Needs detectors.combo and the SPC, seismic and burnout adapters (issue 3).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

CONF = Path(__file__).resolve().parent.parent / "conf"
TDBENCH = str(Path(sys.executable).parent / "tdbench")
COMBOS = [f"transport_{m}_{rule}" for m in ("spc", "seismic", "burnout") for rule in ("any", "all")]


def test_combination_preset_runs_and_scores_every_combination(tmp_path):
    from detectors.combo import ComboDetector

    for name in COMBOS:  # each combination YAML builds the roadmap's pair with its rule
        spec = yaml.safe_load((CONF / "detector" / f"{name}.yaml").read_text())[name]
        member, rule = name.split("_")[1:]
        assert spec["_target_"] == "detectors.combo.ComboDetector"
        combo = ComboDetector(**{k: v for k, v in spec.items() if k != "_target_"})
        assert combo.members == ["transport", member] and combo.rule == rule and combo.is_combination

    out = tmp_path / "combos"
    done = subprocess.run(
        [
            TDBENCH,
            "+experiment=combinations",
            "seeds=2",
            "scenario=[spike,steady]",
            "org.n_units=4",
            "org.warmup_days=2",
            "org.scenario_days=3",
            "executor=serial",
            "progress=false",
            "statistics.n_resamples=100",
            f"hydra.run.dir={out}",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    cells = pd.read_parquet(out / "cells.parquet")
    detectors = set(cells["detector"])
    assert set(COMBOS) <= detectors and {"transport", "utilization"} <= detectors
    assert len(detectors) == len(COMBOS) + 5  # and the three single members
    assert (cells["status"] == "ok").all()
    for name in COMBOS:
        assert f"| {name} |" in done.stdout  # scored and on the scorecard like any detector
    shipped = (out / "scorecard.md").read_text().split("# Scorecard at the headline's thresholds")[0]
    assert shipped.count("\n| ") == len(detectors) + 1
    summary = pd.read_csv(out / "summary.csv")
    assert set(COMBOS) <= set(summary["detector"])
