"""Goal-seek: the smallest value of one parameter that meets every goal.

A goal names a figure, a comparison and a threshold, as planners say them:
``p90(tta) <= 15m``, ``mean(ttr) < 4h``, ``escalated_share < 5%`` or
``night_interruptions_per_person_week <= 1``. ``seek`` runs the scenario once per
candidate value, with the same seed at every point, and stops at the first value
whose figures meet every goal. All candidates run on one set of workers, started
once for the seek.

A goal is judged on the figure's mean over replications, and it is met only *with
confidence*: for ``<=`` and ``<`` the upper bound of the 95 % interval must satisfy
the comparison, for ``>=`` and ``>`` the lower bound. A point whose interval
straddles the threshold does not pass, so a seek never recommends a value that
merely got lucky; the evidence it returns shows how close each point came.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath

import numpy as np

from drillhall.errors import InputError
from drillhall.simulator.compare import STATISTICS, replication_figures
from drillhall.simulator.durations import parse_duration
from drillhall.simulator.lifecycle import PHASES
from drillhall.simulator.loader import load_scenario_with
from drillhall.simulator.montecarlo import (
    ReplicationExecutor,
    RunSettings,
    replication_executor,
    run_replications,
)
from drillhall.simulator.statistics import Estimate, mean_interval

__all__ = [
    "FIGURES",
    "Goal",
    "SeekPoint",
    "SeekResult",
    "parse_goal",
    "parse_values",
    "roster_overrides",
    "seek",
    "seek_json",
]

Value = int | float | str
OverrideBuilder = Callable[[Value], Sequence[str]]

_SHARES = ("escalated_share", "acknowledged_during_sleep_share")
_RATES = ("interruptions_per_person_week", "night_interruptions_per_person_week")
FIGURES = (
    *(f"{statistic}({phase})" for statistic in STATISTICS for phase in PHASES),
    *_SHARES,
    *_RATES,
)
"""The figures a goal may name, as users write them."""

# Names people use for the same figures: MTTR is the mean of ttr, and the issue
# tracker speaks of night pages rather than night interruptions.
_ALIASES = {
    **{f"m{phase}": f"{phase}.mean" for phase in PHASES},
    "night_pages_per_person_week": "night_interruptions_per_person_week",
    "pages_per_person_week": "interruptions_per_person_week",
}
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda value, threshold: value <= threshold,
    "<": lambda value, threshold: value < threshold,
    ">=": lambda value, threshold: value >= threshold,
    ">": lambda value, threshold: value > threshold,
}
_GOAL = re.compile(
    r"^\s*(?:(?P<statistic>[a-z0-9]+)\s*\(\s*(?P<phase>[a-z]+)\s*\)"
    r"|(?P<name>[a-z_]+))\s*(?P<operator><=|<|>=|>)\s*(?P<threshold>\S+)\s*$"
)
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")


@dataclass(frozen=True)
class Goal:
    """``figure operator threshold``, e.g. ttr.mean < 14400 (seconds).

    ``figure`` is the key of ``replication_figures``; durations are in seconds and
    shares are fractions (5 % is 0.05). ``text`` is the goal as the user wrote it.
    """

    text: str
    figure: str
    operator: str
    threshold: float

    def bound(self, estimate: Estimate) -> float:
        """The side of the interval this goal is judged on (NaN if undefined)."""
        return estimate.high if self.operator in ("<=", "<") else estimate.low

    def met(self, estimates: Mapping[str, Estimate]) -> bool:
        """Whether the goal holds with confidence for these per-figure estimates.

        The figure's interval bound (upper for ``<=``/``<``, lower for ``>=``/``>``)
        must satisfy the comparison; a figure without an interval (no data, or a
        single replication) does not meet any goal.
        """
        estimate = estimates.get(self.figure)
        if estimate is None:
            return False
        bound = self.bound(estimate)
        if math.isnan(bound):
            return False
        return _OPERATORS[self.operator](bound, self.threshold)


@dataclass(frozen=True)
class SeekPoint:
    """The evidence for one candidate value: every figure and each goal's verdict."""

    value: Value
    overrides: list[str]
    estimates: dict[str, Estimate]
    passed: dict[str, bool]

    @property
    def met(self) -> bool:
        """Whether every goal holds at this value."""
        return all(self.passed.values())


@dataclass(frozen=True)
class SeekResult:
    """What a seek found: ``value`` is None when no candidate met every goal."""

    path: str
    goals: list[Goal]
    value: Value | None
    points: list[SeekPoint] = field(default_factory=list)


def parse_goal(text: str) -> Goal:
    """Read a goal like ``p90(tta) <= 15m``; raise ``InputError`` if malformed."""
    match = _GOAL.match(text.lower())
    if match is None:
        raise _goal_error(text, "write FIGURE OPERATOR VALUE, e.g. 'p90(tta) <= 15m'")

    if match["name"] is not None:
        name = match["name"]
        figure = _ALIASES.get(name, name)
    else:
        figure = f"{match['phase']}.{match['statistic']}"
    if figure not in _figure_keys():
        raise _goal_error(text, f"unknown figure {_written(figure)!r}")

    threshold = _threshold(text, figure, match["threshold"])
    return Goal(text.strip(), figure, match["operator"], threshold)


def parse_values(text: str) -> list[Value]:
    """Read candidate values: ``lo..hi`` (whole numbers) or ``v1,v2,...``.

    Numbers become ints or floats; anything else (``10m``) stays text for the
    override. Raise ``InputError`` from ``--vary`` for an empty or reversed list.
    """
    match = _RANGE.match(text)
    if match is not None:
        low, high = int(match[1]), int(match[2])
        if low > high:
            raise InputError(
                f"the range {text!r} runs backwards; write the smaller end first, "
                f"e.g. {high}..{low}",
                source="--vary",
            )
        return list(range(low, high + 1))

    values = [_number_or_text(part.strip()) for part in text.split(",")]
    if not text.strip() or any(value == "" for value in values):
        raise InputError(
            f"no candidate values in {text!r}; write lo..hi (e.g. 3..9) or a "
            "comma-separated list (e.g. 5m,10m,15m)",
            source="--vary",
        )
    return values


def roster_overrides(path: str, names: Sequence[str]) -> OverrideBuilder:
    """Build overrides that set the list at ``path`` to the first N of ``names``.

    For rotation sizes: ``seek(file, "teams.x.rotations.y.layers[0].members",
    range(3, 8), goals, settings, overrides=roster_overrides(path, people))``.
    """

    def build(value: Value) -> list[str]:
        if not isinstance(value, int) or not 1 <= value <= len(names):
            raise InputError(
                f"a rotation of {value!r} people cannot be built from the "
                f"{len(names)} names given; vary the size between 1 and "
                f"{len(names)} or name more people",
                source="--vary",
            )
        return [f"{path}=[{', '.join(names[:value])}]"]

    return build


def seek(
    file: str | FilePath,
    path: str,
    values: Sequence[Value] | str,
    goals: Sequence[Goal | str],
    settings: RunSettings,
    *,
    overrides: OverrideBuilder | None = None,
    fixed: Sequence[str] = (),
) -> SeekResult:
    """Return the first of ``values`` at which every goal is met, and the evidence.

    Values are tried in the order given (write them ascending, so the first that
    passes is the smallest) and the scan stops there. Each value becomes the
    override ``PATH=VALUE`` unless ``overrides`` builds the list; ``fixed``
    overrides apply at every point. The scenario's seed (or ``settings.seed``) is
    the same at every point, so neighbouring values see the same incidents.
    """
    candidates = parse_values(values) if isinstance(values, str) else list(values)
    parsed = [parse_goal(goal) if isinstance(goal, str) else goal for goal in goals]
    if not parsed:
        raise InputError(
            "no goal to seek; add one like --goal 'p90(tta) <= 15m'", source="--goal"
        )
    build = overrides or (lambda value: [f"{path}={value}"])

    points = []
    with replication_executor(settings) as executor:
        for value in candidates:
            changes = [*fixed, *build(value)]
            point = _evaluate(file, value, changes, parsed, settings, executor)
            points.append(point)
            if point.met:
                return SeekResult(path, parsed, value, points)
    return SeekResult(path, parsed, None, points)


def seek_json(result: SeekResult) -> dict[str, object]:
    """The result as JSON-ready values; NaN becomes None."""
    return {
        "path": result.path,
        "goals": [goal.text for goal in result.goals],
        "value": result.value,
        "points": [
            {
                "value": point.value,
                "overrides": point.overrides,
                "met": point.met,
                "goals": point.passed,
                "figures": {
                    name: estimate.to_dict()
                    for name, estimate in point.estimates.items()
                },
            }
            for point in result.points
        ],
    }


def _evaluate(
    file: str | FilePath,
    value: Value,
    changes: list[str],
    goals: Sequence[Goal],
    settings: RunSettings,
    executor: ReplicationExecutor,
) -> SeekPoint:
    scenario = load_scenario_with(file, changes)
    horizon = scenario.horizon
    figures = [
        replication_figures(summary, horizon)
        for summary in run_replications(scenario, settings, executor)
    ]
    estimates = _estimates(figures)
    passed = {goal.text: goal.met(estimates) for goal in goals}
    return SeekPoint(value, changes, estimates, passed)


def _estimates(figures: list[dict[str, float]]) -> dict[str, Estimate]:
    estimates = {}
    for name in _figure_keys():
        # A year without incidents has no shares or durations: leave it out.
        column = np.array([row[name] for row in figures], dtype=np.float64)
        estimates[name] = mean_interval(column[np.isfinite(column)])
    return estimates


def _figure_keys() -> list[str]:
    durations = [f"{phase}.{statistic}" for statistic in STATISTICS for phase in PHASES]
    return [*durations, *_SHARES, *_RATES]


def _threshold(text: str, figure: str, written: str) -> float:
    try:
        if figure in _SHARES:
            if written.endswith("%"):
                return float(written[:-1]) / 100.0
            return float(written)
        if figure in _RATES:
            return float(written)
        return parse_duration(written)
    except ValueError:
        kind = (
            "a share like 5% or 0.05"
            if figure in _SHARES
            else "a number per person-week like 1"
            if figure in _RATES
            else "a duration like 15m or 4h"
        )
        raise _goal_error(text, f"the threshold {written!r} is not {kind}") from None


def _written(figure: str) -> str:
    phase, _, statistic = figure.partition(".")
    return f"{statistic}({phase})" if statistic else figure


def _goal_error(text: str, why: str) -> InputError:
    return InputError(
        f"cannot read the goal {text!r}: {why}; the figures are {', '.join(FIGURES)}",
        source="--goal",
    )


def _number_or_text(text: str) -> Value:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
