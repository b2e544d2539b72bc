"""Sweep aggregation (harness.analysis.sweep, harness.report.sweep, task=compare): every job's headline
rows in one table with the swept parameters as columns, figures against each numeric parameter.
The sweeps here are synthetic folders in the layout Hydra writes, with headline.csv files holding
the documented headline columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.image import imread
from studies import SMALL, run_task, tdbench

from harness.analysis.sweep import collect
from scenarios.errors import InputError

DETECTORS = ("transport", "utilization")


def headline(warned: float) -> pd.DataFrame:
    rows = []
    for rank, detector in enumerate(DETECTORS, 1):
        r = warned - 0.1 * (rank - 1)
        rows.append(
            {
                "rank": rank,
                "detector": detector,
                "threshold": 1.0 + rank,
                "feasible": True,
                "warned": r,
                "warned_lo": r - 0.1,
                "warned_hi": r + 0.05,
                "median_lead_h": 6.0 * r,
                "median_lead_h_lo": 5.0 * r if rank == 1 else float("-inf"),
                "median_lead_h_hi": 7.0 * r,
                "quiet_alert_fraction": 0.01 * rank,
                "false_per_quiet_week": 0.5,
                "fp_rate": 0.1,
                "partial_auc": 0.4,
            }
        )
    return pd.DataFrame(rows)


def make_sweep(folder, jobs: list[dict[str, str]], without_headline: tuple[int, ...] = ()) -> None:
    for number, overrides in enumerate(jobs):
        job = folder / str(number)
        (job / ".hydra").mkdir(parents=True)
        lines = [f"{k}={v}" for k, v in overrides.items()] + ["seeds=4"]  # seeds: the same in every job
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(lines))
        if number in without_headline:
            (job / "exit_code").write_text("1\n")
        else:
            headline(0.9 - 0.1 * number).to_csv(job / "headline.csv", index=False)


def test_one_row_per_job_and_detector_with_the_swept_parameter(tmp_path):
    make_sweep(
        tmp_path, [{"org.rebalance_capacity_per_h": v} for v in ("0", "4", "8")], without_headline=(1,)
    )
    sweep = collect(tmp_path)
    assert sweep.parameters == ["org.rebalance_capacity_per_h"] == sweep.numeric
    assert sweep.missing == ["job 1: no headline.csv (exit code 1)"]
    rows = sweep.rows
    assert list(rows.columns[:2]) == ["job", "org.rebalance_capacity_per_h"]
    assert set(headline(0.5).columns) <= set(rows.columns)
    assert sorted(zip(rows["job"], rows["detector"], strict=True)) == [
        (j, d) for j in ("0", "2") for d in DETECTORS
    ]
    assert rows.set_index(["job", "detector"]).loc[("2", "transport"), "org.rebalance_capacity_per_h"] == 8
    assert rows.set_index(["job", "detector"]).loc[("2", "transport"), "warned"] == pytest.approx(0.7)


def test_compare_task_writes_table_figures_and_markdown(tmp_path):
    sweep_dir = tmp_path / "sweep"
    jobs = [{"org.rebalance_capacity_per_h": c, "org": o} for o in ("default", "ring") for c in ("0", "8")]
    make_sweep(sweep_dir, jobs)
    assert run_task(tmp_path / "own", "task=compare", f"sweep_dir={sweep_dir}") == 0
    table = pd.read_csv(sweep_dir / "sweep.csv")
    assert len(table) == 4 * len(DETECTORS)
    flags = [c for c in table.columns if c.endswith(("_missed", "_not_reached"))]  # CSV only: see exports
    assert flags and pd.read_parquet(sweep_dir / "sweep.parquet").shape == table.drop(columns=flags).shape
    figure = sweep_dir / "figures" / "sweep_org.rebalance_capacity_per_h.png"
    assert imread(figure).shape[1] >= 1200
    assert not (sweep_dir / "figures" / "sweep_org.png").exists()  # org is not numeric
    text = (sweep_dir / "sweep.md").read_text()
    assert "Swept: `org.rebalance_capacity_per_h` = 0, 8; `org` = default, ring." in text
    assert "No figure for `org`: not numeric." in text
    assert "![org.rebalance_capacity_per_h](figures/sweep_org.rebalance_capacity_per_h.png)" in text
    row = "| transport | 8 | ring | 3 | yes | 60.0% [50.0%, 65.0%] | 3.60 h [3.00 h, 4.20 h] | 1.0% |"
    assert row in text
    assert "missed" in text  # a lead CI bound of -inf reads "missed"
    assert not (tmp_path / "own").exists()  # Hydra's own folder for the command is not kept


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "holds no job folders of a multirun"),
        (lambda d: make_sweep(d, [{"seeds": "1"}, {"seeds": "2"}], without_headline=(0, 1)), "no job of"),
    ],
)
def test_compare_refuses_a_folder_without_headlines(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(InputError, match=message) as raised:
        collect(tmp_path)
    assert raised.value.field == "sweep_dir"
    with pytest.raises(InputError, match="sweep_dir: give the sweep folder"):
        run_task(tmp_path / "own", "task=compare")


def test_every_multirun_ends_with_the_comparison(tmp_path):
    run = tdbench(
        "-m",
        *SMALL,
        "seeds=1",
        "scenario=[steady]",
        "detector=[utilization]",
        "executor=serial",
        "report.enabled=false",
        "org.rebalance_capacity_per_h=0,8",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    if all((tmp_path / "sweep" / j / "headline.csv").is_file() for j in jobs):  # once studies write one
        assert "sweep: " + str(tmp_path / "sweep" / "sweep.md") in out
        assert len(pd.read_csv(tmp_path / "sweep" / "sweep.csv")) == 2
    else:
        assert "sweep: not compared: sweep_dir: no job of" in out
        assert not (tmp_path / "sweep" / "sweep.csv").exists()


def test_infeasible_points_are_marked_and_explained(tmp_path):
    make_sweep(tmp_path, [{"org.rebalance_capacity_per_h": c} for c in ("0", "8")])
    job = tmp_path / "1" / "headline.csv"
    table = pd.read_csv(job)
    table.loc[table["detector"] == "transport", ["feasible", "rank"]] = [False, np.nan]
    table["budget_use"] = np.where(table["detector"] == "transport", 12.5, 0.5)
    table.to_csv(job, index=False)
    assert run_task(tmp_path / "own", "task=compare", f"sweep_dir={tmp_path}") == 0
    text = (tmp_path / "sweep.md").read_text()
    assert "| transport | 8 | 1 | no (budget x12.5) |" in text and "| transport | 0 | 0 | yes |" in text
    assert "more seeds, longer runs" in text
