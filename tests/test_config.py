"""The YAML files mirror the code: their defaults are the classes' defaults."""

from pathlib import Path

import pytest
import yaml

import detectors
from harness.analysis.scoring import ScoringSpec
from harness.cli import CONF_DIR
from harness.config import Criteria
from scenarios import scenario_params
from scenarios.catalogue import CATALOGUE
from scenarios.org import OrgConfig
from scenarios.truth import TruthSpec


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_scenario_yaml_equals_the_class_defaults(name):
    spec = load(CONF_DIR / "scenario" / f"{name}.yaml")[name]
    cls = CATALOGUE[name]
    assert spec.pop("_target_") == f"{cls.__module__}.{cls.__name__}"
    assert spec == scenario_params(cls)


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in detectors.available()
        if (CONF_DIR / "detector" / f"{n}.yaml").exists() and not detectors.is_plugin(n)
    ],
)
def test_detector_yaml_named_after_a_registry_entry_equals_its_defaults(name):
    spec = load(CONF_DIR / "detector" / f"{name}.yaml")[name]
    spec.pop("search", None)  # task=tune's search space, never a parameter
    cls = detectors.detector_class(name)
    assert spec.pop("_target_") == f"{cls.__module__}.{cls.__name__}"
    assert spec == detectors.params_of(name)


def test_org_and_scoring_yaml_equal_the_defaults():
    assert load(CONF_DIR / "org" / "default.yaml") == OrgConfig().to_dict()
    scoring = load(CONF_DIR / "scoring" / "default.yaml")
    assert scoring.pop("truth") == TruthSpec().to_dict()
    criteria = scoring.pop("criteria")
    assert {**criteria, "lead_scenarios": tuple(criteria["lead_scenarios"])} == Criteria().to_dict()
    assert scoring == ScoringSpec().to_dict()


def test_default_study_selects_every_scenario():
    defaults = load(CONF_DIR / "config.yaml")["defaults"]
    (selected,) = [d["scenario"] for d in defaults if isinstance(d, dict) and "scenario" in d]
    assert selected == list(CATALOGUE)
