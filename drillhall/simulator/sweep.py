"""Sweeps: run a scenario at every combination of a few overridden values.

A ``--grid`` names one place in the scenario's data and the values to try there,
either listed (``escalation.main.levels[0].delay=5m,10m,15m``) or as a range
(``teams.ops.rotation.size=3..7``, ``escalation.main.levels[0].delay=5m..30m:5m``).
``run_sweep`` visits the cartesian product of the axes, first axis outermost, and
runs each point as the scenario file with ``--set`` overrides applied.

Every point runs with the same seed, so the points see the same incidents and the
same human answers wherever a change does not touch them (common random numbers):
differences between neighbouring points are the change's, not noise's. Each
point's replications are streamed and reduced to a mean with a 95 % interval per
figure before the next point starts, so memory grows with the number of points,
not with points times replications. All points run on one set of workers, started
once for the sweep.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path as FilePath

import numpy as np
import yaml

from drillhall.errors import InputError
from drillhall.simulator.compare import replication_figures
from drillhall.simulator.durations import format_duration, parse_duration
from drillhall.simulator.loader import load_scenario_with
from drillhall.simulator.montecarlo import (
    ReplicationExecutor,
    RunSettings,
    replication_executor,
    run_replications,
)
from drillhall.simulator.overrides import format_override_path, parse_override
from drillhall.simulator.scenario import Scenario
from drillhall.simulator.statistics import Estimate, mean_interval

__all__ = [
    "MAX_AXIS_VALUES",
    "GridAxis",
    "Scalar",
    "SweepPoint",
    "SweepResult",
    "parse_grid",
    "run_sweep",
]

logger = logging.getLogger(__name__)

Scalar = str | int | float | bool | None
"""A grid value as YAML reads it."""

MAX_AXIS_VALUES = 1000
"""More values than this on one axis is taken for a typo in a range."""

EXPECTED = "expected PATH=v1,v2,... or PATH=lo..hi[:step]"

_RANGE = re.compile(r"^(?P<low>.+?)\.\.(?P<high>.+?)(?::(?P<step>.+))?$")
_INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True, slots=True)
class GridAxis:
    """One ``--grid``: the values to try at ``path``.

    ``texts`` are the values as YAML text, exactly what an override writes after
    ``PATH=``; ``values`` are the same values as YAML reads them.
    """

    path: str
    texts: tuple[str, ...]

    @property
    def values(self) -> tuple[Scalar, ...]:
        """The values as YAML reads them: ``5m`` is text, ``3`` a number."""
        return tuple(_read_scalar(text) for text in self.texts)

    def override(self, index: int) -> str:
        """The ``--set`` override that puts the ``index``-th value in place."""
        return f"{self.path}={self.texts[index]}"


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One combination of axis values and the figures it produced.

    ``figures`` maps a figure's name (``tta.p90``, ``escalated_share``, ...) to
    its mean over the replications with a 95 % interval; durations are seconds.
    """

    texts: tuple[str, ...]
    figures: dict[str, Estimate]

    @property
    def values(self) -> tuple[Scalar, ...]:
        """The point's axis values as YAML reads them."""
        return tuple(_read_scalar(text) for text in self.texts)


@dataclass(frozen=True)
class SweepResult:
    """Every point of a sweep, in the order ``run_sweep`` visited them."""

    file: str
    axes: tuple[GridAxis, ...]
    points: tuple[SweepPoint, ...]
    replications: int
    seed: int

    @property
    def metrics(self) -> list[str]:
        """The names of the figures every point carries, in report order."""
        return list(self.points[0].figures) if self.points else []

    @property
    def rows(self) -> list[dict[str, Scalar]]:
        """One flat row per point: axis values, then each figure's value, low, high.

        A figure ``tta.p90`` gives the columns ``tta.p90``, ``tta.p90.low`` and
        ``tta.p90.high``; a figure that is undefined at a point is NaN.
        """
        rows: list[dict[str, Scalar]] = []
        for point in self.points:
            row: dict[str, Scalar] = dict(zip(self.paths, point.values, strict=True))
            for metric, estimate in point.figures.items():
                row[metric] = estimate.value
                row[f"{metric}.low"] = estimate.low
                row[f"{metric}.high"] = estimate.high
            rows.append(row)
        return rows

    @property
    def paths(self) -> list[str]:
        """The axes' override paths, which head the table's first columns."""
        return [axis.path for axis in self.axes]

    def estimates(self, metric: str) -> list[Estimate]:
        """``metric`` at every point, in point order; unknown names raise."""
        if metric not in self.metrics:
            known = ", ".join(self.metrics)
            raise InputError(
                f"no figure named {metric!r} in the sweep; choose one of {known}",
                source="--metric",
            )
        return [point.figures[metric] for point in self.points]

    def to_csv(self, path: str | FilePath) -> None:
        """Write ``rows`` as CSV; axis values as written, undefined figures empty."""
        columns = list(self.paths)
        for metric in self.metrics:
            columns += [metric, f"{metric}.low", f"{metric}.high"]

        with open(path, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(columns)
            for point in self.points:
                cells: list[str] = list(point.texts)
                for estimate in point.figures.values():
                    cells += [
                        _csv_number(number)
                        for number in (estimate.value, estimate.low, estimate.high)
                    ]
                writer.writerow(cells)


def parse_grid(text: str) -> GridAxis:
    """Read one ``--grid``: ``PATH=v1,v2,...``, ``PATH=lo..hi`` or ``lo..hi:step``.

    Listed values are YAML scalars. A range of integers is inclusive, with a step
    of 1 unless one is given; a range of durations (``5m..30m:5m``) needs a step
    and gives duration texts. Problems raise ``InputError`` from ``--grid``.
    """
    path_text, equals, values_text = text.partition("=")
    if not equals:
        raise _grid_error(text, EXPECTED)
    if path_text.rstrip().endswith(("+", "-")):
        raise _grid_error(
            text, "a grid sets values, it cannot add or remove; use PATH=v1,v2"
        )
    path = _parse_path(text, path_text)

    values_text = values_text.strip()
    if not values_text:
        raise _grid_error(text, f"no values after '='; {EXPECTED}")
    quoted = values_text.startswith(("'", '"'))
    if "," not in values_text and not quoted and (found := _RANGE.match(values_text)):
        texts = _expand_range(text, found["low"], found["high"], found["step"])
    else:
        texts = _list_values(text, values_text)

    return GridAxis(path, tuple(texts))


def run_sweep(
    file: str | FilePath,
    axes: Sequence[GridAxis],
    settings: RunSettings,
    *,
    progress: Callable[[], None] | None = None,
) -> SweepResult:
    """Run the scenario ``file`` at every combination of the ``axes``' values.

    All points are loaded (and so validated) before the first runs, so a value
    that does not fit fails at once. Every point uses the same seed and number of
    replications; ``progress`` is called after each replication.
    """
    _check_axes(axes)
    combinations = list(itertools.product(*(range(len(a.texts)) for a in axes)))
    scenarios = [_load_point(file, axes, indices) for indices in combinations]

    first = settings.apply(scenarios[0])
    # Pin the first point's seed and count, so an override cannot change them.
    run = replace(settings, replications=first.replications, seed=first.seed)
    logger.info(
        "sweeping %s: %d points x %d replications",
        file,
        len(scenarios),
        first.replications,
    )

    points = []
    with replication_executor(run) as executor:
        for indices, scenario in zip(combinations, scenarios, strict=True):
            texts = tuple(a.texts[i] for a, i in zip(axes, indices, strict=True))
            logger.debug("sweep point %s", texts)
            figures = _run_point(scenario, run, executor, progress)
            points.append(SweepPoint(texts, figures))
    return SweepResult(
        str(file), tuple(axes), tuple(points), first.replications, first.seed
    )


def _check_axes(axes: Sequence[GridAxis]) -> None:
    if not axes:
        raise InputError(
            f"a sweep needs at least one axis; {EXPECTED}", source="--grid"
        )

    paths = [axis.path for axis in axes]
    twice = sorted({path for path in paths if paths.count(path) > 1})
    if twice:
        raise InputError(
            f"{twice[0]!r} is on more than one axis; list all its values in one --grid",
            source="--grid",
        )


def _load_point(
    file: str | FilePath, axes: Sequence[GridAxis], indices: Sequence[int]
) -> Scenario:
    overrides = [axis.override(i) for axis, i in zip(axes, indices, strict=True)]
    return load_scenario_with(file, overrides)


def _run_point(
    scenario: Scenario,
    settings: RunSettings,
    executor: ReplicationExecutor,
    progress: Callable[[], None] | None,
) -> dict[str, Estimate]:
    """Stream one point's replications into per-figure arrays, then reduce them.

    NOTE: the arrays hold one number per replication and figure, a few hundred
    kilobytes at most; they are dropped once the point is reduced.
    """
    count = settings.replications or scenario.replications
    columns: dict[str, np.ndarray] = {}
    summaries = run_replications(scenario, settings, executor)
    for replication, summary in enumerate(summaries):
        figures = replication_figures(summary, scenario.horizon)
        for metric, value in figures.items():
            if metric not in columns:
                columns[metric] = np.full(count, math.nan)
            columns[metric][replication] = value
        if progress:
            progress()

    # A figure undefined in a replication (no incidents) leaves that one out.
    return {
        metric: mean_interval(values[np.isfinite(values)])
        for metric, values in columns.items()
    }


def _parse_path(text: str, path_text: str) -> str:
    """The path of ``text`` in its canonical form, checked as ``--set`` would."""
    try:
        override = parse_override(f"{path_text}=")
    except InputError as error:
        raise _grid_error(text, error.message) from None
    return format_override_path(override.path)


def _list_values(text: str, values_text: str) -> list[str]:
    texts = [part.strip() for part in values_text.split(",")]
    if "" in texts:
        raise _grid_error(text, f"an empty value in the list; {EXPECTED}")

    for value_text in texts:
        try:
            value = _read_scalar(value_text)
        except yaml.YAMLError:
            raise _grid_error(
                text,
                f"the value {value_text!r} is not valid YAML; put quotes around "
                "text that YAML would misread",
            ) from None
        if isinstance(value, list | dict):
            raise _grid_error(
                text, f"the value {value_text!r} is not a single value; {EXPECTED}"
            )

    repeated = [value for value in texts if texts.count(value) > 1]
    if repeated:
        raise _grid_error(text, f"the value {repeated[0]!r} is listed twice")
    return texts


def _expand_range(text: str, low: str, high: str, step: str | None) -> list[str]:
    low, high = low.strip(), high.strip()
    if _INTEGER.match(low) and _INTEGER.match(high):
        return _integer_range(text, int(low), int(high), step)
    try:
        bounds = parse_duration(low), parse_duration(high)
    except ValueError:
        raise _grid_error(
            text,
            f"a range goes from an integer or a duration to another, got {low!r} "
            f"and {high!r}; list other values with commas",
        ) from None
    if step is None:
        raise _grid_error(text, "a range of durations needs a step, e.g. 5m..30m:5m")
    return _duration_range(text, *bounds, step)


def _integer_range(text: str, low: int, high: int, step: str | None) -> list[str]:
    if step is not None and not _INTEGER.match(step.strip()):
        raise _grid_error(
            text, f"the step {step!r} of an integer range must be an integer"
        )

    stride = 1 if step is None else int(step)
    if stride <= 0:
        raise _grid_error(text, f"the step must be positive, got {stride}")

    if low > high:
        raise _grid_error(text, f"the range is empty: {low} is more than {high}")
    if (high - low) // stride + 1 > MAX_AXIS_VALUES:
        raise _grid_error(text, f"more than {MAX_AXIS_VALUES} values on one axis")
    return [str(value) for value in range(low, high + 1, stride)]


def _duration_range(text: str, low: float, high: float, step: str) -> list[str]:
    try:
        stride = parse_duration(step.strip())
    except ValueError as error:
        raise _grid_error(text, f"the step: {error}") from None
    if stride <= 0:
        raise _grid_error(text, f"the step must be positive, got {step!r}")

    if low > high:
        raise _grid_error(
            text,
            f"the range is empty: {format_duration(low)} is more than "
            f"{format_duration(high)}",
        )
    # A little slack keeps the upper bound when division rounds just short of it.
    count = math.floor((high - low) / stride + 1e-9) + 1
    if count > MAX_AXIS_VALUES:
        raise _grid_error(text, f"more than {MAX_AXIS_VALUES} values on one axis")
    return [format_duration(low + index * stride) for index in range(count)]


def _read_scalar(text: str) -> Scalar:
    value: Scalar = yaml.safe_load(text)
    return value


def _csv_number(number: float) -> str:
    return "" if math.isnan(number) else repr(number)


def _grid_error(text: str, message: str) -> InputError:
    return InputError(message, source="--grid", field=text)
