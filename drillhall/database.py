"""Opening a drillhall database: one SQLAlchemy URL for timeline and history.

The drill timeline (``drillhall.drills.timeline``) and the history store
(``drillhall.reports.store``) keep their tables in one database: the URL given
(``--db``), else ``$DRILLHALL_DB``, else ``sqlite:///./drillhall.db``. Any
SQLAlchemy URL works, such as ``postgresql+psycopg://user@host/db``.

SQLite is set up for several processes writing at once (participants run
``drillhall drill event`` in their own terminals while the runner writes):

- ``journal_mode=WAL``: readers never block the writer and the writer never
  blocks readers; a killed process leaves nothing to repair by hand.
- ``synchronous=FULL``: every commit is on disk when it returns, even if the
  machine then loses power. With ``NORMAL`` a WAL database survives a killed
  process but may lose the last commits to a power cut or kernel panic, and the
  event that matters most is the timeline's ``rollback_intent``: written just
  before a fault is injected into what may be a remote system, it is how
  ``drill recover`` finds the fault to remove. A drill writes a few events a
  second, so the cost of one fsync per event does not matter.
- ``busy_timeout=10000``: a writer waits up to 10 s for another's lock.
- Writes begin with ``BEGIN IMMEDIATE`` (``transaction(..., write=True)``): they
  take the write lock first, so two writers queue on the busy timeout instead
  of one failing at once with "database is locked" when it tries to upgrade a
  read lock.
- ``foreign_keys=ON``: a row cannot name one that does not exist.

Times are stored with ``UTCDateTime``, the same way on every backend.
``Database`` is what the timeline and the store have in common: the URL, the
engine, the tables created when missing, and transactions whose access
problems are reported in the database's own words.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Self

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from drillhall.errors import DrillhallError, InputError

logger = logging.getLogger(__name__)

DEFAULT_URL: Final = "sqlite:///./drillhall.db"
URL_VARIABLE: Final = "DRILLHALL_DB"
BUSY_TIMEOUT_MS: Final = 10_000
SCHEMA_LOCK: Final = 0x6472_696C_6C68_616C
"""The advisory lock key (``drillhal`` in ASCII) that ``lock_schema`` takes."""

_BEGIN_OPTION: Final = "drillhall_sqlite_begin"
_WAL_RETRY_SECONDS: Final = 0.01


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC.

    Naive storage behaves the same on every backend (SQLite has no time zones,
    MySQL's DATETIME neither); microseconds are kept everywhere.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def resolve_url(url: str | None) -> tuple[str, str | None]:
    """The URL to open, and ``URL_VARIABLE`` when the URL came from it.

    ``url`` wins, then ``$DRILLHALL_DB``, then ``DEFAULT_URL``. The variable's
    name is for error messages: a bad URL there is fixed in the environment.
    """
    from_variable = url is None and bool(os.environ.get(URL_VARIABLE))
    chosen = url or os.environ.get(URL_VARIABLE) or DEFAULT_URL
    return chosen, URL_VARIABLE if from_variable else None


def without_password(url: str) -> str:
    """The URL as messages and logs may show it: any password masked."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def create_engine(url: str, *, role: str, source: str | None = None) -> sa.Engine:
    """An engine for ``url``, with SQLite set up as this module describes.

    ``role`` names the database in messages ("timeline", "history"); an
    unusable URL raises ``InputError`` with ``source`` (the variable it came
    from, if any).
    """
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
        raise InputError(
            f"the {role} database URL {without_password(url)!r} cannot be used: "
            f"{error}; give an SQLAlchemy URL such as sqlite:///drillhall.db or "
            "postgresql+psycopg://user@host/db, with its driver installed",
            source=source,
        ) from None

    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _configure_sqlite)
        sa.event.listen(engine, "begin", _begin_sqlite)
    logger.debug(
        "%s database %s (%s)", role, without_password(url), engine.dialect.name
    )
    return engine


@contextmanager
def transaction(engine: sa.Engine, *, write: bool = False) -> Iterator[sa.Connection]:
    """A connection in a transaction that commits when the block ends.

    A writer on SQLite begins with ``BEGIN IMMEDIATE``, so that it queues for
    the write lock instead of failing when it upgrades a read lock.
    """
    with engine.connect() as connection:
        if write:
            connection.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            yield connection


def access_problem(
    verb: str, role: str, url: str, error: sa.exc.OperationalError
) -> str:
    """Why ``verb`` (open, read, write to) failed on the ``role`` database, and
    what to check."""
    return (
        f"cannot {verb} the {role} database {without_password(url)}: "
        f"{error.orig}; check that it is reachable and writable (for "
        "SQLite: that its folder exists) and that no process holds a "
        f"lock on it for more than {BUSY_TIMEOUT_MS // 1000} s"
    )


def lock_schema(connection: sa.Connection) -> None:
    """Hold the schema lock until the connection's transaction ends.

    Call it before creating tables, so that several processes opening a new
    database at once queue instead of failing on each other's ``CREATE
    TABLE``. SQLite needs nothing more: a write transaction (``BEGIN
    IMMEDIATE``) already holds the only lock. On PostgreSQL this is a
    transaction-level advisory lock, released by commit or rollback.
    """
    _lock_on_postgresql(connection, SCHEMA_LOCK)


def _now() -> datetime:
    return datetime.now(UTC)


class Database:
    """Tables of one kind in a drillhall database: opened, used, closed.

    A subclass names its ``role`` (for messages: "timeline", "history"), its
    ``metadata`` (the tables, created when missing) and the ``error`` that
    access problems raise. ``url`` is any SQLAlchemy URL; ``None`` takes
    ``$DRILLHALL_DB``, else ``DEFAULT_URL``. ``clock`` is the subclass's
    source of the current time.

    Opening takes the schema lock, creates the missing tables and calls
    ``_check_schema`` in one write transaction, so that processes opening a
    new database at once queue; if anything fails, the engine is disposed.
    """

    role: ClassVar[str]
    metadata: ClassVar[sa.MetaData]
    error: ClassVar[type[DrillhallError]]
    write_lock: ClassVar[int | None] = None
    """An advisory lock key that every writer takes on PostgreSQL, for tables
    whose writes read before they write (numbering rows, refusing duplicates);
    ``None``: writers take no lock beyond their rows'."""

    def __init__(
        self, url: str | None = None, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self.url, self._source = resolve_url(url)
        self._clock = clock
        self._shown_url = without_password(self.url)
        self._engine = create_engine(self.url, role=self.role, source=self._source)
        try:
            with self._transaction("open", write=True) as connection:
                lock_schema(connection)
                self.metadata.create_all(connection)
                self._check_schema(connection)
        except BaseException:
            self._engine.dispose()
            raise
        logger.debug("%s database %s is open", self.role, self._shown_url)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connections; the object is unusable afterwards."""
        self._engine.dispose()

    def _check_schema(self, connection: sa.Connection) -> None:
        """Check or record the version of the tables just opened; by default
        there is none. Raise ``error`` to refuse tables this code cannot read."""

    @contextmanager
    def _transaction(
        self, verb: str, *, write: bool = False
    ) -> Iterator[sa.Connection]:
        """A transaction that commits when the block ends; writers queue.

        A writer begins with ``BEGIN IMMEDIATE`` on SQLite and takes
        ``write_lock``, if any, on PostgreSQL. An unreachable or locked
        database raises ``error``, saying what failed to ``verb`` (open,
        read, write to) and what to check.
        """
        try:
            with transaction(self._engine, write=write) as connection:
                if write and self.write_lock is not None:
                    _lock_on_postgresql(connection, self.write_lock)
                yield connection
        except sa.exc.OperationalError as error:
            raise self.error(
                access_problem(verb, self.role, self.url, error)
            ) from error


def _lock_on_postgresql(connection: sa.Connection, key: int) -> None:
    """Hold the advisory lock ``key`` until the transaction ends (PostgreSQL
    only: elsewhere the write transaction is the lock)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLAlchemy's "begin" listener issues BEGIN, so sqlite3 must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode, waiting out others doing the same.

    Only a new database needs the switch (the mode is kept in the file). When
    several processes open it at once, SQLite answers "database is locked" to
    all but one of them without calling the busy handler, so the wait is here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(_WAL_RETRY_SECONDS)


def _begin_sqlite(connection: sa.Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")
