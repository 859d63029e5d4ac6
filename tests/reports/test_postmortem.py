"""Postmortem drafts from real timelines: the example drill, a drill that went
badly (written here event by event) and an incident recorded in the store."""

from __future__ import annotations

import json
import math
import re
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from drillhall.drills.timeline import Timeline
from drillhall.reports.blame import find_blame
from drillhall.reports.drill_events import offset_text, utc_text
from drillhall.reports.drill_facts import drill_facts
from drillhall.reports.drill_report import report_context
from drillhall.reports.evidence import MetricSeries, load_logs, load_metrics
from drillhall.reports.postmortem import SECTIONS, file_link, incident_draft
from drillhall.reports.postmortem_drill import drill_draft
from drillhall.reports.render import format_share
from drillhall.reports.store import Store
from tests.conftest import ROOT

PLAN = ROOT / "drills" / "primary-down" / "plan.yaml"
T0 = datetime(2027, 3, 2, 13, 0, tzinfo=UTC)


def copy_database(url: str, folder: Path) -> str:
    """A copy of a SQLite database, for tests that write beside a shared one."""
    source = sqlite3.connect(sa.make_url(url).database or "")
    target = sqlite3.connect(folder / "copy.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return f"sqlite:///{folder / 'copy.db'}"


def first_times(events) -> dict[str, datetime]:
    first: dict[str, datetime] = {}
    for event in events:
        first.setdefault(event.kind, event.at)
    return first


def write_evidence(folder: Path, first: dict[str, datetime]) -> tuple[Path, Path]:
    """A log file (out of order, mixed timestamp fields) and a metrics file
    whose series rises after the injection, both inside the drill's window."""
    injected, mitigated = first["injected"], first["mitigated"]
    logs = folder / "service.jsonl"
    lines = [
        {"time": (mitigated - timedelta(seconds=1)).isoformat(), "msg": "store ok"},
        {"ts": (injected + timedelta(seconds=1)).timestamp(), "msg": "store gone",
         "level": "error"},
        {"@timestamp": int((injected + timedelta(seconds=2)).timestamp() * 1000),
         "message": "retrying the primary"},
    ]  # fmt: skip
    logs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    start = math.ceil(injected.timestamp()) - 30
    values = [[start + 5 * n, "0" if n < 6 else "12"] for n in range(12)]
    metrics = folder / "errors.json"
    metrics.write_text(
        json.dumps(
            {
                "status": "success",
                "data": {
                    "resultType": "matrix",
                    "result": [
                        {
                            "metric": {"__name__": "errors", "job": "svc"},
                            "values": values,
                        }
                    ],
                },
            }
        )
    )
    return logs, metrics


# The example drill, really run


@pytest.mark.slow
def test_the_example_drafts_figures_trace_to_its_events(example_drill):
    with Timeline(example_drill.database) as timeline:
        events = timeline.events(example_drill.drill)
        draft = drill_draft(drill_facts(timeline, example_drill.drill))
    first = first_times(events)
    load = [event for event in events if event.kind == "load_stats"]
    failed = sum(event.payload["failures"] for event in load)
    title = next(e for e in events if e.kind == "injected").payload["title"]

    impact = draft.impact
    assert draft.origin == first["injected"]
    assert (
        impact.to_mitigated == (first["mitigated"] - first["injected"]).total_seconds()
    )
    assert impact.to_resolved == (first["resolved"] - first["injected"]).total_seconds()
    assert impact.failed == failed > 0
    assert impact.requests == sum(event.payload["requests"] for event in load)
    assert impact.users == 5 and "5 concurrent Locust users" in impact.users_how
    assert impact.budget_used == pytest.approx(failed / (0.05 * impact.requests))

    # The first whys come from the data, the rest are the author's.
    assert draft.whys[0].question == "Why did users see errors?"
    assert re.fullmatch(
        r"\d+ of \d+ requests failed between T\+\d+:\d\d and T\+\d+:\d\d\.",
        draft.whys[0].answer or "",
    )
    assert title in (draft.whys[1].answer or "")
    assert len(draft.whys) == 5 and draft.whys[-1].answer is None
    assert f"the fault: {title}" in draft.causes_by_category()["platform"]


@pytest.mark.slow
def test_the_example_draft_sorts_what_went_well_and_badly_by_the_score(example_drill):
    with Timeline(example_drill.database) as timeline:
        facts = drill_facts(timeline, example_drill.drill)
    draft = drill_draft(facts)
    assert facts.score is not None

    for phase, words in (("ttd", "Detection"), ("tta", "Acknowledgement")):
        scored = facts.score.phases[phase]
        assert scored.seconds is not None and scored.expected is not None
        side = (
            draft.went_well if scored.seconds <= scored.expected else draft.went_badly
        )
        assert any(item.startswith(f"{words} took") for item in side)
    budget = [item for item in draft.went_badly if "error budget" in item]
    assert budget == [] if facts.score.slo.budget_used <= 1 else len(budget) == 1

    # Resolution: each runbook step done, with its time, then the rollback.
    done = [event for event in facts.events if event.kind == "runbook_step"]
    steps = [s for s in draft.resolution if s.what.startswith("runbook step ")]
    assert [step.at for step in steps] == [event.at for event in done]
    assert draft.resolution[-1].what == "rollback succeeded"


@pytest.mark.slow
def test_logs_and_metrics_join_the_example_timeline_in_time_order(
    example_drill, tmp_path
):
    with Timeline(example_drill.database) as timeline:
        facts = drill_facts(timeline, example_drill.drill)
    logs, metrics = write_evidence(tmp_path, facts.times)
    draft = drill_draft(facts, logs=load_logs(logs), metrics=load_metrics(metrics))

    times = [entry.at for entry in draft.timeline]
    assert times == sorted(times)
    logged = [entry.what for entry in draft.timeline if entry.kind == "log"]
    assert logged == ["[error] store gone", "retrying the primary", "store ok"]
    kinds = [entry.what for entry in draft.timeline]
    assert kinds.index("[error] store gone") > kinds.index(
        f"fault injected: {facts.of_kind('injected')[0].payload['title']}"
    )
    [departs] = [entry for entry in draft.timeline if "departs" in entry.what]
    assert departs.what == 'errors{job="svc"} departs from its baseline 0: 12'
    began = facts.origin.timestamp()
    assert departs.offset == pytest.approx(math.ceil(began) - began, abs=1e-6)
    assert offset_text(departs.offset) == "T+0:00"
    [summary] = draft.series
    assert summary.recovered is None and summary.peak is not None


# A drill that went badly, written event by event


def copy_example_plan(folder: Path) -> Path:
    """The example plan, its runbook, experiment and scenario, copied into
    ``folder`` as the repository lays them out; returns the plan's path."""
    drill = folder / "drills" / "primary-down"
    drill.mkdir(parents=True)
    for name in ("plan.yaml", "runbook.md"):
        shutil.copy(PLAN.parent / name, drill / name)
    for part in ("experiments", "scenarios"):
        shutil.copytree(ROOT / part, folder / part)
    return drill / "plan.yaml"


def troubled_drill(url: str, plan: Path = PLAN) -> str:
    """Detected late, acknowledged later than the simulator's p90, step 3's
    check failed and came before step 2, then the error-rate guardrail
    stopped the drill before anyone mitigated it."""
    with Timeline(url) as timeline:
        record = timeline.start_drill(
            "primary-down",
            {"plan": str(plan), "participants": ["ana", "ben"]},
            at=T0,
        )

        def add(seconds: float, kind: str, source: str = "runner", **payload):
            moment = T0 + timedelta(seconds=seconds)
            timeline.record(record.id, kind, source, payload, at=moment)

        add(5, "injected", title="The primary store is killed")
        add(65, "detected", "alertmanager", alertname="ExampleBackendDown")
        add(800, "acknowledged", "participant:ana", by="ana")
        add(810, "runbook_step", "participant:ana", step=1, check=True)
        add(820, "runbook_step", "participant:ana", step=3, check=False,
            error="the service still reads the primary")  # fmt: skip
        add(830, "runbook_step", "participant:ana", step=2)
        for second in range(0, 850, 5):
            add(second, "load_stats", "load", requests=40,
                failures=40 if second > 5 else 0, latency_p95_ms=9.0)  # fmt: skip
        add(850, "guardrail_tripped", guardrail="error_rate",
            why="error_rate at 100.0%, over its limit of 90.0%")  # fmt: skip
        add(851, "rolling_back", title="The primary store is killed")
        add(853, "rolled_back", succeeded=True)
        timeline.finish(record.id, "aborted", at=T0 + timedelta(seconds=854))
    return record.id


def test_a_troubled_drill_has_causes_in_every_category_the_data_shows(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    drill = troubled_drill(url)
    with Timeline(url) as timeline:
        draft = drill_draft(drill_facts(timeline, drill))
    causes = draft.causes_by_category()

    assert causes["monitoring"] == ["detection took 1m, longer than the expected 30s"]
    [people] = causes["people"]
    assert people.startswith("acknowledgement took 12m15s, longer than the simulator's")
    assert [re.sub(r' ".*"', "", cause) for cause in causes["process"]] == [
        "runbook step 3 failed its check",
        "runbook step 4 was not done",
        "runbook step 2 was done out of order",
    ]
    assert '"Promote the replica"' in causes["process"][2]
    assert causes["platform"] == [
        "the fault: The primary store is killed",
        "a guardrail tripped at T+14:05: error_rate at 100.0%, over its limit of 90.0%",
    ]
    assert causes["tooling"] == causes["dependencies"] == []
    assert draft.people == ["ana", "ben"]


def test_a_troubled_drill_suggests_action_items_from_its_problems(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        draft = drill_draft(drill_facts(timeline, troubled_drill(url)))

    changes = [action.changes for action in draft.actions]
    assert changes == [
        "runbook", "runbook", "runbook", "alert", "other", "automation", "test",
    ]  # fmt: skip
    assert draft.actions[0].title.startswith(
        'Runbook step 3 "Repoint the service to the promoted replica" failed its '
        "check: change the runbook"
    )
    assert (draft.actions[0].link or "").endswith("drills/primary-down/runbook.md")
    assert draft.actions[3].link == "ExampleBackendDown"

    assert "Mitigation never happened." in draft.went_badly
    assert "The error_rate guardrail tripped and stopped the drill." in draft.went_badly
    assert draft.whys[0].answer == (
        "6720 of 6720 requests failed between T+0:05 and T+14:00."
    )
    # The errors never stopped under load: no step is said to have ended them.
    assert not any("waited for that step" in (why.answer or "") for why in draft.whys)


def test_the_draft_and_the_drill_report_tell_the_events_alike(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        facts = drill_facts(timeline, troubled_drill(url))
    draft = drill_draft(facts)
    reported = [row.cells for row in report_context(facts, {})["events"]]

    drafted = [
        (utc_text(entry.at), offset_text(entry.offset), entry.source, entry.what)
        for entry in draft.timeline
        if entry.kind == "event"
    ]
    assert drafted == reported and len(drafted) == 11
    assert (
        "2027-03-02 13:13:40",
        "T+13:35",
        "participant:ana",
        (
            'runbook step 3 "Repoint the service to the promoted replica" done, '
            "check failed (the service still reads the primary)"
        ),
    ) in drafted
    assert [step.what for step in draft.resolution][-2:] == [
        "rollback started: The primary store is killed",
        "rollback succeeded",
    ]


def test_the_draft_reads_the_one_error_budget_figure(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        facts = drill_facts(timeline, troubled_drill(url))
    draft = drill_draft(facts)
    assert facts.score is not None

    # 168 of the 170 seconds of load failed all their 40 requests; the
    # plan's 95% availability allows 5% of the 6800 sent.
    used = facts.score.slo.budget_used
    assert used == pytest.approx(168 * 40 / (0.05 * 170 * 40))
    assert draft.impact.budget_used == used
    said = f"The drill used {format_share(used)} of its error budget"
    assert format_share(used) == "1976.5%"
    assert [item for item in draft.went_badly if "error budget" in item] == [
        (
            f"{said} (against the plan's availability SLO of 95%, 340.0 of the "
            "drill's 6800 requests may fail; 6720 did)."
        )
    ]
    assert any(action.title.startswith(said) for action in draft.actions)


def test_drillhalls_own_wording_is_blameless(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        draft = drill_draft(drill_facts(timeline, troubled_drill(url)))
    sentences = [
        *draft.summary,
        *draft.went_well,
        *draft.went_badly,
        *(cause.text for cause in draft.causes),
        *(action.title for action in draft.actions),
        *(why.answer or "" for why in draft.whys),
        *(entry.what for entry in draft.timeline),
    ]
    assert find_blame("\n".join(sentences), people=draft.people) == []


def test_a_drill_without_its_plan_or_its_fault_is_drafted_from_what_there_is(
    tmp_path,
):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        record = timeline.start_drill(
            "primary-down", {"plan": str(tmp_path / "moved.yaml")}, at=T0
        )
        timeline.record(record.id, "steady_state_checked", "runner", {"met": False})
        timeline.finish(record.id, "aborted", at=T0 + timedelta(seconds=2))
        draft = drill_draft(drill_facts(timeline, record.id))

    assert draft.notes == [
        f"Without the plan: the plan file {tmp_path / 'moved.yaml'} is no longer there."
    ]
    assert draft.summary[0].endswith("and injected no fault.")
    assert draft.summary[-1] == "The drill was aborted."
    assert (
        draft.whys[0].answer == "The fault was never injected: the drill was aborted."
    )
    assert draft.impact.to_mitigated is None and draft.impact.failed is None
    assert draft.causes == draft.actions == []
    assert draft.went_well == draft.went_badly == []


def test_the_runbook_is_linked_from_where_the_draft_is_written(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        facts = drill_facts(timeline, troubled_drill(url))
    runbook = (PLAN.parent / "runbook.md").resolve()

    # Beside the plan's folder: relative, so the link works wherever both go.
    beside = ROOT / "postmortems"
    [link, *_] = [a.link for a in drill_draft(facts, folder=beside).actions]
    assert link == "../drills/primary-down/runbook.md"
    assert (beside / (link or "")).resolve() == runbook

    # Sharing only the root with it: as the plan names the runbook, not a
    # path through this machine's folders.
    elsewhere = Path(ROOT.anchor) / "elsewhere-than-the-plan" / "postmortems"
    assert drill_draft(facts, folder=elsewhere).actions[0].link == "runbook.md"
    assert drill_draft(facts).actions[0].link == str(runbook)


def test_file_links_are_relative_below_a_shared_folder_only():
    runbook = Path("/srv/ops/drills/db/runbook.md")
    assert file_link(runbook, Path("/srv/ops/postmortems")) == "../drills/db/runbook.md"
    assert file_link(runbook, Path("/srv/ops/drills/db")) == "runbook.md"
    assert file_link(runbook, Path("/tmp/postmortems")) is None


def test_a_late_acknowledgement_suggests_an_item_without_the_runbooks_link(
    tmp_path,
):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        draft = drill_draft(drill_facts(timeline, troubled_drill(url)))

    [late] = [action for action in draft.actions if action.changes == "other"]
    assert late.title.startswith("Acknowledgement took 12m15s")
    assert "notification rules and escalation delay" in late.title
    assert late.link is None  # they are not in the runbook


def acknowledged_first(url: str) -> str:
    """A participant acknowledges 45 s before the alert fires; mitigated and
    resolved by hand, no load."""
    with Timeline(url) as timeline:
        record = timeline.start_drill("primary-down", {"plan": str(PLAN)}, at=T0)
        for seconds, kind, source, payload in (
            (5, "injected", "runner", {"title": "The primary store is killed"}),
            (20, "acknowledged", "participant:ana", {"by": "ana"}),
            (65, "detected", "alertmanager", {"alertname": "ExampleBackendDown"}),
            (100, "mitigated", "participant:ana", {"by": "ana"}),
            (120, "resolved", "participant:ana", {"by": "ana"}),
        ):
            at = T0 + timedelta(seconds=seconds)
            timeline.record(record.id, kind, source, payload, at=at)
        timeline.finish(record.id, "finished", at=T0 + timedelta(seconds=130))
    return record.id


def test_an_acknowledgement_before_the_alert_is_said_to_come_before_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        draft = drill_draft(drill_facts(timeline, acknowledged_first(url)))

    assert draft.summary[1:5] == [
        "ExampleBackendDown detected it after 1m.",
        "Acknowledgement came 45s before detection.",
        "Mitigation came 1m35s after the fault's start.",
        "Resolution came 1m55s after the fault's start.",
    ]


def test_a_drill_without_its_plan_says_why_users_and_budget_are_unknown(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        record = timeline.start_drill(
            "primary-down", {"plan": str(tmp_path / "moved.yaml")}, at=T0
        )
        for second in range(0, 60, 5):
            timeline.record(
                record.id, "load_stats", "load",
                {"requests": 10, "failures": 4 if 10 <= second < 30 else 0},
                at=T0 + timedelta(seconds=second),
            )  # fmt: skip
        for seconds, kind, payload in (
            (7, "injected", {"title": "The primary store is killed"}),
            (40, "rolling_back", {"title": "The primary store is killed"}),
            (42, "rolled_back", {"succeeded": False}),
        ):
            at = T0 + timedelta(seconds=seconds)
            timeline.record(record.id, kind, "runner", payload, at=at)
        timeline.finish(record.id, "aborted", at=T0 + timedelta(seconds=60))
        draft = drill_draft(drill_facts(timeline, record.id))

    impact = draft.impact
    assert (impact.requests, impact.failed, impact.users) == (120, 16, None)
    assert impact.users_how == (
        "unknown: without the plan, the load's number of users is not known"
    )
    assert impact.budget_how == (
        "unknown: without the plan, its availability SLO is not known"
    )
    assert impact.unknown == [
        "users affected: without the plan, the load's number of users is not known",
        (
            "the error budget consumed: without the plan, its availability SLO is "
            "not known"
        ),
    ]
    assert "No alert or probe detected it." in draft.summary
    # The rollback is in the timeline: it counts without the plan's score.
    assert draft.went_well == []
    assert draft.went_badly == ["The rollback at T+0:35 did not succeed."]


def test_a_drill_that_injected_nothing_says_nothing_was_detected_of_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(url) as timeline:
        record = timeline.start_drill("primary-down", {"plan": str(PLAN)}, at=T0)
        timeline.record(record.id, "steady_state_checked", "runner", {"met": False})
        timeline.finish(record.id, "aborted", at=T0 + timedelta(seconds=2))
        draft = drill_draft(drill_facts(timeline, record.id))

    assert draft.summary == [
        (
            f"Drill {record.id} of plan primary-down started at 2027-03-02 "
            "13:00:00 UTC and injected no fault."
        ),
        "The drill was aborted.",
    ]


# An incident in the store


def test_an_incident_from_the_store_says_what_is_unknown(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with Store(url) as store:
        record = store.add_incident(
            title="Checkout returns 502",
            service="checkout",
            team="payments",
            severity=2,
            started=T0,
            detected=T0 + timedelta(minutes=4),
            acknowledged=T0 + timedelta(minutes=9),
            mitigated=T0 + timedelta(minutes=41),
            resolved=T0 + timedelta(hours=2),
        )
    draft = incident_draft(record)

    assert draft.kind == "incident" and draft.subject == record.id == "INC-1"
    assert draft.impact.to_mitigated == 41 * 60
    assert draft.impact.to_resolved == 2 * 3600
    assert draft.impact.failed is None and draft.impact.users is None
    assert len(draft.impact.unknown) == 3
    assert [entry.what for entry in draft.timeline] == [
        "incident started", "incident detected", "incident acknowledged",
        "incident mitigated", "incident resolved",
    ]  # fmt: skip
    assert [offset_text(entry.offset) for entry in draft.timeline] == [
        "T+0:00", "T+4:00", "T+9:00", "T+41:00", "T+2:00:00",
    ]  # fmt: skip
    assert draft.whys[0].answer == (
        'The incident "Checkout returns 502" on checkout started at 2027-03-02 '
        "13:00:00 UTC and user impact lasted 41m, until its mitigation."
    )
    assert [why.answer for why in draft.whys[1:]] == [None] * 4
    assert draft.summary[0].startswith('SEV2 incident INC-1 "Checkout returns 502"')


def test_sections_are_the_drafts_headings():
    template = (
        ROOT / "drillhall" / "reports" / "templates" / "postmortem.md.j2"
    ).read_text()
    assert re.findall(r"^## (.+)$", template, re.MULTILINE) == list(SECTIONS)


def test_a_metric_that_moved_with_no_detection_recorded_is_said_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with Store(url) as store:
        record = store.add_incident(
            title="Checkout returns 502", started=T0, resolved=T0.replace(hour=14)
        )
    points = [
        (T0 + timedelta(seconds=10 * n), 0.0 if n < 2 else 9.0) for n in range(-3, 6)
    ]
    errors = MetricSeries("errors", points, "m.json")
    draft = incident_draft(record, metrics=[errors])

    # The store does not say when it was detected: not "no alert fired".
    assert draft.causes_by_category()["monitoring"] == [
        "errors departed at T+0:20; no detection is recorded"
    ]
