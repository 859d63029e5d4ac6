"""A drill's facts, gathered from real timelines: the example drill and a drill
written here that a guardrail stopped before anyone mitigated it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from drillhall.drills.timeline import Timeline
from drillhall.errors import InputError
from drillhall.reports.drill_events import describe_event, offset_text
from drillhall.reports.drill_facts import drill_facts
from tests.conftest import ROOT

PLAN = ROOT / "drills" / "primary-down" / "plan.yaml"
T0 = datetime(2027, 3, 2, 13, 0, tzinfo=UTC)
INJECTED_AT = 5
GUARDRAIL_AT = 125
LOAD_SECONDS = range(1, GUARDRAIL_AT)


def guardrail_drill(url: str, plan: Path) -> str:
    """A drill of ``plan`` that a guardrail aborted: detected and acknowledged,
    steps 1, 3 (its check failed) and 2 done, never mitigated, rolled back."""
    timeline = Timeline(url)
    record = timeline.start_drill(
        "primary-down",
        {
            "plan": str(plan),
            "configuration": {"service_url": "http://127.0.0.1:9"},
            "participants": ["ana", "ben"],
            "announced": True,
        },
        at=T0,
    )
    drill = record.id

    def add(seconds: float, kind: str, source: str = "runner", **payload):
        moment = T0 + timedelta(seconds=seconds)
        timeline.record(drill, kind, source, payload, at=moment)

    add(INJECTED_AT, "injected", title="The primary store is killed")
    add(9, "detected", "alertmanager", alertname="ExampleBackendDown")
    add(40, "acknowledged", "participant:ana", by="ana")
    add(50, "runbook_step", "participant:ana", step=1, status="done", check=True)
    add(70, "runbook_step", "participant:ana", step=3, status="done", check=False)
    add(80, "runbook_step", "participant:ana", step=2, status="done")
    add(90, "note", "participant:ben", text="the replica | lags behind")
    for second in LOAD_SECONDS:
        failing = second > INJECTED_AT
        add(
            second,
            "load_stats",
            "load",
            requests=20,
            failures=20 if failing else 0,
            latency_p50_ms=5.0,
            latency_p95_ms=400.0 if failing and second % 2 else 8.0,
        )
    add(GUARDRAIL_AT, "guardrail_tripped", guardrail="error_rate",
        why="error_rate at 100.0%, over its limit of 90.0%")  # fmt: skip
    add(126, "rolling_back", title="The primary store is killed")
    add(128, "rolled_back", succeeded=True, steady_state_met=True)
    timeline.finish(drill, "aborted", at=T0 + timedelta(seconds=129))
    timeline.close()
    return drill


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'drills.db'}"


# The example drill, really run


@pytest.mark.slow
def test_the_example_drills_facts_match_its_timeline(example_drill):
    timeline = Timeline(example_drill.database)
    facts = drill_facts(timeline, example_drill.drill)
    events = timeline.events(example_drill.drill)

    first: dict[str, datetime] = {}
    for event in events:
        first.setdefault(event.kind, event.at)
    assert facts.times["injected"] == first["injected"]

    def between(start: str, end: str) -> float:
        return (first[end] - first[start]).total_seconds()

    assert facts.phases == {
        "ttd": between("injected", "detected"),
        "tta": between("detected", "acknowledged"),
        "ttm": between("injected", "mitigated"),
        "ttr": between("injected", "resolved"),
    }

    load = [event for event in events if event.kind == "load_stats"]
    assert len(facts.load) == len(load) > 10
    assert facts.impact.failed == sum(e.payload["failures"] for e in load) > 0
    assert facts.impact.requests == sum(e.payload["requests"] for e in load)
    assert facts.impact.window_seconds == between("injected", "mitigated")
    assert facts.impact.users == 5  # the plan's load
    assert facts.impact.availability == pytest.approx(0.95)
    assert facts.impact.budget_used == pytest.approx(
        facts.impact.failed / (0.05 * facts.impact.requests)
    )
    seconds = facts.load[0]
    assert seconds.error_rate == seconds.failures / seconds.requests


@pytest.mark.slow
def test_the_recomputed_score_is_the_runners(example_drill):
    facts = drill_facts(Timeline(example_drill.database), example_drill.drill)
    printed = example_drill.outcome["score"]

    assert facts.plan is not None and facts.plan_note is None
    assert facts.score is not None
    assert facts.score.points == pytest.approx(printed["points"])
    assert facts.score.out_of == printed["out_of"]
    for phase, part in printed["phases"].items():
        assert facts.score.phases[phase].seconds == pytest.approx(part["seconds"])
        assert facts.score.phases[phase].expected == pytest.approx(part["expected"])
    assert facts.score.runbook.done == printed["runbook_done"]
    assert facts.score.slo.budget_used == pytest.approx(printed["budget_used"])
    assert facts.impact.budget_used == pytest.approx(printed["budget_used"])
    assert facts.recorded_score == (round(printed["points"], 1), printed["out_of"])


@pytest.mark.slow
def test_the_teams_times_are_placed_in_the_prediction(example_drill):
    facts = drill_facts(Timeline(example_drill.database), example_drill.drill)

    assert facts.predicted_for == "api/database-failover in small-team-weekly.yaml"
    assert facts.predicted is not None and set(facts.predicted) == set(facts.phases)
    for phase, took in facts.phases.items():
        faster = np.asarray(facts.predicted[phase]) < took
        assert facts.percentiles[phase] == pytest.approx(100 * faster.mean())

    # The plan predicts the acknowledgement: the score places it the same way.
    assert facts.score is not None
    scored = facts.score.phases["tta"].predicted_percentile
    assert scored == pytest.approx(facts.percentiles["tta"])


# A drill written here


def test_an_unknown_drill_is_named(sqlite_url):
    guardrail_drill(sqlite_url, PLAN)
    with pytest.raises(InputError, match="unknown drill 'no-such-drill'"):
        drill_facts(Timeline(sqlite_url), "no-such-drill")


def test_a_drill_stopped_by_a_guardrail_has_its_missing_phases(sqlite_url):
    drill = guardrail_drill(sqlite_url, PLAN)
    facts = drill_facts(Timeline(sqlite_url), drill)

    assert facts.phases == {"ttd": 4.0, "tta": 31.0, "ttm": None, "ttr": None}
    assert set(facts.times) == {"injected", "detected", "acknowledged", "rolled_back"}
    assert facts.impact.ended is None and facts.impact.window_seconds is None
    assert facts.impact.failed == 20 * (len(LOAD_SECONDS) - INJECTED_AT)
    assert facts.impact.requests == 20 * len(LOAD_SECONDS)
    assert facts.percentiles["ttm"] is None and facts.percentiles["ttr"] is None
    assert facts.recorded_score is None  # the runner never scored it

    # Scored again with the example plan's runbook (four steps) and SLOs.
    assert facts.score is not None
    runbook = facts.score.runbook
    assert runbook.done == [1, 3, 2] and runbook.missing == [4]
    assert runbook.out_of_order == [2] and runbook.checks_failed == [3]
    assert facts.score.phases["ttm"].points == 0
    assert facts.score.guardrails_tripped == ["error_rate"]
    failing = len(LOAD_SECONDS) - INJECTED_AT
    slow = len([s for s in LOAD_SECONDS if s > INJECTED_AT and s % 2])
    assert facts.impact.latency_within_slo == pytest.approx(
        1 - slow / len(LOAD_SECONDS)
    )
    assert failing > slow > 0


def test_a_drill_whose_plan_moved_still_has_its_facts(sqlite_url, tmp_path):
    moved = tmp_path / "gone" / "plan.yaml"
    drill = guardrail_drill(sqlite_url, moved)
    facts = drill_facts(Timeline(sqlite_url), drill)

    assert facts.plan is None and facts.score is None and facts.predicted is None
    assert facts.plan_note == f"the plan file {moved} is no longer there"
    assert facts.phases["ttd"] == 4.0
    assert facts.impact.failed == 20 * (len(LOAD_SECONDS) - INJECTED_AT)
    assert facts.impact.budget_used is None and facts.impact.users is None


def test_a_plan_file_that_now_holds_another_plan_is_not_used(sqlite_url, tmp_path):
    other = tmp_path / "plan.yaml"
    text = PLAN.read_text().replace("name: primary-down", "name: replica-down")
    other.write_text(text.replace("../../", f"{ROOT}/"))
    (tmp_path / "runbook.md").write_text((PLAN.parent / "runbook.md").read_text())
    drill = guardrail_drill(sqlite_url, other)
    facts = drill_facts(Timeline(sqlite_url), drill)

    assert facts.plan is None
    assert facts.plan_note == (
        f"{other} now holds plan 'replica-down', not 'primary-down'"
    )


def test_events_are_worded_with_the_runbooks_titles_on_the_faults_clock(sqlite_url):
    drill = guardrail_drill(sqlite_url, PLAN)
    facts = drill_facts(Timeline(sqlite_url), drill)
    told = [
        (facts.offset(event.at), facts.describe(event))
        for event in facts.events
        if event.kind != "load_stats"
    ]

    assert told == [
        ("T-0:05", "drill started: plan primary-down"),
        ("T+0:00", "fault injected: The primary store is killed"),
        ("T+0:04", "detected: ExampleBackendDown"),
        ("T+0:35", "acknowledged by ana"),
        ("T+0:45", 'runbook step 1 "Confirm the primary is down" done, check passed'),
        ("T+1:05", ('runbook step 3 "Repoint the service to the promoted '
                    'replica" done, check failed')),
        ("T+1:15", 'runbook step 2 "Promote the replica" done'),
        ("T+1:25", "note: the replica | lags behind"),
        ("T+2:00", "guardrail tripped: error_rate at 100.0%, over its limit of 90.0%"),
        ("T+2:01", "rollback started: The primary store is killed"),
        ("T+2:03", "rollback succeeded"),
        ("T+2:04", "drill ended: aborted"),
    ]  # fmt: skip


def test_without_the_plan_steps_are_worded_by_number(sqlite_url, tmp_path):
    drill = guardrail_drill(sqlite_url, tmp_path / "gone" / "plan.yaml")
    facts = drill_facts(Timeline(sqlite_url), drill)
    [step_three] = [
        event for event in facts.of_kind("runbook_step") if event.payload["step"] == 3
    ]

    assert facts.step_titles == {}
    assert facts.describe(step_three) == "runbook step 3 done, check failed"


def test_what_an_event_does_not_say_is_not_claimed(sqlite_url):
    timeline = Timeline(sqlite_url)
    drill = timeline.start_drill("primary-down", {}, at=T0).id
    written = [
        ("rolled_back", {}),
        ("steady_state_checked", {"met": False}),
        ("runbook_step", {"step": 2, "status": "done", "check": False,
                          "error": "timed out", "by": "ben"}),
        ("note", {"text": "the replica\nlags | behind", "by": "ana"}),
        ("score", {"points": 92.5, "out_of": 100.0}),
    ]  # fmt: skip
    for second, (kind, payload) in enumerate(written, start=1):
        at = T0 + timedelta(seconds=second)
        timeline.record(drill, kind, "participant:ana", payload, at=at)

    events = timeline.events(drill)[1:]
    assert [describe_event(event) for event in events] == [
        "rollback finished",
        "steady state checked: not met",
        "runbook step 2 done, check failed (timed out) by ben",
        "note by ana: the replica lags | behind",
        "scored 92.5 of 100",
    ]


def test_offsets_count_whole_seconds_from_the_fault():
    assert [offset_text(s) for s in (0, 0.9, -0.4, -5, 754, 3723)] == [
        "T+0:00", "T+0:00", "T+0:00", "T-0:05", "T+12:34", "T+1:02:03",
    ]  # fmt: skip


def test_the_impact_reads_the_scores_error_budget(sqlite_url):
    drill = guardrail_drill(sqlite_url, PLAN)
    facts = drill_facts(Timeline(sqlite_url), drill)
    assert facts.score is not None

    # The score measured it against the run's SLO; the impact holds that one
    # figure, not one of its own.
    failing = len(LOAD_SECONDS) - INJECTED_AT
    expected = 20 * failing / (0.05 * 20 * len(LOAD_SECONDS))
    assert facts.score.slo.budget_used == pytest.approx(expected)
    assert facts.impact.budget_used is facts.score.slo.budget_used
    assert facts.impact.latency_within_slo is facts.score.slo.latency_within_slo
    assert facts.impact.availability == pytest.approx(0.95)
    assert facts.points == (facts.score.points, 100.0)
