"""Properties that hold for any scenario: lifecycle order, one incident per worker
at a time, and records that name only declared people."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillhall.simulator.engine import Engine
from drillhall.simulator.replication import lifecycle_records
from drillhall.simulator.scenario import Scenario
from tests.conftest import scenario_data
from tests.simulator.test_engine import assert_no_overlap

PEOPLE = ["ana", "ben", "cai", "dev"]
minutes = st.integers(min_value=0, max_value=60).map(lambda m: f"{m}m")
positive_minutes = st.integers(min_value=1, max_value=60).map(lambda m: f"{m}m")
probability = st.sampled_from([0.0, 0.05, 0.3, 0.9])
distribution = st.one_of(
    minutes,
    positive_minutes.map(lambda mean: {"exponential": {"mean": mean}}),
    positive_minutes.map(lambda median: {"lognormal": {"median": median, "sigma": 1}}),
)
target = st.sampled_from([*PEOPLE, "ops/primary", "ops/night"])


@st.composite
def scenarios(draw) -> Scenario:
    behaviour = {
        "acknowledge": {"working": draw(distribution), "sleeping": draw(distribution)},
        "miss": {"working": draw(probability), "sleeping": draw(probability)},
        "when_busy": draw(st.sampled_from(["wait", "escalate"])),
        "runbook_factor": draw(st.sampled_from([0.5, 1.0])),
    }
    levels = [
        {"targets": draw(st.lists(target, min_size=1, max_size=2)), "delay": delay}
        for delay in draw(st.lists(positive_minutes, min_size=1, max_size=3))
    ]
    fault = {
        "name": "crash",
        "rate": f"{draw(st.integers(1, 30))}/day",
        "urgency": draw(st.sampled_from(["high", "low"])),
        "detect": draw(distribution),
        "alerts": ["errors"],
        "diagnose": draw(distribution),
        "mitigate": draw(distribution),
        "resolve": draw(distribution),
        "runbook": draw(st.booleans()),
    }
    night = {
        "layers": [
            {
                "type": "daily",
                "members": ["cai", "dev"],
                "restrictions": [{"from": "22:00", "to": "06:00"}],
            }
        ]
    }
    data = scenario_data(
        horizon="5d",
        seed=draw(st.integers(0, 1000)),
        channels={
            "push": {"failure": draw(probability)},
            "phone": {"delay": draw(minutes)},
        },
        notify=[{"channel": "push"}, {"channel": "phone", "after": draw(minutes)}],
        people={
            person: {"speed": draw(st.sampled_from([0.5, 1, 2]))} for person in PEOPLE
        },
        behaviours={"default": behaviour},
        detection={
            "alerts": {
                "errors": {"probability": draw(probability), "for": draw(minutes)}
            },
            "user_report": draw(distribution),
        },
        escalation={
            "main": {
                "levels": levels,
                "repeat": draw(st.integers(0, 2)),
                "ack_timeout": draw(minutes),
            }
        },
        services={
            "api": {
                "team": "ops",
                "escalation": "main",
                "noise": f"{draw(st.integers(0, 10))}/day",
                "faults": [fault],
            }
        },
    )
    data["teams"]["ops"]["rotations"]["night"] = night
    return Scenario.model_validate(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_lifecycle_is_in_order_and_workers_hold_one_incident(scenario):
    engine = Engine(scenario)
    outcome = engine.run(0)

    records = lifecycle_records(engine, outcome)
    assert len(records) == len(outcome.incidents)
    levels = len(scenario.escalation["main"].levels)
    targets = {t for level in scenario.escalation["main"].levels for t in level.targets}
    for record in records:
        record.check_order()
        assert record.acknowledged is not None
        if record.acknowledged_by is None:
            # Only a policy that can find nobody at all leaves an incident unowned.
            assert targets == {"ops/night"} and record.worked_by is None
        else:
            assert record.acknowledged_by in PEOPLE
            assert record.worked_by in PEOPLE
        assert 1 <= record.escalation_level <= levels
        assert record.ttd >= 0 and record.tta >= 0
        assert record.ttr >= record.ttm >= record.ttd
    assert_no_overlap(outcome.incidents)
    for responder in outcome.responders:
        assert min(responder.interruptions) >= 0
        assert responder.worked <= len(records)
