"""The threshold-free view (DESIGN section 5, "Headline"): an AMOC-style curve per detector, the
share of target events found (and found h hours ahead) against quiet-time alerting over every
threshold, and the partial area under ``warned`` up to ``headline.partial_auc_to``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.calibrate import Sweep
from harness.analysis.headline.folds import Sweeps
from harness.analysis.headline.spec import WEEK_H, HeadlineSpec
from harness.analysis.statistics import StatisticsSpec, seed_bootstrap, seed_weights

AMOC_LEADS_H = (0.0, 2.0, 8.0)  # recall counting only warnings at least this early


def partial_auc(fraction: np.ndarray, recall: np.ndarray, limit: float) -> np.ndarray:
    """Area under a share of events (recall, warned) against quiet alert fraction over [0, limit],
    divided by limit.

    Rows run from the highest threshold down (fraction and recall non-decreasing, along the last
    axis). Recall at a fraction x is the best recall of any threshold alerting at most x (a step
    function, 0 before the first point), so the area is the mean best recall over budgets up to
    ``limit``: 1 for a detector that finds everything without alerting in quiet time.

    >>> float(partial_auc(np.array([0.0, 0.02, 0.5]), np.array([0.5, 1.0, 1.0]), 0.04))
    0.75
    """
    x = np.minimum(np.asarray(fraction, float), limit)
    width = np.empty_like(x)  # from each point to the next (the last: to the limit), at least 0
    np.subtract(x[..., 1:], x[..., :-1], out=width[..., :-1])
    np.subtract(limit, x[..., -1], out=width[..., -1])
    np.maximum(width, 0.0, out=width)
    width *= np.asarray(recall, float)
    return width.sum(axis=-1) / limit


@dataclass
class Amoc:
    """One detector's threshold-free view on all seeds."""

    curve: pd.DataFrame  # threshold (descending) and the pooled metrics, change points only
    partial_auc: float
    partial_auc_lo: float
    partial_auc_hi: float


def amoc(runs: Sweeps, spec: HeadlineSpec, stats: StatisticsSpec) -> Amoc:
    """Recall (and recall with lead >= h, h in AMOC_LEADS_H) against quiet alerting and false
    episodes per quiet week over every threshold, pooled over all runs (``runs``: each run's sweep);
    the partial area under ``warned`` (lead >= min_lead_h, pooled over events) with a bootstrap CI
    resampling seeds (per-seed counts at every threshold add up exactly)."""
    seeds = sorted({seed for _, seed in runs})
    sweeps = [Sweep.combine([runs[k] for k in sorted(runs) if k[1] == s]) for s in seeds]
    grid = np.unique(np.concatenate([sw.candidates for sw in sweeps])) if sweeps else np.zeros(0)
    empty = pd.DataFrame(columns=["threshold", "quiet_alert_fraction", "false_per_quiet_week", "recall"])
    if grid.size == 0:
        return Amoc(empty, np.nan, np.nan, np.nan)
    grid = grid[::-1]  # highest threshold first
    ascending = grid[::-1]
    alert_rows: list[np.ndarray] = []
    detected_rows: list[np.ndarray] = []
    false: list[np.ndarray] = []
    covered: dict[float, list[np.ndarray]] = {h: [] for h in {*AMOC_LEADS_H, spec.min_lead_h}}
    quiet = np.array([sw.quiet_h for sw in sweeps])
    events = np.array([len(sw.detect) for sw in sweeps], float)
    for sw in sweeps:
        curve = sw.curve(ascending)
        alert_rows.append(np.nan_to_num(curve["quiet_alert_fraction"].to_numpy(float))[::-1] * sw.quiet_h)
        detected_rows.append(curve["n_detected"].to_numpy(float)[::-1])
        false.append(curve["n_false"].to_numpy(float)[::-1])
        for h in covered:
            covered[h].append(sw.covered(h, ascending)[::-1].astype(float))
    alert_q, detected = np.array(alert_rows), np.array(detected_rows)
    warned = np.array(covered[spec.min_lead_h])
    q_total, n_total = quiet.sum(), events.sum()
    frame = pd.DataFrame(
        {
            "threshold": grid,
            "quiet_alert_fraction": alert_q.sum(0) / q_total if q_total > 0 else np.nan,
            "false_per_quiet_week": WEEK_H * np.sum(false, 0) / q_total if q_total > 0 else np.nan,
            "recall": detected.sum(0) / n_total if n_total else np.nan,
            **{
                f"recall_lead_{h:g}h": np.sum(covered[h], 0) / n_total if n_total else np.nan
                for h in AMOC_LEADS_H
            },
        }
    )
    metrics = frame.columns[1:]
    changed = frame[metrics].ne(frame[metrics].shift()).any(axis=1)
    curve = frame[changed].reset_index(drop=True)
    if q_total <= 0 or n_total == 0:
        return Amoc(curve, np.nan, np.nan, np.nan)
    limit = spec.partial_auc_to
    share = warned.sum(0) / n_total
    point = float(partial_auc(frame["quiet_alert_fraction"].to_numpy(), share, limit))
    per_seed = alert_q / np.where(quiet > 0, quiet, 1.0)[:, None]
    # past the first threshold at which every seed alerts more than the limit, no resample has area
    reach = int(np.searchsorted(per_seed.min(axis=0), limit, side="right"))
    table_q, table_d = alert_q[:, : reach + 1], warned[:, : reach + 1]

    def statistic(idx: np.ndarray) -> np.ndarray:
        w = seed_weights(idx, len(seeds))
        x, y = w @ table_q, w @ table_d
        x /= np.maximum(w @ quiet, 1e-300)[..., None]
        y /= np.maximum(w @ events, 1.0)[..., None]
        return partial_auc(x, y, limit)

    lo, hi = seed_bootstrap(len(seeds), statistic, stats, batch=100)
    return Amoc(curve, point, lo, hi)
