"""``drillhall postmortem``: draft, check and publish a blameless postmortem.

Drafting writes ``ID.md`` (for the author to finish), ``ID.html`` (to read as
drafted) and the fishbone diagram (and the metrics, when given) as PNG files,
and records the draft in the history store; a drill is recorded there first,
so drills and incidents live in one store. Checking lists blameful wording and
unfilled placeholders. Publishing checks, then marks the postmortem completed
and stores the action items table's rows as action items, once each.

A draft names its subject in its header (``Drill `ID` · draft made by …``):
publishing, and checking with an id, refuse a file that names another subject
or none, so that one postmortem is never completed with another's file.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final

import click

from drillhall.drills.timeline import Timeline
from drillhall.errors import InputError
from drillhall.reports.blame import (
    PLACEHOLDER,
    Finding,
    find_blame,
    unfilled_placeholders,
)
from drillhall.reports.drill_events import offset_text, utc_text
from drillhall.reports.drill_facts import DrillFacts, drill_facts, drill_incident
from drillhall.reports.evidence import load_logs, load_metrics, metrics_figure
from drillhall.reports.fishbone import fishbone_figure
from drillhall.reports.history import ACTION_CHANGES, ActionItem
from drillhall.reports.postmortem import PostmortemDraft, incident_draft, number_text
from drillhall.reports.postmortem_drill import drill_draft
from drillhall.reports.render import data_uri, render, write_figure
from drillhall.reports.store import Store, incident_key, is_incident_id

logger = logging.getLogger(__name__)

DATABASE_HELP = (
    "Timeline and history database: any SQLAlchemy URL "
    "[$DRILLHALL_DB or ./drillhall.db]"
)
DEFAULT_FOLDER: Final = Path("postmortems")
FINDINGS_EXIT = 1
EMPTY_CELLS: Final = frozenset({"", "-", "–", "—", "n/a", "none"})

_SUBJECT_LINE = re.compile(r"^(Drill|Incident) `([^`]+)`", re.MULTILINE)
"""The header line that names a draft's subject (see postmortem.md.j2)."""
_CONTEXT = re.compile(r"<!-- drillhall (people|systems): (.*?) -->")
_ACTIONS_HEADING = re.compile(r"#{1,6}\s+action items\b", re.IGNORECASE)
_CELL_BORDER = re.compile(r"(?<!\\)\|")
_COLUMNS: Final = {
    "action item": "title",
    "action": "title",
    "title": "title",
    "owner": "owner",
    "due": "due",
    "due date": "due",
    "changes": "changes",
    "link": "link",
}


@click.command("postmortem")
@click.argument("subject", metavar="DRILL_OR_INCIDENT", required=False)
@click.option("--db", help=DATABASE_HELP)
@click.option(
    "--output",
    "-o",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for ID.md, ID.html and the figures [./postmortems].",
)
@click.option(
    "--logs",
    "log_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON lines: time (ISO 8601 or epoch), msg, level. Repeatable.",
)
@click.option(
    "--metrics",
    "metric_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A Prometheus range-query response (JSON). Repeatable.",
)
@click.option("--force", is_flag=True, help="Overwrite a draft already there.")
@click.option(
    "--check",
    "check_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=(
        "List blameful wording and unfilled placeholders in FILE.md; with an "
        "id, first check that FILE.md is that id's postmortem."
    ),
)
@click.option(
    "--publish",
    "publish_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check FILE.md, then complete the postmortem and store its action items.",
)
def postmortem(
    subject: str | None,
    db: str | None,
    folder: Path | None,
    log_files: tuple[Path, ...],
    metric_files: tuple[Path, ...],
    force: bool,
    check_file: Path | None,
    publish_file: Path | None,
) -> None:
    """Draft a blameless postmortem of a drill or of an incident (INC-N).

    \b
    drillhall postmortem DRILL_OR_INCIDENT [--logs F.jsonl] [--metrics F.json]
    drillhall postmortem [DRILL_OR_INCIDENT] --check FILE.md
    drillhall postmortem DRILL_OR_INCIDENT --publish FILE.md
    """
    if check_file is not None and publish_file is not None:
        raise click.UsageError("give --check or --publish, not both")
    if check_file is not None:
        _exit_on_findings(check_postmortem(check_file, subject))
        click.echo(f"{check_file}: no blameful wording, no unfilled placeholders")
        return
    if subject is None:
        raise click.UsageError("give a drill's or an incident's id, or --check FILE")

    now = datetime.now(UTC)
    if publish_file is not None:
        _exit_on_findings(check_postmortem(publish_file, subject))
        published = publish_postmortem(subject, publish_file, db, now)
        click.echo(published.describe())
        return

    files = draft_postmortem(
        subject,
        db=db,
        folder=folder or DEFAULT_FOLDER,
        log_files=log_files,
        metric_files=metric_files,
        force=force,
        now=now,
    )
    for path in files.written:
        click.echo(f"wrote {path}")
    click.echo(
        f"{files.placeholders} parts are for the author; then run `drillhall "
        f"postmortem {subject} --check {files.markdown}` and `drillhall "
        f"postmortem {subject} --publish {files.markdown}`"
    )


def _exit_on_findings(findings: list[str]) -> None:
    for line in findings:
        click.echo(line)
    if findings:
        click.echo(f"{len(findings)} findings", err=True)
        sys.exit(FINDINGS_EXIT)


# Drafting


@dataclass(frozen=True)
class DraftFiles:
    markdown: Path
    written: list[Path]
    placeholders: int


def draft_postmortem(
    subject: str,
    *,
    db: str | None,
    folder: Path,
    log_files: tuple[Path, ...] = (),
    metric_files: tuple[Path, ...] = (),
    force: bool = False,
    now: datetime,
) -> DraftFiles:
    """Draft the postmortem of ``subject``, write it, record it in the store.

    Every input is read and checked before anything is written.
    """
    logs = sorted(
        (line for file in log_files for line in load_logs(file)),
        key=lambda line: line.at,
    )
    metrics = [series for file in metric_files for series in load_metrics(file)]

    with Store(db) as store:
        record = store.find_incident(subject)
        if record is None and is_incident_id(subject):
            store.incident(subject)  # an unknown incident: its error names others
        facts = None
        if record is not None and record.kind == "incident":
            draft = incident_draft(record, logs=logs, metrics=metrics)
        else:
            facts = _facts(db, subject)
            draft = drill_draft(facts, logs=logs, metrics=metrics, folder=folder)

        markdown = folder / f"{draft.subject}.md"
        if markdown.exists() and not force:
            raise InputError(
                f"{markdown} is already there and may hold the author's work; "
                "draft into another folder with --output, or pass --force",
                source=str(markdown),
            )
        files = _write_draft(draft, folder, markdown, now)

        if facts is not None:
            _record_drill(store, facts, draft)
        store.add_postmortem(draft.subject, drafted=now, path=str(markdown))
    logger.info("postmortem of %s drafted in %s", draft.subject, markdown)
    return files


def _facts(db: str | None, subject: str) -> DrillFacts:
    with Timeline(db) as timeline:
        try:
            return drill_facts(timeline, subject)
        except InputError as error:
            raise InputError(
                f"{error.message}; for an incident, give its id in the store, "
                "such as INC-3 (`drillhall incident list`)",
                source=error.source,
            ) from None


def _write_draft(
    draft: PostmortemDraft, folder: Path, markdown: Path, now: datetime
) -> DraftFiles:
    fishbone = fishbone_figure(draft.effect, draft.causes_by_category())
    metrics = (
        metrics_figure(draft.series, draft.origin, draft.marks)
        if draft.series
        else None
    )
    fishbone_file = folder / f"{draft.subject}-fishbone.png"
    metrics_file = folder / f"{draft.subject}-metrics.png"
    shared = {
        "draft": draft,
        "placeholder": PLACEHOLDER,
        "changes": ACTION_CHANGES,
        "utc": utc_text,
        "offset": offset_text,
        "number": number_text,
        "generated": f"{now:%Y-%m-%d %H:%M} UTC",
    }
    text = render(
        "postmortem.md.j2",
        fishbone=fishbone_file.name,
        metrics_figure=metrics_file.name if metrics else None,
        **shared,
    )
    text += _context_comment(draft)
    page = render(
        "postmortem.html.j2",
        fishbone=data_uri(fishbone),
        metrics_figure=data_uri(metrics) if metrics else None,
        **shared,
    )

    html = markdown.with_suffix(".html")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text, encoding="utf-8")
        html.write_text(page, encoding="utf-8")
        written = [markdown, html, write_figure(fishbone, fishbone_file)]
        if metrics is not None:
            written.append(write_figure(metrics, metrics_file))
    except OSError as error:
        raise InputError(
            f"cannot write the draft there: {error.strerror or error}; give a "
            "folder you can write to with --output",
            source=str(error.filename or folder),
        ) from None
    return DraftFiles(markdown, written, len(unfilled_placeholders(text)))


def _context_comment(draft: PostmortemDraft) -> str:
    """Who took part and which names are systems, for the blame check."""
    lines = [
        f"<!-- drillhall {name}: {', '.join(values)} -->\n"
        for name, values in (("people", draft.people), ("systems", draft.systems))
        if values
    ]
    return "\n" + "".join(lines) if lines else ""


def _record_drill(store: Store, facts: DrillFacts, draft: PostmortemDraft) -> None:
    """The drill in the history store, beside the incidents, as the store's own
    sync of the timeline records it (``drill_incident``): a lifecycle time out
    of order, such as an acknowledgement before the alert, is left out of the
    record rather than refused."""
    incident = drill_incident(facts.record, facts.events, facts.plan)
    if incident is None:
        # Never injected: no incident for the trends, but its postmortem
        # needs a record to belong to.
        store.record_drill(drill=facts.id, title=draft.title, started=facts.origin)
        return
    store.record_drill(
        drill=incident.id,
        title=incident.title,
        started=incident.started,
        detected=incident.detected,
        acknowledged=incident.acknowledged,
        mitigated=incident.mitigated,
        resolved=incident.resolved,
        team=incident.team,
    )


# Checking


def check_postmortem(file: Path, subject: str | None = None) -> list[str]:
    """Blameful wording and unfilled placeholders in ``file``, one line each.

    With ``subject``, ``file`` must first be its postmortem (see
    ``check_subject``).
    """
    text = _read(file)
    if subject is not None:
        check_subject(text, subject, str(file))
    context = {name: values for name, values in _CONTEXT.findall(text)}
    findings: list[Finding] = [
        *find_blame(
            text,
            people=_names(context.get("people", "")),
            systems=_names(context.get("systems", "")),
        ),
        *unfilled_placeholders(text),
    ]
    findings.sort(key=lambda finding: (finding.line, finding.column))
    return [finding.format(str(file)) for finding in findings]


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def check_subject(text: str, subject: str, source: str) -> None:
    """Refuse a draft whose header does not name ``subject``: an
    ``InputError`` naming the subject it does name, or saying it names none.

    Incident ids are compared as the store reads them (``inc-07`` is
    ``INC-7``); drill ids exactly.
    """
    header = text.split("\n## ", 1)[0]
    named = _SUBJECT_LINE.search(header)
    if named is None:
        kind = "Incident" if is_incident_id(subject) else "Drill"
        raise InputError(
            "its header names no drill or incident, so it cannot be told to be "
            f"the postmortem of {subject}; put back the line under the title "
            f"that the draft had: {kind} `{incident_key(subject)}` · draft made "
            "by drillhall …",
            source=source,
            field="subject",
        )
    kind, other = named.group(1).lower(), named.group(2)
    if incident_key(other) != incident_key(subject):
        raise InputError(
            f"this is the postmortem of the {kind} {other}, not of {subject}; "
            f"give {subject}'s own draft, or {other} as the id with this file",
            source=source,
            line=text.count("\n", 0, named.start()) + 1,
            field="subject",
        )


# Publishing


@dataclass(frozen=True)
class WrittenAction:
    """A row of the action items table, as the author wrote it."""

    title: str
    owner: str | None
    due: date | None
    changes: str
    link: str | None
    line: int


@dataclass(frozen=True)
class Published:
    incident: str
    completed: datetime
    already: bool
    """Whether it had been published before (its first completion is kept)."""
    added: list[ActionItem]
    known: int

    def describe(self) -> str:
        when = f"{self.completed:%Y-%m-%d %H:%M} UTC"
        state = "was already published on" if self.already else "published on"
        return (
            f"postmortem of {self.incident} {state} {when}; stored "
            f"{len(self.added)} action items ({self.known} were already stored)"
        )


def publish_postmortem(
    subject: str, file: Path, db: str | None, now: datetime
) -> Published:
    """Complete the postmortem of ``subject`` and store its action items.

    Items already stored for this postmortem (same title) are not stored
    again, so publishing twice is harmless. Call after ``check_postmortem``
    found nothing.
    """
    text = _read(file)
    check_subject(text, subject, str(file))
    items = action_items_in(text, str(file))

    with Store(db) as store:
        record = store.incident(subject)
        drafted = store.postmortem_for(record.id)
        if drafted is None:
            raise InputError(
                f"{record.id} has no drafted postmortem to publish; draft it first "
                f"with `drillhall postmortem {record.id}`",
                source=str(file),
            )
        stored = {
            item.title
            for item in store.actions(incident=record.id)
            if item.postmortem == drafted.id
        }
        added = [
            store.add_action(
                title=item.title,
                owner=item.owner,
                due=item.due,
                changes=item.changes,
                link=item.link,
                incident=record.id,
                postmortem=drafted.id,
            )
            for item in items
            if item.title not in stored
        ]
        # The first publication is when the postmortem was completed; later
        # ones only bring the action items up to date.
        if drafted.completed is None:
            store.complete_postmortem(record.id, completed=now)

    return Published(
        record.id,
        drafted.completed or now,
        drafted.completed is not None,
        added,
        len(items) - len(added),
    )


def action_items_in(text: str, source: str) -> list[WrittenAction]:
    """The rows of the table under the "Action items" heading.

    Columns are found by their header (action item, owner, due, changes,
    link); a row without a title is left out, so the author may leave the
    spare row empty.
    """
    lines = text.splitlines()
    start = next(
        (n for n, line in enumerate(lines) if _ACTIONS_HEADING.match(line.strip())),
        None,
    )
    if start is None:
        return []
    table = []
    for number in range(start + 1, len(lines)):
        line = lines[number].strip()
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append((number + 1, line))
        elif table:
            break
    if len(table) < 2:
        return []

    header_line, header = table[0]
    columns = [_COLUMNS.get(cell.lower()) for cell in _cells(header)]
    if "title" not in columns:
        raise InputError(
            "the action items table has no 'action item' column; keep the "
            "draft's header: | # | action item | changes | link | owner | due |",
            source=source,
            line=header_line,
            field="action items",
        )
    return [
        item
        for number, line in table[2:]
        if (
            item := _action(
                dict(zip(columns, _cells(line), strict=False)), source, number
            )
        )
    ]


def _action(
    cells: dict[str | None, str], source: str, line: int
) -> WrittenAction | None:
    title = cells.get("title", "")
    if title.lower() in EMPTY_CELLS:
        return None
    changes = cells.get("changes", "").lower()
    changes = "other" if changes in EMPTY_CELLS else changes
    if changes not in ACTION_CHANGES:
        raise InputError(
            f"{changes!r} is not what an action item changes; write one of "
            f"{', '.join(ACTION_CHANGES)}",
            source=source,
            line=line,
            field="changes",
        )
    due_text = cells.get("due", "")
    try:
        due = None if due_text.lower() in EMPTY_CELLS else date.fromisoformat(due_text)
    except ValueError:
        raise InputError(
            f"{due_text!r} is not a date; write it as 2027-03-31 (or leave '–')",
            source=source,
            line=line,
            field="due",
        ) from None
    owner, link = cells.get("owner", ""), cells.get("link", "").strip("`<>")
    return WrittenAction(
        title=title,
        owner=None if owner.lower() in EMPTY_CELLS else owner,
        due=due,
        changes=changes,
        link=None if link.lower() in EMPTY_CELLS else link,
        line=line,
    )


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [cell.strip().replace("\\|", "|") for cell in _CELL_BORDER.split(inner)]


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            "no such file; give the path of the postmortem's Markdown draft",
            source=str(file),
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"cannot be read: {error}; give a UTF-8 Markdown file", source=str(file)
        ) from None
