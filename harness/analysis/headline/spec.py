"""The ``headline:`` settings and the false-alarm budget they define."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pandas as pd

from scenarios.params import Section, param
from scenarios.truth import Target

WEEK_H = 168.0


class Budget(Section):
    """``headline.budget``: a threshold is within budget when, on the seeds that choose it, both hold."""

    section: ClassVar[str] = "headline.budget"

    quiet_alert_fraction: float = param(
        0.01, "share of quiet time spent alerting <= this (0.01: about 1.7 h per quiet week)", ge=0, le=1
    )
    false_per_quiet_week: float = param(1.0, "false alert episodes per 168 quiet hours <= this", ge=0)


class HeadlineSpec(Section):
    """The ``headline:`` section: the false-alarm budget, the target and how early counts as warned,
    the cross-fitting folds, and the references of the paired comparisons."""

    section: ClassVar[str] = "headline"

    budget: Budget = param(Budget(), "the false-alarm budget every detector's threshold must meet")
    target: Target = param("utilization_breach", "events whose warnings choose and rank thresholds")
    min_lead_h: float = param(
        2.0, "an event is warned when alerted at least this long before onset", unit="hours", ge=0
    )
    folds: int = param(5, "cross-fitting folds over seeds (1: one calibration/test split, calibrate.*)", ge=1)
    references: tuple[str, ...] = param(
        ("transport", "utilization"), "detectors every other detector is compared with, paired by seed"
    )
    partial_auc_to: float = param(
        0.05, "the threshold-free partial area runs over quiet alerting 0..this", gt=0, le=1
    )
    tune: bool = param(False, "a study also tunes the detectors that declare search: (task=tune)")

    @classmethod
    def from_config(cls, raw: Mapping | None) -> HeadlineSpec:
        """From the ``headline`` section of a resolved config. A reference the study did not select
        is named in headline.md as not compared."""
        return cls(**dict(raw or {}))

    @property
    def quiet_alert_fraction(self) -> float:
        return self.budget.quiet_alert_fraction

    @property
    def false_per_quiet_week(self) -> float:
        return self.budget.false_per_quiet_week

    @property
    def label(self) -> str:
        return (
            f"quiet alerting <= {100 * self.quiet_alert_fraction:g}% and <= {self.false_per_quiet_week:g} "
            "false episode(s) per quiet week"
        )

    @property
    def warned_label(self) -> str:
        return f"warned >= {self.min_lead_h:g} h ahead of {self.target}"


def with_week(curve: pd.DataFrame) -> pd.DataFrame:
    """An operating curve (CURVE_COLUMNS) with ``false_per_quiet_week``."""
    quiet = curve["quiet_h"].to_numpy(float)
    week = np.divide(
        WEEK_H * curve["n_false"].to_numpy(float), quiet, out=np.full(len(curve), np.nan), where=quiet > 0
    )
    return curve.assign(false_per_quiet_week=week)


def over(value: np.ndarray | float, limit: float) -> np.ndarray:
    """value / limit, with 0 / 0 = 0 (no quiet time counts as no use)."""
    used = np.nan_to_num(np.asarray(value, float), nan=0.0)
    if limit > 0:
        return used / limit
    return np.where(used > 0, np.inf, 0.0)


def budget_use(curve: pd.DataFrame, spec: HeadlineSpec) -> np.ndarray:
    """max(quiet alert fraction / q, false episodes per quiet week / f) per row; <= 1 is within."""
    curve = curve if "false_per_quiet_week" in curve else with_week(curve)
    return np.maximum(
        over(curve["quiet_alert_fraction"], spec.quiet_alert_fraction),
        over(curve["false_per_quiet_week"], spec.false_per_quiet_week),
    )
