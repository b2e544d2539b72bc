"""The simulation model's version goes into every job and cell key and into every parquet file."""

import pandas as pd

from harness.run import jobs
from harness.run.files import MODEL_VERSION_ATTR, write_parquet
from harness.run.version import MODEL_VERSION


def test_parquet_files_carry_the_model_version(tmp_path):
    frame = pd.DataFrame({"seed": [0, 1], "recall": [0.5, 0.75]})
    write_parquet(tmp_path / "cells.parquet", frame)
    back = pd.read_parquet(tmp_path / "cells.parquet")
    assert back.attrs[MODEL_VERSION_ATTR] == MODEL_VERSION
    pd.testing.assert_frame_equal(back, frame)
    assert MODEL_VERSION_ATTR not in frame.attrs  # the caller's frame is left as it was


def test_keys_change_with_the_model_version(monkeypatch):
    args = ("ramp", {}, 0, {}, {})
    before = jobs.job_key(*args), jobs.cell_key(*args, {}, "transport", {})
    monkeypatch.setattr(jobs, "MODEL_VERSION", MODEL_VERSION + 1)
    after = jobs.job_key(*args), jobs.cell_key(*args, {}, "transport", {})
    assert before[0] != after[0] and before[1] != after[1]
