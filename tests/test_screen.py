"""What the terminal shows fits 100 columns; files keep the full text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.report.screen import fit

cells = st.text(st.characters(codec="utf-8", exclude_characters="|\n"), max_size=40)


@given(st.lists(st.lists(cells, min_size=2, max_size=12), min_size=1, max_size=6), st.text(max_size=400))
def test_every_line_fits(rows, prose):
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    for line in fit(f"{prose}\n\n{table}\n\n{prose}", "t.md").split("\n"):
        assert len(line) <= 100 or " " not in line.strip(), line  # only an unbreakable word is longer


def test_a_wide_table_keeps_its_leading_columns_and_names_its_file():
    header = "| rank | detector | " + " | ".join(f"column {i}" for i in range(20)) + " |"
    row = "| 1 | transport | " + " | ".join("12.3%" for _ in range(20)) + " |"
    shown = fit(f"{header}\n{row}", "headline.md").split("\n")
    assert shown[0].startswith("| rank | detector | column 0 |")
    assert shown[1].startswith("| 1 | transport | 12.3% |")
    assert shown[-1].endswith("more columns in headline.md)")
    assert all(len(line) <= 100 for line in shown)


def test_text_that_fits_is_unchanged():
    text = "# Headline\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- a short point"
    assert fit(text, "t.md") == text


STUDY = ("org.n_units=4", "org.warmup_days=1", "org.scenario_days=2", "seeds=2", "scenario=[spike]",
         "detector=[utilization]", "executor=serial")  # fmt: skip


def test_quiet_prints_nothing_and_writes_everything(tmp_path, capfd):
    import harness

    run = harness.tdbench([*STUDY, "progress=true"], run_dir=tmp_path / "quiet", quiet=True)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert run.ok and (tmp_path / "quiet" / "report.md").is_file() and run.headline is not None


def test_each_phase_after_the_jobs_says_so_and_no_line_is_wider_than_100(tmp_path, capfd):
    import harness

    harness.tdbench([*STUDY, "progress=true"], run_dir=tmp_path / "loud")
    out, err = capfd.readouterr()
    phases = [line.split(":")[1].strip() for line in err.splitlines() if line.startswith("tdbench: ")]
    assert sorted(phases) == ["figures", "headline", "report", "summary"]  # headline and summary overlap
    shown = [line for line in out.splitlines() if not line.startswith(("results: ", "report: "))]  # paths
    answer, _, rest = out.partition("\n\n")  # the answer's sentence comes first, then the headline
    assert answer.startswith("At quiet alerting") and rest.startswith("# Headline")
    assert max(map(len, shown)) <= 100
    assert "results: " in out and "first_alert.csv" in out
