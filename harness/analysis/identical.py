"""Detectors whose alerts are identical in every cell, so every number of the study is the same for
them (a combination that reduces to one member, a preset equal to the default)."""

from __future__ import annotations

import pandas as pd


def identical_detectors(cells: pd.DataFrame, episodes: pd.DataFrame) -> list[list[str]]:
    """Groups (sorted, two or more) of detectors with the same successful cells and, in each, the
    same alert episodes (start and end).

    >>> keys = ["1", "2", "3"]
    >>> cells = pd.DataFrame({"scenario": "s", "seed": 0, "detector": list("abc"), "key": keys})
    >>> episodes = pd.DataFrame({"key": keys, "start_h": [1.0, 1.0, 2.0], "end_h": [3.0, 3.0, 3.0]})
    >>> identical_detectors(cells, episodes)
    [['a', 'b']]
    """
    ok = cells[cells["status"] == "ok"] if "status" in cells else cells
    if ok.empty:
        return []
    spans = ok[["key", "scenario", "seed", "detector"]].merge(
        episodes[["key", "start_h", "end_h"]]
        if len(episodes)
        else pd.DataFrame(columns=["key", "start_h", "end_h"]),
        on="key",
        how="left",
    )
    signatures: dict[tuple, list[str]] = {}
    for detector, rows in spans.groupby("detector", sort=True):
        runs = tuple(sorted(map(tuple, ok.loc[ok["detector"] == detector, ["scenario", "seed"]].to_numpy())))
        alerts = rows.dropna(subset=["start_h"])[["scenario", "seed", "start_h", "end_h"]]
        signature = (runs, tuple(sorted(map(tuple, alerts.to_numpy()))))
        signatures.setdefault(signature, []).append(str(detector))
    return sorted(group for group in signatures.values() if len(group) > 1)
