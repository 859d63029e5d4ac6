"""``drillhall incident …`` and ``drillhall actions …``: the history store.

Incidents are added one by one or imported from an on-call tool's CSV export;
drills come from the timeline; action items are added, closed and chased when
overdue. All live in the database of the drill timeline (``--db``,
``$DRILLHALL_DB`` or ./drillhall.db).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from drillhall.errors import InputError
from drillhall.reports.history import (
    ACTION_CHANGES,
    LIFECYCLE_TIMES,
    ActionItem,
    IncidentRecord,
)
from drillhall.reports.incident_import import (
    IMPORT_FIELDS,
    load_timezone,
    parse_mappings,
    parse_time,
    read_incident_csv,
)
from drillhall.reports.incident_values import parse_severity
from drillhall.reports.store import Store
from drillhall.simulator.durations import format_duration

DATABASE_HELP = "History database: any SQLAlchemy URL [$DRILLHALL_DB or ./drillhall.db]"
TIMEZONE_HELP = "Zone of times written without an offset (an IANA name) [UTC]."
KINDS = {"incident": "incident", "drill": "drill", "all": None}


@click.group("incident")
def incident() -> None:
    """Real incidents in the history store, beside the drills."""


@incident.command("add")
@click.option("--title", required=True, help="What happened, in a few words.")
@click.option("--started", required=True, metavar="TIME", help="When the fault began.")
@click.option("--detected", metavar="TIME", help="When an alert or a user saw it.")
@click.option("--acknowledged", metavar="TIME", help="When a responder took it.")
@click.option("--mitigated", metavar="TIME", help="When user impact ended.")
@click.option("--resolved", metavar="TIME", help="When the incident was over.")
@click.option("--service", help="The service that was hit.")
@click.option("--team", help="The team that responded.")
@click.option("--severity", metavar="SEV", help="SEV1 … SEV5, P1 … P5, or 1 … 5.")
@click.option(
    "--timezone", "zone_name", default="UTC", metavar="ZONE", help=TIMEZONE_HELP
)
@click.option("--db", help=DATABASE_HELP)
def add_incident_command(
    title: str,
    started: str,
    detected: str | None,
    acknowledged: str | None,
    mitigated: str | None,
    resolved: str | None,
    service: str | None,
    team: str | None,
    severity: str | None,
    zone_name: str,
    db: str | None,
) -> None:
    """Record an incident; prints its id (INC-N).

    TIME is ISO 8601 (2027-01-04T09:30+01:00), '2027-01-04 09:30' or epoch
    seconds.
    """
    zone = load_timezone(zone_name)
    times = {
        name: None if text is None else _time(text, zone, f"--{name}")
        for name, text in (
            ("detected", detected),
            ("acknowledged", acknowledged),
            ("mitigated", mitigated),
            ("resolved", resolved),
        )
    }
    start = _time(started, zone, "--started")
    level = None if severity is None else _severity(severity)

    with Store(db) as store:
        record = store.add_incident(
            title=title,
            started=start,
            detected=times["detected"],
            acknowledged=times["acknowledged"],
            mitigated=times["mitigated"],
            resolved=times["resolved"],
            service=service,
            team=team,
            severity=level,
        )
    click.echo(record.id)


@incident.command("import")
@click.argument(
    "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FIELD=COLUMN",
    help=f"Read FIELD from COLUMN; fields: {', '.join(IMPORT_FIELDS)}. Without it "
    "a column named like the field is read.",
)
@click.option(
    "--timezone", "zone_name", default="UTC", metavar="ZONE", help=TIMEZONE_HELP
)
@click.option(
    "--time-format",
    metavar="FORMAT",
    help="strptime format of the file's times, such as '%d/%m/%Y %H:%M'.",
)
@click.option("--db", help=DATABASE_HELP)
def import_command(
    csv_file: Path,
    mappings: tuple[str, ...],
    zone_name: str,
    time_format: str | None,
    db: str | None,
) -> None:
    """Import incident history from CSV_FILE; what is known already is skipped.

    Nothing is stored unless every row is valid. A row is known when its id
    (the `id` field) is, or, without an id, by its service and start.
    """
    rows = read_incident_csv(
        csv_file,
        mapping=parse_mappings(mappings),
        zone=load_timezone(zone_name),
        time_format=time_format,
    )

    with Store(db) as store:
        result = store.import_incidents(rows, source=f"import:{csv_file.name}")
    click.echo(
        f"{csv_file}: added {result.added}, skipped {result.skipped} already recorded"
    )


@incident.command("list")
@click.option(
    "--kind",
    type=click.Choice(list(KINDS)),
    default="incident",
    show_default=True,
    help="Real incidents, drills, or both.",
)
@click.option("--since", metavar="DATE", help="Only those started on or after DATE.")
@click.option("--until", metavar="DATE", help="Only those started before DATE.")
@click.option("--team", help="Only this team's.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--db", help=DATABASE_HELP)
def list_incidents_command(
    kind: str,
    since: str | None,
    until: str | None,
    team: str | None,
    as_json: bool,
    db: str | None,
) -> None:
    """Incidents and drills in the order they started (times in UTC).

    Drills are read from the timeline first: every ended drill whose fault was
    injected is listed, whether or not its postmortem was drafted.
    """
    start = None if since is None else _time(since, UTC, "--since")
    end = None if until is None else _time(until, UTC, "--until")

    with Store(db) as store:
        if kind != "incident":
            store.sync_drills()
        records = store.incidents(kind=KINDS[kind], since=start, until=end, team=team)

    if as_json:
        click.echo(json.dumps([_incident_json(r) for r in records], indent=2))
    else:
        Console().print(_incident_table(records))


@click.group("actions")
def actions() -> None:
    """Action items: what incidents and drills taught, and whether it was done."""


@actions.command("add")
@click.argument("title")
@click.option("--owner", help="Who will do it.")
@click.option("--due", metavar="YYYY-MM-DD", help="When it is due.")
@click.option(
    "--changes",
    type=click.Choice(ACTION_CHANGES),
    default="other",
    show_default=True,
    help="What it changes.",
)
@click.option("--link", help="The runbook, alert rule or ticket it changes.")
@click.option("--incident", "incident_id", metavar="ID", help="The incident or drill.")
@click.option("--db", help=DATABASE_HELP)
def add_action_command(
    title: str,
    owner: str | None,
    due: str | None,
    changes: str,
    link: str | None,
    incident_id: str | None,
    db: str | None,
) -> None:
    """Record an open action item; prints its id."""
    due_date = None if due is None else _date(due, "--due")

    with Store(db) as store:
        item = store.add_action(
            title=title,
            owner=owner,
            due=due_date,
            changes=changes,
            link=link,
            incident=incident_id,
        )
    click.echo(item.id)


@actions.command("list")
@click.option(
    "--status",
    type=click.Choice(["open", "done", "dropped", "all"]),
    default="open",
    show_default=True,
)
@click.option("--incident", "incident_id", metavar="ID", help="Only this incident's.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--db", help=DATABASE_HELP)
def list_actions_command(
    status: str, incident_id: str | None, as_json: bool, db: str | None
) -> None:
    """Action items in the order they were recorded."""
    with Store(db) as store:
        if incident_id is not None:
            incident_id = store.incident(incident_id).id
        items = store.actions(
            status=None if status == "all" else status, incident=incident_id
        )

    if as_json:
        click.echo(json.dumps([_action_json(item) for item in items], indent=2))
    else:
        Console().print(_action_table(items, "Action items", date.today()))


@actions.command("done")
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option("--dropped", is_flag=True, help="Close them as dropped, not done.")
@click.option("--db", help=DATABASE_HELP)
def done_command(ids: tuple[int, ...], dropped: bool, db: str | None) -> None:
    """Close action items as done (or dropped): all of IDS, or none."""
    status = "dropped" if dropped else "done"
    with Store(db) as store:
        closed = store.close_actions(list(ids), status=status)
    for item in closed:
        click.echo(f"action item {item.id} {status}: {item.title}")


@actions.command("overdue")
@click.option("--today", metavar="YYYY-MM-DD", help="Pretend it is this day.")
@click.option("--fail", is_flag=True, help="Exit 1 when any item is overdue (CI).")
@click.option("--db", help=DATABASE_HELP)
def overdue_command(today: str | None, fail: bool, db: str | None) -> None:
    """Open action items past their due date."""
    day = date.today() if today is None else _date(today, "--today")
    with Store(db) as store:
        overdue = [item for item in store.actions(status="open") if item.overdue(day)]

    if not overdue:
        click.echo(f"no open action item is past its due date on {day}")
        return
    Console().print(_action_table(overdue, f"Overdue on {day}", day))
    if fail:
        many = len(overdue) > 1
        click.echo(
            f"{len(overdue)} action item{'s are' if many else ' is'} overdue", err=True
        )
        sys.exit(1)


def _time(text: str, zone: tzinfo, option: str) -> datetime:
    try:
        return parse_time(text, zone)
    except InputError as error:
        raise InputError(error.message, source=option) from None


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"expected a date like 2027-03-31, got {text!r}", source=option
        ) from None


def _severity(text: str) -> int:
    try:
        return parse_severity(text)
    except InputError as error:
        raise InputError(error.message, source="--severity") from None


def _incident_json(record: IncidentRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "title": record.title,
        "service": record.service,
        "team": record.team,
        "severity": record.severity,
        **{name: _iso(getattr(record, name)) for name in LIFECYCLE_TIMES},
        "source": record.source,
        "external_id": record.external_id,
    }


def _action_json(item: ActionItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "title": item.title,
        "owner": item.owner,
        "due": None if item.due is None else item.due.isoformat(),
        "status": item.status,
        "changes": item.changes,
        "link": item.link,
        "incident": item.incident,
        "postmortem": item.postmortem,
        "created": _iso(item.created),
        "closed": _iso(item.closed),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _incident_table(records: list[IncidentRecord]) -> Table:
    table = Table(title=f"{len(records)} recorded")
    # Ids, times and durations must show whole: they are what people read.
    table.add_column("id", overflow="fold")
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("sev", no_wrap=True)
    # Words wrap whole on a narrow terminal instead of losing their ends.
    for column in ("service", "team", "title"):
        table.add_column(column, overflow="fold", ratio=2 if column == "title" else 1)

    # A duration column that no record can fill only takes room.
    phases = {
        "TTD": ("started", "detected"),
        "TTA": ("detected", "acknowledged"),
        "TTR": ("started", "resolved"),
    }
    shown = {
        phase: ends
        for phase, ends in phases.items()
        if any(_between(*(getattr(record, end) for end in ends)) for record in records)
    }
    for phase in shown:
        table.add_column(phase, justify="right", no_wrap=True)

    for record in records:
        table.add_row(
            record.id,
            f"{record.started:%Y-%m-%d %H:%M}",
            "" if record.severity is None else f"SEV{record.severity}",
            record.service or "",
            record.team or "",
            record.title,
            *(
                _between(getattr(record, begin), getattr(record, end))
                for begin, end in shown.values()
            ),
        )
    return table


def _action_table(items: list[ActionItem], title: str, today: date) -> Table:
    table = Table(title=f"{title}: {len(items)}")
    for column in ("id", "status", "due", "owner", "changes", "incident", "title"):
        table.add_column(column, overflow="fold")

    for item in items:
        due = "" if item.due is None else item.due.isoformat()
        if item.due is not None and item.overdue(today):
            due = f"[red]{due} ({(today - item.due).days} d late)[/red]"
        table.add_row(
            str(item.id),
            item.status,
            due,
            item.owner or "",
            item.changes,
            item.incident or "",
            item.title,
        )
    return table


def _between(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return format_duration((end - start).total_seconds())
