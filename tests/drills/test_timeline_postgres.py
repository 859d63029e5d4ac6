"""The drill timeline's promises on every database it supports.

``database_url`` is a fresh SQLite file, then a fresh PostgreSQL database, so
each test here holds on both: events round-trip in order and in UTC, drills end
once, open drills are found again by a new process, events cannot be changed or
deleted even with SQL, and several processes may create the database and write
at once. ``test_timeline.py`` covers the rest, SQLite's own set-up included.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from drillhall.drills.timeline import Timeline
from drillhall.errors import InputError
from tests.drills.test_timeline import (
    EVENTS_PER_WRITER,
    SPAWN,
    WRITERS,
    append_events,
    append_until_killed,
    open_fresh_database,
    run_children,
)

T0 = datetime(2026, 12, 3, 14, 12, 5, 123456, tzinfo=UTC)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def timeline(database_url: str) -> Iterator[Timeline]:
    with Timeline(database_url) as opened:
        yield opened


@pytest.fixture
def drill(timeline: Timeline) -> str:
    return timeline.start_drill("primary-down", {"target": "shop"}, at=T0).id


def test_events_round_trip_in_utc_through_a_reopened_database(
    database_url: str,
) -> None:
    berlin = timezone(timedelta(hours=1))
    payloads: list[dict[str, Any]] = [
        {"step": 3, "status": "done"},
        {"text": "réplica lags 🐢", "nested": {"list": [1, 2.5, None, True]}},
        {"p95_ms": 1e-9, "big": 2**60},
    ]
    with Timeline(database_url) as timeline:
        record = timeline.start_drill("round-trip", {"announced": False}, at=T0)
        written = [
            timeline.record(
                record.id, "note", "test", payload, at=later(n).astimezone(berlin)
            )
            for n, payload in enumerate(payloads, start=1)
        ]

    with Timeline(database_url) as reopened:
        assert reopened.drill(record.id) == record
        [started, *events] = reopened.events(record.id)
    assert (started.kind, started.at) == ("drill_started", T0)
    assert started.payload == {"plan": "round-trip", "details": {"announced": False}}
    assert events == written
    assert [event.payload for event in events] == payloads
    assert [event.at for event in events] == [later(1), later(2), later(3)]
    assert all(event.at.tzinfo is UTC for event in events)
    assert events[0].at.microsecond == 123456


def test_events_come_in_time_order_then_in_the_order_written(
    timeline: Timeline, drill: str
) -> None:
    late = timeline.record(drill, "resolved", "runner", at=later(30))
    tie_first = timeline.record(drill, "detected", "alertmanager", at=later(10))
    early = timeline.record(drill, "injected", "runner", at=later(1))
    tie_second = timeline.record(drill, "paged", "pagerduty", at=later(10))

    ids = [event.id for event in timeline.events(drill)[1:]]
    assert ids == [early.id, tie_first.id, tie_second.id, late.id]


def test_drills_are_listed_newest_first(timeline: Timeline) -> None:
    ids = [timeline.start_drill(f"plan-{n}", at=later(n * 60)).id for n in range(4)]

    assert [record.id for record in timeline.drills()] == ids[::-1]
    assert [record.id for record in timeline.drills(limit=2)] == ids[:1:-1]


def test_a_drill_ends_once_then_may_only_be_recovered(
    timeline: Timeline, drill: str
) -> None:
    timeline.finish(drill, "interrupted", at=later(10))

    with pytest.raises(InputError, match="already ended as 'interrupted'"):
        timeline.finish(drill, "finished")
    timeline.finish(drill, "recovered", at=later(600))

    record = timeline.drill(drill)
    assert (record.status, record.ended) == ("recovered", later(10))
    ended = [e for e in timeline.events(drill) if e.kind == "drill_ended"]
    assert [(e.at, e.payload) for e in ended] == [
        (later(10), {"status": "interrupted"}),
        (later(600), {"status": "recovered"}),
    ]


def test_a_new_process_finds_the_drills_whose_rollback_is_owed(
    database_url: str,
) -> None:
    with Timeline(database_url) as timeline:
        old, new, clean = (
            timeline.start_drill(plan, at=later(n)).id
            for n, plan in enumerate(["old", "new", "clean"])
        )
        for drill in (old, new, clean):
            timeline.set_rollback_pending(drill, True)
        timeline.set_rollback_pending(clean, False)

    with Timeline(database_url) as reopened:
        assert [record.id for record in reopened.open_drills()] == [new, old]
        reopened.set_rollback_pending(old, False)
        assert [record.id for record in reopened.open_drills()] == [new]


def test_unknown_drills_are_named_and_nothing_is_written(
    timeline: Timeline, drill: str
) -> None:
    calls = [
        lambda: timeline.drill("nope"),
        lambda: timeline.events("nope"),
        lambda: timeline.record("nope", "note", "ana", {"text": "x"}),
        lambda: timeline.set_rollback_pending("nope", True),
        lambda: timeline.finish("nope", "finished"),
    ]

    for call in calls:
        with pytest.raises(InputError) as caught:
            call()
        assert "unknown drill 'nope'" in str(caught.value)
        assert f"the latest are {drill};" in str(caught.value)
    assert len(timeline.events(drill)) == 1


def test_events_cannot_be_changed_or_deleted_even_with_sql(
    timeline: Timeline, drill: str, database_url: str
) -> None:
    timeline.record(drill, "note", "ana", {"text": "keep me"})
    statements = [
        "UPDATE drill_events SET kind = 'note'",
        "DELETE FROM drill_events",
        "DELETE FROM drill_events WHERE source = 'ana'",
    ]
    engine = sa.create_engine(database_url)
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE drill_events CASCADE")

    try:
        for statement in statements:
            with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                with engine.begin() as connection:
                    connection.execute(sa.text(statement))
    finally:
        engine.dispose()

    kinds = [event.kind for event in timeline.events(drill)]
    assert kinds == ["drill_started", "note"]


# Several processes


def test_concurrent_writers_in_separate_processes_lose_no_event(
    timeline: Timeline, drill: str, database_url: str
) -> None:
    run_children(append_events, lambda writer: (database_url, drill, writer))

    events = timeline.events(drill)[1:]
    assert len(events) == WRITERS * EVENTS_PER_WRITER
    for writer in range(WRITERS):
        numbers = [
            event.payload["number"]
            for event in events
            if event.payload["writer"] == writer
        ]
        assert numbers == list(range(EVENTS_PER_WRITER))


def test_processes_may_create_the_database_at_the_same_time(
    database_url: str,
) -> None:
    run_children(open_fresh_database, lambda writer: (database_url,))

    with Timeline(database_url) as timeline:
        drills = timeline.drills()
        assert len(drills) == WRITERS
        assert all(len(timeline.events(record.id)) == 2 for record in drills)


def test_a_killed_writer_leaves_every_committed_event_readable(
    timeline: Timeline, drill: str, database_url: str
) -> None:
    receiving, sending = SPAWN.Pipe(duplex=False)
    child = SPAWN.Process(
        target=append_until_killed, args=(database_url, drill, sending)
    )
    child.start()
    sending.close()

    committed = [receiving.recv() for _ in range(50)]
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)

    assert child.exitcode == -signal.SIGKILL
    with Timeline(database_url) as reopened:
        events = reopened.events(drill)[1:]
        assert {event.id for event in events} >= set(committed)
        numbers = [event.payload["number"] for event in events]
        assert numbers == list(range(len(numbers)))
        reopened.record(drill, "note", "survivor", {"text": "still writable"})
