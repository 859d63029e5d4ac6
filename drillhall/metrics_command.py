"""``drillhall metrics``: trends of the incident history per month and team.

Reads the history store, computes the trends (``drillhall.reports.trends``) and
shows them as tables, and on request as a PNG chart, JSON and Prometheus text.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console

from drillhall.errors import InputError
from drillhall.reports.incident_values import parse_severity
from drillhall.reports.render import write_figure
from drillhall.reports.store import Store
from drillhall.reports.trend_outputs import (
    prometheus_text,
    render_trends_table,
    trends_figure,
    trends_json,
)
from drillhall.reports.trends import (
    Month,
    Trends,
    TrendSettings,
    Window,
    compute_trends,
)
from drillhall.simulator.durations import parse_duration

logger = logging.getLogger(__name__)

DATABASE_HELP = "History store: any SQLAlchemy URL [$DRILLHALL_DB or ./drillhall.db]"


@click.command("metrics")
@click.option("--db", help=DATABASE_HELP)
@click.option(
    "--since", metavar="YYYY-MM", help="First month [--months before --until]."
)
@click.option("--until", metavar="YYYY-MM", help="Last month [this month].")
@click.option(
    "--months",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="How many months up to --until, when --since is not given.",
)
@click.option("--team", help="Only this team's incidents and action items.")
@click.option("--include-drills", is_flag=True, help="Count drills as incidents.")
@click.option(
    "--severity",
    default="SEV2",
    show_default=True,
    help="Incidents this severe or more (SEV1 is the most severe) need a postmortem.",
)
@click.option(
    "--within",
    default="5d",
    show_default=True,
    help="How long after resolution a postmortem is due, e.g. 5d or 72h.",
)
@click.option(
    "--today",
    metavar="YYYY-MM-DD",
    help="Judge deadlines as of the start of this day (UTC) [now].",
)
@click.option(
    "--png",
    "png_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Chart: TTD and TTR median and p90 per month over the incident count.",
)
@click.option(
    "--prometheus",
    "prometheus_file",
    metavar="FILE|-",
    help="Prometheus text of the whole window (- for standard output, then no "
    "tables), e.g. for node_exporter's textfile collector.",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every figure as JSON.",
)
def metrics(
    db: str | None,
    since: str | None,
    until: str | None,
    months: int,
    team: str | None,
    include_drills: bool,
    severity: str,
    within: str,
    today: str | None,
    png_file: Path | None,
    prometheus_file: str | None,
    json_file: Path | None,
) -> None:
    """MTTD, MTTR, incident frequency, postmortem and action-item completion,
    per month and team, from the history store."""
    as_of = _parse_today(today) if today else datetime.now(UTC)
    last = _parse_month(until, "--until") if until else Month.of(as_of)
    window = (
        Window(_parse_month(since, "--since"), last)
        if since
        else Window.last_months(months, last)
    )
    settings = TrendSettings(
        window=window,
        as_of=as_of,
        severity=_parse_severity(severity),
        within=_parse_within(within),
        include_drills=include_drills,
        team=team,
    )
    for path, flag in ((png_file, "--png"), (json_file, "--json")):
        _check_writable(path, flag)
    if prometheus_file not in (None, "-"):
        _check_writable(Path(prometheus_file), "--prometheus")

    trends = _trends(db, settings)

    if prometheus_file != "-":
        render_trends_table(trends, Console())
    _write_outputs(trends, png_file, prometheus_file, json_file)


def _trends(db: str | None, settings: TrendSettings) -> Trends:
    # The whole history, drills included: an action item finds its team
    # through its incident, which may be older than the window, or a drill.
    with Store(db) as store:
        # Counted drills are all the timeline's, not only those with a postmortem.
        if settings.include_drills:
            store.sync_drills()
        incidents = store.incidents(kind=None)
        postmortems = store.postmortems()
        actions = store.actions()
    return compute_trends(incidents, postmortems, actions, settings)


def _write_outputs(
    trends: Trends,
    png_file: Path | None,
    prometheus_file: str | None,
    json_file: Path | None,
) -> None:
    if png_file is not None:
        write_figure(trends_figure(trends), png_file)
    if json_file is not None:
        json_file.write_text(json.dumps(trends_json(trends), indent=2) + "\n")
        logger.info("wrote %s", json_file)
    if prometheus_file == "-":
        sys.stdout.write(prometheus_text(trends))
    elif prometheus_file is not None:
        _replace_file(Path(prometheus_file), prometheus_text(trends))


def _replace_file(path: Path, text: str) -> None:
    """Write through a temporary file and rename it: a collector reading the
    file meanwhile sees the old figures or the new ones, never half of them."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    os.replace(partial, path)
    logger.info("wrote %s", path)


def _parse_month(text: str, flag: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as error:
        raise InputError(f"{error}; give a month as YYYY-MM", source=flag) from None


def _parse_today(text: str) -> datetime:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"expected a day like '2026-03-31', got {text!r}", source="--today"
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _parse_severity(text: str) -> int:
    try:
        return parse_severity(text)
    except InputError as error:
        raise InputError(error.message, source="--severity") from None


def _parse_within(text: str) -> timedelta:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise InputError(
            f"{error}; give how long after resolution a postmortem is due",
            source="--within",
        ) from None
    return timedelta(seconds=seconds)


def _check_writable(path: Path | None, flag: str) -> None:
    if path is not None and not path.parent.exists():
        raise InputError(
            f"the folder {str(path.parent)!r} does not exist; create it first",
            source=flag,
            field=str(path),
        )
