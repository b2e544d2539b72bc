"""The service API: the roadmap's config object, check_transport_dynamics, state between checks."""

import json
import math

import numpy as np
import pytest
from studies import RaisingDetector

from detectors.base import Level, Reading
from detectors.transport import TransportDetector, critical_saturation_alert
from detectors.utilization import UtilizationDetector
from harness.live.service import ResilienceService, json_number, transport_alert
from harness.live.settings import ResilienceTransportConfig
from scenarios import InputError, simulate

WARNING = "WARNING: Pe trending toward unstable"
CRITICAL = "CRITICAL: Task arrival outpacing rebalancing"
ROADMAP_DEFAULTS = {
    "TRANSPORT_ENABLED": True,
    "PE_WARNING_THRESHOLD": 0.8,
    "PE_CRITICAL_THRESHOLD": 1.2,
    "GRADIENT_WARNING_THRESHOLD": 0.15,
    "BOUNDARY_LAYER_WARNING_THRESHOLD": 0.4,
    "CHARACTERISTIC_LENGTH": 1.0,
}


def units(pe_hot: float = 1.0) -> list[dict]:
    hot = {
        "utilization": 0.95,
        "arrival_rate": 4.0 * pe_hot,
        "completion_rate": 3.0,
        "transfer_out_rate": 0.5,
        "transfer_in_rate": 0.0,
        "service_capacity": 4.0,
        "staff": 4,
    }
    calm = {
        "utilization": 0.5,
        "arrival_rate": 2.0,
        "completion_rate": 2.0,
        "transfer_out_rate": 0.0,
        "transfer_in_rate": 0.2,
        "service_capacity": 4.0,
        "staff": 4,
    }
    return [hot, calm, dict(calm, utilization=0.85), calm]


def test_config_has_the_roadmaps_names_and_defaults():
    assert vars(ResilienceTransportConfig()) == ROADMAP_DEFAULTS
    assert ResilienceTransportConfig.from_env({}) == ResilienceTransportConfig()


def test_config_reads_every_variable_from_the_environment():
    environ = {
        "TRANSPORT_ENABLED": "no",
        "PE_WARNING_THRESHOLD": "0.7",
        "PE_CRITICAL_THRESHOLD": " 1.0 ",
        "GRADIENT_WARNING_THRESHOLD": "0.2",
        "BOUNDARY_LAYER_WARNING_THRESHOLD": "0.5",
        "CHARACTERISTIC_LENGTH": "2",
        "UNRELATED": "x",
    }
    config = ResilienceTransportConfig.from_env(environ)
    assert vars(config) == {
        "TRANSPORT_ENABLED": False,
        "PE_WARNING_THRESHOLD": 0.7,
        "PE_CRITICAL_THRESHOLD": 1.0,
        "GRADIENT_WARNING_THRESHOLD": 0.2,
        "BOUNDARY_LAYER_WARNING_THRESHOLD": 0.5,
        "CHARACTERISTIC_LENGTH": 2.0,
    }
    assert config.transport_params() == {
        "pe_warning": 0.7,
        "pe_critical": 1.0,
        "gradient_warning": 0.2,
        "boundary_warning": 0.5,
        "characteristic_length": 2.0,
    }
    set_in = ResilienceTransportConfig.from_env({"TRANSPORT_ENABLED": "TRUE"}).set_in_environment()
    assert set_in == {"TRANSPORT_ENABLED": True}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PE_WARNING_THRESHOLD": "high"}, "PE_WARNING_THRESHOLD: must be a number >= 0; got 'high'"),
        ({"TRANSPORT_ENABLED": "maybe"}, "TRANSPORT_ENABLED: must be true or false; got 'maybe'"),
        ({"PE_CRITICAL_THRESHOLD": "0.5"}, "PE_CRITICAL_THRESHOLD: must be a number >= 0.8"),
        ({"BOUNDARY_LAYER_WARNING_THRESHOLD": "1.5"}, "BOUNDARY_LAYER_WARNING_THRESHOLD: must be a number"),
        ({"CHARACTERISTIC_LENGTH": "0"}, "CHARACTERISTIC_LENGTH: must be a number > 0"),
        ({"GRADIENT_WARNING_THRESHOLD": "nan"}, "GRADIENT_WARNING_THRESHOLD: must be a number >= 0"),
    ],
)
def test_a_bad_variable_is_one_error_naming_it(environ, message):
    with pytest.raises(InputError) as caught:
        ResilienceTransportConfig.from_env(environ)
    assert str(caught.value).startswith(message)


def test_config_maps_onto_the_transport_detector():
    config = ResilienceTransportConfig(PE_WARNING_THRESHOLD=0.7, CHARACTERISTIC_LENGTH=2.0)
    service = ResilienceService.from_config(config, tau_h=2.0)
    detector = service.detectors["transport"]
    assert isinstance(detector, TransportDetector)
    assert (detector.pe_warning, detector.pe_critical, detector.characteristic_length, detector.tau_h) == (
        0.7,
        1.2,
        2.0,
        2.0,
    )
    disabled = ResilienceService.from_config(ResilienceTransportConfig(TRANSPORT_ENABLED=False))
    assert disabled.detectors == {}
    assert disabled.check_transport_dynamics(units()) is None


def test_first_check_of_unit_dicts_equals_the_roadmaps_snapshot_alert():
    """The EWMAs start at the first observation, so the first check is the snapshot rule."""
    snapshot = critical_saturation_alert(units())
    alert = ResilienceService.from_config(ResilienceTransportConfig()).check_transport_dynamics(units())
    assert alert["level"] == snapshot["level"]
    assert alert["messages"] == snapshot["messages"]
    metrics = alert["metrics"]
    assert metrics["peclet_number"] == pytest.approx(snapshot["peclet_number"], rel=1e-12)
    assert metrics["saturation_gradient"] == pytest.approx(snapshot["saturation_gradient"], rel=1e-12)
    assert metrics["boundary_layer_thickness"] == snapshot["boundary_layer_thickness"]
    assert metrics["effective_diffusion"] == pytest.approx(snapshot["effective_diffusion"], rel=1e-12)
    minutes = snapshot["time_to_saturation_h"] * 60
    assert metrics["time_to_saturation_minutes"] == pytest.approx(minutes, rel=1e-12)


def test_state_is_kept_between_checks():
    """A second service fed only the second snapshot answers differently: the first remembers."""
    service = ResilienceService.from_config(ResilienceTransportConfig())
    service.check_transport_dynamics(units(pe_hot=1.0))
    remembered = service.check_transport_dynamics(units(pe_hot=2.0))
    fresh_service = ResilienceService.from_config(ResilienceTransportConfig())
    fresh = fresh_service.check_transport_dynamics(units(pe_hot=2.0))
    assert 1.0 < remembered["metrics"]["peclet_number"] < fresh["metrics"]["peclet_number"]
    assert remembered["time_h"] == 0.5


def test_observations_give_exactly_the_detectors_streaming_readings():
    trace = simulate("spike", seed=3, n_units=4, warmup_days=0.5, scenario_days=1, onset_day=0.2)
    expected = TransportDetector().run(trace)
    service = ResilienceService({"transport": TransportDetector(), "utilization": UtilizationDetector()})
    service.reset(trace.layout)
    levels = []
    for k in range(len(trace)):
        alert = service.check_transport_dynamics(trace.observation(k))
        assert alert["metrics"]["peclet_number"] == expected.score[k]
        assert alert["metrics"]["saturation_gradient"] == expected.detail["gradient"][k]
        assert alert["metrics"]["boundary_layer_thickness"] == expected.detail["boundary_layer"][k]
        minutes = expected.detail["time_to_saturation_h"][k] * 60
        assert alert["metrics"]["time_to_saturation_minutes"] == json_number(minutes)
        assert alert["level"] == Level(expected.level[k]).name
        assert alert["units"] == np.flatnonzero(expected.units[k]).tolist()
        levels.append(alert["level"])
    assert {"WARNING", "CRITICAL"} <= set(levels)  # the spike pushes it over


def test_the_alert_dict_is_strict_json():
    """No NaN or infinity reaches the dict: json.dumps(allow_nan=False) accepts every check's answer."""
    trace = simulate("spike", seed=3, n_units=4, warmup_days=0.5, scenario_days=1, onset_day=0.2)
    service = ResilienceService({"transport": TransportDetector()})
    service.reset(trace.layout)
    answers = [service.check_transport_dynamics(trace.observation(k)) for k in range(len(trace))]
    metrics = [a["metrics"] for a in answers]
    assert any(m["time_to_saturation_minutes"] == "+Inf" for m in metrics)  # no unit filling
    json.loads(json.dumps(answers, allow_nan=False))
    detail = {
        "pe": 0.5,
        "gradient": 0.0,
        "boundary_layer": 0.0,
        "d_eff": math.nan,
        "time_to_saturation_h": 1.0,
    }
    alert = transport_alert(TransportDetector(), Reading(0.5, 0, (), detail), 1.0)
    assert alert["metrics"]["effective_diffusion"] is None  # undefined (no gradient): null


def test_one_unit_is_never_told_to_communicate_with_other_units():
    """The phase-3 gradient message needs a second unit; a one-unit organisation never gets it."""
    trace = simulate("spike", seed=0, n_units=1, warmup_days=0.25, scenario_days=1, onset_day=0.1)
    detector = TransportDetector(pe_warning=0.1, pe_critical=100.0, gradient_warning=0.0)
    service = ResilienceService({"transport": detector})
    service.reset(trace.layout)
    messages = {
        m
        for k in range(len(trace))
        for m in service.check_transport_dynamics(trace.observation(k))["messages"]
    }
    assert "WARNING: Pe trending toward unstable" in messages
    assert "Increase inter-unit communication" not in messages
    reading = Reading(
        1.0,
        2,
        (0,),
        {"pe": 1.0, "gradient": 0.5, "boundary_layer": 0.0, "d_eff": 1.0, "time_to_saturation_h": 1.0},
    )
    one = transport_alert(TransportDetector(), reading, 1.0, n_units=1)["messages"]
    two = transport_alert(TransportDetector(), reading, 1.0, n_units=2)["messages"]
    assert "Increase inter-unit communication" in set(two) - set(one)


def test_messages_follow_the_phase3_rules():
    trace = simulate("spike", seed=3, n_units=4, warmup_days=0.5, scenario_days=1, onset_day=0.2)
    service = ResilienceService.from_config(ResilienceTransportConfig())
    service.reset(trace.layout)
    seen = set()
    for k in range(len(trace)):
        alert = service.check_transport_dynamics(trace.observation(k))
        pe, gradient = alert["metrics"]["peclet_number"], alert["metrics"]["saturation_gradient"]
        expected = []
        if pe >= 0.8:
            critical = pe >= 1.2
            expected.append(CRITICAL if critical else WARNING)
        if gradient > 0.15 and pe > 0.8:
            expected.append("Increase inter-unit communication")
        if alert["metrics"]["boundary_layer_thickness"] > 0.4:
            expected.append("Risk of cascade failure")
        assert alert["messages"] == expected
        seen.update(expected)
    assert len(seen) >= 3


def test_level_changes_and_a_failing_detector():
    trace = simulate("spike", seed=3, n_units=4, warmup_days=0.5, scenario_days=1, onset_day=0.2)
    service = ResilienceService({"transport": TransportDetector(), "raising": RaisingDetector(after=3)})
    service.reset(trace.layout)
    expected = TransportDetector().run(trace).level
    previous = 0
    for k in range(len(trace)):
        result = service.check(trace.observation(k))
        assert result.readings["transport"].level == expected[k]
        if expected[k] != previous:
            assert result.changes["transport"] == (previous, expected[k])
        else:
            assert "transport" not in result.changes
        previous = int(expected[k])
        if k < 3:
            assert result.errors == {}
        else:
            assert result.errors == {"raising": "RuntimeError: deliberate failure in a test detector"}
            assert "raising" not in result.readings
        assert result.seconds > 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"utilization": math.nan}, "units[0].utilization"),
        ({"arrival_rate": -1.0}, "units[0].arrival_rate"),
        ({"utilization": 1.5}, "units[0].utilization"),
        ({"colour": 1.0}, "units[0].colour"),
        ({"staff": 0}, "units[0].service_rate"),
    ],
)
def test_bad_unit_dicts_name_the_unit_and_key(change, field):
    bad = units()
    bad[0] = dict(bad[0], **change)
    with pytest.raises(InputError) as caught:
        ResilienceService.from_config(ResilienceTransportConfig()).check_transport_dynamics(bad)
    assert caught.value.field == field


def test_a_changed_organisation_is_refused_until_reset():
    service = ResilienceService.from_config(ResilienceTransportConfig())
    service.check_transport_dynamics(units())
    with pytest.raises(InputError, match="the organisation has 4 units; got 3"):
        service.check_transport_dynamics(units()[:3])
    faster = units()
    faster[1] = dict(faster[1], service_capacity=8.0)
    with pytest.raises(InputError, match="implies 2 tasks per staff-hour"):
        service.check_transport_dynamics(faster)
    service.reset(None)
    assert service.check_transport_dynamics(units()[:3])["time_h"] == 0.25
