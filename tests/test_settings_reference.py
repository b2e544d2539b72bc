"""The settings reference derives from the declarations: each task's --help and
docs/reference/settings.md, which must be regenerated when a declaration changes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from studies import TDBENCH

from harness.reference import help_text, markdown

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "settings.md"


def test_the_committed_settings_page_is_current():
    assert PAGE.read_text() == markdown(), (
        "regenerate: python -m harness.reference > docs/reference/settings.md"
    )


def test_a_tasks_help_lists_the_settings_it_reads_with_meaning_and_allowed_values():
    tune = help_text("tune").splitlines()
    at = tune.index("  tune.announce_above=20")
    assert (
        tune[at + 1]
        == "      a detector searching more configurations says so before it starts; an integer >= 1"
    )
    assert "  executor.cell_timeout_s=null" in tune
    compare = help_text("compare")
    assert "  sweep_dir=null" in compare and "org.n_units" not in compare and "seeds=" not in compare
    monitor = help_text("monitor")
    assert "  PE_WARNING_THRESHOLD=0.8" in monitor and "  monitor.host=127.0.0.1" in monitor


def test_help_shows_the_composed_values_of_the_selected_scenarios_and_detectors():
    config = {
        "scenario": {"steady": {"_target_": "scenarios.catalogue.Steady", "rho": 0.5}},
        "org": {"n_units": 5},
    }
    text = help_text("study", config)
    assert "  scenario.steady.rho=0.5" in text and "  org.n_units=5" in text and "scenario.ramp" not in text


def test_the_command_prints_the_settings_not_the_config_dump(tmp_path):
    args = [TDBENCH, "task=tune", "scenario=[steady]", "--help"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "Settings of task=tune" in done.stdout and "  scenario.steady.rho=0.6" in done.stdout
    assert "      seeds per scenario; an integer >= 1" in done.stdout
    assert "\nseeds: 10\n" not in done.stdout and not (tmp_path / "results").exists()
