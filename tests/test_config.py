"""The YAML files mirror the code: their defaults are the classes' defaults."""

from pathlib import Path

import pytest
import yaml

import detectors
from harness.analysis.scoring import ScoringSpec
from harness.cli import CONF_DIR
from harness.config import Criteria, ExecutorSpec, StudySettings
from harness.live.settings import MonitorSettings, ResilienceTransportConfig
from scenarios import make, scenario_params
from scenarios.catalogue import CATALOGUE
from scenarios.errors import InputError
from scenarios.historical import HistoricalSpec
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


SECTION_ERRORS = [
    (
        lambda: ExecutorSpec(cell_timeout_s=float("inf")),
        "executor.cell_timeout_s: must be a number of seconds > 0",
    ),
    (lambda: ExecutorSpec(n_jobs=0), "executor.n_jobs: must be a non-zero integer (-1: all cores); got 0"),
    (lambda: ExecutorSpec(name="local", address="tcp://x:1"), "executor.address: only the dask and ray"),
    (
        lambda: StudySettings(first_seed=2**64),
        "first_seed: must be an integer >= 0 and <= 9223372036854775807",
    ),
    (lambda: StudySettings(seeds=3, first_seed=2**63 - 2), "first_seed: must leave room for 3 seeds"),
    (lambda: StudySettings(progress="yes"), "progress: must be true or false; got 'yes'"),
    (lambda: Criteria(lead_scenarios="ramp"), "scoring.criteria.lead_scenarios: must be a list of strings"),
    (
        lambda: ScoringSpec(thresholds={"transport": float("nan")}),
        "scoring.thresholds.transport: must be a number",
    ),
    (
        lambda: TruthSpec(utilization_off=0.9),
        "scoring.truth.utilization_off: must be <= scoring.truth.utilization_on",
    ),
    (lambda: HistoricalSpec(origin=float("nan")), "historical.origin: must be a date-time"),
    (lambda: HistoricalSpec(origin="not a date"), "historical.origin: must be a date-time"),
    (lambda: OrgConfig(n_units=True), "org.n_units: must be an integer >= 1; got True"),
    (lambda: MonitorSettings(speed=float("nan")), "monitor.speed: must be a number of simulated hours"),
    (lambda: make("diurnal", amplitude=0.7), "scenario.diurnal.amplitude: must be <= rho (0.6); got 0.7"),
    (lambda: make("uneven", n_hot="3"), "scenario.uneven.n_hot: must be an integer >= 1; got '3'"),
]


@pytest.mark.parametrize(
    ("build", "message"), SECTION_ERRORS, ids=[m.split(":")[0] for _, m in SECTION_ERRORS]
)
def test_every_settings_section_refuses_bad_values_in_one_line(build, message):
    with pytest.raises(InputError) as caught:
        build()
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_sections_take_lists_from_the_config_as_tuples_and_ints_as_numbers():
    assert Criteria(lead_scenarios=["ramp"]).lead_scenarios == ("ramp",)
    assert OrgConfig(service_mean_h=2).service_mean_h == 2.0
    assert ExecutorSpec(cell_timeout_s=5).cell_timeout_s == 5.0


def test_a_listening_host_on_every_interface_is_warned_about():
    assert MonitorSettings(host="0.0.0.0").exposure().startswith("monitor.host=0.0.0.0 exposes")
    assert MonitorSettings(host="::").exposure() is not None
    assert MonitorSettings(host="127.0.0.1").exposure() is None
    assert MonitorSettings(host="localhost").exposure() is None


def test_the_roadmaps_variables_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("PE_WARNING_THRESHOLD", "0.5")
    monkeypatch.setenv("TRANSPORT_ENABLED", "off")
    config = ResilienceTransportConfig.from_env()
    assert config.set_in_environment() == {"TRANSPORT_ENABLED": False, "PE_WARNING_THRESHOLD": 0.5}
    monkeypatch.setenv("PE_CRITICAL_THRESHOLD", "0.4")
    with pytest.raises(
        InputError, match=r"^PE_CRITICAL_THRESHOLD: must be a number >= 0.5 \(PE_WARNING_THRESHOLD\)"
    ):
        ResilienceTransportConfig.from_env()
