"""The figures of a drill report: its timeline, and its times against a prediction.

The timeline is three panels on one time axis, the fault's clock (``T+m:ss``
from the injection, as the report's tables and the postmortem time events):
the lifecycle phases as bars with the runbook steps marked beneath them, then
the load's error rate, then its p50 and p95 latency. Lifecycle events are
named along the top and drawn as faint lines through every panel, so a reader
can see, for example, the errors stop at the step that repointed the service.

Each phase with a prediction gets a small plot of the simulator's distribution
(its cumulative share of incidents by duration) with the team's time marked.
"""

from __future__ import annotations

import logging
import math
from typing import Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from drillhall.drills.score import PHASE_EVENTS
from drillhall.reports.drill_events import offset_tick
from drillhall.reports.drill_facts import DrillFacts
from drillhall.simulator.durations import format_duration
from drillhall.simulator.lifecycle import PHASE_NAMES

logger = logging.getLogger(__name__)

PHASE_LABELS: Final = {
    "ttd": "detect (TTD)",
    "tta": "acknowledge (TTA)",
    "ttm": "mitigate (TTM)",
    "ttr": "resolve (TTR)",
}
MARKED_KINDS: Final = (
    "injected",
    "detected",
    "acknowledged",
    "mitigated",
    "resolved",
    "guardrail_tripped",
    "rolled_back",
)
"""Events named along the top of the timeline, at their first occurrence."""

_PHASE_COLOUR: Final = "#2d5fa8"
_OPEN_COLOUR: Final = "#b3261e"
_ROLLBACK_COLOUR: Final = "#7a5b99"
_IMPACT_COLOUR: Final = "#f6d5d2"
_NICE_SECONDS: Final = (
    1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200,
    10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip
"""Round durations for the ticks of a predicted distribution's linear axis."""
_LOG_SECONDS: Final = (1, 10, 60, 600, 3600, 21600, 86400, 604800)
"""Round durations about evenly spaced on a logarithmic axis."""
_MOST_TICKS: Final = 6
_STEP_COLOURS: Final = {"passed": "#1f7a44", "failed": "#b3261e", "skipped": "#8a8f9c"}


def timeline_figure(facts: DrillFacts) -> Figure:
    """The drill on one time axis: phases and steps, error rate, latency."""
    figure = Figure(figsize=(11, 7.2), layout="constrained")
    phases, errors, latency = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [2.3, 1.2, 1.2]}
    )
    start, end = _span(facts)

    _draw_phases(phases, facts, end)
    _draw_error_rate(errors, facts)
    _draw_latency(latency, facts)

    # The impact window and the lifecycle events, through every panel.
    impact = facts.impact
    for axes in (errors, latency):
        if impact.started is not None:
            until = facts.since_origin(impact.ended) if impact.ended else end
            axes.axvspan(
                facts.since_origin(impact.started),
                until,
                color=_IMPACT_COLOUR,
                zorder=0,
                label="impact window",
            )
    _mark_events(figure, (phases, errors, latency), facts)

    latency.set_xlim(start, end)
    latency.xaxis.set_major_formatter(FuncFormatter(offset_tick))
    latency.set_xlabel("time from the injection (T+minutes:seconds)")
    for axes in (errors, latency):
        if axes.get_legend_handles_labels()[0]:  # nothing to name without load
            axes.legend(loc="upper right", fontsize="small")
    return figure


def prediction_figure(facts: DrillFacts, phase: str) -> Figure | None:
    """The predicted distribution of one phase with the team's time marked;
    ``None`` when there is no prediction for it."""
    durations = (facts.predicted or {}).get(phase)
    if durations is None or not len(durations):
        return None
    ordered = np.sort(np.asarray(durations, dtype=np.float64))
    shares = np.arange(1, len(ordered) + 1) / len(ordered)
    took = facts.phases.get(phase)

    figure = Figure(figsize=(4.6, 2.9), layout="constrained")
    axes = figure.add_subplot()
    axes.step(ordered, shares, where="post", color=_PHASE_COLOUR, label="predicted")
    median, p90 = np.percentile(ordered, [50, 90])
    axes.axvline(median, color="#8a8f9c", linestyle="--", linewidth=1)
    axes.axvline(p90, color="#8a8f9c", linestyle=":", linewidth=1)
    axes.text(median, 0.03, " median", color="#5b6478", fontsize="x-small")
    axes.text(p90, 0.12, " p90", color="#5b6478", fontsize="x-small")

    # The team's time, which may lie outside everything the simulator drew.
    if took is not None:
        percentile = facts.percentiles.get(phase)
        label = f" team {format_duration(took)}"
        if percentile is not None:
            label += f"\n percentile {percentile:.0f}"
        axes.axvline(took, color=_OPEN_COLOUR, linewidth=2)
        axes.text(took, 0.72, label, color=_OPEN_COLOUR, fontsize="small")
    else:
        axes.text(
            0.03,
            0.9,
            "the team never got here",
            transform=axes.transAxes,
            color=_OPEN_COLOUR,
            fontsize="small",
        )

    values = [ordered[0], ordered[-1]] + ([took] if took is not None else [])
    low, high = min(values), max(values)
    if low > 0 and high / low > 20:
        axes.set_xscale("log")
        axes.set_xlim(low / 1.5, high * 1.5)
        axes.xaxis.set_major_locator(FixedLocator(_log_ticks(low, high)))
        axes.xaxis.set_minor_locator(NullLocator())
    else:
        axes.xaxis.set_major_locator(FixedLocator(_linear_ticks(low, high)))
    axes.xaxis.set_major_formatter(FuncFormatter(_duration_tick))
    axes.set_ylim(0, 1.02)
    axes.set_ylabel("share of incidents")
    axes.set_xlabel("predicted duration (cumulative)", fontsize="small")
    axes.set_title(f"{phase.upper()}: {PHASE_NAMES[phase]}", fontsize="medium")
    axes.grid(alpha=0.3)
    return figure


def _span(facts: DrillFacts) -> tuple[float, float]:
    """The time axis: from the drill's first event to its last, with a margin."""
    moments = [facts.since_origin(event.at) for event in facts.events]
    moments.append(facts.since_origin(facts.record.started))
    start, end = min(moments), max(moments)
    margin = max(1.0, 0.02 * (end - start))
    return start - margin, end + margin


def _draw_phases(axes: Axes, facts: DrillFacts, end: float) -> None:
    """One bar per phase, measured as the score measures it, and a row of steps."""
    rows = [*PHASE_LABELS.values(), "roll back", "runbook steps"]
    axes.set_yticks(range(len(rows)), rows)
    axes.set_ylim(len(rows) - 0.4, -0.6)

    times = {kind: facts.since_origin(at) for kind, at in facts.times.items()}
    rolling = facts.of_kind("rolling_back")
    if rolling:
        times["rolling_back"] = facts.since_origin(rolling[0].at)
    bars = [(row, *PHASE_EVENTS[phase]) for row, phase in enumerate(PHASE_LABELS)]
    bars.append((4, "rolling_back", "rolled_back"))

    for row, first, last in bars:
        colour = _ROLLBACK_COLOUR if first == "rolling_back" else _PHASE_COLOUR
        if first not in times:
            axes.text(
                0,
                row,
                f" no {first.replace('_', ' ')}",
                va="center",
                color="#5b6478",
                fontsize="small",
            )
            continue
        began = times[first]
        if last in times:
            width = max(times[last] - began, 0.0)
            axes.barh(row, width, left=began, height=0.55, color=colour)
            axes.text(
                times[last],
                row,
                f" {format_duration(width)}",
                va="center",
                fontsize="small",
            )
        else:
            # Never reached: an open, hatched bar to the end of the drill.
            axes.barh(
                row,
                end - began,
                left=began,
                height=0.55,
                fill=False,
                hatch="//",
                edgecolor=_OPEN_COLOUR,
            )
            axes.text(
                began,
                row,
                f" never {last.replace('_', ' ')}",
                va="center",
                color=_OPEN_COLOUR,
                fontsize="small",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )

    _draw_steps(axes, facts, len(rows) - 1)
    axes.grid(axis="x", alpha=0.3)


def _draw_steps(axes: Axes, facts: DrillFacts, row: int) -> None:
    for event in facts.of_kind("runbook_step"):
        outcome = _step_outcome(event.payload)
        at = facts.since_origin(event.at)
        axes.plot(at, row, marker="v", markersize=9, color=_STEP_COLOURS[outcome])
        axes.text(
            at,
            row - 0.35,
            str(event.payload.get("step", "?")),
            ha="center",
            fontsize="small",
        )
    if not facts.of_kind("runbook_step"):
        axes.text(
            0,
            row,
            " no runbook step was marked",
            va="center",
            color="#5b6478",
            fontsize="small",
        )


def _step_outcome(payload: dict[str, object]) -> str:
    if payload.get("status") == "skipped":
        return "skipped"
    return "failed" if payload.get("check") is False else "passed"


def _draw_error_rate(axes: Axes, facts: DrillFacts) -> None:
    axes.set_ylabel("error rate")
    axes.set_ylim(0, 105)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}%"))
    seconds = [second for second in facts.load if second.error_rate is not None]
    if not seconds:
        _no_load(axes)
        return
    moments = [facts.since_origin(second.at) for second in seconds]
    rates = [100 * (second.error_rate or 0.0) for second in seconds]
    axes.fill_between(moments, rates, step="mid", color=_OPEN_COLOUR, alpha=0.35)
    axes.step(moments, rates, where="mid", color=_OPEN_COLOUR, label="failed requests")

    guardrail = facts.plan.guardrails.error_rate if facts.plan else None
    if guardrail is not None:
        axes.axhline(
            100 * guardrail.above,
            color="#5b6478",
            linestyle="--",
            linewidth=1,
            label=f"guardrail {guardrail.above:.0%}",
        )
    axes.grid(alpha=0.3)


def _draw_latency(axes: Axes, facts: DrillFacts) -> None:
    axes.set_ylabel("latency (ms)")
    p50 = [(s.at, s.latency_p50_ms) for s in facts.load if s.latency_p50_ms is not None]
    p95 = [(s.at, s.latency_p95_ms) for s in facts.load if s.latency_p95_ms is not None]
    if not p50 and not p95:
        _no_load(axes)
        return
    for series, label, style in ((p50, "p50", "-"), (p95, "p95", "-")):
        if series:
            moments = [facts.since_origin(at) for at, _ in series]
            axes.plot(moments, [value for _, value in series], style, label=label)
    axes.set_ylim(bottom=0)

    # The SLO line only where it fits the scale; otherwise say where it is.
    limit = facts.impact.latency_below_ms
    highest = max(value for _, value in p50 + p95 if value is not None)
    if limit is not None and limit <= 1.5 * highest:
        axes.axhline(
            limit,
            color="#5b6478",
            linestyle="--",
            linewidth=1,
            label=f"SLO {limit:g} ms",
        )
    elif limit is not None:
        axes.text(
            0.01,
            0.88,
            f"latency SLO {limit:g} ms: above this scale",
            transform=axes.transAxes,
            fontsize="small",
            color="#5b6478",
        )
    axes.grid(alpha=0.3)


def _no_load(axes: Axes) -> None:
    axes.text(
        0.5,
        0.5,
        "no load was recorded",
        transform=axes.transAxes,
        ha="center",
        va="center",
        color="#5b6478",
    )


def _mark_events(figure: Figure, panels: tuple[Axes, ...], facts: DrillFacts) -> None:
    """Faint lines at the lifecycle events, named along the top of the figure."""
    marks: list[tuple[float, str]] = []
    for kind in MARKED_KINDS:
        found = facts.of_kind(kind)
        if found:
            marks.append((facts.since_origin(found[0].at), kind.replace("_", " ")))
    for at, name in marks:
        tripped = name == "guardrail tripped"
        for axes in panels:
            axes.axvline(
                at,
                color=_OPEN_COLOUR if tripped else "#5b6478",
                linewidth=1.6 if tripped else 0.8,
                alpha=0.9 if tripped else 0.5,
                zorder=1,
            )
    for event in facts.of_kind("runbook_step"):
        panels[1].axvline(
            facts.since_origin(event.at),
            color="#5b6478",
            linewidth=0.8,
            linestyle=":",
            zorder=3,
        )

    top = panels[0].secondary_xaxis("top")
    top.set_xticks([at for at, _ in marks], [name for _, name in marks])
    top.tick_params(axis="x", labelrotation=35, labelsize="small")
    for label in top.get_xticklabels():
        label.set_horizontalalignment("left")


def _log_ticks(low: float, high: float) -> list[float]:
    """Round durations (1s, 30s, 5m, 1h ...) between ``low`` and ``high``."""
    inside = [float(tick) for tick in _LOG_SECONDS if low / 1.5 <= tick <= high * 1.5]
    while len(inside) > _MOST_TICKS:
        inside = inside[::2]
    return inside


def _linear_ticks(low: float, high: float) -> list[float]:
    """Multiples of the smallest round duration that gives a few ticks."""
    span = max(high - low, 1.0)
    step = next(
        (float(tick) for tick in _NICE_SECONDS if span / tick <= _MOST_TICKS - 1),
        float(_NICE_SECONDS[-1]),
    )
    first = math.floor(low / step) * step
    return [first + step * index for index in range(_MOST_TICKS + 1)]


def _duration_tick(seconds: float, _: object = None) -> str:
    return format_duration(seconds).replace(".0s", "s") if seconds > 0 else "0"
