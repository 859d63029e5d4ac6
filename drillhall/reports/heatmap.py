"""A sweep's chosen figure as a PNG: a heatmap over two axes, a line over one.

The first axis runs down the rows and the second across the columns, the order
``run_sweep`` visits them in; every cell carries its value. Durations are shown
as ``15m``, other figures with three significant digits. Drawing uses
matplotlib's Agg canvas directly, so it needs no display and leaves pyplot's
global state alone.
"""

from __future__ import annotations

import math
from pathlib import Path as FilePath

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from drillhall.errors import InputError
from drillhall.simulator.durations import format_duration
from drillhall.simulator.lifecycle import PHASES
from drillhall.simulator.statistics import Estimate
from drillhall.simulator.sweep import SweepResult

__all__ = ["render_heatmap"]

_DPI = 120


def render_heatmap(result: SweepResult, metric: str, path: str | FilePath) -> None:
    """Draw ``metric`` over the sweep's one or two axes and save it as PNG."""
    estimates = result.estimates(metric)
    if len(result.axes) not in (1, 2):
        raise InputError(
            f"a heatmap shows one or two axes, and this sweep has "
            f"{len(result.axes)}; sweep fewer --grid axes or read the CSV",
            source="--heatmap",
        )

    figure = Figure(figsize=_size(result), dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    if len(result.axes) == 2:
        _draw_grid(axes, result, metric, estimates)
    else:
        _draw_line(axes, result, metric, estimates)
    axes.set_title(metric)

    FigureCanvasAgg(figure).print_png(str(path))


def _draw_grid(
    axes: Axes, result: SweepResult, metric: str, estimates: list[Estimate]
) -> None:
    rows, columns = result.axes
    values = np.array([estimate.value for estimate in estimates], dtype=np.float64)
    grid = np.ma.masked_invalid(values.reshape(len(rows.texts), len(columns.texts)))

    image = axes.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
    bar = axes.figure.colorbar(image, ax=axes)
    bar.set_label("seconds" if _is_duration(metric) else metric)
    _label_axis(axes, "x", columns.path, columns.texts)
    _label_axis(axes, "y", rows.path, rows.texts)

    # Light text on the dark end of viridis, dark text on the light end.
    shown = grid.compressed()
    middle = (shown.min() + shown.max()) / 2.0 if shown.size else math.nan
    for (row, column), value in np.ndenumerate(grid.filled(math.nan)):
        colour = "white" if math.isnan(value) or value < middle else "black"
        axes.text(
            column,
            row,
            _format(metric, value),
            ha="center",
            va="center",
            color=colour,
            fontsize="small",
        )


def _draw_line(
    axes: Axes, result: SweepResult, metric: str, estimates: list[Estimate]
) -> None:
    (axis,) = result.axes
    positions = np.arange(len(axis.texts))
    values = np.array([estimate.value for estimate in estimates])
    lows = np.array([estimate.low for estimate in estimates])
    highs = np.array([estimate.high for estimate in estimates])

    # An interval that is undefined (one replication) draws no error bar.
    below = np.nan_to_num(values - lows, nan=0.0)
    above = np.nan_to_num(highs - values, nan=0.0)
    axes.errorbar(positions, values, yerr=[below, above], marker="o", capsize=3)
    _label_axis(axes, "x", axis.path, axis.texts)
    axes.set_ylabel(metric)

    for position, value in zip(positions, values, strict=True):
        if not math.isnan(value):
            axes.annotate(
                _format(metric, value),
                (position, value),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize="small",
            )


def _label_axis(axes: Axes, which: str, path: str, texts: tuple[str, ...]) -> None:
    positions = list(range(len(texts)))
    if which == "x":
        axes.set_xticks(positions, list(texts))
        axes.set_xlabel(path)
    else:
        axes.set_yticks(positions, list(texts))
        axes.set_ylabel(path)


def _format(metric: str, value: float) -> str:
    if math.isnan(value):
        return "-"
    if _is_duration(metric):
        return format_duration(value)
    return f"{value:.3g}"


def _is_duration(metric: str) -> bool:
    return metric.split(".")[0] in PHASES


def _size(result: SweepResult) -> tuple[float, float]:
    """Inches that leave room for every cell's label, within sensible bounds."""
    columns = len(result.axes[-1].texts)
    rows = len(result.axes[0].texts) if len(result.axes) == 2 else 4
    width = min(max(6.0, 0.9 * columns + 2.5), 24.0)
    height = min(max(4.5, 0.5 * rows + 2.0), 18.0)
    return width, height
