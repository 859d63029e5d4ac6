"""Opening a drillhall database: the URL, SQLite's set-up, the write lock, UTC
times and the schema lock, on SQLite and (``database_url``) PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from drillhall.database import (
    DEFAULT_URL,
    SCHEMA_LOCK,
    UTCDateTime,
    access_problem,
    create_engine,
    lock_schema,
    resolve_url,
    transaction,
    without_password,
)
from drillhall.errors import InputError
from tests.servers import fresh_database


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
    with engine.connect() as connection:
        settings = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }

    assert settings == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "busy_timeout": 10_000,
        "foreign_keys": 1,
    }


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
