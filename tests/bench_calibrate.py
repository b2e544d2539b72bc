"""Benchmark: calibrating one detector over 200 runs costs at most 3x scoring them at one threshold.

Figures: .benchmarks/figures/calibrate.json.
Run with: python -m pytest -m bench tests/bench_calibrate.py -s
"""

from __future__ import annotations

import time

import pytest
from joblib import Parallel, delayed
from yardstick import write_figures

import detectors
import scenarios
from harness.analysis.calibrate import Run, calibrate_detector
from harness.analysis.headline import HeadlineSpec, budget_rule
from harness.analysis.scoring import ScoringSpec, score_run

N_SEEDS = 25  # x 8 scenarios = 200 runs of the default organisation (12 units, 7 + 14 days)


def simulate_and_score(scenario: str, seed: int):
    trace = scenarios.simulate(scenario, seed)
    return trace, detectors.make("transport").run(trace)


@pytest.fixture(scope="module")
def runs():
    cells = [(s, seed) for s in scenarios.available() for seed in range(N_SEEDS)]
    return Parallel(n_jobs=-1)(delayed(simulate_and_score)(s, seed) for s, seed in cells)


def best_of(fn, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.bench
def test_calibration_costs_at_most_3x_scoring_at_one_threshold(benchmark, runs):
    assert len(runs) == 200
    one = ScoringSpec(thresholds={"transport": 1.0})
    swept = [Run.from_trace(trace, readings.score) for trace, readings in runs]
    half = len(swept) // 2
    spec, rule = ScoringSpec(), budget_rule(HeadlineSpec())

    def score_once():
        for trace, readings in runs:
            score_run(trace, readings, one, "transport")

    def calibrate():
        return calibrate_detector(swept[:half], swept[half:], spec, "utilization_breach", rule)

    scoring_s = best_of(score_once)
    curves, _ = benchmark.pedantic(calibrate, rounds=5, iterations=1)
    calibrate_s = benchmark.stats.stats.min
    ratio = calibrate_s / scoring_s
    benchmark.extra_info.update(
        {
            "runs": len(runs),
            "thresholds": len(curves),
            "scoring_s": scoring_s,
            "calibrate_s": calibrate_s,
            "ratio": ratio,
        }  # fmt: skip
    )
    print(
        f"\n200 runs: scoring at one threshold {scoring_s:.3f} s; calibration over {len(curves)} thresholds "
        f"(both splits) {calibrate_s:.3f} s; ratio {ratio:.2f} (target <= 3)"
    )
    write_figures("calibrate", dict(benchmark.extra_info), "ratio <= 3", ratio <= 3.0)
    assert ratio <= 3.0
