"""The figures of a simulation report, for one scenario or two side by side.

Every function takes ``sides``: one ``(label, data)`` pair per scenario, drawn
in its own colour on the same axes (overlaid curves, grouped bars) so that two
scenarios compare at a glance. Durations are heavy-tailed, so their axes are
logarithmic, with ticks at round durations (1m, 15m, 1h, 1d …).

Duration curves come from the exact-sum ``DurationHistogram`` counts, whose bins
``drillhall.simulator.statistics`` documents: a bin for exact zeros, one for
(0, 1 s), then ``LOG_BIN_COUNT`` log-spaced bins from 1 s to ``OVERFLOW_START``
and an overflow bin.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, PercentFormatter

from drillhall.simulator.durations import DAY, WEEK, format_duration
from drillhall.simulator.lifecycle import PHASE_NAMES, PHASES
from drillhall.simulator.statistics import (
    LOG_BIN_COUNT,
    OVERFLOW_START,
    DurationHistogram,
    Estimate,
)
from drillhall.simulator.summary import ServiceBudget

logger = logging.getLogger(__name__)

COLOURS = ("#2d5fa8", "#d9822b")
"""The first scenario (or the base) in blue, the candidate in orange."""
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# The log bins' edges, as statistics.py lays them out; 1 s is the first.
_LOG_EDGES = np.geomspace(1.0, OVERFLOW_START, LOG_BIN_COUNT + 1)
_BARS_PER_DECADE = 8
_FINE_PER_BAR = round(LOG_BIN_COUNT / math.log10(OVERFLOW_START) / _BARS_PER_DECADE)
# Ticks of a duration axis: the first row always, the second where few fit.
_ROUND_DURATIONS = (1.0, 10.0, 60.0, 900.0, 3600.0, DAY, WEEK, 30 * DAY, 365 * DAY)
_FINER_DURATIONS = (30.0, 120.0, 300.0, 1800.0, 4 * 3600.0, 12 * 3600.0, 3 * DAY)
_MOST_TICKS = 7

Sides = Sequence[tuple[str, Any]]


def duration_cdfs(
    sides: Sequence[tuple[str, Mapping[str, DurationHistogram]]],
    marks: Mapping[str, Mapping[str, float]] | None = None,
) -> Figure:
    """The share of incidents done within each time, TTD to TTR, one panel each.

    ``marks`` (phase → name → seconds), when given, draws dotted lines at
    figures such as the median and the 90th percentile.
    """
    figure, panels = _phase_panels()
    for phase, axes in zip(PHASES, panels, strict=True):
        drawn = []
        empty: list[int] = []
        for index, (label, histograms) in enumerate(sides):
            histogram = histograms[phase]
            curve = _cdf(histogram)
            if curve is None:
                empty.append(histogram.count)
                continue
            x, y = curve
            axes.plot(x, y, color=COLOURS[index], linewidth=1.8, label=label)
            drawn.append((x[0], x[-1]))
        if not drawn:
            _nothing(axes, _why_empty(empty))
            continue

        low, high = min(x for x, _ in drawn), max(x for _, x in drawn)
        _time_axis(axes, low, high)
        axes.set_ylim(0, 1.02)
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        axes.grid(True, which="major", color="#e3e6ee", linewidth=0.8)
        for name, seconds in (marks or {}).get(phase, {}).items():
            _mark(axes, name, seconds)
        axes.set_ylabel("incidents done within")
    _legend(figure, panels, sides)
    return figure


def duration_histograms(
    sides: Sequence[tuple[str, Mapping[str, DurationHistogram]]],
) -> Figure:
    """How the incidents spread over time, TTD to TTR, on log-spaced bins."""
    figure, panels = _phase_panels()
    for phase, axes in zip(PHASES, panels, strict=True):
        spans = []
        notes = []
        empty = []
        for index, (label, histograms) in enumerate(sides):
            histogram = histograms[phase]
            bars = _bars(histogram)
            if bars is None:
                empty.append(histogram.count)
                continue
            edges, shares, under_a_second = bars
            colour = COLOURS[index]
            axes.stairs(shares, edges, fill=True, color=colour, alpha=0.3)
            axes.stairs(shares, edges, color=colour, linewidth=1.4, label=label)
            spans.append(_occupied(edges, shares))
            if under_a_second:
                prefix = f"{label}: " if len(sides) > 1 else ""
                notes.append(f"{prefix}{under_a_second:.0%} under 1 s, not drawn")
        if not spans:
            _nothing(axes, _why_empty(empty))
            continue

        _time_axis(axes, min(low for low, _ in spans), max(high for _, high in spans))
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        axes.set_ylabel("share of incidents")
        axes.grid(True, axis="y", color="#e3e6ee", linewidth=0.8)
        if notes:
            axes.text(
                0.98, 0.95, "\n".join(notes), transform=axes.transAxes,
                ha="right", va="top", fontsize="small", color="#5b6478",
            )  # fmt: skip
    _legend(figure, panels, sides)
    return figure


def escalation_funnel(sides: Sequence[tuple[str, Mapping[str, Any]]]) -> Figure:
    """Per policy: the share of incidents reaching and leaving each level.

    Wide pale bars are the share that paged somebody at a level, narrow dark
    bars the share that escalated past it; "nobody" is the share exhausted.
    """
    policies = _union(escalation for _, escalation in sides)
    sizes = [_policy_levels(sides, name) + 1 for name in policies]
    height = sum(0.3 * size * len(sides) + 0.8 for size in sizes) + 0.3
    figure = Figure(figsize=(9.5, max(2.4, height)), layout="constrained")
    panels = figure.subplots(len(policies), 1, squeeze=False, height_ratios=sizes)
    for name, axes in zip(policies, panels[:, 0], strict=True):
        levels = _policy_levels(sides, name)
        rows = np.arange(levels + 1, dtype=np.float64)
        thickness = 0.8 / len(sides)
        for index, (label, escalation) in enumerate(sides):
            policy = escalation.get(name)
            if policy is not None:
                shift = rows + (index - (len(sides) - 1) / 2) * thickness
                _draw_policy(axes, policy, shift, thickness, index, label, len(sides))
        labels = [f"level {level}" for level in range(1, levels + 1)] + ["nobody"]
        axes.set_yticks(rows, labels)
        axes.invert_yaxis()
        axes.set_xlim(0, 1.16)
        axes.set_xticks(np.linspace(0, 1, 6))
        axes.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        axes.set_title(f"policy {name}", loc="left", fontsize="medium")
        _light_grid(axes)
        if name == policies[0]:
            axes.legend(loc="lower right", fontsize="small", frameon=False)
    return figure


def _draw_policy(
    axes: Axes,
    policy: Mapping[str, Any],
    rows: np.ndarray,
    thickness: float,
    index: int,
    label: str,
    count: int,
) -> None:
    reached = [level["reached"] for level in policy["levels"]]
    escalated = [level["escalated"] for level in policy["levels"]]
    colour = COLOURS[index]
    prefix = f"{label}: " if count > 1 else ""
    levels = len(reached)
    _bars_with_intervals(
        axes, rows[:levels], reached, thickness, colour, 0.35,
        f"{prefix}reached the level", show=_percent,
    )  # fmt: skip
    _bars_with_intervals(
        axes, rows[:levels], escalated, thickness * 0.45, colour, 1.0,
        f"{prefix}escalated past it",
    )  # fmt: skip
    _bars_with_intervals(
        axes, rows[-1:], [policy["exhausted"]], thickness, "#b3261e",
        0.8 - 0.3 * index, f"{prefix}nobody acknowledged", show=_percent,
    )  # fmt: skip


def load_heatmaps(sides: Sequence[tuple[str, Mapping[str, np.ndarray]]]) -> Figure:
    """Interruptions per week by local hour of the week: a row per person.

    Two scenarios get one panel each, on the same colour scale.
    """
    people = [list(load) for _, load in sides]
    height = sum(0.3 * max(1, len(names)) + 0.9 for names in people) + 0.5
    figure = Figure(figsize=(11, max(2.4, height)), layout="constrained")
    panels = figure.subplots(
        len(sides), 1, squeeze=False, height_ratios=[max(1, len(n)) for n in people]
    )[:, 0]
    highest = max(
        (float(np.max(hours)) for _, load in sides for hours in load.values()),
        default=0.0,
    )
    image = None
    for axes, names, (label, load) in zip(panels, people, sides, strict=True):
        if not names:
            _nothing(axes, "nobody")
            continue
        matrix = np.vstack([load[name] for name in names])
        image = axes.imshow(
            matrix, aspect="auto", cmap="YlOrRd", interpolation="nearest",
            vmin=0.0, vmax=max(highest, 1e-9),
        )  # fmt: skip
        axes.set_yticks(range(len(names)), names)
        axes.set_xticks([24 * day + 12 for day in range(7)], WEEKDAYS)
        axes.set_xticks([hour - 0.5 for hour in range(0, 169, 6)], minor=True)
        axes.tick_params(axis="x", which="major", length=0)
        for day in range(1, 7):
            axes.axvline(24 * day - 0.5, color="#1d2433", linewidth=0.8)
        if len(sides) > 1:
            axes.set_title(label, loc="left", fontsize="medium")
    if image is not None:
        bar = figure.colorbar(image, ax=list(panels), shrink=0.9, pad=0.01)
        bar.set_label("interruptions per week in that hour")
    return figure


def night_pages(sides: Sequence[tuple[str, Mapping[str, Estimate]]]) -> Figure:
    """Interruptions per week during sleep hours (22-08 local), per person."""
    people = _union(night for _, night in sides)
    figure = Figure(
        figsize=(9.5, max(2.2, 0.34 * len(people) * len(sides) + 1.1)),
        layout="constrained",
    )
    axes = figure.add_subplot()
    rows = np.arange(len(people), dtype=np.float64)
    thickness = 0.8 / len(sides)
    right = 0.0
    for index, (label, night) in enumerate(sides):
        shift = rows + (index - (len(sides) - 1) / 2) * thickness
        estimates = [night.get(person, Estimate.missing()) for person in people]
        end = _bars_with_intervals(
            axes, shift, estimates, thickness, COLOURS[index], 0.85, label,
            show=lambda value: f"{value:.2f}",
        )  # fmt: skip
        right = max(right, end)
    axes.set_yticks(rows, people)
    axes.invert_yaxis()
    axes.set_xlabel("interruptions per week during sleep hours (22-08 local)")
    axes.set_xlim(0, max(right, 0.1) * 1.15)
    _light_grid(axes)
    if len(sides) > 1:
        axes.legend(loc="lower right", fontsize="small", frameon=False)
    return figure


def budget_burn(sides: Sequence[tuple[str, Mapping[str, ServiceBudget]]]) -> Figure:
    """Per service: budget used per window, worst window, chance of a breach."""
    services = _union(budgets for _, budgets in sides)
    figure = Figure(
        figsize=(11, max(2.2, 0.4 * len(services) * len(sides) + 1.3)),
        layout="constrained",
    )
    panels = figure.subplots(1, 3, sharey=True)
    figures: list[tuple[str, Callable[[ServiceBudget], Estimate]]] = [
        ("budget used per window", lambda budget: budget.budget_used_per_window),
        ("worst window", lambda budget: budget.worst_window),
        ("chance of a breach", lambda budget: budget.breach_probability),
    ]
    rows = np.arange(len(services), dtype=np.float64)
    thickness = 0.8 / len(sides)
    for axes, (title, pick) in zip(panels, figures, strict=True):
        right = 1.0
        for index, (label, budgets) in enumerate(sides):
            shift = rows + (index - (len(sides) - 1) / 2) * thickness
            estimates = [
                pick(budgets[name]) if name in budgets else Estimate.missing()
                for name in services
            ]
            end = _bars_with_intervals(
                axes, shift, estimates, thickness, COLOURS[index], 0.85, label,
                show=_percent,
            )  # fmt: skip
            right = max(right, end)
        axes.set_xlim(0, right * 1.25)
        if title == "chance of a breach":
            axes.set_xticks(np.linspace(0, 1, 6))
        else:
            axes.axvline(1.0, color="#b3261e", linestyle="--", linewidth=1)
        axes.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        axes.set_title(title, fontsize="medium")
        _light_grid(axes)
    panels[0].set_yticks(rows, services)
    panels[0].invert_yaxis()
    if len(sides) > 1:
        panels[-1].legend(loc="lower right", fontsize="small", frameon=False)
    return figure


# -- duration curves ------------------------------------------------------------


def _cdf(histogram: DurationHistogram) -> tuple[np.ndarray, np.ndarray] | None:
    """The empirical CDF at the log bins' edges, from its first rise to 100%.

    Durations under 1 s (zeros included) count at the first edge, so the curve
    starts at their share. None when nothing lasted a second or more.
    """
    total = histogram.count
    counts = histogram.counts
    log_counts = counts[2 : 2 + LOG_BIN_COUNT]
    if total == 0 or not log_counts.any():
        return None

    done = np.concatenate(([counts[0] + counts[1]], np.cumsum(log_counts)))
    done[1:] += counts[0] + counts[1]
    shares = done / total
    rising = np.flatnonzero(np.diff(done))
    first, last = int(rising[0]), int(rising[-1]) + 1
    x = _LOG_EDGES[first : last + 1].copy()
    x[-1] = min(x[-1], histogram.maximum)
    return x, shares[first : last + 1]


def _bars(
    histogram: DurationHistogram,
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Coarse log bins' edges and shares of incidents, and the share under 1 s."""
    total = histogram.count
    counts = histogram.counts
    log_counts = counts[2 : 2 + LOG_BIN_COUNT]
    if total == 0 or not log_counts.any():
        return None

    starts = np.arange(0, LOG_BIN_COUNT, _FINE_PER_BAR)
    grouped = np.add.reduceat(log_counts, starts)
    edges = np.append(_LOG_EDGES[starts], _LOG_EDGES[-1])
    under_a_second = float(counts[0] + counts[1]) / total
    return edges, grouped / total, under_a_second


def _occupied(edges: np.ndarray, shares: np.ndarray) -> tuple[float, float]:
    filled = np.flatnonzero(shares)
    return float(edges[filled[0]]), float(edges[filled[-1] + 1])


def _time_axis(axes: Axes, low: float, high: float) -> None:
    """A log axis from ``low`` to ``high`` seconds, ticks at round durations."""
    high = max(high, low * 1.5)
    axes.set_xscale("log")
    axes.set_xlim(low, high)
    ticks = [tick for tick in _ROUND_DURATIONS if low <= tick <= high]
    finer = sorted(
        [*ticks, *(tick for tick in _FINER_DURATIONS if low <= tick <= high)]
    )
    if len(finer) <= _MOST_TICKS:
        ticks = finer
    if len(ticks) < 2:
        ticks = sorted({low, *ticks, high})
    axes.set_xticks(ticks, [format_duration(tick) for tick in ticks])
    axes.xaxis.set_minor_formatter(NullFormatter())


def _mark(axes: Axes, name: str, seconds: float) -> None:
    low, high = axes.get_xlim()
    if math.isnan(seconds) or not low <= seconds <= high:
        return
    axes.axvline(seconds, color="#5b6478", linestyle=":", linewidth=1.2)
    axes.text(
        seconds, 0.04, f" {name} {format_duration(seconds)}", rotation=90,
        fontsize="small", color="#5b6478", ha="right", va="bottom",
    )  # fmt: skip


def _phase_panels() -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(10, 6.6), layout="constrained")
    grid = figure.subplots(2, 2)
    panels = list(grid.ravel())
    for phase, axes in zip(PHASES, panels, strict=True):
        axes.set_title(f"{phase.upper()}: {PHASE_NAMES[phase]}", fontsize="medium")
    return figure, panels


def _legend(figure: Figure, panels: list[Axes], sides: Sides) -> None:
    if len(sides) < 2:
        return
    for axes in panels:
        handles, labels = axes.get_legend_handles_labels()
        if handles:
            figure.legend(handles, labels, loc="outside upper center", ncols=2)
            return


def _why_empty(counts: list[int]) -> str:
    """Why a duration panel has no curve: no incidents, or all under 1 s."""
    if any(counts):
        return "every duration is under 1 s"
    return "no incidents"


def _nothing(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center")
    axes.set_xticks([])
    axes.set_yticks([])


# -- bars -------------------------------------------------------------------------


def _bars_with_intervals(
    axes: Axes,
    rows: np.ndarray,
    estimates: Sequence[Estimate],
    thickness: float,
    colour: str,
    alpha: float,
    label: str,
    show: Callable[[float], str] | None = None,
) -> float:
    """Horizontal bars with their 95% intervals; a missing figure draws nothing.

    ``show`` writes each value beside its bar. Returns the largest value or
    interval end drawn, for the axis' limit.
    """
    values = np.array([estimate.value for estimate in estimates])
    lows = np.array([estimate.low for estimate in estimates])
    highs = np.array([estimate.high for estimate in estimates])
    below = np.nan_to_num(values - lows, nan=0.0).clip(min=0.0)
    above = np.nan_to_num(highs - values, nan=0.0).clip(min=0.0)
    axes.barh(
        rows, np.nan_to_num(values, nan=0.0), height=thickness, color=colour,
        alpha=alpha, label=label, xerr=[below, above],
        error_kw={"ecolor": "#1d2433", "elinewidth": 0.9, "capsize": 2.5},
    )  # fmt: skip
    ends = np.nan_to_num(values, nan=0.0) + above
    if show is not None:
        for row, value, end in zip(rows, values, ends, strict=True):
            if not math.isnan(value):
                axes.annotate(
                    show(float(value)), (float(end), float(row)),
                    xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize="small", color="#1d2433",
                )  # fmt: skip
    return float(ends.max(initial=0.0))


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.1 or share == 0 else f"{share:.1%}"


def _light_grid(axes: Axes) -> None:
    axes.grid(True, axis="x", color="#e3e6ee", linewidth=0.8)
    axes.set_axisbelow(True)


def _policy_levels(sides: Sides, name: str) -> int:
    return max(
        len(escalation[name]["levels"]) for _, escalation in sides if name in escalation
    )


def _union(mappings: Any) -> list[str]:
    """The keys of every mapping, in order of first appearance."""
    keys: list[str] = []
    for mapping in mappings:
        keys += [key for key in mapping if key not in keys]
    return keys
