"""Paging, escalation and work in the engine, one rule at a time."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

from drillhall.simulator.engine import Engine
from drillhall.simulator.replication import summarize
from tests.conftest import build_scenario

DEAF = {"acknowledge": {"working": "0s"}, "miss": {"working": 1.0}}
PROMPT = {"acknowledge": {"working": "0s"}, "miss": {"working": 0.0}}


def one_service(policy: dict, **fault: object) -> dict:
    crash = {"name": "crash", "rate": "2/day", "diagnose": "10m", "mitigate": "0s"}
    crash.update(fault)
    return {
        "escalation": {"main": policy},
        "services": {"api": {"team": "ops", "escalation": "main", "faults": [crash]}},
    }


def outcome(**changes):
    scenario = build_scenario(**changes)
    engine = Engine(scenario)
    result = engine.run(0)
    people = {responder.name: responder for responder in result.responders}
    return result.incidents, people


def test_notifications_planned_after_the_level_escalated_never_happen():
    incidents, people = outcome(
        behaviours={"deaf": DEAF, "default": PROMPT},
        people={"ana": {"behaviour": "deaf"}, "ben": {}, "cai": {}},
        notify=[{"channel": "push"}, {"channel": "push", "after": "20m"}],
        **one_service(
            {
                "levels": [
                    {"targets": ["ana"], "delay": "15m"},
                    {"targets": ["ben"], "delay": "15m"},
                ],
                "ack_timeout": "0s",
            }
        ),
    )
    assert incidents
    assert all(incident.level == 1 for incident in incidents)
    assert all(incident.acknowledged_by is people["ben"] for incident in incidents)
    # ana's second push was due at 20m, after the escalation at 15m.
    assert sum(people["ana"].interruptions) == len(incidents)
    assert sum(people["ben"].interruptions) == len(incidents)
    assert all(
        incident.acknowledged - incident.detected == 900 for incident in incidents
    )


def test_a_level_with_nobody_on_call_is_skipped_at_once():
    office_hours = {
        "layers": [
            {
                "members": ["ana"],
                "restrictions": [{"days": "mon-fri", "from": "09:00", "to": "17:00"}],
            }
        ]
    }
    teams = {"ops": {"rotations": {"office": office_hours}}}
    incidents, people = outcome(
        teams=teams,
        **one_service(
            {
                "levels": [
                    {"targets": ["ops/office"], "delay": "15m"},
                    {"targets": ["ben"], "delay": "15m"},
                ]
            }
        ),
    )
    for incident in incidents:
        assert incident.acknowledged == incident.detected  # nobody waited 15m
        local = (incident.detected / 3600) % 24
        weekday = int(incident.detected // 86400) % 7  # the start is a Monday (UTC)
        in_office = weekday < 5 and 9 <= local < 17
        expected = people["ana"] if in_office else people["ben"]
        assert incident.acknowledged_by is expected
        assert incident.escalations == 0


def test_low_urgency_stays_with_the_first_level_then_is_picked_up():
    incidents, people = outcome(
        behaviours={"deaf": DEAF, "default": PROMPT},
        people={"ana": {"behaviour": "deaf"}, "ben": {}, "cai": {}},
        **one_service(
            {
                "levels": [
                    {"targets": ["ana"], "delay": "10m"},
                    {"targets": ["ben"], "delay": "10m"},
                ],
                "unacknowledged_pickup": "1h",
            },
            urgency="low",
        ),
    )
    for incident in incidents:
        assert incident.level == 0 and incident.escalations == 0
        assert incident.exhausted
        assert incident.acknowledged_by is people["ana"]
        assert incident.acknowledged - incident.detected == 600 + 3600


def test_repeats_loop_the_policy_before_giving_up():
    incidents, _ = outcome(
        behaviours={"deaf": DEAF, "default": PROMPT},
        people={"ana": {"behaviour": "deaf"}, "ben": {}, "cai": {}},
        **one_service(
            {
                "levels": [{"targets": ["ana"], "delay": "5m"}],
                "repeat": 2,
                "unacknowledged_pickup": "30m",
            }
        ),
    )
    for incident in incidents:
        assert incident.escalations == 2 and incident.exhausted
        assert incident.acknowledged - incident.detected == 3 * 300 + 1800


def test_acknowledged_incidents_page_again_after_the_timeout():
    incidents, people = outcome(
        teams={"ops": {"rotations": {"primary": {"layers": [{"members": ["ana"]}]}}}},
        **one_service(
            {"levels": [{"targets": ["ops/primary"]}], "ack_timeout": "30m"},
            rate="1/week",
            diagnose="1h45m",
        ),
    )
    assert incidents
    # One push on the page, then one at 30, 60 and 90 minutes of the 105.
    assert sum(people["ana"].interruptions) == 4 * len(incidents)


def worked_intervals(incidents):
    by_worker = defaultdict(list)
    for incident in incidents:
        if incident.worker is not None:
            by_worker[incident.worker.name].append(
                (incident.work_started, incident.mitigated)
            )
    return by_worker


def assert_no_overlap(incidents):
    for intervals in worked_intervals(incidents).values():
        intervals.sort()
        for (_, end), (start, _) in pairwise(intervals):
            assert start >= end


def busy_policy(when_busy: str) -> dict:
    return {
        "behaviours": {"default": {**PROMPT, "when_busy": when_busy}},
        **one_service(
            {
                "levels": [
                    {"targets": ["ana"], "delay": "10m"},
                    {"targets": ["ben"], "delay": "10m"},
                ]
            },
            rate="12/day",
            diagnose={"exponential": {"mean": "1h"}},
        ),
    }


def test_busy_responders_who_wait_still_acknowledge_and_queue_the_work():
    incidents, people = outcome(**busy_policy("wait"))
    assert all(incident.acknowledged_by is people["ana"] for incident in incidents)
    assert any(incident.work_started > incident.acknowledged for incident in incidents)
    assert_no_overlap(incidents)


def test_busy_responders_who_escalate_let_the_page_move_on():
    incidents, people = outcome(**busy_policy("escalate"))
    escalated = [incident for incident in incidents if incident.level == 1]
    assert escalated
    busy_spans = [
        (incident.work_started, incident.mitigated)
        for incident in incidents
        if incident.worker is people["ana"]
    ]
    for incident in escalated:
        # Unless ben was busy too, and the page went back to ana in the end.
        assert incident.acknowledged_by is people["ben"] or incident.exhausted
        assert any(start <= incident.detected < end for start, end in busy_spans)
    assert_no_overlap(incidents)


def test_false_alerts_page_and_cost_attention_but_are_not_incidents():
    incidents, people = outcome(
        **one_service({"levels": [{"targets": ["ana"]}]}, rate="0/day"),
    )
    assert incidents == []

    scenario = one_service({"levels": [{"targets": ["ana"]}]}, rate="0/day")
    scenario["services"]["api"]["noise"] = "5/day"
    incidents, people = outcome(**scenario)
    assert incidents and all(incident.false_alarm for incident in incidents)
    assert people["ana"].worked == len(incidents)
    assert sum(people["ana"].interruptions) >= len(incidents)


def test_same_replication_same_incidents():
    scenario = build_scenario(**busy_policy("escalate"))
    first, second = Engine(scenario).run(3), Engine(scenario).run(3)
    assert [i.resolved for i in first.incidents] == [
        i.resolved for i in second.incidents
    ]
    other = Engine(scenario).run(4)
    assert [i.start for i in other.incidents] != [i.start for i in first.incidents]


def rarely_on_call() -> dict:
    """A rotation with cover for a quarter hour a week only."""
    window = {"days": "sun", "from": "03:00", "to": "03:15"}
    return {"layers": [{"members": ["cai"], "restrictions": [window]}]}


def test_a_late_answer_survives_levels_with_nobody_on_call():
    teams = {"ops": {"rotations": {"rare": rarely_on_call()}}}
    incidents, people = outcome(
        teams=teams,
        behaviours={"default": {"acknowledge": {"working": "20m"}}},
        **one_service(
            {
                "levels": [
                    {"targets": ["ana"], "delay": "10m"},
                    {"targets": ["ops/rare"], "delay": "10m"},
                ]
            }
        ),
    )
    for incident in incidents:
        assert not incident.exhausted
        assert incident.acknowledged_by is people["ana"]
        assert incident.acknowledged - incident.detected == 1200


def test_skipped_levels_do_not_count_as_reached():
    teams = {"ops": {"rotations": {"rare": rarely_on_call()}}}
    scenario = build_scenario(
        teams=teams,
        **one_service(
            {
                "levels": [
                    {"targets": ["ops/rare"], "delay": "10m"},
                    {"targets": ["ben"], "delay": "10m"},
                ]
            }
        ),
    )
    engine = Engine(scenario)
    counts = summarize(engine, engine.run(0)).escalation["main"]
    assert counts.incidents > 20
    assert counts.reached[0] < counts.incidents / 10
    assert counts.reached[1] == counts.incidents
    assert counts.escalated == [counts.incidents, 0]
