"""The history store: real incidents, drills, postmortems and action items.

It lives in the same database as the drill timeline (``$DRILLHALL_DB`` or
``./drillhall.db``, any SQLAlchemy URL otherwise), in tables beside ``drills``
and ``drill_events``, opened the same way (``drillhall.database``: WAL, full
sync, a busy timeout, writers that take the lock first, UTC datetimes):

- ``incidents``: one row per real incident (``INC-1``, ``INC-2`` …) or drill
  (its drill id), with the lifecycle times the metrics read;
- ``postmortems``: at most one per incident, drafted and later completed;
- ``action_items``: what the organisation promised to change, and whether it did;
- ``drillhall_schema``: the version of these tables (``SCHEMA_VERSION``), so
  that a later drillhall can tell which changes an older database needs.

Every method is one transaction: an import stores all of its rows or none.
What an incident's values may be is ``drillhall.reports.incident_values``'s.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import sqlalchemy as sa

from drillhall.database import SCHEMA_LOCK, Database, UTCDateTime
from drillhall.drills.timeline import Timeline
from drillhall.errors import DrillhallError, InputError
from drillhall.reports.drill_facts import drill_incidents
from drillhall.reports.history import (
    ACTION_CHANGES,
    LIFECYCLE_TIMES,
    ActionItem,
    IncidentRecord,
    PostmortemRecord,
)
from drillhall.reports.incident_values import (
    EXTERNAL_ID_LIMIT,
    check_optional_text,
    check_text,
    incident_values,
    utc_time,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
"""The version of the history tables this module writes; stored in
``drillhall_schema`` under ``history``. Raise it with every change to them."""

ACTION_STATUSES: Final = ("open", "done", "dropped")
INCIDENT_PREFIX: Final = "INC-"

_INCIDENT_ID = re.compile(r"inc-(\d+)", re.IGNORECASE)
_WRITE_LOCK: Final = SCHEMA_LOCK + 1
_LATEST_SHOWN: Final = 5


class StoreError(DrillhallError):
    """The history database cannot be opened, read or written."""


@dataclass(frozen=True)
class ImportResult:
    """What an import did: incidents added, and rows already recorded."""

    added: int
    skipped: int
    ids: tuple[str, ...]
    """The ids of the incidents added, in the order of the rows."""


_metadata = sa.MetaData()

_schema = sa.Table(
    "drillhall_schema",
    _metadata,
    sa.Column("part", sa.String(40), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
)

_incidents = sa.Table(
    "incidents",
    _metadata,
    sa.Column("id", sa.String(120), primary_key=True),
    sa.Column("number", sa.Integer(), unique=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("service", sa.Text()),
    sa.Column("team", sa.Text()),
    sa.Column("severity", sa.Integer()),
    *(
        sa.Column(name, UTCDateTime(), nullable=name != "started")
        for name in LIFECYCLE_TIMES
    ),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("external_id", sa.String(EXTERNAL_ID_LIMIT), unique=True),
    sa.Column("recorded", UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('incident', 'drill')", name="incident_kind"),
    sa.CheckConstraint("severity BETWEEN 1 AND 5", name="incident_severity"),
    sa.Index("incidents_by_start", "started", "id"),
)

_postmortems = sa.Table(
    "postmortems",
    _metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("incident", sa.ForeignKey("incidents.id"), nullable=False, unique=True),
    sa.Column("drafted", UTCDateTime(), nullable=False),
    sa.Column("completed", UTCDateTime()),
    sa.Column("path", sa.Text()),
    sqlite_autoincrement=True,
)

_actions = sa.Table(
    "action_items",
    _metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("owner", sa.Text()),
    sa.Column("due", sa.Date()),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("changes", sa.String(20), nullable=False),
    sa.Column("link", sa.Text()),
    sa.Column("incident", sa.ForeignKey("incidents.id"), index=True),
    sa.Column("postmortem", sa.ForeignKey("postmortems.id")),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("closed", UTCDateTime()),
    sa.CheckConstraint(
        "status IN ('open', 'done', 'dropped')", name="action_item_status"
    ),
    # AUTOINCREMENT: a closed item's number is never handed out again.
    sqlite_autoincrement=True,
)


class Store(Database):
    """Incidents, drills, postmortems and action items in one database.

    ``url`` is any SQLAlchemy URL; ``None`` takes ``$DRILLHALL_DB``, else
    ``sqlite:///./drillhall.db``, the drill timeline's database. The tables
    are created when missing. ``clock`` stamps action items as they are
    created and closed.
    """

    role = "history"
    metadata = _metadata
    error = StoreError
    # Numbering incidents and refusing duplicates read before they write.
    write_lock = _WRITE_LOCK

    # Incidents and drills

    def add_incident(
        self,
        *,
        title: str,
        started: datetime,
        service: str | None = None,
        team: str | None = None,
        severity: int | None = None,
        detected: datetime | None = None,
        acknowledged: datetime | None = None,
        mitigated: datetime | None = None,
        resolved: datetime | None = None,
        source: str = "cli",
        external_id: str | None = None,
    ) -> IncidentRecord:
        """Record a real incident; it is numbered ``INC-1``, ``INC-2`` …"""
        values = incident_values(
            {
                "title": title,
                "started": started,
                "service": service,
                "team": team,
                "severity": severity,
                "detected": detected,
                "acknowledged": acknowledged,
                "mitigated": mitigated,
                "resolved": resolved,
                "external_id": external_id,
            }
        )
        check_text(source, "source")

        with self._transaction("write to", write=True) as connection:
            if external_id is not None:
                self._refuse_known_external_id(connection, external_id)
            [record] = self._insert_incidents(connection, [values], source)

        logger.info("incident %s recorded: %s", record.id, record.title)
        return record

    def import_incidents(
        self, rows: Iterable[Mapping[str, Any]], *, source: str
    ) -> ImportResult:
        """Add the rows not recorded yet, all in one transaction.

        Each row has ``add_incident``'s keywords (``severity`` may be text such
        as ``SEV2``). A row is already recorded when its ``external_id`` is
        known; a row without one, when an incident of the same service started
        at the same time. Every row is checked before anything is written.
        """
        check_text(source, "source")
        checked = []
        for number, row in enumerate(rows, start=1):
            try:
                checked.append(incident_values(row))
            except InputError as error:
                raise InputError(
                    f"row {number}: {error.message}", field=error.field
                ) from None

        with self._transaction("write to", write=True) as connection:
            fresh = self._unrecorded(connection, checked)
            records = self._insert_incidents(connection, fresh, source)

        result = ImportResult(
            len(records), len(checked) - len(records), tuple(r.id for r in records)
        )
        logger.info(
            "import from %s: added %s, skipped %s", source, result.added, result.skipped
        )
        return result

    def record_drill(
        self,
        *,
        drill: str,
        title: str,
        started: datetime,
        detected: datetime | None = None,
        acknowledged: datetime | None = None,
        mitigated: datetime | None = None,
        resolved: datetime | None = None,
        service: str | None = None,
        team: str | None = None,
        severity: int | None = None,
    ) -> IncidentRecord:
        """Record a drill's lifecycle under its drill id, or bring it up to date.

        Recording the same drill again changes its one record: the timeline
        it comes from is the truth, and it may have grown since.
        """
        check_text(drill, "drill")
        values = incident_values(
            {
                "title": title,
                "started": started,
                "service": service,
                "team": team,
                "severity": severity,
                "detected": detected,
                "acknowledged": acknowledged,
                "mitigated": mitigated,
                "resolved": resolved,
            }
        )

        with self._transaction("write to", write=True) as connection:
            self._write_drill(connection, drill, values)

        logger.info("drill %s recorded in the history", drill)
        return _incident_record(
            {**values, "id": drill, "kind": "drill", "source": "drill"}
        )

    def sync_drills(self) -> int:
        """Record the drills of the timeline in this database; returns how many
        records were added or changed.

        Every ended drill whose fault was injected gets its one record, as
        ``drill_incidents`` reads it from the timeline. The timeline is the
        truth: a record it has outgrown is brought up to date, one that matches
        is left alone, so calling this again writes nothing new.
        """
        with Timeline(self.url) as timeline:
            drills = drill_incidents(timeline)
        checked = [
            (drill.id, incident_values(_drill_keywords(drill))) for drill in drills
        ]

        with self._transaction("write to", write=True) as connection:
            changed = [
                drill
                for drill, values in checked
                if self._write_drill(connection, drill, values)
            ]

        if changed:
            logger.info("drills recorded in the history: %s", ", ".join(changed))
        return len(changed)

    def incident(self, id: str) -> IncidentRecord:
        """One incident or drill by id; an unknown id names the latest ones."""
        with self._transaction("read") as connection:
            record = self._incident_in(connection, id)
            if record is None:
                raise self._unknown_incident(connection, id)
        return record

    def find_incident(self, id: str) -> IncidentRecord | None:
        """One incident or drill by id, or ``None``."""
        with self._transaction("read") as connection:
            return self._incident_in(connection, id)

    def incidents(
        self,
        *,
        kind: str | None = "incident",
        since: datetime | None = None,
        until: datetime | None = None,
        team: str | None = None,
    ) -> list[IncidentRecord]:
        """Incidents (or drills, or both with ``kind=None``) by start time.

        ``since`` is inclusive and ``until`` exclusive, both on the start.
        """
        # Drills have no number: order by kind first, so that NULLs sort the
        # same on every backend.
        query = sa.select(_incidents).order_by(
            _incidents.c.started,
            _incidents.c.kind,
            _incidents.c.number,
            _incidents.c.id,
        )
        if kind is not None:
            if kind not in ("incident", "drill"):
                raise InputError(
                    f"unknown kind {kind!r}: the store holds 'incident' and 'drill' "
                    "records (None for both)",
                    field="kind",
                )
            query = query.where(_incidents.c.kind == kind)
        if since is not None:
            query = query.where(_incidents.c.started >= utc_time(since, "since"))
        if until is not None:
            query = query.where(_incidents.c.started < utc_time(until, "until"))
        if team is not None:
            query = query.where(_incidents.c.team == team)

        with self._transaction("read") as connection:
            return [_incident_record(row) for row in connection.execute(query)]

    # Postmortems

    def add_postmortem(
        self, incident: str, *, drafted: datetime, path: str | None
    ) -> PostmortemRecord:
        """Record that the incident's postmortem was drafted (again).

        An incident has one postmortem: drafting again updates when and where,
        and keeps its completion. Action items already recorded for the
        incident without a postmortem are linked to it.
        """
        drafted = utc_time(drafted, "drafted")

        with self._transaction("write to", write=True) as connection:
            key = self._existing_incident(connection, incident)
            existing = self._postmortem_in(connection, key)
            if existing is None:
                inserted = connection.execute(
                    _postmortems.insert().values(
                        incident=key, drafted=drafted, completed=None, path=path
                    )
                )
                record = PostmortemRecord(
                    _inserted_id(inserted, "postmortem"), key, drafted, None, path
                )
            else:
                connection.execute(
                    _postmortems.update()
                    .where(_postmortems.c.id == existing.id)
                    .values(drafted=drafted, path=path)
                )
                record = PostmortemRecord(
                    existing.id, key, drafted, existing.completed, path
                )

            connection.execute(
                _actions.update()
                .where(_actions.c.incident == key, _actions.c.postmortem.is_(None))
                .values(postmortem=record.id)
            )

        logger.info("postmortem of %s drafted: %s", key, path)
        return record

    def complete_postmortem(
        self, incident: str, *, completed: datetime
    ) -> PostmortemRecord:
        """Mark the incident's postmortem as published."""
        completed = utc_time(completed, "completed")

        with self._transaction("write to", write=True) as connection:
            key = self._existing_incident(connection, incident)
            existing = self._postmortem_in(connection, key)
            if existing is None:
                raise InputError(
                    f"incident {key} has no postmortem to complete; draft one first "
                    f"with `drillhall postmortem {key}`",
                    field="incident",
                )
            connection.execute(
                _postmortems.update()
                .where(_postmortems.c.id == existing.id)
                .values(completed=completed)
            )

        logger.info("postmortem of %s completed", key)
        return PostmortemRecord(
            existing.id, key, existing.drafted, completed, existing.path
        )

    def postmortem_for(self, incident: str) -> PostmortemRecord | None:
        """The incident's postmortem, or ``None`` when none was drafted."""
        with self._transaction("read") as connection:
            return self._postmortem_in(connection, incident_key(incident))

    def postmortems(self) -> list[PostmortemRecord]:
        """Every postmortem, in the order they were first drafted."""
        query = sa.select(_postmortems).order_by(_postmortems.c.id)
        with self._transaction("read") as connection:
            return [_postmortem_record(row) for row in connection.execute(query)]

    # Action items

    def add_action(
        self,
        *,
        title: str,
        owner: str | None = None,
        due: date | None = None,
        changes: str = "other",
        link: str | None = None,
        incident: str | None = None,
        postmortem: int | None = None,
    ) -> ActionItem:
        """Record an open action item.

        With an incident and no postmortem, the item is linked to the
        incident's postmortem when it has one; with a postmortem and no
        incident, to the postmortem's incident.
        """
        check_text(title, "title")
        check_optional_text(owner, "owner")
        check_optional_text(link, "link")
        _check_changes(changes)
        if due is not None and (not isinstance(due, date) or isinstance(due, datetime)):
            raise InputError(f"{due!r} must be a date, such as 2027-03-31", field="due")

        with self._transaction("write to", write=True) as connection:
            incident, postmortem = self._action_links(connection, incident, postmortem)
            values: dict[str, Any] = {
                "title": title.strip(),
                "owner": owner,
                "due": due,
                "status": "open",
                "changes": changes,
                "link": link,
                "incident": incident,
                "postmortem": postmortem,
                "created": self._clock(),
                "closed": None,
            }
            inserted = connection.execute(_actions.insert().values(**values))
            number = _inserted_id(inserted, "action item")

        logger.info("action item %s recorded: %s", number, title)
        return ActionItem(id=number, **values)

    def close_action(
        self, id: int, *, status: str = "done", at: datetime | None = None
    ) -> ActionItem:
        """Close an open action item as ``done`` or ``dropped``."""
        [item] = self.close_actions([id], status=status, at=at)
        return item

    def close_actions(
        self, ids: Sequence[int], *, status: str = "done", at: datetime | None = None
    ) -> list[ActionItem]:
        """Close several open action items at once: all of them, or none."""
        if status not in ACTION_STATUSES[1:]:
            raise InputError(
                f"an action item closes as 'done' or 'dropped', not {status!r}",
                field="status",
            )
        closed = utc_time(self._clock() if at is None else at, "at")

        with self._transaction("write to", write=True) as connection:
            for number in ids:
                self._check_open(connection, number)
            connection.execute(
                _actions.update()
                .where(_actions.c.id.in_(list(ids)))
                .values(status=status, closed=closed)
            )
            query = sa.select(_actions).where(_actions.c.id.in_(list(ids)))
            items = {row.id: _action_item(row) for row in connection.execute(query)}

        logger.info("action items %s closed as %s", ids, status)
        return [items[number] for number in ids]

    def actions(
        self, *, status: str | None = None, incident: str | None = None
    ) -> list[ActionItem]:
        """Action items in the order they were recorded, optionally filtered."""
        query = sa.select(_actions).order_by(_actions.c.id)
        if status is not None:
            if status not in ACTION_STATUSES:
                raise InputError(
                    f"unknown action item status {status!r}: use one of "
                    f"{', '.join(ACTION_STATUSES)}",
                    field="status",
                )
            query = query.where(_actions.c.status == status)
        if incident is not None:
            query = query.where(_actions.c.incident == incident_key(incident))

        with self._transaction("read") as connection:
            return [_action_item(row) for row in connection.execute(query)]

    # The database

    def _write_drill(
        self, connection: sa.Connection, drill: str, values: dict[str, Any]
    ) -> bool:
        """Insert or update the drill's record; ``False`` if it already held
        ``values``."""
        query = sa.select(_incidents).where(_incidents.c.id == drill)
        known = connection.execute(query).first()
        if known is not None and known.kind == "incident":
            raise InputError(
                f"{drill!r} is a real incident's id, not a drill's; record the "
                "drill under the id `drillhall drill list` shows",
                field="drill",
            )

        if known is None:
            connection.execute(
                _incidents.insert().values(
                    id=drill,
                    kind="drill",
                    source="drill",
                    recorded=self._clock(),
                    **values,
                )
            )
        elif any(known._mapping[name] != value for name, value in values.items()):
            connection.execute(
                _incidents.update().where(_incidents.c.id == drill).values(**values)
            )
        else:
            return False
        return True

    def _check_schema(self, connection: sa.Connection) -> None:
        """Record the history tables' version, or refuse a newer one."""
        query = sa.select(_schema.c.version).where(_schema.c.part == "history")
        version = connection.execute(query).scalar()
        if version is None:
            connection.execute(
                _schema.insert().values(part="history", version=SCHEMA_VERSION)
            )
        elif version > SCHEMA_VERSION:
            raise StoreError(
                f"the history tables in {self._shown_url} have schema version "
                f"{version}, written by a newer drillhall (this one knows up to "
                f"{SCHEMA_VERSION}); upgrade drillhall to read them"
            )

    def _insert_incidents(
        self,
        connection: sa.Connection,
        rows: list[dict[str, Any]],
        source: str,
    ) -> list[IncidentRecord]:
        # NOTE: numbers come from the largest so far; writers hold the write
        # lock (see _transaction), so two of them never take the same one.
        latest = connection.execute(sa.select(sa.func.max(_incidents.c.number)))
        first = (latest.scalar() or 0) + 1
        recorded = self._clock()
        stored = [
            {
                **values,
                "id": f"{INCIDENT_PREFIX}{number}",
                "number": number,
                "kind": "incident",
                "source": source,
                "recorded": recorded,
            }
            for number, values in enumerate(rows, start=first)
        ]
        if stored:
            connection.execute(_incidents.insert(), stored)
        return [_incident_record(values) for values in stored]

    @staticmethod
    def _unrecorded(
        connection: sa.Connection, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The rows that are neither in the store nor earlier in ``rows``."""
        query = sa.select(
            _incidents.c.external_id, _incidents.c.service, _incidents.c.started
        ).where(_incidents.c.kind == "incident")
        external_ids: set[str] = set()
        starts: set[tuple[str | None, datetime]] = set()
        for known in connection.execute(query):
            if known.external_id is not None:
                external_ids.add(known.external_id)
            starts.add((known.service, known.started))

        fresh = []
        for row in rows:
            external_id = row["external_id"]
            start = (row["service"], row["started"])
            if external_id is not None:
                if external_id in external_ids:
                    continue
                external_ids.add(external_id)
            elif start in starts:
                continue
            starts.add(start)
            fresh.append(row)
        return fresh

    def _refuse_known_external_id(
        self, connection: sa.Connection, external_id: str
    ) -> None:
        query = sa.select(_incidents.c.id).where(
            _incidents.c.external_id == external_id
        )
        known = connection.execute(query).scalar()
        if known is not None:
            raise InputError(
                f"{external_id!r} is already recorded as {known}; "
                f"`drillhall incident list` shows it",
                field="external_id",
            )

    @staticmethod
    def _incident_in(connection: sa.Connection, id: str) -> IncidentRecord | None:
        query = sa.select(_incidents).where(_incidents.c.id == incident_key(id))
        row = connection.execute(query).first()
        return None if row is None else _incident_record(row)

    def _existing_incident(self, connection: sa.Connection, id: str) -> str:
        """The incident's stored id, or an error naming the latest known ones."""
        record = self._incident_in(connection, id)
        if record is None:
            raise self._unknown_incident(connection, id)
        return record.id

    def _unknown_incident(self, connection: sa.Connection, id: str) -> InputError:
        query = (
            sa.select(_incidents.c.id)
            .order_by(_incidents.c.started.desc(), _incidents.c.id.desc())
            .limit(_LATEST_SHOWN)
        )
        latest = list(connection.execute(query).scalars())
        if latest:
            known = f"the latest are {', '.join(latest)}"
        else:
            known = "no incident or drill is recorded in it yet"
        return InputError(
            f"unknown incident {id!r} in {self._shown_url}: {known}; "
            "`drillhall incident list --kind all` shows them all",
            field="incident",
        )

    @staticmethod
    def _postmortem_in(
        connection: sa.Connection, incident: str
    ) -> PostmortemRecord | None:
        query = sa.select(_postmortems).where(_postmortems.c.incident == incident)
        row = connection.execute(query).first()
        return None if row is None else _postmortem_record(row)

    def _action_links(
        self, connection: sa.Connection, incident: str | None, postmortem: int | None
    ) -> tuple[str | None, int | None]:
        """The incident and postmortem an action item belongs to, checked."""
        key = (
            None if incident is None else self._existing_incident(connection, incident)
        )
        if postmortem is None:
            found = None if key is None else self._postmortem_in(connection, key)
            return key, None if found is None else found.id

        query = sa.select(_postmortems).where(_postmortems.c.id == postmortem)
        row = connection.execute(query).first()
        if row is None:
            raise InputError(
                f"unknown postmortem {postmortem!r}; link the action item to an "
                "incident instead, and it follows the incident's postmortem",
                field="postmortem",
            )
        if key is not None and row.incident != key:
            raise InputError(
                f"postmortem {postmortem} is about {row.incident}, not {key}; give "
                "one of the two, or both of the same incident",
                field="postmortem",
            )
        return row.incident, postmortem

    @staticmethod
    def _check_open(connection: sa.Connection, number: int) -> None:
        query = sa.select(_actions.c.status, _actions.c.closed).where(
            _actions.c.id == number
        )
        row = connection.execute(query).first()
        if row is None:
            raise InputError(
                f"unknown action item {number!r}; `drillhall actions list --status "
                "all` shows them all",
                field="id",
            )
        if row.status != "open":
            raise InputError(
                f"action item {number} is already {row.status} (since "
                f"{row.closed:%Y-%m-%d %H:%M} UTC); nothing was changed",
                field="id",
            )


def _check_changes(changes: str) -> None:
    if changes not in ACTION_CHANGES:
        raise InputError(
            f"an action item changes one of {', '.join(ACTION_CHANGES)}, not "
            f"{changes!r}",
            field="changes",
        )


def is_incident_id(id: str) -> bool:
    """Whether ``id`` has the form of the store's own ids (``INC-7``)."""
    return _INCIDENT_ID.fullmatch(id.strip()) is not None


def incident_key(id: str) -> str:
    """``inc-7`` and ``INC-7`` name the same incident; drill ids stay as given."""
    match = _INCIDENT_ID.fullmatch(id.strip())
    return f"{INCIDENT_PREFIX}{int(match.group(1))}" if match else id.strip()


def _inserted_id(result: sa.CursorResult[Any], what: str) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise StoreError(f"the database gave no id for the new {what}")
    return int(key[0])


def _incident_record(row: sa.Row[Any] | Mapping[str, Any]) -> IncidentRecord:
    values = row._mapping if isinstance(row, sa.Row) else row
    return IncidentRecord(
        id=values["id"],
        kind=values["kind"],
        title=values["title"],
        service=values["service"],
        team=values["team"],
        severity=values["severity"],
        started=values["started"],
        detected=values["detected"],
        acknowledged=values["acknowledged"],
        mitigated=values["mitigated"],
        resolved=values["resolved"],
        source=values["source"],
        external_id=values["external_id"],
    )


def _drill_keywords(drill: IncidentRecord) -> dict[str, Any]:
    """The drill's values as ``incident_values`` takes them."""
    return {
        "title": drill.title,
        "service": drill.service,
        "team": drill.team,
        "severity": drill.severity,
        **{name: getattr(drill, name) for name in LIFECYCLE_TIMES},
    }


def _postmortem_record(row: sa.Row[Any]) -> PostmortemRecord:
    return PostmortemRecord(
        id=row.id,
        incident=row.incident,
        drafted=row.drafted,
        completed=row.completed,
        path=row.path,
    )


def _action_item(row: sa.Row[Any]) -> ActionItem:
    return ActionItem(
        id=row.id,
        title=row.title,
        owner=row.owner,
        due=row.due,
        status=row.status,
        changes=row.changes,
        link=row.link,
        incident=row.incident,
        postmortem=row.postmortem,
        created=row.created,
        closed=row.closed,
    )
