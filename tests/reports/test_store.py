"""The history store on SQLite and on PostgreSQL (``database_url`` gives both)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from drillhall.drills.timeline import Timeline
from drillhall.errors import InputError
from drillhall.reports.history import ActionItem, IncidentRecord
from drillhall.reports.store import SCHEMA_VERSION, Store, StoreError
from tests.conftest import ROOT

T0 = datetime(2027, 1, 4, 9, 30, 15, 250000, tzinfo=UTC)
CREATED = datetime(2027, 1, 10, 8, 0, tzinfo=UTC)
PLAN = ROOT / "drills" / "primary-down" / "plan.yaml"
"""The example plan: its participants are the rotation ``platform/primary``."""


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store(database_url, clock=lambda: CREATED) as opened:
        yield opened


def add(store: Store, start: float = 0, **changes: Any) -> IncidentRecord:
    """An incident on checkout ``start`` minutes after T0, detected after 4
    minutes and resolved after 92."""
    values: dict[str, Any] = {
        "title": "checkout returns 500s",
        "started": at(start),
        "detected": at(start + 4),
        "resolved": at(start + 92),
        "service": "checkout",
        "team": "payments",
    }
    return store.add_incident(**{**values, **changes})


# Incidents


def test_incidents_are_numbered_and_read_back_as_recorded(store: Store) -> None:
    first = add(store, severity=2, acknowledged=at(10), mitigated=at(40))
    second = add(store, title="search is stale", service="search", start=60)

    assert (first.id, second.id) == ("INC-1", "INC-2")
    assert first == IncidentRecord(
        id="INC-1",
        kind="incident",
        title="checkout returns 500s",
        service="checkout",
        team="payments",
        severity=2,
        started=T0,
        detected=at(4),
        acknowledged=at(10),
        mitigated=at(40),
        resolved=at(92),
        source="cli",
        external_id=None,
    )
    assert store.incident("INC-1") == first
    assert store.incidents() == [first, second]


def test_times_come_back_as_utc_with_microseconds(
    store: Store, database_url: str
) -> None:
    new_york = timezone(timedelta(hours=-5))
    local = datetime(2027, 1, 4, 4, 30, 15, 250000, tzinfo=new_york)

    record = add(store, started=local, detected=None, resolved=None)

    with Store(database_url) as reopened:
        stored = reopened.incident(record.id).started
    assert stored == T0
    assert stored.tzinfo is UTC
    assert (stored.hour, stored.microsecond) == (9, 250000)


def test_a_time_without_a_zone_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        add(store, started=datetime(2027, 1, 4, 9, 30))


@pytest.mark.parametrize(
    ("changes", "later", "earlier"),
    [
        ({"detected": at(-1)}, "detected", "started"),
        ({"acknowledged": at(3)}, "acknowledged", "detected"),
        ({"mitigated": at(100)}, "resolved", "mitigated"),
        ({"detected": None, "resolved": at(-5)}, "resolved", "started"),
    ],
)
def test_lifecycle_times_must_not_go_backwards(
    store: Store, changes: dict[str, Any], later: str, earlier: str
) -> None:
    with pytest.raises(InputError) as caught:
        add(store, **changes)

    assert caught.value.field == later
    assert f"is before {earlier} " in caught.value.message
    assert store.incidents() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"severity": 0}, "severity"),
        ({"severity": 6}, "severity"),
        ({"severity": "SEV9"}, "severity"),
        ({"title": "  "}, "title"),
        ({"service": ""}, "service"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    store: Store, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        add(store, **changes)

    assert caught.value.field == field
    assert store.incidents() == []


def test_an_external_id_is_recorded_once(store: Store) -> None:
    add(store, external_id="PD-1041")

    with pytest.raises(InputError, match="'PD-1041' is already recorded as INC-1"):
        add(store, external_id="PD-1041", start=300)
    assert len(store.incidents()) == 1


def test_ids_are_found_in_any_case_and_unknown_ones_name_the_latest(
    store: Store,
) -> None:
    for minutes in range(7):
        add(store, start=minutes * 60)

    assert store.incident("inc-3").id == "INC-3"
    assert store.find_incident("INC-99") is None
    with pytest.raises(InputError) as caught:
        store.incident("INC-99")
    message = str(caught.value)
    assert "unknown incident 'INC-99'" in message
    assert "the latest are INC-7, INC-6, INC-5, INC-4, INC-3;" in message


def test_an_empty_store_says_nothing_is_recorded(store: Store) -> None:
    with pytest.raises(InputError, match="no incident or drill is recorded in it yet"):
        store.incident("INC-1")


def test_incidents_filter_by_kind_time_and_team(store: Store) -> None:
    early = add(store, start=-600)
    mine = add(store, team="search")
    late = add(store, start=600)
    drill = store.record_drill(drill="20270104-0900-db-aaaa", title="db", started=at(1))

    assert store.incidents(since=T0, until=at(600)) == [mine]
    assert store.incidents(since=at(-600)) == [early, mine, late]
    assert store.incidents(team="search") == [mine]
    assert store.incidents(kind="drill") == [drill]
    assert store.incidents(kind=None) == [early, mine, drill, late]
    with pytest.raises(InputError, match="unknown kind 'fire'"):
        store.incidents(kind="fire")


def test_incidents_numbered_by_concurrent_writers_never_collide(
    store: Store,
) -> None:
    def write(writer: int) -> None:
        for number in range(10):
            add(store, start=writer * 100 + number)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    ids = [record.id for record in store.incidents()]
    assert sorted(ids) == sorted(f"INC-{n}" for n in range(1, 41))


# Imports


def row(minutes: float, **values: Any) -> dict[str, Any]:
    return {"title": f"page at +{minutes}m", "started": at(minutes), **values}


def test_an_import_adds_only_what_is_not_recorded_yet(store: Store) -> None:
    rows = [
        row(0, external_id="1041", service="checkout", severity="high"),
        row(5, external_id="1042", service="checkout", severity=4),
        row(9, service="search"),
        row(9, service="checkout"),
    ]

    first = store.import_incidents(rows, source="import:pd.csv")
    again = store.import_incidents(rows, source="import:pd.csv")

    assert (first.added, first.skipped) == (4, 0)
    assert first.ids == ("INC-1", "INC-2", "INC-3", "INC-4")
    assert (again.added, again.skipped, again.ids) == (0, 4, ())
    stored = store.incidents()
    assert [(r.external_id, r.severity) for r in stored] == [
        ("1041", 2),
        ("1042", 4),
        (None, None),
        (None, None),
    ]
    assert {r.source for r in stored} == {"import:pd.csv"}


def test_an_import_recognises_rows_by_external_id_then_by_service_and_start(
    store: Store,
) -> None:
    store.import_incidents(
        [row(0, external_id="A"), row(5, service="api")], source="import:a.csv"
    )

    result = store.import_incidents(
        [
            row(60, external_id="A"),  # same id, new time: the same incident
            row(5, service="api", title="renamed"),  # same service and start
            row(5, service="db"),  # another service: new
            row(5, service="db"),  # twice in one file: once
        ],
        source="import:b.csv",
    )

    assert (result.added, result.skipped) == (1, 3)
    assert [r.service for r in store.incidents()] == [None, "api", "db"]


def test_an_import_with_one_bad_row_stores_nothing(store: Store) -> None:
    rows = [row(0), row(5, detected=at(1)), row(9)]

    with pytest.raises(InputError, match="row 2: ") as caught:
        store.import_incidents(rows, source="import:x.csv")

    assert caught.value.field == "detected"
    assert store.incidents() == []


def test_import_rows_with_unknown_fields_are_refused(store: Store) -> None:
    with pytest.raises(InputError, match="unknown incident fields urgency"):
        store.import_incidents([row(0, urgency="high")], source="import:x.csv")


# Drills


def test_recording_a_drill_again_updates_its_one_record(store: Store) -> None:
    first = store.record_drill(
        drill="20270104-0930-primary-down-3f9a",
        title="primary-down",
        started=T0,
        detected=at(1),
    )
    again = store.record_drill(
        drill="20270104-0930-primary-down-3f9a",
        title="primary-down",
        started=T0,
        detected=at(1),
        acknowledged=at(2),
        resolved=at(12),
        service="shop",
    )

    assert (first.kind, first.source, first.resolved) == ("drill", "drill", None)
    assert again.resolved == at(12)
    assert store.incidents(kind="drill") == [again]
    assert store.incident("20270104-0930-primary-down-3f9a") == again
    assert store.incidents() == []


def test_a_drill_cannot_take_an_incidents_id(store: Store) -> None:
    add(store)

    with pytest.raises(InputError, match="a real incident's id"):
        store.record_drill(drill="INC-1", title="x", started=T0)


def write_drill(
    url: str, start: float, steps: dict[str, float], *, status: str = "finished"
) -> str:
    """A drill of the example plan started ``start`` minutes after T0, with one
    event of each of ``steps`` that many minutes later, then ended."""
    with Timeline(url) as timeline:
        drill = timeline.start_drill(
            "primary-down", {"plan": str(PLAN)}, at=at(start)
        ).id
        for kind, minutes in steps.items():
            payload = {"title": "kill the primary"} if kind == "injected" else {}
            timeline.record(drill, kind, "runner", payload, at=at(start + minutes))
        timeline.record(drill, "note", "ana", {"text": "again"}, at=at(start + 50))
        if status != "running":
            timeline.finish(drill, status, at=at(start + 60))
    return drill


LIFECYCLE = {
    "injected": 1,
    "detected": 2,
    "acknowledged": 4,
    "mitigated": 9,
    "resolved": 15,
}


def test_ended_drills_are_recorded_from_the_timeline_once(
    store: Store, database_url: str
) -> None:
    drill = write_drill(database_url, 0, LIFECYCLE)
    write_drill(database_url, 100, {"detected": 2}, status="aborted")  # no fault
    write_drill(database_url, 200, LIFECYCLE, status="running")

    first = store.sync_drills()
    again = store.sync_drills()

    assert (first, again) == (1, 0)
    assert store.incidents(kind="drill") == [
        IncidentRecord(
            id=drill,
            kind="drill",
            title="drill primary-down: kill the primary",
            service=None,
            team="platform",
            severity=None,
            started=at(1),
            detected=at(2),
            acknowledged=at(4),
            mitigated=at(9),
            resolved=at(15),
            source="drill",
            external_id=None,
        )
    ]
    assert store.incidents() == []


def test_a_synced_drill_follows_its_timeline_and_keeps_its_postmortem(
    store: Store, database_url: str
) -> None:
    drill = write_drill(database_url, 0, {"injected": 1, "detected": 3})
    store.sync_drills()
    store.add_postmortem(drill, drafted=at(70), path="pm.md")

    with Timeline(database_url) as timeline:
        timeline.record(drill, "resolved", "ana", at=at(80))
        timeline.record(drill, "detected", "alertmanager", at=at(81))

    assert store.sync_drills() == 1
    record = store.incident(drill)
    assert (record.detected, record.resolved) == (at(3), at(80))
    assert store.postmortem_for(drill) is not None
    assert len(store.incidents(kind="drill")) == 1


def test_a_drill_time_out_of_order_is_left_out_not_the_drill(
    store: Store, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    steps = {"injected": 1, "acknowledged": 2, "detected": 3, "resolved": 8}
    drill = write_drill(database_url, 0, steps)

    assert store.sync_drills() == 1

    record = store.incident(drill)
    assert (record.detected, record.acknowledged, record.resolved) == (
        at(3),
        None,
        at(8),
    )
    assert f"drill {drill}: acknowledged " in caplog.text
    assert "without acknowledged" in caplog.text


def test_a_drill_without_its_plan_file_has_no_team(
    store: Store, database_url: str
) -> None:
    with Timeline(database_url) as timeline:
        drill = timeline.start_drill("game-day", {"plan": "/gone/plan.yaml"}, at=T0)
        timeline.record(drill.id, "injected", "runner", at=at(1))
        timeline.finish(drill.id, "interrupted", at=at(5))

    store.sync_drills()

    record = store.incident(drill.id)
    assert (record.title, record.team, record.detected) == (
        "drill game-day: game-day",
        None,
        None,
    )


def test_drills_live_in_the_timelines_database(database_url: str) -> None:
    with Timeline(database_url) as timeline:
        drill = timeline.start_drill("primary-down", at=T0)
    with Store(database_url) as store:
        store.record_drill(drill=drill.id, title=drill.plan, started=drill.started)
    with Timeline(database_url) as timeline:
        assert timeline.drill(drill.id).plan == "primary-down"

    engine = sa.create_engine(database_url)
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert tables >= {
        "drills",
        "drill_events",
        "incidents",
        "postmortems",
        "action_items",
        "drillhall_schema",
    }


def test_the_default_database_is_the_timelines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRILLHALL_DB", raising=False)
    with Timeline() as timeline:
        drill = timeline.start_drill("primary-down", at=T0)
    with Store() as store:
        add(store)
    monkeypatch.setenv("DRILLHALL_DB", f"sqlite:///{tmp_path / 'team.db'}")
    with Store() as store:
        assert store.incidents() == []

    assert {path.name for path in tmp_path.glob("*.db")} == {"drillhall.db", "team.db"}
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'drillhall.db'}")
    with engine.connect() as connection:
        ids = connection.execute(sa.text("SELECT id FROM drills")).scalars()
        numbers = connection.execute(sa.text("SELECT id FROM incidents")).scalars()
        assert (list(ids), list(numbers)) == ([drill.id], ["INC-1"])
    engine.dispose()


# Postmortems


def test_a_postmortem_is_drafted_again_and_keeps_its_completion(
    store: Store,
) -> None:
    incident = add(store).id

    draft = store.add_postmortem(incident, drafted=at(200), path="pm/inc-1.md")
    done = store.complete_postmortem(incident, completed=at(3000))
    redraft = store.add_postmortem(incident, drafted=at(4000), path="pm/v2.md")

    assert (draft.incident, draft.completed) == ("INC-1", None)
    assert done.completed == at(3000)
    assert redraft.id == draft.id
    assert (redraft.drafted, redraft.completed, redraft.path) == (
        at(4000),
        at(3000),
        "pm/v2.md",
    )
    assert store.postmortem_for("inc-1") == redraft
    assert store.postmortems() == [redraft]


def test_postmortems_need_a_known_incident_and_a_draft(store: Store) -> None:
    add(store)

    with pytest.raises(InputError, match="unknown incident 'INC-7'"):
        store.add_postmortem("INC-7", drafted=at(100), path=None)
    with pytest.raises(InputError, match="draft one first"):
        store.complete_postmortem("INC-1", completed=at(100))
    assert store.postmortem_for("INC-1") is None
    assert store.postmortems() == []


# Action items


def test_action_items_are_recorded_open_and_linked(store: Store) -> None:
    incident = add(store).id
    postmortem = store.add_postmortem(incident, drafted=at(200), path=None)

    item = store.add_action(
        title="alert on checkout p99 latency",
        owner="ana",
        due=date(2027, 1, 20),
        changes="alert",
        link="alerts/checkout.yaml",
        incident="inc-1",
    )

    assert item == ActionItem(
        id=1,
        title="alert on checkout p99 latency",
        owner="ana",
        due=date(2027, 1, 20),
        status="open",
        changes="alert",
        link="alerts/checkout.yaml",
        incident="INC-1",
        postmortem=postmortem.id,
        created=CREATED,
        closed=None,
    )
    assert store.actions() == [item]


def test_a_postmortem_drafted_later_collects_the_incidents_items(
    store: Store,
) -> None:
    incident = add(store).id
    before = store.add_action(title="runbook: fail over", incident=incident)
    unrelated = store.add_action(title="game day")

    postmortem = store.add_postmortem(incident, drafted=at(200), path=None)

    linked = {item.id: item.postmortem for item in store.actions()}
    assert linked == {before.id: postmortem.id, unrelated.id: None}
    by_postmortem = store.add_action(title="test", postmortem=postmortem.id)
    assert by_postmortem.incident == incident


def test_action_items_need_known_incidents_and_changes(store: Store) -> None:
    add(store)
    other = add(store, start=500).id
    postmortem = store.add_postmortem("INC-1", drafted=at(200), path=None)

    with pytest.raises(InputError, match="unknown incident 'INC-9'") as caught:
        store.add_action(title="x", incident="INC-9")
    assert caught.value.field == "incident"
    with pytest.raises(InputError, match="runbook, alert, automation, test, other"):
        store.add_action(title="x", changes="dashboard")
    with pytest.raises(InputError, match="unknown postmortem 42"):
        store.add_action(title="x", postmortem=42)
    with pytest.raises(InputError, match=f"is about INC-1, not {other}"):
        store.add_action(title="x", incident=other, postmortem=postmortem.id)
    with pytest.raises(InputError, match="must be a date"):
        store.add_action(title="x", due=CREATED)  # type: ignore[arg-type]
    assert store.actions() == []


def test_action_items_close_once_as_done_or_dropped(store: Store) -> None:
    ids = [store.add_action(title=f"item {n}").id for n in range(3)]

    done = store.close_action(ids[0])
    dropped = store.close_action(ids[1], status="dropped", at=at(9000))

    assert (done.status, done.closed) == ("done", CREATED)
    assert (dropped.status, dropped.closed) == ("dropped", at(9000))
    assert [item.id for item in store.actions(status="open")] == [ids[2]]
    assert [item.id for item in store.actions(status="dropped")] == [ids[1]]
    with pytest.raises(InputError, match=f"action item {ids[0]} is already done"):
        store.close_action(ids[0], status="dropped")
    with pytest.raises(InputError, match="'done' or 'dropped', not 'open'"):
        store.close_action(ids[2], status="open")
    with pytest.raises(InputError, match="unknown action item status 'closed'"):
        store.actions(status="closed")


def test_closing_several_items_closes_all_or_none(store: Store) -> None:
    first, second = (store.add_action(title=f"item {n}").id for n in range(2))

    with pytest.raises(InputError, match="unknown action item 99"):
        store.close_actions([first, 99, second])
    assert [item.status for item in store.actions()] == ["open", "open"]

    closed = store.close_actions([second, first])
    assert [item.id for item in closed] == [second, first]
    assert store.actions(status="open") == []


def test_action_items_filter_by_incident_and_tell_when_overdue(
    store: Store,
) -> None:
    incident = add(store).id
    late = store.add_action(title="late", due=date(2027, 1, 20), incident=incident)
    store.add_action(title="no due date", incident=incident)
    store.add_action(title="elsewhere", due=date(2027, 1, 1))
    store.close_action(store.add_action(title="closed", due=date(2027, 1, 1)).id)

    assert [i.title for i in store.actions(incident="inc-1")] == [
        "late",
        "no due date",
    ]
    overdue = [i.title for i in store.actions() if i.overdue(date(2027, 1, 21))]
    assert overdue == ["late", "elsewhere"]
    assert not late.overdue(date(2027, 1, 20))


# The database


def test_the_schema_version_is_recorded_and_a_newer_one_refused(
    store: Store, database_url: str
) -> None:
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        version = connection.execute(
            sa.text("SELECT version FROM drillhall_schema WHERE part = 'history'")
        ).scalar()
        assert version == SCHEMA_VERSION == 1
        connection.execute(sa.text("UPDATE drillhall_schema SET version = 2"))
    engine.dispose()

    with pytest.raises(StoreError, match="schema version 2, written by a newer"):
        Store(database_url)


def test_unusable_urls_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="URL 'nonsense' cannot be used"):
        Store("nonsense")
    with pytest.raises(StoreError, match="that its folder exists"):
        Store(f"sqlite:///{tmp_path / 'missing' / 'h.db'}")
