"""Release hygiene: the version the command prints, the files a release carries."""

from __future__ import annotations

import subprocess
import tomllib
from importlib.metadata import version

from studies import ROOT, TDBENCH


def test_version_prints_tdbench_s_version(tmp_path):
    done = subprocess.run([TDBENCH, "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == f"tdbench {version('tdbench')}\n"
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "results").exists()


def test_a_release_carries_licence_changelog_citation_and_its_type_marker():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "MIT" in project["project"]["license"]["text"] and "MIT License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    assert f"version: {project['project']['version']}" in (ROOT / "CITATION.cff").read_text()
    assert (ROOT / "harness" / "py.typed").is_file()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["harness"]
