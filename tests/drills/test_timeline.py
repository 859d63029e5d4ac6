"""Tests for ``drillhall.drills.timeline`` and the words of ``drill event``.

Every test opens a fresh database. What the timeline promises on every backend
runs twice through ``database_url``: on a SQLite file, then on a PostgreSQL
database. SQLite's own set-up (pragmas, the URL's default file, a file that
survives a killed writer) is tested on SQLite, the TRUNCATE trigger on
PostgreSQL. The concurrency tests start real processes with the "spawn" method;
their targets live at module level so that the children can import them.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import signal
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from drillhall.drills.participants import participant_event
from drillhall.drills.timeline import (
    DRILL_STATUSES,
    EVENT_KINDS,
    DrillRecord,
    Timeline,
    TimelineError,
)
from drillhall.errors import InputError
from tests.servers import fresh_database
from tests.test_database import SQLITE_SETTINGS, sqlite_settings

T0 = datetime(2026, 12, 3, 14, 12, 5, 123456, tzinfo=UTC)
SPAWN = multiprocessing.get_context("spawn")
WRITERS = 4
EVENTS_PER_WRITER = 200


@pytest.fixture
def timeline(database_url: str) -> Iterator[Timeline]:
    with Timeline(database_url) as opened:
        yield opened


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'timeline.db'}"


@pytest.fixture
def drill(timeline: Timeline) -> str:
    return timeline.start_drill("primary-down", at=T0).id


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Drills


def test_start_drill_gives_a_readable_id_and_a_started_event(
    timeline: Timeline,
) -> None:
    record = timeline.start_drill("primary-down", {"target": "shop"}, at=T0)

    assert re.fullmatch(r"20261203-1412-primary-down-[0-9a-f]{4}", record.id)
    assert record == DrillRecord(
        record.id, "primary-down", T0, None, "running", False, {"target": "shop"}
    )
    assert timeline.drill(record.id) == record
    [started] = timeline.events(record.id)
    assert (started.kind, started.at, started.source) == (
        "drill_started",
        T0,
        "drillhall",
    )
    assert started.payload == {"plan": "primary-down", "details": {"target": "shop"}}


@pytest.mark.parametrize(
    ("plan", "slug"),
    [
        ("Primäre DB / failover!", "primare-db-failover"),
        ("  --  ", "drill"),
        ("x" * 100, "x" * 60),
    ],
)
def test_plan_names_become_id_slugs(timeline: Timeline, plan: str, slug: str) -> None:
    record = timeline.start_drill(plan, at=T0)

    assert re.fullmatch(rf"20261203-1412-{slug}-[0-9a-f]{{4}}", record.id)
    assert timeline.drill(record.id).plan == plan


def test_a_taken_id_is_drawn_again(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffixes = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr("secrets.token_hex", lambda _: next(suffixes))

    first = timeline.start_drill("db", at=T0)
    second = timeline.start_drill("db", at=T0)

    assert (first.id, second.id) == ("20261203-1412-db-aaaa", "20261203-1412-db-bbbb")
    assert len(timeline.events(second.id)) == 1


def test_drills_are_listed_newest_first(timeline: Timeline) -> None:
    ids = [timeline.start_drill(f"plan-{n}", at=later(n * 60)).id for n in range(4)]

    assert [record.id for record in timeline.drills()] == ids[::-1]
    assert [record.id for record in timeline.drills(limit=2)] == ids[:1:-1]


def test_open_drills_are_those_whose_rollback_is_pending(database_url: str) -> None:
    with Timeline(database_url) as timeline:
        old, new, clean = (
            timeline.start_drill(plan, at=later(n)).id
            for n, plan in enumerate(["old", "new", "clean"])
        )
        for drill in (old, new, clean):
            timeline.set_rollback_pending(drill, True)
        timeline.set_rollback_pending(clean, False)

    # A new process (here: a new Timeline) finds what a crashed one left open.
    with Timeline(database_url) as reopened:
        assert [record.id for record in reopened.open_drills()] == [new, old]
        assert reopened.drill(old).rollback_pending
        reopened.set_rollback_pending(old, False)
        assert [record.id for record in reopened.open_drills()] == [new]


def test_finish_ends_the_drill_and_records_it(timeline: Timeline, drill: str) -> None:
    timeline.finish(drill, "aborted", at=later(90))

    record = timeline.drill(drill)
    assert (record.status, record.ended) == ("aborted", later(90))
    last = timeline.events(drill)[-1]
    assert (last.kind, last.at, last.payload) == (
        "drill_ended",
        later(90),
        {"status": "aborted"},
    )


def test_a_drill_ends_once_then_may_only_be_recovered(
    timeline: Timeline, drill: str
) -> None:
    timeline.finish(drill, "interrupted", at=later(10))

    with pytest.raises(InputError, match="already ended as 'interrupted'"):
        timeline.finish(drill, "finished")
    timeline.finish(drill, "recovered", at=later(600))

    record = timeline.drill(drill)
    assert (record.status, record.ended) == ("recovered", later(10))
    ended = [(e.kind, e.at, e.payload) for e in timeline.events(drill)[1:]]
    assert ended == [
        ("drill_ended", later(10), {"status": "interrupted"}),
        ("drill_ended", later(600), {"status": "recovered"}),
    ]


@pytest.mark.parametrize("status", ["running", "done", ""])
def test_finish_refuses_other_statuses(
    timeline: Timeline, drill: str, status: str
) -> None:
    with pytest.raises(InputError, match="finished, aborted, interrupted, recovered"):
        timeline.finish(drill, status)

    assert timeline.drill(drill).status == "running"
    assert "running" in DRILL_STATUSES


# Events


def test_events_round_trip_through_a_reopened_database(database_url: str) -> None:
    berlin = timezone(timedelta(hours=1))
    payloads: list[dict[str, Any]] = [
        {},
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
    assert [event.at for event in events] == [later(n) for n in range(1, 5)]
    assert all(event.at.tzinfo is UTC for event in events)


def test_events_come_in_time_order_then_in_the_order_written(
    timeline: Timeline, drill: str
) -> None:
    late = timeline.record(drill, "resolved", "runner", at=later(30))
    tie_first = timeline.record(drill, "detected", "alertmanager", at=later(10))
    early = timeline.record(drill, "injected", "runner", at=later(1))
    tie_second = timeline.record(drill, "paged", "pagerduty", at=later(10))

    ids = [event.id for event in timeline.events(drill)[1:]]
    assert ids == [early.id, tie_first.id, tie_second.id, late.id]


def test_times_are_stored_in_utc_with_microseconds(
    timeline: Timeline, drill: str
) -> None:
    berlin_winter = timezone(timedelta(hours=1))
    local = datetime(2026, 12, 3, 15, 12, 9, 654321, tzinfo=berlin_winter)

    timeline.record(drill, "note", "test", {"text": "x"}, at=local)

    stored = timeline.events(drill)[-1].at
    assert stored == local
    assert stored.tzinfo is UTC
    assert (stored.hour, stored.microsecond) == (14, 654321)


def test_events_without_a_time_take_the_clock(database_url: str) -> None:
    with Timeline(database_url, clock=lambda: later(42)) as timeline:
        drill = timeline.start_drill("clocked")
        event = timeline.record(drill.id, "acknowledged", "ana")

    assert drill.started == later(42)
    assert event.at == later(42)


def test_a_time_without_a_zone_is_refused(timeline: Timeline, drill: str) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        timeline.record(drill, "note", "test", at=datetime(2026, 12, 3, 14, 0))


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"at": T0}, "datetime is not JSON serializable"),
        ({"ratio": math.nan}, "Out of range float"),
        ({"who": {"ana", "ben"}}, "set is not JSON serializable"),
        (["ack"], "must be a mapping, not list"),
    ],
)
def test_payloads_that_are_not_json_are_refused_and_nothing_is_written(
    timeline: Timeline, drill: str, payload: Any, problem: str
) -> None:
    with pytest.raises(InputError, match=problem) as caught:
        timeline.record(drill, "note", "test", payload)

    assert caught.value.field == "payload"
    assert len(timeline.events(drill)) == 1


def test_payloads_read_back_as_json_reads_them(timeline: Timeline, drill: str) -> None:
    loose: dict[Any, Any] = {"window": (0, 1), 7: "x"}
    event = timeline.record(drill, "load_stats", "locust", loose)

    assert event.payload == {"window": [0, 1], "7": "x"}
    assert timeline.events(drill)[-1].payload == event.payload


def test_unknown_kinds_are_refused_naming_the_accepted_ones(
    timeline: Timeline, drill: str
) -> None:
    with pytest.raises(InputError, match="unknown event kind 'acked'") as caught:
        timeline.record(drill, "acked", "ana")

    assert "acknowledged" in str(caught.value)
    assert len(timeline.events(drill)) == 1


@pytest.mark.parametrize("kind", ["drill_started", "drill_ended"])
def test_start_and_end_events_are_written_only_by_their_methods(
    timeline: Timeline, drill: str, kind: str
) -> None:
    with pytest.raises(InputError, match=r"start_drill and Timeline\.finish only"):
        timeline.record(drill, kind, "runner")


@pytest.mark.parametrize("source", ["", "   ", "s" * 201])
def test_sources_must_be_short_text(
    timeline: Timeline, drill: str, source: str
) -> None:
    with pytest.raises(InputError) as caught:
        timeline.record(drill, "note", source)

    assert caught.value.field == "source"


def test_unknown_drills_are_named_with_the_latest_known_ids(
    timeline: Timeline,
) -> None:
    ids = [timeline.start_drill("db", at=later(n)).id for n in range(7)]
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
        message = str(caught.value)
        assert "unknown drill 'nope'" in message
        assert f"the latest are {', '.join(ids[:1:-1])};" in message
        assert "drillhall drill list" in message
    assert sum(len(timeline.events(drill)) for drill in ids) == len(ids)


def test_an_empty_database_says_no_drill_was_started(timeline: Timeline) -> None:
    with pytest.raises(InputError, match="no drill has been started in it yet"):
        timeline.drill("20261203-1412-db-0000")


# The database


def refused_changes(url: str, statements: list[str]) -> list[str]:
    """The statements that the database refused as changing drill events,
    run through a plain engine (none of the timeline's own code)."""
    engine = sa.create_engine(url)
    refused = []
    try:
        for statement in statements:
            try:
                with engine.begin() as connection:
                    connection.execute(sa.text(statement))
            except sa.exc.DatabaseError as error:
                if "append-only" in str(error):
                    refused.append(statement)
    finally:
        engine.dispose()
    return refused


def test_events_cannot_be_changed_or_deleted_even_with_sql(
    timeline: Timeline, drill: str, database_url: str
) -> None:
    timeline.record(drill, "note", "ana", {"text": "keep me"})
    statements = [
        "UPDATE drill_events SET kind = 'note'",
        "DELETE FROM drill_events",
        "DELETE FROM drill_events WHERE source = 'ana'",
    ]

    assert refused_changes(database_url, statements) == statements
    kinds = [event.kind for event in timeline.events(drill)]
    assert kinds == ["drill_started", "note"]


def test_events_cannot_be_truncated_on_postgresql(postgres_server_url: str) -> None:
    # SQLite has no TRUNCATE; its DELETE without WHERE is refused above.
    url = fresh_database(postgres_server_url)
    truncate = "TRUNCATE drill_events CASCADE"
    with Timeline(url) as timeline:
        drill = timeline.start_drill("primary-down", at=T0).id

        assert refused_changes(url, [truncate]) == [truncate]
        assert [event.kind for event in timeline.events(drill)] == ["drill_started"]


def test_sqlite_is_set_up_for_concurrent_durable_writes(sqlite_url: str) -> None:
    # NOTE: reads the engine, a private part, because these settings are the
    # module's promise to operators and have no other observable effect here.
    with Timeline(sqlite_url) as timeline:
        assert sqlite_settings(timeline._engine) == SQLITE_SETTINGS


def test_the_url_comes_from_the_environment_then_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRILLHALL_DB", f"sqlite:///{tmp_path / 'team.db'}")
    Timeline().close()
    monkeypatch.delenv("DRILLHALL_DB")
    Timeline().close()

    assert {path.name for path in tmp_path.glob("*.db")} == {"team.db", "drillhall.db"}


def test_unusable_urls_get_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILLHALL_DB", "nonsense")
    with pytest.raises(InputError, match="URL 'nonsense' cannot be used") as caught:
        Timeline()
    assert caught.value.source == "DRILLHALL_DB"

    with pytest.raises(InputError, match="driver installed"):
        Timeline("nosuchdialect://host/db")

    missing = tmp_path / "missing" / "timeline.db"
    with pytest.raises(TimelineError, match="that its folder exists"):
        Timeline(f"sqlite:///{missing}")


# Several processes


def append_events(url: str, drill: str, writer: int, start: Barrier) -> None:
    """Child process: wait for the others, then append this writer's events."""
    with Timeline(url) as timeline:
        start.wait(timeout=60)
        for number in range(EVENTS_PER_WRITER):
            payload = {"writer": writer, "number": number}
            timeline.record(drill, "note", f"writer-{writer}", payload)


def open_fresh_database(url: str, start: Barrier) -> None:
    """Child process: open a database that nobody has created yet, then write."""
    start.wait(timeout=60)
    with Timeline(url) as timeline:
        drill = timeline.start_drill("fresh").id
        timeline.record(drill, "note", "writer", {"text": "first"})


def append_until_killed(url: str, drill: str, committed: Connection) -> None:
    """Child process: append forever, reporting each event id once committed."""
    with Timeline(url) as timeline:
        for number in range(1_000_000):
            event = timeline.record(drill, "note", "doomed", {"number": number})
            committed.send(event.id)


def run_children(
    target: Callable[..., None], arguments: Callable[[int], tuple[Any, ...]]
) -> None:
    """Run ``WRITERS`` children of ``target`` at once; each must exit cleanly."""
    start = SPAWN.Barrier(WRITERS)
    children = [
        SPAWN.Process(target=target, args=(*arguments(writer), start))
        for writer in range(WRITERS)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0] * WRITERS


def test_concurrent_writers_in_separate_processes_lose_no_event(
    timeline: Timeline, drill: str, database_url: str
) -> None:
    run_children(append_events, lambda writer: (database_url, drill, writer))

    events = timeline.events(drill)[1:]
    assert len(events) == WRITERS * EVENTS_PER_WRITER
    assert len({event.id for event in events}) == len(events)
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

    committed = [receiving.recv() for _ in range(100)]
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    while receiving.poll():
        try:
            committed.append(receiving.recv())
        except EOFError:
            break

    assert child.exitcode == -signal.SIGKILL
    with Timeline(database_url) as reopened:
        events = reopened.events(drill)[1:]
        assert {event.id for event in events} >= set(committed)
        numbers = [event.payload["number"] for event in events]
        assert numbers == list(range(len(numbers)))
        reopened.record(drill, "note", "survivor", {"text": "still writable"})
    if database_url.startswith("sqlite:///"):
        # A SQLite file must be whole too, not only readable through the timeline.
        raw = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            raw.close()


# The words of `drillhall drill event`


@pytest.mark.parametrize(
    ("words", "kind", "payload"),
    [
        (["ack"], "acknowledged", {}),
        (["step", "3", "done"], "runbook_step", {"step": 3, "status": "done"}),
        (["step", "12", "skipped"], "runbook_step", {"step": 12, "status": "skipped"}),
        (["Step 2 DONE"], "runbook_step", {"step": 2, "status": "done"}),
        (["note", "the", "replica", "lags"], "note", {"text": "the replica lags"}),
        (["note", "lag:  3 s"], "note", {"text": "lag:  3 s"}),
        (["mitigated"], "mitigated", {}),
        (["resolved"], "resolved", {}),
    ],
)
def test_participant_words_become_events(
    words: list[str], kind: str, payload: dict[str, Any]
) -> None:
    assert participant_event(words) == (kind, payload)
    assert kind in EVENT_KINDS


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ([], "say what happened"),
        (["acked"], "unknown drill event 'acked' (did you mean 'ack'?)"),
        (["ack", "now"], "'ack' takes no more words"),
        (["step", "3"], "'step' takes a number and done or skipped"),
        (["step", "three", "done"], "step number 'three'"),
        (["step", "0", "done"], "step number '0'"),
        (["step", "3", "maybe"], "step status 'maybe'"),
        (["note"], "'note' needs text"),
        (["note", "x" * 2001], "keep it under 2000"),
    ],
)
def test_other_participant_words_get_one_line_naming_what_is_accepted(
    words: list[str], problem: str
) -> None:
    with pytest.raises(InputError) as caught:
        participant_event(words)

    message = str(caught.value)
    assert problem in message
    assert "\n" not in message
    assert message.endswith(
        "accepted: ack, step N done, step N skipped, note TEXT, mitigated, resolved"
    )


def test_participant_events_are_recorded_as_parsed(
    timeline: Timeline, drill: str
) -> None:
    kind, payload = participant_event(["step", "1", "done"])
    timeline.record(drill, kind, "participant:ana", payload)

    last = timeline.events(drill)[-1]
    assert (last.kind, last.payload) == ("runbook_step", {"step": 1, "status": "done"})
