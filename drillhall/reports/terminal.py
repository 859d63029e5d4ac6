"""A prediction as tables in the terminal."""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from drillhall.simulator.compare import Comparison
from drillhall.simulator.durations import format_duration
from drillhall.simulator.lifecycle import PHASE_NAMES
from drillhall.simulator.statistics import Estimate
from drillhall.simulator.summary import Prediction
from drillhall.simulator.sweep import SweepResult

WAIT_NAME = "for a free responder"


def render_prediction(prediction: Prediction, console: Console) -> None:
    """Print the prediction's headline, durations, escalation, load and SLOs."""
    console.print(_headline(prediction))
    console.print(_durations(prediction))
    console.print(_escalation(prediction))
    console.print(_load(prediction))
    if prediction.slo:
        console.print(_slo(prediction))


def _headline(prediction: Prediction) -> str:
    per_replication = prediction.incidents_per_replication
    sleep = prediction.acknowledged_during_sleep
    return (
        f"[bold]{prediction.scenario}[/bold]: {prediction.replications} "
        f"replications of {prediction.horizon_days:g} days, seed {prediction.seed}\n"
        f"{per_replication.value:.1f} incidents per replication "
        f"({prediction.incidents} in all), "
        f"{prediction.false_alarms_per_replication.value:.1f} false alerts; "
        f"{_percent(sleep)} acknowledged during the responder's sleeping hours. "
        "Intervals are 95%."
    )


def _durations(prediction: Prediction) -> Table:
    table = Table(title="Lifecycle durations (pooled over all incidents)")
    table.add_column("phase", max_width=24)
    for statistic in ("mean", "median", "p90", "p99"):
        table.add_column(statistic, justify="right")

    names = {**PHASE_NAMES, "wait": WAIT_NAME}
    for phase, estimates in prediction.durations.items():
        table.add_row(
            f"{phase.upper()}: {names[phase]}",
            *(_duration(estimates[key]) for key in ("mean", "median", "p90", "p99")),
        )
    return table


def _escalation(prediction: Prediction) -> Table:
    table = Table(title="Escalation (share of incidents)")
    table.add_column("policy")
    table.add_column("incidents", justify="right")
    table.add_column("level", justify="right")
    table.add_column("reached", justify="right")
    table.add_column("escalated past it", justify="right")
    for name, policy in prediction.escalation.items():
        for level in policy["levels"]:
            table.add_row(
                name if level["level"] == 1 else "",
                str(policy["incidents"]) if level["level"] == 1 else "",
                str(level["level"]),
                _percent(level["reached"]),
                _percent(level["escalated"]),
            )
        table.add_row("", "", "nobody", _percent(policy["exhausted"]), "")
    return table


def _load(prediction: Prediction) -> Table:
    table = Table(title="On-call load per person (interruptions per week)")
    table.add_column("person")
    table.add_column("shifts", justify="right")
    table.add_column("all", justify="right")
    table.add_column("business", justify="right")
    table.add_column("off hours", justify="right")
    table.add_column("sleep", justify="right")
    table.add_column("per shift", justify="right")
    table.add_column("work h/week", justify="right")
    for person, load in prediction.load.items():
        table.add_row(
            person,
            str(load.shifts),
            _number(load.interruptions_per_week),
            _number(load.by_shift_type["business"], interval=False),
            _number(load.by_shift_type["off_hours"], interval=False),
            _number(load.by_shift_type["sleep"], interval=False),
            "-"
            if math.isnan(load.interruptions_per_shift)
            else (f"{load.interruptions_per_shift:.1f}"),
            _number(load.hours_worked_per_week, interval=False),
        )
    return table


def _slo(prediction: Prediction) -> Table:
    table = Table(title="SLO error budget")
    table.add_column("service")
    table.add_column("target", justify="right")
    table.add_column("window", justify="right")
    table.add_column("incidents/replication", justify="right")
    table.add_column("budget used per window", justify="right")
    table.add_column("worst window", justify="right")
    table.add_column("P(breach)", justify="right")
    for name, budget in prediction.slo.items():
        table.add_row(
            name,
            f"{budget.availability * 100:g}%",
            f"{budget.window_days:g}d",
            _number(budget.incidents_per_replication, interval=False),
            _percent(budget.budget_used_per_window),
            _percent(budget.worst_window),
            _percent(budget.breach_probability),
        )
    return table


def _duration(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "-"
    low, high = format_duration(estimate.low), format_duration(estimate.high)
    return f"{format_duration(estimate.value)}\n[dim]{low}–{high}[/dim]"


def _percent(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "-"
    return f"{estimate.value:.1%} [dim][{estimate.low:.1%}–{estimate.high:.1%}][/dim]"


def _number(estimate: Estimate, interval: bool = True) -> str:
    if math.isnan(estimate.value):
        return "-"
    if not interval or math.isnan(estimate.low):
        return f"{estimate.value:.2f}"
    return f"{estimate.value:.2f}\n[dim]{estimate.low:.2f}–{estimate.high:.2f}[/dim]"


def render_comparison(comparison: Comparison, console: Console) -> None:
    """Print each figure in both scenarios and their paired difference."""
    pairing = (
        "paired replication by replication (common random numbers)"
        if comparison.common_random_numbers
        else "independent seeds"
    )
    console.print(
        f"[bold]{comparison.base}[/bold] → [bold]{comparison.candidate}[/bold]: "
        f"{comparison.replications} replications, {pairing}. Intervals are 95%."
    )
    table = Table(title="Candidate against base")
    for column in ("figure", "base", "candidate", "difference", "verdict"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for difference in comparison.differences:
        show = _figure_format(difference.metric)
        change = difference.difference
        verdict = (
            f"{difference.relative:+.0%}"
            if difference.distinguishable and not math.isnan(difference.relative)
            else "within noise"
            if not difference.distinguishable
            else "changed"
        )
        table.add_row(
            difference.metric,
            show(difference.base.value),
            show(difference.candidate.value),
            f"{_signed(show, change.value)}\n"
            f"[dim]{_signed(show, change.low)}–{_signed(show, change.high)}[/dim]",
            verdict,
        )
    console.print(table)


def _figure_format(metric: str) -> Callable[[float], str]:
    if metric.endswith("_share"):
        return lambda value: "-" if math.isnan(value) else f"{value:.1%}"
    if "per_person_week" in metric:
        return lambda value: "-" if math.isnan(value) else f"{value:.2f}"
    return lambda value: "-" if math.isnan(value) else format_duration(abs(value))


def _signed(show: Callable[[float], str], value: float) -> str:
    if math.isnan(value):
        return "-"
    return ("-" if value < 0 else "+") + show(abs(value))


DEFAULT_SWEEP_METRICS = (
    "tta.p90",
    "ttr.median",
    "escalated_share",
    "interruptions_per_person_week",
)


def render_sweep(result: SweepResult, metrics: list[str], console: Console) -> None:
    """One row per point of a sweep: its values and the chosen figures."""
    table = Table(
        title=f"Sweep of {result.file}: {result.replications} replications per "
        f"point, seed {result.seed}, the same random numbers at every point"
    )
    for path in result.paths:
        table.add_column(path)
    for metric in metrics:
        table.add_column(metric, justify="right")
    columns = [result.estimates(metric) for metric in metrics]
    for index, point in enumerate(result.points):
        cells = []
        for metric, estimates in zip(metrics, columns, strict=True):
            estimate = estimates[index]
            show = _figure_format(metric)
            cells.append(
                f"{show(estimate.value)}\n"
                f"[dim]{show(estimate.low)}–{show(estimate.high)}[/dim]"
            )
        table.add_row(*point.texts, *cells)
    console.print(table)
