"""``drillhall drill …``: run, follow, recover and schedule live drills."""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from drillhall.drills.participants import participant_event
from drillhall.drills.plan import DrillPlan, load_plan
from drillhall.drills.runner import (
    DrillResult,
    ReceiverSettings,
    record_json,
    recover_drills,
    run_drill,
)
from drillhall.drills.schedule import due, upcoming
from drillhall.drills.score import RUBRIC, DrillScore
from drillhall.drills.spec import spec_from_plan
from drillhall.drills.timeline import Timeline
from drillhall.errors import InputError
from drillhall.simulator.durations import format_duration

DATABASE_HELP = (
    "Timeline database: any SQLAlchemy URL [$DRILLHALL_DB or ./drillhall.db]"
)


@click.group()
def drill() -> None:
    """Live fire drills: real faults, real load, a durable timeline."""


@drill.command("run")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", help=DATABASE_HELP)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set an experiment configuration value, as `chaos run --var` does.",
)
@click.option(
    "--receiver-port",
    type=click.IntRange(0, 65535),
    help="Receive alert webhooks on 127.0.0.1:PORT (0: any free port).",
)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and print the plan only.")
def run_command(
    plan_file: Path,
    db: str | None,
    variables: tuple[str, ...],
    receiver_port: int | None,
    json_file: Path | None,
    dry_run: bool,
) -> None:
    """Run the drill in PLAN_FILE; its fault is always rolled back.

    Alert webhooks are verified with $DRILLHALL_ALERTMANAGER_TOKEN,
    $DRILLHALL_GRAFANA_TOKEN and $DRILLHALL_PAGERDUTY_SECRETS (comma-separated).
    """
    plan = load_plan(plan_file)
    spec = spec_from_plan(plan, _variables(variables), _receiver(receiver_port))
    if dry_run:
        _print_plan(plan, spec.expected)
        return

    timeline = Timeline(db)
    for drill_id in recover_drills(timeline):
        click.echo(
            f"rolled back drill {drill_id}, left open by an earlier run", err=True
        )
    result = run_drill(spec, timeline)
    _print_result(result, db)
    if json_file is not None:
        json_file.write_text(json.dumps(_result_json(result), indent=2) + "\n")
    if result.status != "finished":
        sys.exit(1)


@drill.command("event")
@click.argument("drill_id")
@click.argument("words", nargs=-1, required=True)
@click.option("--db", help=DATABASE_HELP)
def event_command(drill_id: str, words: tuple[str, ...], db: str | None) -> None:
    """Record what a participant did: ack | step N done | note TEXT | mitigated …"""
    kind, payload = participant_event(list(words))
    timeline = Timeline(db)
    timeline.drill(drill_id)  # an unknown drill is an error, nothing is written
    event = timeline.record(drill_id, kind, f"participant:{getpass.getuser()}", payload)
    click.echo(f"{event.at.isoformat()} {kind} recorded for {drill_id}")


@drill.command("recover")
@click.option("--db", help=DATABASE_HELP)
def recover_command(db: str | None) -> None:
    """Roll back every drill that a crash left open."""
    recovered = recover_drills(Timeline(db))
    if not recovered:
        click.echo("no drill was left open")
    for drill_id in recovered:
        click.echo(f"rolled back {drill_id}")


@drill.command("list")
@click.argument("plan_files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", help=DATABASE_HELP)
def list_command(plan_files: tuple[Path, ...], db: str | None) -> None:
    """Past drills from the timeline, and upcoming ones from PLAN_FILES."""
    table = Table(title="Drills")
    for column in ("drill", "plan", "started", "status", "rollback owed"):
        table.add_column(column)
    for record in Timeline(db).drills():
        # An unannounced drill shows nothing of its fault until it is over.
        hidden = record.status == "running" and not record.details.get("announced", 1)
        table.add_row(
            "(unannounced drill)" if hidden else record.id,
            "" if hidden else record.plan,
            record.started.isoformat(timespec="seconds"),
            record.status,
            "yes" if record.rollback_pending else "",
        )
    now = datetime.now(UTC)
    for plan in (load_plan(file) for file in plan_files):
        for moment in upcoming(plan, now, 3):
            table.add_row(
                "", plan.name, moment.isoformat(timespec="minutes"), "due", ""
            )
    Console().print(table)


@drill.command("due")
@click.argument(
    "plan_files",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--now",
    "now_text",
    metavar="ISO-TIME",
    help="Pretend it is this time (default: now).",
)
def due_command(plan_files: tuple[Path, ...], now_text: str | None) -> None:
    """Print the plans due now, one per line, for cron or a CI schedule."""
    now = _instant(now_text) if now_text else datetime.now(UTC)
    plans = [load_plan(file) for file in plan_files]
    for item in due(plans, now):
        source = item.plan.source or item.plan.name
        click.echo(f"{source}\t{item.fired.isoformat(timespec='minutes')}")


def _variables(pairs: tuple[str, ...]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise InputError(
                f"expected KEY=VALUE, got {pair!r}", source="--var", field=pair
            )
        variables[key] = value
    return variables


def _receiver(port: int | None) -> ReceiverSettings | None:
    alertmanager = os.environ.get("DRILLHALL_ALERTMANAGER_TOKEN")
    grafana = os.environ.get("DRILLHALL_GRAFANA_TOKEN")
    pagerduty = tuple(
        secret
        for secret in os.environ.get("DRILLHALL_PAGERDUTY_SECRETS", "").split(",")
        if secret
    )
    if port is None and not (alertmanager or grafana or pagerduty):
        return None
    return ReceiverSettings(port or 0, alertmanager, grafana, pagerduty)


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"expected an ISO 8601 time like 2027-03-02T14:05+01:00, got {text!r}",
            source="--now",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _print_plan(plan: DrillPlan, expected: dict[str, float | None]) -> None:
    click.echo(f"plan {plan.name}: valid")
    click.echo(f"  experiment: {plan.fault.experiment}")
    click.echo(f"  runbook: {len(plan.loaded_runbook.steps)} steps")
    for phase, seconds in expected.items():
        if seconds is not None:
            click.echo(f"  expected {phase}: within {format_duration(seconds)}")
    click.echo("dry run: nothing was touched")


def _print_result(result: DrillResult, db: str | None) -> None:
    console = Console()
    console.print(f"[bold]drill {result.drill}[/bold]: {result.status}")
    if result.tripped:
        console.print(f"guardrail: {result.tripped.describe()}")
    if result.rolled_back is None or not result.rolled_back.succeeded:
        console.print(
            "[red]the rollback did not complete: run `drillhall drill recover`[/red]"
        )
    if result.score is not None:
        console.print(_score_table(result.score))
        where = f" --db {db}" if db else ""
        console.print(
            f"next: `drillhall report {result.drill}{where}` for the report, "
            f"`drillhall postmortem {result.drill}{where}` for a postmortem draft",
            highlight=False,
            soft_wrap=True,
        )


def _score_table(score: DrillScore) -> Table:
    table = Table(title=f"Score {score.points:.1f} / {score.out_of:.0f}")
    for column in ("part", "measured", "expected", "percentile", "points"):
        table.add_column(column)
    for phase, part in score.phases.items():
        name, out_of = RUBRIC[phase]
        table.add_row(
            name,
            "-" if part.seconds is None else format_duration(part.seconds),
            "-" if part.expected is None else format_duration(part.expected),
            "-"
            if part.predicted_percentile is None
            else f"{part.predicted_percentile:.0f}",
            f"{part.points:.1f} / {out_of:.0f}",
        )
    runbook = score.runbook
    table.add_row(
        "runbook",
        f"{len(runbook.done)} of {runbook.steps} done, {len(runbook.skipped)} skipped",
        f"out of order: {runbook.out_of_order or 'none'}",
        f"checks failed: {runbook.checks_failed or 'none'}",
        f"{runbook.points:.1f} / {runbook.out_of:.0f}",
    )
    slo = score.slo
    used = "-" if slo.budget_used is None else f"{slo.budget_used:.0%} of budget"
    table.add_row(
        "SLO",
        f"{slo.failures} of {slo.requests} failed",
        used,
        "-"
        if slo.latency_p95_ms is None
        else f"p95 {slo.latency_p95_ms:.0f} ms during the fault",
        f"{slo.points:.1f} / {slo.out_of:.0f}",
    )
    return table


def _result_json(result: DrillResult) -> dict[str, Any]:
    score = result.score
    return {
        "drill": result.drill,
        "status": result.status,
        "guardrail": result.tripped.describe() if result.tripped else None,
        "rolled_back": bool(result.rolled_back and result.rolled_back.succeeded),
        "lifecycle": record_json(result.lifecycle) if result.lifecycle else None,
        "score": None
        if score is None
        else {
            "points": score.points,
            "out_of": score.out_of,
            "phases": {
                phase: {"seconds": part.seconds, "expected": part.expected}
                for phase, part in score.phases.items()
            },
            "runbook_done": score.runbook.done,
            "budget_used": score.slo.budget_used,
        },
    }
