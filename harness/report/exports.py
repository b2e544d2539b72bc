"""CSV exports that other tools read with the same column types as the parquet files.

A median lead of "missed" (at least half the events missed) is -inf in memory and a median reset
that was never reached (the alert outlasted the run) is +inf; CSV readers such as DuckDB then read
the whole column as text. In a CSV such a cell is empty instead, and a boolean column beside it
says which case it was, so the column stays numeric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Parts of column names whose -inf / +inf have a meaning, and the flag that carries it.
FLAGS = (("median_lead_h", -np.inf, "missed"), ("median_reset_h", np.inf, "not_reached"))


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV: beside every numeric column whose name contains ``median_lead_h`` a boolean
    ``<column>_missed`` (true where it was -inf, then left empty), likewise ``median_reset_h`` with
    ``<column>_not_reached`` for +inf.

    >>> frame = pd.DataFrame({"detector": ["a", "b"], "median_lead_h": [2.5, -np.inf]})
    >>> print(csv_text(frame), end="")
    detector,median_lead_h,median_lead_h_missed
    a,2.5,False
    b,,True
    """
    out = frame.copy()
    for column in frame.columns:
        for prefix, value, flag in FLAGS:
            if prefix in str(column) and pd.api.types.is_numeric_dtype(frame[column]):
                hit = frame[column].to_numpy(float) == value
                out[column] = frame[column].mask(hit)
                out.insert(out.columns.get_loc(column) + 1, f"{column}_{flag}", hit)
    return out.to_csv(index=False)


def read_back(frame: pd.DataFrame) -> pd.DataFrame:
    """The inverse of ``csv_text`` on a table read back from it: flagged cells are -inf / +inf again
    and the flag columns are gone.

    >>> back = pd.DataFrame({"median_lead_h": [2.5, np.nan], "median_lead_h_missed": [False, True]})
    >>> read_back(back)["median_lead_h"].tolist()
    [2.5, -inf]
    """
    out = frame.copy()
    for prefix, value, flag in FLAGS:
        for column in [c for c in frame.columns if prefix in str(c) and str(c).endswith(f"_{flag}")]:
            base = str(column)[: -len(flag) - 1]
            if base in out:
                out[base] = out[base].mask(out[column].astype(bool), value)
            out = out.drop(columns=column)
    return out
