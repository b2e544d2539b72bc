"""The ``headline:`` settings and the false-alarm budget they define."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scenarios.errors import InputError
from scenarios.truth import TARGETS

WEEK_H = 168.0
ALLOWED = ("budget", "target", "min_lead_h", "folds", "references", "partial_auc_to", "tune")


def _fraction(value: object, where: str, low_open: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or value > 1 or (low_open and value == 0):
        bound = "(0, 1]" if low_open else "[0, 1]"
        raise InputError(where, f"must be a number in {bound}; got {value!r}")
    return float(value)


@dataclass(frozen=True)
class HeadlineSpec:
    """The ``headline:`` section: the false-alarm budget, the target and how early counts as warned,
    the cross-fitting folds, and the references of the paired comparisons."""

    quiet_alert_fraction: float = 0.01  # q: share of quiet time spent alerting
    false_per_quiet_week: float = 1.0  # f: false episodes per 168 quiet hours
    target: str = "utilization_breach"
    min_lead_h: float = 2.0  # h*: a target event is warned when alerted at least this long before onset
    folds: int = 5  # cross-fitting over seeds; 1: one calibration/test split (calibrate.*)
    references: tuple[str, ...] = ("transport", "utilization")
    partial_auc_to: float = 0.05  # the AMOC's partial area runs over quiet alert fractions 0..this
    tune: bool = False  # a study also tunes its detectors that declare search: (harness.tasks.tune)

    def __post_init__(self) -> None:
        _fraction(self.quiet_alert_fraction, "headline.budget.quiet_alert_fraction")
        f = self.false_per_quiet_week
        if isinstance(f, bool) or not isinstance(f, int | float) or not np.isfinite(f) or f < 0:
            raise InputError("headline.budget.false_per_quiet_week", f"must be a number >= 0; got {f!r}")
        if self.target not in TARGETS:
            raise InputError("headline.target", f"must be one of {', '.join(TARGETS)}; got {self.target!r}")
        h = self.min_lead_h
        if isinstance(h, bool) or not isinstance(h, int | float) or not np.isfinite(h) or h < 0:
            raise InputError("headline.min_lead_h", f"must be a number of hours >= 0; got {h!r}")
        k = self.folds
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError("headline.folds", f"must be an integer >= 1 (1: one split); got {k!r}")
        _fraction(self.partial_auc_to, "headline.partial_auc_to", low_open=True)
        if not isinstance(self.tune, bool):
            raise InputError("headline.tune", f"must be true or false; got {self.tune!r}")

    @classmethod
    def from_config(cls, raw: Mapping | None) -> HeadlineSpec:
        """From the ``headline`` section of a resolved config. A reference the study did not select
        is named in headline.md as not compared."""
        values = dict(raw or {})
        budget = values.pop("budget", None) or {}
        for key in values:
            if key not in ALLOWED:
                raise InputError(f"headline.{key}", f"unknown setting; allowed: {', '.join(ALLOWED)}")
        if not isinstance(budget, Mapping):
            raise InputError("headline.budget", "must hold quiet_alert_fraction and false_per_quiet_week")
        for key in budget:
            if key not in ("quiet_alert_fraction", "false_per_quiet_week"):
                raise InputError(
                    f"headline.budget.{key}",
                    "unknown setting; allowed: quiet_alert_fraction, false_per_quiet_week",
                )
        references = values.pop("references", cls.references)
        if isinstance(references, str) or not isinstance(references, Sequence):
            raise InputError("headline.references", f"must be a list of detectors; got {references!r}")
        if not all(isinstance(r, str) for r in references):
            raise InputError("headline.references", f"must be a list of detector names; got {references!r}")
        return cls(**budget, **values, references=tuple(references))

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
    value = np.nan_to_num(np.asarray(value, float), nan=0.0)
    if limit > 0:
        return value / limit
    return np.where(value > 0, np.inf, 0.0)


def budget_use(curve: pd.DataFrame, spec: HeadlineSpec) -> np.ndarray:
    """max(quiet alert fraction / q, false episodes per quiet week / f) per row; <= 1 is within."""
    curve = curve if "false_per_quiet_week" in curve else with_week(curve)
    return np.maximum(
        over(curve["quiet_alert_fraction"], spec.quiet_alert_fraction),
        over(curve["false_per_quiet_week"], spec.false_per_quiet_week),
    )
