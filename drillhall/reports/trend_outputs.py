"""Trends of the incident history as people and dashboards read them.

Four renderings of one ``Trends`` (see ``drillhall.reports.trends``): a rich
table per team for the terminal, a PNG chart, JSON, and Prometheus exposition
text (format 0.0.4) for node_exporter's textfile collector or a scrape.

The Prometheus text holds the figures of the report's whole window (the
``--months``, or ``--since``/``--until``, window: the table's last row), not
those of the latest month. Whatever runs the command on a schedule feeds
Prometheus, and Prometheus keeps the history: a rolling window gives a series
whose every point is a trend value, where a single month holds too few
incidents for a 90th percentile to mean much, and a month label would add a
series per month forever. Two gauges say which window the figures cover.
Labels: ``team`` (each team's name, ``all`` for all teams together, ``none``
for incidents without a team) and, on durations, ``quantile`` 0.5 and 0.9.
Durations are summaries in seconds (``_sum`` / ``_count`` give the mean);
counts within the window are gauges, since they fall as the window moves on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drillhall.reports.render import duration, format_share
from drillhall.reports.trends import (
    DurationSummary,
    Figures,
    TeamTrend,
    Trends,
    TrendSettings,
)
from drillhall.simulator.durations import DAY, HOUR, MINUTE, format_duration
from drillhall.simulator.lifecycle import PHASE_NAMES, PHASES

logger = logging.getLogger(__name__)

ALL_TEAMS = "all"
NO_TEAM = "none"
"""Prometheus label values for all teams together and for records without one.

NOTE: a real team named ``all`` or ``none`` would share its series with these;
the table and JSON tell them apart, the exposition text cannot without a second
label that every dashboard query would have to mention."""

SHOWN_PHASES = ("ttd", "ttr")
"""The durations the table and the chart show; JSON and Prometheus have all."""


def render_trends_table(trends: Trends, console: Console) -> None:
    """One table per team (all teams first), then the note that explains them."""
    for label, trend in _scopes(trends):
        console.print(_table(label, trend, trends.settings))
    console.print(_note(trends), style="dim")


def _scopes(trends: Trends) -> Iterator[tuple[str, TeamTrend]]:
    """Each table's label (team names are data: never read as rich markup)."""
    if trends.settings.team is not None:
        yield f"team {escape(trends.settings.team)}", trends.everyone
        return
    yield "all teams", trends.everyone
    for team, trend in trends.teams.items():
        yield ("no team" if team is None else f"team {escape(team)}"), trend


def _table(label: str, trend: TeamTrend, settings: TrendSettings) -> Table:
    window = settings.window
    table = Table(title=f"Incident trends, {label}, {window.first} to {window.last}")
    table.add_column("month", no_wrap=True)
    table.add_column("inci-\ndents", justify="right")
    for phase in SHOWN_PHASES:
        name = phase.upper()
        table.add_column(f"{name}\nmedian\n[dim]mean (n)[/dim]", justify="right")
        table.add_column(f"{name}\np90", justify="right")
    table.add_column("post-\nmortem\non time", justify="right")
    table.add_column("items\ndone", justify="right")
    table.add_column("over-\ndue", justify="right")

    months = list(trend.months.items())
    for index, (month, figures) in enumerate(months):
        last = index == len(months) - 1
        table.add_row(str(month), *_cells(figures), end_section=last)
    table.add_row("overall", *_cells(trend.window), style="bold")
    return table


def _cells(figures: Figures) -> list[str]:
    cells = [str(figures.incidents)]
    for phase in SHOWN_PHASES:
        summary = figures.durations[phase]
        median = duration(summary.median)
        if summary.count:
            median += f"\n[dim]{duration(summary.mean)} ({summary.count})[/dim]"
        cells += [median, duration(summary.p90)]

    postmortems = figures.postmortems
    cell = format_share(postmortems.share, 0)
    if postmortems.due:
        cell += f"\n[dim]{postmortems.on_time}/{postmortems.due}[/dim]"
    if postmortems.not_yet_due:
        cell += f"\n[dim]+{postmortems.not_yet_due} not due[/dim]"
    actions = figures.actions
    done = format_share(actions.share, 0)
    if actions.created:
        done += f"\n[dim]{actions.done}/{actions.created}[/dim]"
    return [*cells, cell, done, str(actions.overdue)]


def _note(trends: Trends) -> str:
    settings = trends.settings
    not_yet_due = trends.everyone.window.postmortems.not_yet_due
    drills = (
        "Drills are counted."
        if settings.include_drills
        else "Drills are left out (--include-drills counts them)."
    )
    return (
        "Median and p90 lead because incident durations are heavy-tailed. "
        "TTD = detected − started, TTR = resolved − started; (n) is how many "
        "incidents a figure is over: one missing a time is left out, not counted "
        f"as zero. Postmortems: of the {severity_label(settings.severity)} "
        "incidents, the share with a postmortem completed within "
        f"{format_duration(settings.within.total_seconds())} of resolution; "
        f"{not_yet_due} not yet due (deadline after {settings.as_of:%Y-%m-%d %H:%M} "
        "UTC or not resolved yet, no postmortem completed) are left out of it. "
        "Items done: the share of the action items created in the month that are "
        f"done; overdue: those open and past due on {settings.today}. {drills}"
    )


def severity_label(severity: int) -> str:
    return "SEV1" if severity == 1 else f"SEV1–SEV{severity}"


def trends_json(trends: Trends) -> dict[str, Any]:
    """The trends as plain data; durations in seconds, null where none."""
    settings = trends.settings
    return {
        "since": str(settings.window.first),
        "until": str(settings.window.last),
        "as_of": settings.as_of.isoformat(),
        "team": settings.team,
        "include_drills": settings.include_drills,
        "postmortem_severity": settings.severity,
        "postmortem_within_seconds": settings.within.total_seconds(),
        "all": _team_json(trends.everyone),
        "teams": [
            {"team": team, **_team_json(trend)} for team, trend in trends.teams.items()
        ],
    }


def _team_json(trend: TeamTrend) -> dict[str, Any]:
    return {
        "months": [
            {"month": str(month), **_figures_json(figures)}
            for month, figures in trend.months.items()
        ],
        "window": _figures_json(trend.window),
    }


def _figures_json(figures: Figures) -> dict[str, Any]:
    postmortems = figures.postmortems
    actions = figures.actions
    return {
        "incidents": figures.incidents,
        "durations": {
            phase: {
                "count": summary.count,
                "mean": summary.mean,
                "median": summary.median,
                "p90": summary.p90,
            }
            for phase, summary in figures.durations.items()
        },
        "postmortems": {
            "on_time": postmortems.on_time,
            "late": postmortems.late,
            "missing": postmortems.missing,
            "due": postmortems.due,
            "not_yet_due": postmortems.not_yet_due,
            "share": postmortems.share,
        },
        "actions": {
            "created": actions.created,
            "done": actions.done,
            "overdue": actions.overdue,
            "share": actions.share,
        },
    }


DURATION_TICKS = (
    1.0,
    10.0,
    30.0,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    4 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    30 * DAY,
)
"""Where the chart's time axis may be labelled: 1.0s, 10s … 30d; every other
one when the axis spans more than eight of them."""


def trends_figure(trends: Trends) -> Figure:
    """Median and p90 of TTD and TTR per month as lines on a logarithmic time
    axis, over the month's incident count as bars (all teams, or ``--team``)."""
    settings = trends.settings
    months = list(trends.everyone.months.items())
    positions = np.arange(len(months))
    figure = Figure(
        figsize=(max(7.0, 0.6 * len(months) + 3), 4.8), layout="constrained"
    )
    durations_axes = figure.add_subplot()
    counts_axes = durations_axes.twinx()

    counts_axes.bar(
        positions,
        [figures.incidents for _, figures in months],
        width=0.6,
        color="#d5dde6",
        label="incidents",
    )
    counts_axes.set_ylabel("incidents per month")
    counts_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    counts_axes.set_ylim(bottom=0, top=max(1, *(f.incidents for _, f in months)) * 1.15)

    plotted = _draw_durations(durations_axes, positions, [f for _, f in months])
    _time_axis(durations_axes, plotted)
    # The lines' axes go in front of the bars' so the bars never hide a point.
    durations_axes.set_zorder(counts_axes.get_zorder() + 1)
    durations_axes.patch.set_visible(False)

    durations_axes.set_xticks(positions, [str(month) for month, _ in months])
    if len(months) > 8:
        durations_axes.tick_params(axis="x", labelrotation=45)
    scope = f"team {settings.team}" if settings.team else "all teams"
    durations_axes.set_title(
        f"Incident trends, {scope}, {settings.window.first} to {settings.window.last}"
    )
    lines, labels = durations_axes.get_legend_handles_labels()
    bars, bar_labels = counts_axes.get_legend_handles_labels()
    figure.legend(
        lines + bars,
        labels + bar_labels,
        loc="outside lower center",
        ncols=3,
        fontsize="small",
        frameon=False,
    )
    return figure


def _draw_durations(
    axes: Axes, positions: np.ndarray, months: list[Figures]
) -> list[float]:
    """Lines with a marker at each month, so a month between two empty ones
    still shows; an empty month leaves the line broken, not drawn through."""
    plotted: list[float] = []
    for phase, colour in zip(SHOWN_PHASES, ("tab:orange", "tab:blue"), strict=True):
        for statistic, style in (("median", "-"), ("p90", "--")):
            values = [
                _plotted(figures.durations[phase], statistic) for figures in months
            ]
            axes.plot(
                positions,
                values,
                linestyle=style,
                marker="o",
                color=colour,
                label=f"{phase.upper()} {statistic} ({PHASE_NAMES[phase]})",
            )
            plotted += [value for value in values if not math.isnan(value)]
    return plotted


def _plotted(summary: DurationSummary, statistic: str) -> float:
    value = getattr(summary, statistic)
    if value is None:
        return math.nan
    # NOTE: a log axis has no zero; an instant detection is drawn at 1 s.
    return max(float(value), 1.0)


def _time_axis(axes: Axes, plotted: list[float]) -> None:
    axes.set_yscale("log")
    low, high = (min(plotted), max(plotted)) if plotted else (MINUTE, DAY)
    low, high = low / 2, high * 2
    axes.set_ylim(low, high)
    ticks = [tick for tick in DURATION_TICKS if low <= tick <= high] or [low, high]
    if len(ticks) > 8:
        ticks = ticks[::2]
    axes.yaxis.set_major_locator(FixedLocator(ticks))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: duration(value)))
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set_ylabel("duration (log scale)")
    axes.grid(axis="y", alpha=0.3)


def prometheus_text(trends: Trends) -> str:
    """The window's figures in Prometheus text exposition format 0.0.4."""
    window = trends.settings.window
    scopes = _label_scopes(trends)
    text = _Exposition()

    text.gauge(
        "trend_window_start_timestamp_seconds",
        "Start of the months these figures cover (Unix time, UTC).",
        [({}, window.start.timestamp())],
    )
    text.gauge(
        "trend_window_end_timestamp_seconds",
        "End of the months these figures cover, exclusive (Unix time, UTC).",
        [({}, window.end.timestamp())],
    )
    text.gauge(
        "incidents",
        "Incidents that started in the window.",
        [({"team": team}, figures.incidents) for team, figures in scopes],
    )

    for phase in PHASES:
        _duration_summary(text, phase, scopes)
    _postmortem_gauges(text, trends.settings, scopes)
    _action_gauges(text, scopes)
    return text.render()


class _Exposition:
    """Metric families in the text format, each with its HELP and TYPE lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP drillhall_{name} {help_text}")
        self.lines.append(f"# TYPE drillhall_{name} {kind}")

    def sample(self, name: str, labels: dict[str, str], value: float | None) -> None:
        pairs = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
        braces = f"{{{pairs}}}" if pairs else ""
        self.lines.append(f"drillhall_{name}{braces} {_number(value)}")

    def gauge(
        self,
        name: str,
        help_text: str,
        samples: list[tuple[dict[str, str], float | None]],
    ) -> None:
        self.family(name, "gauge", help_text)
        for labels, value in samples:
            self.sample(name, labels, value)

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _duration_summary(
    text: _Exposition, phase: str, scopes: list[tuple[str, Figures]]
) -> None:
    name = f"{PHASE_NAMES[phase].replace(' ', '_')}_seconds"
    text.family(
        name,
        "summary",
        f"{phase.upper()}, {PHASE_NAMES[phase]}, of the incidents in the window "
        "that have both times.",
    )
    for team, figures in scopes:
        summary = figures.durations[phase]
        text.sample(name, {"team": team, "quantile": "0.5"}, summary.median)
        text.sample(name, {"team": team, "quantile": "0.9"}, summary.p90)
        text.sample(
            f"{name}_sum", {"team": team}, (summary.mean or 0.0) * summary.count
        )
        text.sample(f"{name}_count", {"team": team}, summary.count)


def _postmortem_gauges(
    text: _Exposition, settings: TrendSettings, scopes: list[tuple[str, Figures]]
) -> None:
    which = (
        f"{severity_label(settings.severity)} incidents in the window "
        f"(postmortem due {format_duration(settings.within.total_seconds())} "
        "after resolution)"
    )
    gauges = (
        ("postmortems_due", f"{which} whose deadline has passed.", "due"),
        ("postmortems_on_time", f"{which} with a postmortem on time.", "on_time"),
        ("postmortems_not_yet_due", f"{which} not yet due.", "not_yet_due"),
        ("postmortem_completion_ratio", f"Share of the due {which} on time.", "share"),
    )
    for name, help_text, attribute in gauges:
        samples = [
            ({"team": team}, getattr(figures.postmortems, attribute))
            for team, figures in scopes
        ]
        text.gauge(name, help_text, samples)


def _action_gauges(text: _Exposition, scopes: list[tuple[str, Figures]]) -> None:
    gauges = (
        ("action_items_created", "Action items created in the window.", "created"),
        ("action_items_done", "Action items created in the window and done.", "done"),
        (
            "action_item_completion_ratio",
            "Share of the action items created in the window that are done.",
            "share",
        ),
        (
            "action_items_overdue",
            "Action items created in the window, open and past due.",
            "overdue",
        ),
    )
    for name, help_text, attribute in gauges:
        samples = [
            ({"team": team}, getattr(figures.actions, attribute))
            for team, figures in scopes
        ]
        text.gauge(name, help_text, samples)


def _label_scopes(trends: Trends) -> list[tuple[str, Figures]]:
    if trends.settings.team is not None:
        return [(trends.settings.team, trends.everyone.window)]
    return [(ALL_TEAMS, trends.everyone.window)] + [
        (NO_TEAM if team is None else team, trend.window)
        for team, trend in trends.teams.items()
    ]


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
