"""Thorough Monte Carlo figures of the seed-level statistics (docs/explanation/statistics.md quotes
them): coverage of the intervals and error rates of the tests at 5 and 10 seeds, written to
.benchmarks/statistics_mc.json. Run: python -m pytest -m bench tests/bench_statistics.py"""

from __future__ import annotations

import json
from pathlib import Path

import mc_statistics as mc
import numpy as np
import pytest

OUT = Path(__file__).resolve().parent.parent / ".benchmarks" / "statistics_mc.json"
SEEDS = (5, 10)


def figure(name: str, n_seeds: int | str, reps: int, rate: float, limit: str) -> dict:
    return {
        "check": name,
        "seeds": n_seeds,
        "replications": reps,
        "rate": round(rate, 4),
        "mc_standard_error": round(float(np.sqrt(rate * (1 - rate) / reps)), 4),
        "required": limit,
    }


@pytest.mark.bench
def test_statistics_monte_carlo_figures():
    rows = []
    for n in SEEDS:
        for macro in (True, False):
            kind = "macro" if macro else "pooled"
            rows.append(
                figure(
                    f"share_interval coverage ({kind})",
                    n,
                    10000,
                    mc.share_coverage(n, 10000, macro),
                    ">= 0.93",
                )
            )
            _, type_one = mc.paired_share_rates(n, 10000, macro, 0.0)
            rows.append(figure(f"paired_share type-I error ({kind})", n, 10000, type_one, "<= 0.05"))
            coverage, _ = mc.paired_share_rates(n, 4000, macro, 0.5)
            rows.append(
                figure(f"paired_share coverage of a difference ({kind})", n, 4000, coverage, ">= 0.93")
            )
        rows.append(figure("Holm family-wise error, 12 pairs", n, 2000, mc.family_error(n, 2000), "<= 0.05"))
        rows.append(figure("median_lead_ci coverage", n, 4000, mc.median_lead_coverage(n, 4000), ">= 0.93"))
        rows.append(figure("paired_mean type-I error", n, 20000, mc.paired_mean_error(n, 20000), "<= 0.05"))
        for shape, label in ((1000.0, "near-normal"), (2.0, "gamma shape 2"), (1.0, "exponential")):
            rate = mc.mean_coverage(n, 20000, shape)
            rows.append(figure(f"mean_interval coverage ({label} values)", n, 20000, rate, "reported"))
    for macro in (True, False):
        kind = "macro" if macro else "pooled"
        looks = "9 looks, 5-45 seeds"
        rows.append(
            figure(
                f"sequential type-I error ({kind})",
                looks,
                4000,
                mc.sequential_error(4000, macro=macro),
                "<= 0.05" if macro else "reported",  # stop.metric warned is the macro share
            )
        )
        naive = mc.sequential_error(4000, macro=macro, fixed=True)
        rows.append(
            figure(f"naive fixed-95% re-testing type-I error ({kind})", looks, 4000, naive, "reported")
        )
    looks = "9 looks, 5-45 seeds"
    rate = mc.sequential_error(4000, per_seed=True)
    rows.append(figure("sequential type-I error (paired per-seed values)", looks, 4000, rate, "<= 0.05"))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=1) + "\n")
    for row in rows:
        bound = row["required"]
        if bound.startswith(">="):
            assert row["rate"] >= float(bound[3:]), row
        elif bound.startswith("<="):
            assert row["rate"] <= float(bound[3:]), row
