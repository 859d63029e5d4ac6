"""The ``drillhall`` command: the composition root, the only place that prints.

Every error drillhall raises on purpose becomes one line on standard error and
exit code 2; nothing prints a traceback for bad input.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from drillhall.drill_commands import drill
from drillhall.errors import DrillhallError, InputError
from drillhall.history_commands import actions, incident
from drillhall.metrics_command import metrics
from drillhall.postmortem_command import postmortem
from drillhall.report_commands import report
from drillhall.reports.heatmap import render_heatmap
from drillhall.reports.terminal import (
    DEFAULT_SWEEP_METRICS,
    render_comparison,
    render_prediction,
    render_sweep,
)
from drillhall.simulator.compare import compare, comparison_json
from drillhall.simulator.distributions import stream
from drillhall.simulator.engine import Engine
from drillhall.simulator.loader import load_scenario, load_scenario_with
from drillhall.simulator.montecarlo import RunSettings, run_replications
from drillhall.simulator.power import (
    durations_from_scenario,
    incidents_needed,
    parse_change,
)
from drillhall.simulator.records import RecordWriter
from drillhall.simulator.scenario import Scenario
from drillhall.simulator.seek import parse_goal, seek, seek_json
from drillhall.simulator.summary import MonteCarloSummary
from drillhall.simulator.sweep import parse_grid, run_sweep

logger = logging.getLogger(__name__)
USAGE_ERROR = 2
F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    """Turns every error a user can cause into one line and exit code 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as error:
            command = error.ctx.command_path if error.ctx else "drillhall"
            click.echo(
                f"drillhall: {error.format_message()} (see `{command} --help`)",
                err=True,
            )
            sys.exit(USAGE_ERROR)
        except click.ClickException as error:
            click.echo(f"drillhall: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("drillhall: interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DrillhallError as error:
            click.echo(f"drillhall: {error}", err=True)
            ctx.exit(USAGE_ERROR)
        except KeyboardInterrupt:
            click.echo("drillhall: interrupted", err=True)
            ctx.exit(130)


def _run_options(least_replications: int) -> Callable[[F], F]:
    """The options every command that runs replications takes."""

    def decorate(command: F) -> F:
        options = [
            click.option(
                "--replications",
                "-n",
                type=click.IntRange(min=least_replications),
                help="Override the scenario's number of replications.",
            ),
            click.option(
                "--seed", "-s", type=click.IntRange(min=0), help="Override the seed."
            ),
            click.option(
                "--dask",
                metavar="local|tcp://HOST:PORT",
                help="Run replications on Dask: a local cluster, or a scheduler's "
                "address.",
            ),
            click.option(
                "--workers",
                "-w",
                type=click.IntRange(min=1),
                help="Worker processes [all cores].",
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="drillhall")
def main(verbose: int) -> None:
    """Chaos engineering and fire drills for on-call teams."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # chaostoolkit-lib warns on every run that rollbacks were requested: drills
    # always ask for them. Its errors still show.
    logging.getLogger("chaostoolkit").setLevel(logging.ERROR if verbose == 0 else level)


@main.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@_run_options(least_replications=1)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the prediction as JSON.",
)
@click.option(
    "--records",
    "records_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every incident's lifecycle record (.csv or .parquet).",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a report with figures: .html (self-contained) or .md (PNGs beside).",
)
@click.option("--quiet", "-q", is_flag=True, help="No tables, no progress bar.")
def simulate(
    scenario_file: Path,
    replications: int | None,
    seed: int | None,
    dask: str | None,
    workers: int | None,
    json_file: Path | None,
    records_file: Path | None,
    report_file: Path | None,
    quiet: bool,
) -> None:
    """Predict MTTD, MTTA, MTTM, MTTR, load and SLO burn for a scenario."""
    settings = RunSettings(
        replications, seed, workers, records_file is not None, dask=dask
    )
    if report_file is not None:
        # Imported only for a report: matplotlib takes a while to load.
        from drillhall.reports import simulation_report

        simulation_report.check_report_file(report_file)
    scenario = settings.apply(load_scenario(scenario_file))
    writer = RecordWriter(records_file) if records_file else None
    _check_writable(json_file, "--json")

    console = Console(stderr=True)
    summary = MonteCarloSummary(scenario, Engine(scenario))
    with _progress(console, quiet) as progress:
        task = progress.add_task("simulating", total=scenario.replications)
        try:
            for replication in run_replications(scenario, settings):
                summary.add(replication)
                if writer is not None and replication.records is not None:
                    writer.write(replication.records)
                progress.advance(task)
        finally:
            if writer is not None:
                writer.close()

    prediction = summary.prediction()
    if not quiet:
        render_prediction(prediction, Console())
    if json_file is not None:
        json_file.write_text(json.dumps(prediction.to_dict(), indent=2) + "\n")
        logger.info("wrote %s", json_file)
    if writer is not None:
        logger.info("wrote %d records to %s", writer.count, records_file)
    if report_file is not None:
        simulation_report.write_simulation_report(report_file, summary, prediction)


@main.command("compare")
@click.argument("base_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument(
    "candidate_file", required=False, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Change the base for the candidate, e.g. "
    "escalation.checkout.levels[0].delay=10m or ...members+=dana.",
)
@_run_options(least_replications=2)
@click.option(
    "--independent",
    is_flag=True,
    help="Use independent seeds instead of common random numbers (to see why not).",
)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a report with figures: .html (self-contained) or .md (PNGs beside).",
)
def compare_command(
    base_file: Path,
    candidate_file: Path | None,
    overrides: tuple[str, ...],
    replications: int | None,
    seed: int | None,
    dask: str | None,
    workers: int | None,
    independent: bool,
    json_file: Path | None,
    report_file: Path | None,
) -> None:
    """Compare a candidate on-call set-up against the base, figure by figure.

    The candidate is CANDIDATE_FILE, or the base with --set changes (or both).
    """
    if candidate_file is None and not overrides:
        raise InputError(
            "nothing to compare: give a CANDIDATE_FILE or --set PATH=VALUE changes",
            source="compare",
        )
    if report_file is not None:
        from drillhall.reports import simulation_report

        simulation_report.check_report_file(report_file)
    base = load_scenario(base_file)
    candidate = load_scenario_with(candidate_file or base_file, list(overrides))
    if overrides:
        changes = "change" if len(overrides) == 1 else "changes"
        name = f"{candidate.name} with {len(overrides)} {changes}"
        candidate = candidate.model_copy(update={"name": name})
    _check_writable(json_file, "--json")

    settings = RunSettings(replications, seed, workers, dask=dask)
    total = 2 * settings.apply(base).replications
    with _progress(Console(stderr=True), False) as progress:
        task = progress.add_task("simulating both", total=total)
        comparison = compare(
            base,
            candidate,
            settings,
            common_random_numbers=not independent,
            progress=lambda: progress.advance(task),
        )
    render_comparison(comparison, Console())
    if json_file is not None:
        json_file.write_text(json.dumps(comparison_json(comparison), indent=2) + "\n")
    if report_file is not None:
        simulation_report.write_comparison_report(report_file, comparison)


@main.command("sweep")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--grid",
    "grids",
    multiple=True,
    required=True,
    metavar="PATH=v1,v2|lo..hi[:step]",
    help="An axis of the sweep, e.g. escalation.main.levels[0].delay=5m..30m:5m.",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="Figures to show [tta.p90, ttr.median, escalated_share, "
    "interruptions_per_person_week]; the first is the heatmap's.",
)
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--heatmap", type=click.Path(dir_okay=False, path_type=Path))
@_run_options(least_replications=2)
def sweep_command(
    scenario_file: Path,
    grids: tuple[str, ...],
    metrics: tuple[str, ...],
    csv_file: Path | None,
    heatmap: Path | None,
    replications: int | None,
    seed: int | None,
    dask: str | None,
    workers: int | None,
) -> None:
    """Run SCENARIO_FILE at every combination of the --grid values."""
    axes = [parse_grid(grid) for grid in grids]
    _check_writable(csv_file, "--csv")
    _check_writable(heatmap, "--heatmap")
    settings = RunSettings(replications, seed, workers, dask=dask)

    with _progress(Console(stderr=True), False) as progress:
        task = progress.add_task("sweeping", total=None)
        result = run_sweep(
            scenario_file, axes, settings, progress=lambda: progress.advance(task)
        )
    shown = list(metrics) or list(DEFAULT_SWEEP_METRICS)
    for metric in shown:
        result.estimates(metric)  # an unknown figure is named before output
    render_sweep(result, shown, Console())
    if csv_file is not None:
        result.to_csv(csv_file)
    if heatmap is not None:
        render_heatmap(result, shown[0], heatmap)


@main.command("seek")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--vary", "path", required=True, metavar="PATH", help="What to vary.")
@click.option(
    "--values",
    required=True,
    metavar="v1,v2|lo..hi",
    help="Candidate values, smallest first, e.g. 5m,10m,15m or 3..9.",
)
@click.option(
    "--goal",
    "goals",
    multiple=True,
    required=True,
    help="e.g. 'p90(tta) <= 15m' or 'night_pages_per_person_week <= 1'.",
)
@_run_options(least_replications=2)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path))
def seek_command(
    scenario_file: Path,
    path: str,
    values: str,
    goals: tuple[str, ...],
    replications: int | None,
    seed: int | None,
    dask: str | None,
    workers: int | None,
    json_file: Path | None,
) -> None:
    """Find the smallest value of --vary that meets every --goal."""
    parsed = [parse_goal(goal) for goal in goals]
    _check_writable(json_file, "--json")
    settings = RunSettings(replications, seed, workers, dask=dask)
    result = seek(scenario_file, path, values, parsed, settings)

    for point in result.points:
        verdicts = ", ".join(
            f"{goal} {'met' if met else 'missed'}" for goal, met in point.passed.items()
        )
        click.echo(f"{path}={point.value}: {verdicts}")
    if result.value is None:
        click.echo("no candidate value meets every goal")
    else:
        click.echo(f"smallest value meeting every goal: {path}={result.value}")
    if json_file is not None:
        json_file.write_text(json.dumps(seek_json(result), indent=2) + "\n")
    if result.value is None:
        sys.exit(1)


@main.command("power")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--metric",
    type=click.Choice(["mttd", "mtta", "mttm", "mttr"]),
    default="mttr",
    show_default=True,
)
@click.option("--change", required=True, help="The real change to detect, e.g. -10%.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95)
@click.option("--power", "wanted", type=click.FloatRange(0.5, 0.999), default=0.8)
@click.option("--replications", "-n", type=click.IntRange(min=1), help="Override.")
def power_command(
    scenario_file: Path,
    metric: str,
    change: str,
    confidence: float,
    wanted: float,
    replications: int | None,
) -> None:
    """How many incidents before a real change in a metric shows through noise."""
    relative = parse_change(change)
    scenario = load_scenario(scenario_file)
    durations = durations_from_scenario(scenario, metric, replications)
    rng = stream(scenario.seed, 0, "power")
    size = incidents_needed(
        durations, relative, rng=rng, confidence=confidence, power=wanted
    )
    if size.per_side is None:
        click.echo(
            f"a {relative:+.0%} change in {metric} is not detected {wanted:.0%} of "
            f"the time even with {max(size.rates)} incidents per side"
        )
        sys.exit(1)
    click.echo(
        f"{size.per_side} incidents per side detect a real {relative:+.0%} change "
        f"in {metric} {wanted:.0%} of the time at {confidence:.0%} confidence "
        f"(Welch's t on log durations, {len(durations)} simulated incidents)"
    )
    for count, rate in sorted(size.rates.items()):
        click.echo(f"  {count:>7} per side: detected {rate:.0%} of the time")


@main.command()
@click.argument(
    "scenario_files",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
def validate(scenario_files: tuple[Path, ...]) -> None:
    """Check scenario files; print every problem with its file:line:column."""
    failed = False
    for file in scenario_files:
        try:
            scenario = load_scenario(file)
        except InputError as error:
            click.echo(str(error), err=True)
            failed = True
            continue
        click.echo(f"{file}: ok ({_describe(scenario)})")
    if failed:
        sys.exit(USAGE_ERROR)


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files, for editors."""
    document = Scenario.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    click.echo(json.dumps(document, indent=2))


def _describe(scenario: Scenario) -> str:
    faults = sum(len(service.faults) for service in scenario.services.values())
    return (
        f"{len(scenario.people)} people, {len(scenario.teams)} teams, "
        f"{len(scenario.services)} services, {faults} fault types"
    )


def _check_writable(path: Path | None, flag: str) -> None:
    if path is not None and not path.parent.exists():
        raise InputError(
            f"the folder {str(path.parent)!r} does not exist; create it first",
            source=flag,
            field=str(path),
        )


def _progress(console: Console, quiet: bool) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=quiet,
    )


main.add_command(drill)
for command in (incident, actions, metrics, report, postmortem):
    main.add_command(command)
