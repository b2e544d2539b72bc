"""The Python API (harness.api): the documented example runs, results equal the command's, bad input
raises the command's error and writes nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from studies import ROOT, SMALL, run_task, without_timings

import harness
from harness.cli import check

STUDY = ("seeds=2", "scenario=[spike,steady]", "detector=[utilization,cusum]", "executor=serial")
QUIET = ("report.enabled=false",)


def docs_example() -> str:
    text = (ROOT / "docs" / "how-to" / "python-api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "the Python API page has one example"
    return blocks[0]


def test_docs_example_runs(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    done = subprocess.run(
        [sys.executable, "-c", docs_example()], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "org.n_units: must be an integer >= 1; got 0" in done.stdout
    for folder in ("api-example", "api-historical"):
        assert harness.load(tmp_path / "results" / "runs" / folder).ok


def test_tdbench_equals_the_command(tmp_path):
    api = harness.tdbench([*SMALL, *STUDY, *QUIET], run_dir=tmp_path / "api")
    assert api.exit_code == 0 and api.ok
    assert run_task(tmp_path / "cli", *SMALL, *STUDY, *QUIET) == 0
    cli = harness.load(tmp_path / "cli")
    assert without_timings(api.cells).equals(without_timings(cli.cells))
    assert api.summary.equals(cli.summary)
    strip_ms = lambda text: re.sub(r"[\d.]+( \[[\d.]+, [\d.]+\])? ms", "ms", text)  # noqa: E731 (timings)
    assert strip_ms(api.scorecard) == strip_ms(cli.scorecard) and "ms PASS" in strip_ms(api.scorecard)
    assert (api.headline is None) == (cli.headline is None)
    if api.headline is not None:
        assert api.headline.equals(cli.headline)
    assert set(api.tables) >= {"cells", "events", "episodes", "overhead", "summary", "first_alert"}
    with pytest.raises(KeyError, match="no such table"):
        api["nothing"]


def test_hydra_run_dir_override_is_the_output_folder(tmp_path):
    out = tmp_path / "chosen"
    run = harness.tdbench([*SMALL, *STUDY, *QUIET, f"hydra.run.dir={out}"])
    assert run.run_dir == out and (out / "cells.parquet").is_file()
    with pytest.raises(harness.InputError, match="given twice"):
        harness.tdbench([*SMALL, *STUDY, f"hydra.run.dir={out}"], run_dir=tmp_path / "other")


@pytest.mark.parametrize(
    "overrides",
    [["org.n_units=0"], ["scenario=[ramp,tsunami]"], ["seeds=0"], ["nonsense=1"], ["-m", "seeds=1,2"]],
)
def test_bad_input_raises_the_commands_error_and_writes_nothing(tmp_path, overrides):
    with pytest.raises(harness.InputError) as raised:
        harness.tdbench(overrides, run_dir=tmp_path / "run")
    if "-m" not in overrides:
        with pytest.raises(harness.InputError) as by_command:
            check(overrides)
        assert str(raised.value) == str(by_command.value)
    assert not (tmp_path / "run").exists()


def test_load_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(harness.InputError, match="is not a run folder"):
        harness.load(tmp_path)


def test_evaluate_a_frame_equals_the_command_on_the_file(tmp_path):
    data, labels = ROOT / "examples" / "historical.csv", ROOT / "examples" / "historical_labels.csv"
    detectors = "detector=[transport,utilization]"
    frame = pd.read_csv(data, dtype={"unit": str})
    api = harness.evaluate(
        frame, pd.read_csv(labels), overrides=[detectors, "progress=false"], run_dir=tmp_path / "api"
    )
    code = run_task(tmp_path / "cli", "task=evaluate", f"data={data}", f"labels={labels}", detectors)
    assert api.exit_code == code == 0
    cli = harness.load(tmp_path / "cli")
    drop = lambda f: without_timings(f).drop(columns="key")  # noqa: E731 (keys hash the file's bytes)
    assert drop(api.cells).equals(drop(cli.cells))
    assert drop(api.events).equals(drop(cli.events))
    assert api.config.data == str(tmp_path / "api" / "historical.parquet")
    assert api["historical"].equals(frame)  # the data it scored is kept in the run folder


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda f: f.drop(columns="queue"), "data"),
        (lambda f: f.assign(arrivals=-1), "data.arrivals"),
    ],
)
def test_evaluate_validates_the_frame_before_writing(tmp_path, change, field):
    frame = change(pd.read_csv(ROOT / "examples" / "historical.csv"))
    with pytest.raises(harness.InputError) as raised:
        harness.evaluate(frame, run_dir=tmp_path / "run")
    assert raised.value.field.startswith(field)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "../up"}, "name"),
        ({"overrides": ["data=x.csv"]}, "data"),
        ({"overrides": "seeds=1"}, "overrides"),
    ],
)
def test_evaluate_refuses_bad_arguments(tmp_path, kwargs, field):
    frame = pd.read_csv(ROOT / "examples" / "historical.csv")
    with pytest.raises(harness.InputError) as raised:
        harness.evaluate(frame, run_dir=tmp_path / "run", **kwargs)
    assert raised.value.field == field
    assert not (tmp_path / "run").exists()
