"""``drillhall report DRILL``: a drill's report, as a page or as Markdown."""

from __future__ import annotations

from pathlib import Path

import click

from drillhall.drill_commands import DATABASE_HELP
from drillhall.drills.timeline import Timeline
from drillhall.reports.drill_facts import drill_facts
from drillhall.reports.drill_report import (
    check_can_report,
    check_output,
    summary_lines,
    write_drill_report,
)


@click.command("report")
@click.argument("drill_id", metavar="DRILL")
@click.option("--db", help=DATABASE_HELP)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.html (self-contained) or FILE.md (figures beside it) [./DRILL.html].",
)
def report(drill_id: str, db: str | None, output: Path | None) -> None:
    """Report the drill DRILL: timeline, score, runbook, SLO impact, prediction."""
    path = output or Path.cwd() / f"{drill_id}.html"
    check_output(path)
    with Timeline(db) as timeline:
        check_can_report(timeline.drill(drill_id))
        facts = drill_facts(timeline, drill_id)

    written = write_drill_report(facts, path)
    for line in summary_lines(facts):
        click.echo(line)
    click.echo(f"report: {written[0]}")
    if len(written) > 1:
        click.echo(f"figures: {', '.join(str(each.name) for each in written[1:])}")
