"""Opening a drillhall database: the URL, SQLite's set-up, the write lock, UTC
times, the schema lock and the ``Database`` base class, on SQLite and
(``database_url``) PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from drillhall.database import (
    DEFAULT_URL,
    SCHEMA_LOCK,
    Database,
    UTCDateTime,
    access_problem,
    create_engine,
    lock_schema,
    resolve_url,
    transaction,
    without_password,
)
from drillhall.errors import DrillhallError, InputError
from tests.servers import fresh_database

SQLITE_SETTINGS = {
    "journal_mode": "wal",
    "synchronous": 2,  # FULL
    "busy_timeout": 10_000,
    "foreign_keys": 1,
}
"""What every SQLite connection drillhall opens is set to (see the module)."""


def sqlite_settings(engine: sa.Engine) -> dict[str, Any]:
    """The values of ``SQLITE_SETTINGS``' pragmas on a new connection."""
    with engine.connect() as connection:
        return {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in SQLITE_SETTINGS
        }


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "drillhall.db"


@pytest.fixture
def engine(sqlite_file: Path) -> Iterator[sa.Engine]:
    opened = create_engine(f"sqlite:///{sqlite_file}", role="test")
    yield opened
    opened.dispose()


# The URL


def test_the_url_given_wins_then_the_variable_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRILLHALL_DB", "sqlite:///team.db")
    assert resolve_url("sqlite:///mine.db") == ("sqlite:///mine.db", None)
    assert resolve_url(None) == ("sqlite:///team.db", "DRILLHALL_DB")

    monkeypatch.delenv("DRILLHALL_DB")
    assert resolve_url(None) == (DEFAULT_URL, None)
    assert DEFAULT_URL == "sqlite:///./drillhall.db"


def test_passwords_are_hidden_from_messages() -> None:
    url = "postgresql+psycopg://ana:s3cret@db.example/drillhall"

    assert without_password(url) == "postgresql+psycopg://ana:***@db.example/drillhall"
    assert without_password("not a url") == "not a url"


def test_an_unusable_url_names_the_database_and_where_it_came_from() -> None:
    with pytest.raises(InputError) as caught:
        create_engine("nonsense", role="history", source="DRILLHALL_DB")

    assert caught.value.source == "DRILLHALL_DB"
    assert caught.value.message.startswith(
        "the history database URL 'nonsense' cannot be used: "
    )
    assert "with its driver installed" in caught.value.message
    with pytest.raises(InputError, match="'nosuchdialect://ana:\\*\\*\\*@h/db'"):
        create_engine("nosuchdialect://ana:pw@h/db", role="timeline")


# SQLite


def test_sqlite_is_set_up_for_concurrent_durable_writes(engine: sa.Engine) -> None:
    assert sqlite_settings(engine) == SQLITE_SETTINGS


def test_a_writer_holds_the_write_lock_from_its_first_statement(
    engine: sa.Engine, sqlite_file: Path
) -> None:
    # A plain sqlite3 connection that gives up at once when the lock is taken.
    other = sqlite3.connect(sqlite_file, timeout=0, isolation_level=None)
    try:
        with transaction(engine) as reader:
            reader.execute(sa.text("SELECT 1"))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")

        with transaction(engine, write=True) as writer:
            writer.execute(sa.text("SELECT 1"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()


def test_access_problems_say_what_to_check(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'drillhall.db'}"
    missing = create_engine(url, role="history")

    with pytest.raises(sa.exc.OperationalError) as caught:
        with transaction(missing, write=True):
            pass
    missing.dispose()

    message = access_problem("write to", "history", url, caught.value)
    assert message.startswith(f"cannot write to the history database {url}: ")
    assert "that its folder exists" in message
    assert "for more than 10 s" in message


# Every backend


def test_times_are_stored_as_utc_with_microseconds(database_url: str) -> None:
    table = sa.Table(
        "moments",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime()),
    )
    new_york = timezone(timedelta(hours=-5))
    local = datetime(2027, 1, 4, 4, 30, 15, 250000, tzinfo=new_york)
    engine = create_engine(database_url, role="test")

    with transaction(engine, write=True) as connection:
        table.create(connection)
        connection.execute(
            table.insert(), [{"id": 1, "at": local}, {"id": 2, "at": None}]
        )
    with transaction(engine) as connection:
        stored = dict(connection.execute(sa.select(table.c.id, table.c.at)).all())
        naive = connection.execute(sa.text("SELECT at FROM moments WHERE id = 1"))
        raw = naive.scalar()
    engine.dispose()

    assert stored == {1: datetime(2027, 1, 4, 9, 30, 15, 250000, tzinfo=UTC), 2: None}
    assert stored[1].tzinfo is UTC
    assert str(raw).startswith("2027-01-04 09:30:15.25")


def test_the_schema_lock_is_held_until_the_transaction_ends(
    postgres_server_url: str,
) -> None:
    # On SQLite the write transaction is the lock: there is nothing more to see.
    engine = create_engine(fresh_database(postgres_server_url), role="test")
    try_lock = sa.select(sa.func.pg_try_advisory_xact_lock(SCHEMA_LOCK))

    with transaction(engine, write=True) as holder:
        lock_schema(holder)
        with transaction(engine) as other:
            taken_while_held = other.execute(try_lock).scalar()
    with transaction(engine) as other:
        taken_after = other.execute(try_lock).scalar()
    engine.dispose()

    assert (taken_while_held, taken_after) == (False, True)


# The Database base class

_notes = sa.MetaData()
sa.Table("notes", _notes, sa.Column("id", sa.Integer(), primary_key=True))


class NotesError(DrillhallError):
    """The notes database cannot be opened, read or written."""


class Notes(Database):
    """A database of one table whose schema check can be told to refuse."""

    role = "notes"
    metadata = _notes
    error = NotesError
    write_lock = SCHEMA_LOCK + 100

    def __init__(self, url: str, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.tables_when_checked: list[str] = []
        super().__init__(url, clock=lambda: datetime(2027, 1, 4, tzinfo=UTC))

    def _check_schema(self, connection: sa.Connection) -> None:
        self.tables_when_checked = sa.inspect(connection).get_table_names()
        if self.refuse:
            raise NotesError("the notes tables are too new")


def connections_to(database_url: str) -> int:
    """How many connections the PostgreSQL server has open to the database."""
    name = sa.make_url(database_url).database
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            )
            return int(connection.execute(query, {"name": name}).scalar_one())
    finally:
        engine.dispose()


def test_a_database_creates_its_tables_then_checks_their_schema(
    database_url: str,
) -> None:
    with Notes(database_url) as notes:
        with notes._transaction("write to", write=True) as connection:
            connection.execute(_notes.tables["notes"].insert().values(id=7))

    with Notes(database_url) as reopened:
        with reopened._transaction("read") as connection:
            ids = connection.execute(sa.text("SELECT id FROM notes")).scalars()
            assert list(ids) == [7]
    assert reopened.tables_when_checked == ["notes"]
    assert (reopened.url, reopened._clock().year) == (database_url, 2027)


def test_a_refused_schema_raises_and_leaves_no_connection_open(
    postgres_server_url: str,
) -> None:
    url = fresh_database(postgres_server_url)

    with pytest.raises(NotesError, match="too new"):
        Notes(url, refuse=True)
    refused = connections_to(url)
    with Notes(url) as notes:
        with notes._transaction("read") as connection:
            connection.execute(sa.text("SELECT 1"))
    closed = connections_to(url)

    assert (refused, closed) == (0, 0)


def test_access_problems_raise_the_databases_own_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'notes.db'}"

    with pytest.raises(NotesError) as caught:
        Notes(url)

    message = str(caught.value)
    assert message.startswith(f"cannot open the notes database {url}: ")
    assert "that its folder exists" in message


def test_writers_hold_the_write_lock_until_they_commit(
    postgres_server_url: str,
) -> None:
    try_lock = sa.select(sa.func.pg_try_advisory_xact_lock(Notes.write_lock))
    with Notes(fresh_database(postgres_server_url)) as notes:
        with notes._transaction("write to", write=True):
            with notes._transaction("read") as other:
                taken_while_writing = other.execute(try_lock).scalar()
        with notes._transaction("read"):
            with notes._transaction("read") as other:
                taken_while_reading = other.execute(try_lock).scalar()

    assert (taken_while_writing, taken_while_reading) == (False, True)
