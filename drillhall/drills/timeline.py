"""The drill timeline: an append-only event log kept in a database.

Every drill is one row in ``drills`` (its plan, start, end, status and whether a
rollback is still owed); everything that happens during it is one row in
``drill_events`` with a UTC timestamp, a source and a JSON payload. Events are
never changed or deleted. Each write commits in a transaction of its own before
it returns, so a caller that records an event *before* acting on it never loses
it to a crash.

The database is SQLite by default (``$DRILLHALL_DB`` or ``./drillhall.db``) and
any SQLAlchemy URL otherwise, opened by ``drillhall.database``: its docstring
says how SQLite is set up for several processes writing at once (participants
run ``drillhall drill event`` in their own terminals while the runner writes)
and why every commit is on disk before ``record`` returns. A foreign key keeps
an event from naming a drill that does not exist.

Create one ``Timeline`` per process; it may be shared between threads.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

import sqlalchemy as sa

from drillhall.database import Database, UTCDateTime
from drillhall.errors import DrillhallError, InputError

logger = logging.getLogger(__name__)

EVENT_KINDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "drill_started": "the drill began (written by Timeline.start_drill)",
        "steady_state_checked": "the steady-state hypothesis was checked",
        "rollback_intent": "rollbacks will be owed; written before the injection",
        "injected": "the fault is being injected; written before it is",
        "detected": "an alert fired or a probe saw the fault",
        "paged": "a responder was notified",
        "acknowledged": "a responder acknowledged the page",
        "escalated": "the page moved on to another level or person",
        "unacknowledged": "an acknowledgement timed out or was withdrawn",
        "reassigned": "the incident was handed to someone else",
        "reopened": "a resolved incident was opened again",
        "runbook_step": "a runbook step was done or skipped: {step, status}",
        "note": "free text from a participant: {text}",
        "mitigated": "user impact ended",
        "resolved": "the incident is over",
        "guardrail_tripped": "a guardrail's limit was exceeded; the drill aborts",
        "load_stats": "one interval of load statistics",
        "rolling_back": "rollbacks are starting; written before they run",
        "rolled_back": "rollbacks finished",
        "drill_ended": "the drill ended (written by Timeline.finish): {status}",
        "score": "the drill's score",
    }
)
"""Every kind of event a timeline holds, with what it means. ``record`` refuses
any other kind, so that scoring and reports can rely on the vocabulary."""

RESERVED_KINDS: Final = frozenset({"drill_started", "drill_ended"})
"""Kinds written only by ``start_drill`` and ``finish``: one of each per drill."""

DRILL_STATUSES: Final = ("running", "finished", "aborted", "interrupted", "recovered")
ENDED_STATUSES: Final = DRILL_STATUSES[1:]

_TEXT_LIMIT: Final = 200
_LATEST_SHOWN: Final = 5
_ID_ATTEMPTS: Final = 5


class TimelineError(DrillhallError):
    """The timeline's database cannot be opened, read or written."""


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One thing that happened during a drill, as stored."""

    id: int
    drill: str
    at: datetime
    source: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DrillRecord:
    """A drill's row: what ran, when, how it ended, and whether cleanup is owed."""

    id: str
    plan: str
    started: datetime
    ended: datetime | None
    status: str
    rollback_pending: bool
    details: dict[str, Any]


_metadata = sa.MetaData()

_drills = sa.Table(
    "drills",
    _metadata,
    sa.Column("id", sa.String(120), primary_key=True),
    sa.Column("plan", sa.String(_TEXT_LIMIT), nullable=False),
    sa.Column("started", UTCDateTime(), nullable=False, index=True),
    sa.Column("ended", UTCDateTime()),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("rollback_pending", sa.Boolean(), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
)

_events = sa.Table(
    "drill_events",
    _metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("drill", sa.ForeignKey("drills.id"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("source", sa.String(_TEXT_LIMIT), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Index("drill_events_order", "drill", "at", "id"),
    # AUTOINCREMENT: an id is never handed out twice, even after a manual delete.
    sqlite_autoincrement=True,
)

# NOTE: append-only is enforced in the database on SQLite (a trigger of one
# statement per change) and PostgreSQL (triggers calling one function that
# refuses the change, TRUNCATE included); on other backends it rests on this
# module having no update or delete for events.
for _change in ("UPDATE", "DELETE"):
    sa.event.listen(
        _events,
        "after_create",
        sa.DDL(
            f"CREATE TRIGGER drill_events_no_{_change.lower()} "
            f"BEFORE {_change} ON drill_events "
            "BEGIN SELECT RAISE(ABORT, 'drill events are append-only'); END"
        ).execute_if(dialect="sqlite"),
    )
sa.event.listen(
    _events,
    "after_create",
    sa.DDL(
        "CREATE OR REPLACE FUNCTION drill_events_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'drill events are append-only'; END $$"
    ).execute_if(dialect="postgresql"),
)
for _change in ("UPDATE", "DELETE", "TRUNCATE"):
    sa.event.listen(
        _events,
        "after_create",
        sa.DDL(
            f"CREATE TRIGGER drill_events_no_{_change.lower()} "
            f"BEFORE {_change} ON drill_events FOR EACH STATEMENT "
            "EXECUTE FUNCTION drill_events_append_only()"
        ).execute_if(dialect="postgresql"),
    )


class Timeline(Database):
    """The drills and their events in one database.

    ``url`` is any SQLAlchemy URL; ``None`` takes ``$DRILLHALL_DB``, else
    ``sqlite:///./drillhall.db``. The tables are created when missing. ``clock``
    gives the time of events recorded without ``at``.
    """

    role = "timeline"
    metadata = _metadata
    error = TimelineError

    def start_drill(
        self,
        plan: str,
        details: Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> DrillRecord:
        """Create a running drill and its ``drill_started`` event, atomically.

        The id reads as UTC start minute, plan and a random suffix, such as
        ``20261203-1412-primary-down-3f9a``.
        """
        _check_text(plan, "plan")
        stored_details = _json_object(
            {} if details is None else details, "details", "drill_started"
        )
        started = self._utc(at)

        # NOTE: four hex digits keep ids short enough to type; a clash (same
        # plan, same minute) is caught by the primary key and drawn again.
        for attempt in range(1, _ID_ATTEMPTS + 1):
            drill_id = _drill_id(plan, started)
            try:
                self._insert_drill(drill_id, plan, started, stored_details)
                break
            except sa.exc.IntegrityError:
                if attempt == _ID_ATTEMPTS:
                    raise
                logger.debug("drill id %s is taken; drawing another", drill_id)

        logger.info("drill %s started (plan %s)", drill_id, plan)
        return DrillRecord(
            drill_id, plan, started, None, "running", False, stored_details
        )

    def record(
        self,
        drill: str,
        kind: str,
        source: str,
        payload: Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> TimelineEvent:
        """Append one event and commit it before returning.

        ``kind`` is one of ``EVENT_KINDS`` other than the two ``start_drill``
        and ``finish`` write; ``payload`` must be a JSON object.
        """
        _check_kind(kind)
        _check_text(source, "source")
        stored = _json_object({} if payload is None else payload, "payload", kind)
        when = self._utc(at)

        try:
            with self._transaction("write to", write=True) as connection:
                event_id = self._insert_event(
                    connection, drill, when, source, kind, stored
                )
        except sa.exc.IntegrityError:
            # The foreign key refused the drill id: say which ids exist.
            if not self._exists(drill):
                raise self._unknown_drill(drill) from None
            raise

        logger.debug("drill %s: %s from %s", drill, kind, source)
        return TimelineEvent(event_id, drill, when, source, kind, stored)

    def events(self, drill: str) -> list[TimelineEvent]:
        """The drill's events in time order (ties in the order written)."""
        query = (
            sa.select(_events)
            .where(_events.c.drill == drill)
            .order_by(_events.c.at, _events.c.id)
        )
        with self._transaction("read") as connection:
            rows = connection.execute(query).all()

        # Every drill has its drill_started event, so no rows means no drill.
        if not rows:
            self.drill(drill)
        return [
            TimelineEvent(row.id, row.drill, row.at, row.source, row.kind, row.payload)
            for row in rows
        ]

    def drill(self, drill: str) -> DrillRecord:
        """One drill by id; an unknown id names the latest known ones."""
        query = sa.select(_drills).where(_drills.c.id == drill)
        with self._transaction("read") as connection:
            row = connection.execute(query).first()
        if row is None:
            raise self._unknown_drill(drill)
        return _drill_record(row)

    def drills(self, *, limit: int | None = None) -> list[DrillRecord]:
        """All drills (or the latest ``limit``), newest first."""
        query = (
            sa.select(_drills)
            .order_by(_drills.c.started.desc(), _drills.c.id.desc())
            .limit(limit)
        )
        with self._transaction("read") as connection:
            return [_drill_record(row) for row in connection.execute(query)]

    def open_drills(self) -> list[DrillRecord]:
        """Drills whose rollback is still owed, newest first: undo in that order."""
        query = (
            sa.select(_drills)
            .where(_drills.c.rollback_pending.is_(True))
            .order_by(_drills.c.started.desc(), _drills.c.id.desc())
        )
        with self._transaction("read") as connection:
            return [_drill_record(row) for row in connection.execute(query)]

    def set_rollback_pending(self, drill: str, pending: bool) -> None:
        """Mark that the drill's rollbacks are owed (``True``) or done."""
        self._update_drill(drill, rollback_pending=pending)
        logger.debug("drill %s: rollback pending %s", drill, pending)

    def finish(self, drill: str, status: str, *, at: datetime | None = None) -> None:
        """End the drill with ``status`` and write its ``drill_ended`` event.

        A drill ends once; afterwards only ``recovered`` is accepted, for a
        drill whose cleanup ``drill recover`` completed later (the end time
        stays the first one). ``rollback_pending`` is left as it is.
        """
        if status not in ENDED_STATUSES:
            raise InputError(
                f"cannot finish drill {drill!r} as {status!r}: a drill ends as one "
                f"of {', '.join(ENDED_STATUSES)}",
                field="status",
            )
        when = self._utc(at)

        with self._transaction("write to", write=True) as connection:
            current = connection.execute(
                sa.select(_drills.c.status, _drills.c.ended).where(
                    _drills.c.id == drill
                )
            ).first()
            if current is None:
                raise self._unknown_drill(drill)
            _check_can_finish(drill, current.status, status)
            ended = current.ended or when
            connection.execute(
                _drills.update()
                .where(_drills.c.id == drill)
                .values(status=status, ended=ended)
            )
            payload = {"status": status}
            self._insert_event(
                connection, drill, when, "drillhall", "drill_ended", payload
            )

        logger.info("drill %s ended: %s", drill, status)

    def _insert_drill(
        self, drill_id: str, plan: str, started: datetime, details: dict[str, Any]
    ) -> None:
        with self._transaction("write to", write=True) as connection:
            connection.execute(
                _drills.insert().values(
                    id=drill_id,
                    plan=plan,
                    started=started,
                    ended=None,
                    status="running",
                    rollback_pending=False,
                    details=details,
                )
            )
            payload = {"plan": plan, "details": details}
            self._insert_event(
                connection, drill_id, started, "drillhall", "drill_started", payload
            )

    @staticmethod
    def _insert_event(
        connection: sa.Connection,
        drill: str,
        at: datetime,
        source: str,
        kind: str,
        payload: dict[str, Any],
    ) -> int:
        result = connection.execute(
            _events.insert().values(
                drill=drill, at=at, source=source, kind=kind, payload=payload
            )
        )
        key = result.inserted_primary_key
        if key is None:
            raise TimelineError(f"the database gave no id for the {kind!r} event")
        return int(key[0])

    def _update_drill(self, drill: str, **values: Any) -> None:
        statement = _drills.update().where(_drills.c.id == drill).values(**values)
        with self._transaction("write to", write=True) as connection:
            if connection.execute(statement).rowcount == 0:
                raise self._unknown_drill(drill)

    def _exists(self, drill: str) -> bool:
        query = sa.select(_drills.c.id).where(_drills.c.id == drill)
        with self._transaction("read") as connection:
            return connection.execute(query).first() is not None

    def _unknown_drill(self, drill: str) -> InputError:
        latest = [record.id for record in self.drills(limit=_LATEST_SHOWN)]
        if latest:
            known = f"the latest are {', '.join(latest)}"
        else:
            known = "no drill has been started in it yet"
        return InputError(
            f"unknown drill {drill!r} in {self._shown_url}: {known}; "
            "`drillhall drill list` shows them all",
            source=self._source,
        )

    def _utc(self, at: datetime | None) -> datetime:
        if at is None:
            at = self._clock()
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(
                f"timeline time {at.isoformat()} has no time zone; pass an aware "
                "datetime such as datetime.now(UTC)"
            )
        return at.astimezone(UTC)


def _drill_record(row: sa.Row[Any]) -> DrillRecord:
    return DrillRecord(
        id=row.id,
        plan=row.plan,
        started=row.started,
        ended=row.ended,
        status=row.status,
        rollback_pending=bool(row.rollback_pending),
        details=row.details,
    )


def _drill_id(plan: str, started: datetime) -> str:
    ascii_plan = unicodedata.normalize("NFKD", plan).encode("ascii", "ignore")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_plan.decode().lower()).strip("-")
    slug = slug[:60].strip("-") or "drill"
    return f"{started:%Y%m%d-%H%M}-{slug}-{secrets.token_hex(2)}"


def _check_kind(kind: str) -> None:
    if kind in RESERVED_KINDS:
        raise InputError(
            f"event kind {kind!r} is written by Timeline.start_drill and "
            "Timeline.finish only; call those instead of record",
            field="kind",
        )
    if kind not in EVENT_KINDS:
        raise InputError(
            f"unknown event kind {kind!r}: the timeline records only "
            f"{', '.join(sorted(EVENT_KINDS.keys() - RESERVED_KINDS))}; a new kind "
            "belongs in EVENT_KINDS in drillhall/drills/timeline.py",
            field="kind",
        )


def _check_text(value: str, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field} {value!r} must be non-empty text", field=field)
    if len(value) > _TEXT_LIMIT:
        raise InputError(
            f"{field} {value[:40]!r}… is {len(value)} characters long; the timeline "
            f"keeps at most {_TEXT_LIMIT}",
            field=field,
        )


def _check_can_finish(drill: str, current: str, status: str) -> None:
    if current != "running" and status != "recovered":
        raise InputError(
            f"drill {drill!r} already ended as {current!r} and cannot end again as "
            f"{status!r}; only 'recovered' may follow, once its rollback ran",
            field="status",
        )


def _json_object(value: Mapping[str, Any], field: str, kind: str) -> dict[str, Any]:
    """The value as it will read back from the database, or an ``InputError``."""
    if not isinstance(value, Mapping):
        raise InputError(
            f"{field} of a {kind!r} event must be a mapping, not "
            f"{type(value).__name__}: {value!r:.80}",
            field=field,
        )
    try:
        text = json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"{field} of a {kind!r} event cannot be stored as JSON: {error}; use "
            "only mappings with text keys, lists, text, finite numbers, booleans "
            "and None (datetimes as ISO 8601 text)",
            field=field,
        ) from None
    stored: dict[str, Any] = json.loads(text)
    return stored
