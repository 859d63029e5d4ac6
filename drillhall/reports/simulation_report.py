"""The report of a simulation, or of a comparison of two: HTML or Markdown.

``drillhall simulate --report`` and ``drillhall compare --report`` write it. It
holds the scenario summary, the lifecycle durations with their intervals, their
CDFs and histograms, the escalation funnel, on-call load by hour of the week,
night pages and SLO budget burn; a comparison shows both scenarios in the same
sections and adds the paired differences. HTML is one self-contained page
(figures are data URIs); Markdown, for pull requests, links PNG files written
to a folder beside it.

Numbers are formatted here, once, so that the HTML and the Markdown print the
same text and the same figures as the prediction they come from.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from matplotlib.figure import Figure

from drillhall.errors import InputError
from drillhall.reports import simulation_plots as plots
from drillhall.reports.render import (
    data_uri,
    duration,
    format_share,
    render,
    report_format,
    write_figure,
)
from drillhall.simulator.compare import Comparison, Difference
from drillhall.simulator.lifecycle import PHASE_NAMES, PHASES
from drillhall.simulator.localtime import SHIFT_NAMES
from drillhall.simulator.statistics import Estimate
from drillhall.simulator.summary import MonteCarloSummary, Prediction

__all__ = [
    "check_report_file",
    "figures_folder",
    "write_comparison_report",
    "write_simulation_report",
]

logger = logging.getLogger(__name__)

STATISTICS = ("mean", "median", "p90", "p99")
DURATION_NAMES = {**PHASE_NAMES, "wait": "wait for a free responder"}
FIGURE_NAMES = {
    "escalated_share": "escalated past the first level (share of incidents)",
    "interruptions_per_person_week": "interruptions per person per week",
    "night_interruptions_per_person_week": "sleep-hours interruptions per person "
    "per week",
    "acknowledged_during_sleep_share": "acknowledged during the responder's "
    "sleeping hours (share)",
}
LOWER_IS_BETTER = (*(f"{phase}." for phase in PHASES), *FIGURE_NAMES)
"""Figures where a drop is an improvement: every figure compare() pairs today."""


@dataclass(frozen=True)
class Cell:
    """A figure as printed, and its 95% interval (empty when undefined)."""

    value: str
    interval: str = ""


@dataclass(frozen=True)
class Row:
    """A table row: what it is about, which scenario (when two), its cells.

    ``name`` is blank on the rows that continue a group; ``mark`` says whether
    a difference is ``better``, ``worse``, ``changed`` (neither is known to be
    better) or within ``noise``.
    """

    name: str
    side: str
    cells: list[Cell]
    mark: str = ""


@dataclass(frozen=True)
class Table:
    heading: str
    columns: list[str]
    rows: list[Row]
    sides: bool = False
    """Whether the table has a scenario column (a comparison)."""
    text: bool = False
    """Whether the cells are text (aligned left) rather than figures."""


@dataclass(frozen=True)
class _Side:
    """One scenario of the report: its role (``base``, ``candidate`` or none)."""

    role: str
    summary: MonteCarloSummary
    prediction: Prediction

    @property
    def label(self) -> str:
        return self.role or self.prediction.scenario


@dataclass
class _Figures:
    """Where figures go: data URIs for HTML, PNG files beside a Markdown file."""

    folder: Path | None
    written: list[Path] = field(default_factory=list)

    def add(self, name: str, figure: Figure) -> str:
        if self.folder is None:
            return data_uri(figure)
        path = write_figure(figure, self.folder / f"{name}.png")
        self.written.append(path)
        return quote(f"{self.folder.name}/{path.name}")


def write_simulation_report(
    path: Path, summary: MonteCarloSummary, prediction: Prediction | None = None
) -> Path:
    """Write the report of one simulation to ``path`` (.html or .md)."""
    side = _Side("", summary, prediction or summary.prediction())
    return _write(path, "simulation", [side], None)


def write_comparison_report(path: Path, comparison: Comparison) -> Path:
    """Write the report of a comparison to ``path`` (.html or .md)."""
    if comparison.base_summary is None or comparison.candidate_summary is None:
        raise ValueError(
            "the comparison carries no Monte Carlo summaries; make it with compare()"
        )
    base, candidate = comparison.base_summary, comparison.candidate_summary
    sides = [
        _Side("base", base, base.prediction()),
        _Side("candidate", candidate, candidate.prediction()),
    ]
    return _write(path, "comparison", sides, comparison)


def check_report_file(path: Path) -> None:
    """Fail before any simulation if ``path`` cannot take a report."""
    report_format(path)

    folder = path.parent
    if not folder.is_dir():
        raise InputError(
            f"the folder {str(folder)!r} does not exist; create it first",
            source="--report",
            field=str(path),
        )

    if not os.access(folder, os.W_OK) or (
        path.exists() and not os.access(path, os.W_OK)
    ):
        raise InputError(
            f"cannot write {str(path)!r}: permission denied; choose another place",
            source="--report",
            field=str(path),
        )


def figures_folder(path: Path) -> Path:
    """The folder beside a Markdown report that holds its PNG figures."""
    return path.with_name(f"{path.stem}-figures")


def _write(
    path: Path, kind: str, sides: list[_Side], comparison: Comparison | None
) -> Path:
    markdown = report_format(path) == "markdown"
    figures = _Figures(figures_folder(path) if markdown else None)
    context = _context(sides, figures)
    if comparison is not None:
        context.update(_comparison_context(comparison))
    template = f"{kind}.{'md' if markdown else 'html'}.j2"
    path.write_text(render(template, **context), encoding="utf-8")
    logger.info("wrote %s with %d figure file(s)", path, len(figures.written))
    return path


# -- the sections ---------------------------------------------------------------


def _context(sides: list[_Side], figures: _Figures) -> dict[str, Any]:
    """Everything the templates print, for one scenario or two."""
    predictions = [side.prediction for side in sides]
    return {
        "sides": [{"label": s.label, "name": s.prediction.scenario} for s in sides],
        "headline": _headline(predictions[0]),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "facts": _facts(sides),
        "metrics": _metrics(sides),
        "escalation": _escalation(sides),
        "load": _load(sides),
        "night": _night(sides),
        "sleep_acknowledged": [
            (side.label, _share(side.prediction.acknowledged_during_sleep))
            for side in sides
        ],
        "slo": _slo(sides) if any(p.slo for p in predictions) else None,
        "figures": _draw(sides, figures),
    }


def _headline(prediction: Prediction) -> str:
    return (
        f"{_count(prediction.replications, 'replication')} of "
        f"{prediction.horizon_days:g} days, seed {prediction.seed}: "
        f"{_count(prediction.incidents, 'incident')} simulated."
    )


def _facts(sides: list[_Side]) -> Table:
    rows: list[tuple[str, Callable[[_Side], Cell]]] = [
        ("scenario", lambda side: Cell(side.prediction.scenario)),
        ("description", lambda side: Cell(side.summary.scenario.description or "–")),
        ("start", lambda side: Cell(f"{side.summary.scenario.start_instant():%F}")),
        ("horizon", lambda side: Cell(f"{side.prediction.horizon_days:g} days")),
        ("replications", lambda side: Cell(str(side.prediction.replications))),
        ("seed", lambda side: Cell(str(side.prediction.seed))),
        ("incidents simulated", _incidents),
        (
            "false alerts per replication",
            lambda side: _rate(side.prediction.false_alarms_per_replication, 1),
        ),
        ("services", lambda side: Cell(_names(side.summary.scenario.services))),
        ("teams", _teams),
        ("people", _people),
        ("escalation policies", _policies),
    ]
    return Table(
        "",
        [side.label for side in sides],
        [Row(name, "", [cell(side) for side in sides]) for name, cell in rows],
        text=True,
    )


def _incidents(side: _Side) -> Cell:
    prediction = side.prediction
    per_replication = _rate(prediction.incidents_per_replication, 1)
    return Cell(
        f"{prediction.incidents}; {per_replication.value} per replication",
        per_replication.interval,
    )


def _teams(side: _Side) -> Cell:
    teams = side.summary.scenario.teams.items()
    return Cell(
        "; ".join(f"{name} ({', '.join(team.rotations)})" for name, team in teams)
    )


def _people(side: _Side) -> Cell:
    zones: dict[str, list[str]] = {}
    for name, person in side.summary.scenario.people.items():
        zones.setdefault(person.timezone, []).append(name)
    listed = "; ".join(f"{', '.join(names)} ({zone})" for zone, names in zones.items())
    return Cell(f"{len(side.summary.scenario.people)}: {listed}")


def _policies(side: _Side) -> Cell:
    policies = side.summary.scenario.escalation
    return Cell(
        "; ".join(
            f"{name} ({_count(len(policy.levels), 'level')}, repeat {policy.repeat})"
            for name, policy in policies.items()
        )
    )


def _metrics(sides: list[_Side]) -> Table:
    rows = []
    for phase in (*PHASES, "wait"):
        for side in sides:
            estimates = side.prediction.durations[phase]
            rows.append(
                Row(
                    f"{phase.upper()}: {DURATION_NAMES[phase]}",
                    side.role,
                    [_duration(estimates[name]) for name in STATISTICS],
                )
            )
    return _table("phase", list(STATISTICS), rows, len(sides) > 1)


def _escalation(sides: list[_Side]) -> Table:
    """Per policy and level, each scenario's share reaching and leaving it."""
    rows = []
    for name in _ordered(side.prediction.escalation for side in sides):
        policies = [
            (side.role, side.prediction.escalation[name])
            for side in sides
            if name in side.prediction.escalation
        ]
        levels = max(len(policy["levels"]) for _, policy in policies)
        for level in range(levels + 1):
            for role, policy in policies:
                cells = _escalation_cells(policy, level)
                if cells is not None:
                    rows.append(Row(name, role, cells))
    columns = ["incidents", "level", "reached", "escalated past it"]
    return _table("policy", columns, rows, len(sides) > 1)


def _escalation_cells(policy: dict[str, Any], level: int) -> list[Cell] | None:
    """The cells of one level (0-based), or of "nobody" past the last level."""
    incidents = Cell(str(policy["incidents"]) if level == 0 else "")
    if level == len(policy["levels"]):
        return [incidents, Cell("nobody"), _share(policy["exhausted"]), Cell("")]
    if level > len(policy["levels"]):
        return None
    counts = policy["levels"][level]
    return [
        incidents,
        Cell(f"level {counts['level']}"),
        _share(counts["reached"]),
        _share(counts["escalated"]),
    ]


def _load(sides: list[_Side]) -> Table:
    rows = []
    for person in _ordered(side.prediction.load for side in sides):
        for side in sides:
            load = side.prediction.load.get(person)
            if load is None:
                continue
            per_shift = load.interruptions_per_shift
            rows.append(
                Row(
                    person,
                    side.role,
                    [
                        Cell(str(load.shifts)),
                        _rate(load.interruptions_per_week),
                        *(_rate(load.by_shift_type[kind]) for kind in SHIFT_NAMES),
                        Cell("–" if math.isnan(per_shift) else f"{per_shift:.1f}"),
                        _rate(load.hours_worked_per_week),
                    ],
                )
            )
    columns = [
        "shifts",
        "interruptions / week",
        "business hours",
        "off hours",
        "sleep hours",
        "per shift",
        "hours worked / week",
    ]
    return _table("person", columns, rows, len(sides) > 1)


def _night(sides: list[_Side]) -> Table:
    rows = []
    for person in _ordered(side.prediction.load for side in sides):
        for side in sides:
            load = side.prediction.load.get(person)
            if load is None:
                continue
            night = load.by_shift_type["sleep"]
            total = load.interruptions_per_week.value
            share = night.value / total if total else math.nan
            rows.append(
                Row(
                    person,
                    side.role,
                    [
                        Cell(side.summary.scenario.people[person].timezone),
                        _rate(night),
                        Cell(format_share(share, 0)),
                    ],
                )
            )
    columns = ["time zone", "night pages / week", "of all interruptions"]
    return _table("person", columns, rows, len(sides) > 1)


def _slo(sides: list[_Side]) -> Table:
    rows = []
    for service in _ordered(side.prediction.slo for side in sides):
        for side in sides:
            budget = side.prediction.slo.get(service)
            if budget is None:
                continue
            rows.append(
                Row(
                    service,
                    side.role,
                    [
                        Cell(f"{budget.availability * 100:g}%"),
                        Cell(f"{budget.window_days:g} d"),
                        _rate(budget.incidents_per_replication, 1),
                        _share(budget.budget_used_per_window),
                        _share(budget.worst_window),
                        _share(budget.breach_probability),
                    ],
                )
            )
    columns = [
        "target",
        "window",
        "incidents / replication",
        "budget used per window",
        "worst window",
        "P(breach)",
    ]
    return _table("service", columns, rows, len(sides) > 1)


def _draw(sides: list[_Side], figures: _Figures) -> dict[str, str | None]:
    """Every figure of the report, as the source an <img> or a link needs."""
    durations = [
        (side.label, {phase: side.summary.pooled_durations(phase) for phase in PHASES})
        for side in sides
    ]
    marks = None
    if len(sides) == 1:
        estimates = sides[0].prediction.durations
        marks = {
            phase: {name: estimates[phase][name].value for name in ("median", "p90")}
            for phase in PHASES
        }
    predictions = [(side.label, side.prediction) for side in sides]
    drawn = {
        "cdf": figures.add("durations-cdf", plots.duration_cdfs(durations, marks)),
        "histogram": figures.add(
            "durations-histogram", plots.duration_histograms(durations)
        ),
        "escalation": figures.add(
            "escalation-funnel",
            plots.escalation_funnel([(s, p.escalation) for s, p in predictions]),
        ),
        "load": figures.add(
            "load-by-hour-of-week",
            plots.load_heatmaps(
                [(side.label, side.summary.load_by_hour_of_week()) for side in sides]
            ),
        ),
        "night": figures.add(
            "night-pages",
            plots.night_pages(
                [
                    (s, {n: load.by_shift_type["sleep"] for n, load in p.load.items()})
                    for s, p in predictions
                ]
            ),
        ),
        "slo": None,
    }
    if any(prediction.slo for _, prediction in predictions):
        drawn["slo"] = figures.add(
            "slo-budget-burn", plots.budget_burn([(s, p.slo) for s, p in predictions])
        )
    return drawn


# -- comparisons ------------------------------------------------------------------


def _comparison_context(comparison: Comparison) -> dict[str, Any]:
    pairing = (
        "paired replication by replication on the same incidents "
        "(common random numbers)"
        if comparison.common_random_numbers
        else "independent seeds (no pairing of random numbers)"
    )
    rows = [_difference_row(difference) for difference in comparison.differences]
    table = Table(
        "figure", ["base", "candidate", "difference", "verdict"], rows, sides=False
    )
    distinguishable = sum(row.mark != "noise" for row in rows)
    return {
        "base": comparison.base,
        "candidate": comparison.candidate,
        "replications": comparison.replications,
        "pairing": pairing,
        "differences": table,
        "distinguishable": distinguishable,
    }


def _difference_row(difference: Difference) -> Row:
    metric = difference.metric
    show, signed = _figure_formats(metric)
    change = difference.difference
    interval = ""
    if not (math.isnan(change.low) or math.isnan(change.high)):
        interval = f"{signed(change.low)} to {signed(change.high)}"

    if not difference.distinguishable:
        verdict, mark = "within noise", "noise"
    else:
        direction = "lower" if change.value < 0 else "higher"
        relative = difference.relative
        verdict = direction if math.isnan(relative) else f"{direction}, {relative:+.0%}"
        mark = "better" if change.value < 0 else "worse"
        if not metric.startswith(LOWER_IS_BETTER):
            mark = "changed"
    return Row(
        _figure_name(metric),
        "",
        [
            Cell(show(difference.base.value)),
            Cell(show(difference.candidate.value)),
            Cell(signed(change.value), interval),
            Cell(verdict),
        ],
        mark,
    )


def _figure_name(metric: str) -> str:
    phase, _, statistic = metric.partition(".")
    if phase in PHASES and statistic:
        return f"{phase.upper()} {statistic}"
    return FIGURE_NAMES.get(metric, metric)


def _figure_formats(
    metric: str,
) -> tuple[Callable[[float], str], Callable[[float], str]]:
    """How to print a compared figure, and a signed difference of it."""
    if metric.endswith("_share"):
        return (
            lambda value: format_share(value),
            lambda value: "–" if math.isnan(value) else f"{100 * value:+.1f} pp",
        )
    if metric.split(".")[0] in PHASES:
        return duration, _signed_duration
    return (
        lambda value: "–" if math.isnan(value) else f"{value:.2f}",
        lambda value: "–" if math.isnan(value) else f"{value:+.2f}",
    )


def _signed_duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    if seconds == 0:
        return "0s"
    return ("-" if seconds < 0 else "+") + duration(abs(seconds))


# -- cells ----------------------------------------------------------------------------


def _duration(estimate: Estimate) -> Cell:
    return Cell(duration(estimate.value), _interval(estimate, duration))


def _share(estimate: Estimate) -> Cell:
    return Cell(format_share(estimate.value), _interval(estimate, format_share))


def _rate(estimate: Estimate, digits: int = 2) -> Cell:
    def show(value: float) -> str:
        return f"{value:.{digits}f}"

    if math.isnan(estimate.value):
        return Cell("–")
    return Cell(show(estimate.value), _interval(estimate, show))


def _interval(estimate: Estimate, show: Callable[[float], str]) -> str:
    if math.isnan(estimate.low) or math.isnan(estimate.high):
        return ""
    return f"{show(estimate.low)}–{show(estimate.high)}"


def _table(heading: str, columns: list[str], rows: list[Row], sides: bool) -> Table:
    """A table whose rows name their group (a phase, a person) once, on the first."""
    shown = []
    last = ""
    for row in rows:
        if row.name and row.name == last:
            row = replace(row, name="")
        elif row.name:
            last = row.name
        shown.append(row)
    return Table(heading, columns, shown, sides)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _names(mapping: dict[str, Any]) -> str:
    return f"{len(mapping)}: {', '.join(mapping)}"


def _ordered(mappings: Any) -> list[str]:
    keys: list[str] = []
    for mapping in mappings:
        keys += [key for key in mapping if key not in keys]
    return keys
