"""How many incidents it takes before a real change in a duration is not noise.

Teams compare MTTR month over month; with heavy-tailed durations most such
differences are noise. ``incidents_needed`` answers, by simulation, how many
incidents per side a comparison needs before a true relative change (say -10 %)
is detected with the wanted power: draw N durations per side from the scenario's
own (simulated) durations, scale one side by ``1 + change``, compare the two with
Welch's t-test on log durations (a test of the geometric means), and count how
often the test rejects. Runtime needs numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from drillhall.errors import InputError
from drillhall.simulator.engine import Engine
from drillhall.simulator.scenario import Scenario
from drillhall.simulator.state import Incident
from drillhall.simulator.statistics import student_t_quantile

__all__ = [
    "METRICS",
    "SampleSize",
    "detection_rate",
    "durations_from_scenario",
    "incidents_needed",
    "parse_change",
    "welch_statistic",
]

METRICS = ("mttd", "mtta", "mttm", "mttr")
"""The duration metrics whose incidents ``durations_from_scenario`` collects."""

DEFAULT_TRIALS = 1000
DEFAULT_MAXIMUM = 200_000

# Draws are made in blocks of at most this many values per side, which bounds the
# memory of a trial batch whatever N is.
_BLOCK_VALUES = 1 << 21

# The search stops once the bracket is within this share of its upper end: the
# rate itself is only known to a point or two, so finer N means nothing.
_RELATIVE_TOLERANCE = 0.01


@dataclass(frozen=True)
class SampleSize:
    """How many incidents per side detect ``change`` with ``power``.

    ``per_side`` is None when even ``maximum`` incidents per side did not reach the
    power; ``rates`` holds the estimated detection rate at every N tried.
    """

    change: float
    confidence: float
    power: float
    trials: int
    per_side: int | None
    detection_rate: float
    rates: dict[int, float] = field(default_factory=dict)


def welch_statistic(
    first: np.ndarray, second: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return Welch's t and its degrees of freedom, row by row.

    ``first`` and ``second`` are (trials, n) arrays (or 1-D samples); t is positive
    when ``second``'s mean is the larger.
    """
    first, second = np.atleast_2d(first), np.atleast_2d(second)
    count_first, count_second = first.shape[1], second.shape[1]
    share_first = first.var(axis=1, ddof=1) / count_first
    share_second = second.var(axis=1, ddof=1) / count_second
    spread = share_first + share_second

    t = (second.mean(axis=1) - first.mean(axis=1)) / np.sqrt(spread)
    df = spread**2 / (
        share_first**2 / (count_first - 1) + share_second**2 / (count_second - 1)
    )
    return t, df


def detection_rate(
    durations: np.ndarray | Sequence[float],
    change: float,
    n: int,
    *,
    rng: np.random.Generator,
    confidence: float = 0.95,
    trials: int = DEFAULT_TRIALS,
) -> float:
    """Return how often a two-sided Welch test at ``confidence`` detects ``change``.

    Each trial draws ``n`` durations per side, with replacement, from
    ``durations``, multiplies the second side by ``1 + change`` and tests the log
    durations.
    """
    logs = _log_durations(durations)
    _check_change(change)
    _check_settings(confidence, trials)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n={n!r} is not a whole number >= 2 of incidents per side")
    return _rate_of_logs(logs, change, int(n), rng, confidence, trials)


def _rate_of_logs(
    logs: np.ndarray,
    change: float,
    n: int,
    rng: np.random.Generator,
    confidence: float,
    trials: int,
) -> float:
    shift = math.log1p(change)
    block = max(1, min(trials, _BLOCK_VALUES // n))
    detected = 0
    for start in range(0, trials, block):
        size = min(block, trials - start)
        first = logs[rng.integers(0, logs.size, size=(size, n))]
        second = logs[rng.integers(0, logs.size, size=(size, n))] + shift
        detected += int(_rejects(first, second, confidence).sum())
    return detected / trials


def incidents_needed(
    durations: np.ndarray | Sequence[float],
    change: float,
    *,
    rng: np.random.Generator,
    confidence: float = 0.95,
    power: float = 0.8,
    trials: int = DEFAULT_TRIALS,
    maximum: int = DEFAULT_MAXIMUM,
) -> SampleSize:
    """Return the incidents per side at which ``change`` is detected with ``power``.

    N doubles from 2 until the detection rate reaches ``power``, then the last
    bracket is bisected to within 1 %. Every N is judged with the same draws (one
    seed taken from ``rng``), so the rates form a smooth curve and the search is
    not thrown off by noise between neighbouring N.
    """
    logs = _log_durations(durations)
    _check_change(change)
    _check_settings(confidence, trials)
    if not 0.0 < power < 1.0:
        raise ValueError(f"power={power!r} is outside (0, 1); pass e.g. 0.8")

    seed = int(rng.integers(2**63))
    rates: dict[int, float] = {}

    def rate(n: int) -> float:
        if n not in rates:
            draws = np.random.default_rng(seed)
            rates[n] = _rate_of_logs(logs, change, n, draws, confidence, trials)
        return rates[n]

    # Doubling: find the first power of two (times 2) that reaches the power.
    low, high = 1, 2
    while rate(high) < power:
        if high >= maximum:
            return SampleSize(
                change, confidence, power, trials, None, rates[high], rates
            )
        low, high = high, min(2 * high, maximum)

    # Bisection: rate(low) < power <= rate(high), until the bracket is narrow.
    while high - low > max(1, int(high * _RELATIVE_TOLERANCE)):
        middle = (low + high) // 2
        if rate(middle) >= power:
            high = middle
        else:
            low = middle
    return SampleSize(change, confidence, power, trials, high, rates[high], rates)


def durations_from_scenario(
    scenario: Scenario, metric: str, replications: int | None = None
) -> np.ndarray:
    """Return every real incident's ``metric`` duration (seconds) over replications.

    ``metric`` is one of ``mttd`` (start to detection), ``mtta`` (detection to
    acknowledgement), ``mttm`` (start to mitigation) or ``mttr`` (start to
    resolution). False alarms and incidents the horizon cut short are left out.
    ``replications`` defaults to the scenario's own count.
    """
    if metric not in METRICS:
        raise InputError(
            f"unknown metric {metric!r}; use one of {', '.join(METRICS)}",
            source="--metric",
        )
    count = scenario.replications if replications is None else replications

    engine = Engine(scenario)
    collected = []
    for replication in range(count):
        real = [
            incident
            for incident in engine.run(replication).incidents
            if not incident.false_alarm
        ]
        collected.append(np.array([_duration(incident, metric) for incident in real]))
    durations = np.concatenate(collected) if collected else np.empty(0)
    return durations[np.isfinite(durations)]


def parse_change(text: str) -> float:
    """Read a relative change like ``-10%`` (or ``-0.1``) as a fraction."""
    written = text.strip()
    try:
        change = (
            float(written[:-1]) / 100.0 if written.endswith("%") else float(written)
        )
        _check_change(change)
    except ValueError as error:
        raise InputError(
            f"cannot read the change {text!r}: {error}; write e.g. -10% for a 10 % cut",
            source="--change",
        ) from None
    return change


def _duration(incident: Incident, metric: str) -> float:
    # mttd is the mean of ttd, and so on.
    return float(incident.phase_seconds()[f"tt{metric[-1]}"])


def _rejects(first: np.ndarray, second: np.ndarray, confidence: float) -> np.ndarray:
    t, df = welch_statistic(first, second)
    critical = _critical_values(df, 0.5 + confidence / 2.0)
    return np.abs(t) > critical


def _critical_values(df: np.ndarray, probability: float) -> np.ndarray:
    # Welch's degrees of freedom are not whole; the quantile is interpolated
    # between the whole numbers around each, linearly in 1/df. Each whole df is
    # solved once.
    # NOTE: from 10 df up this is within 0.01 % of the exact quantile; below, it
    # errs high (a conservative test), which only touches samples of a handful of
    # incidents that have no power anyway.
    df = np.maximum(df, 1.0)
    below = np.floor(df)
    wholes, index = np.unique(below, return_inverse=True)
    at_below = np.array([student_t_quantile(probability, int(v)) for v in wholes])
    at_above = np.array([student_t_quantile(probability, int(v) + 1) for v in wholes])
    weight = (1.0 / below - 1.0 / df) / (1.0 / below - 1.0 / (below + 1.0))
    return at_below[index] + weight * (at_above[index] - at_below[index])


def _log_durations(durations: np.ndarray | Sequence[float]) -> np.ndarray:
    values = np.ravel(np.asarray(durations, dtype=np.float64))
    if values.size < 2:
        raise ValueError(
            f"{values.size} duration(s) given; simulate more replications so there "
            "are at least 2 incidents to draw from"
        )
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0.0))
    if bad.size:
        index = int(bad[0])
        raise ValueError(
            f"durations[{index}]={float(values[index])!r} is not a finite duration "
            ">= 0; pass durations in seconds from a simulation"
        )

    # NOTE: a zero duration (an instant detection) has no log, and scaling leaves
    # it at zero, so it says nothing about the change; zeros are left out and N
    # counts incidents with a positive duration. Where many durations are zero
    # (mttd with instant alerts), the incidents to observe are N divided by the
    # share of positive ones.
    positive = values[values > 0.0]
    if positive.size < 2:
        raise ValueError(
            f"{positive.size} positive duration(s) among {values.size}; a test on "
            "log durations needs at least 2 positive ones to draw from"
        )
    return np.log(positive)


def _check_change(change: float) -> None:
    if not math.isfinite(change) or change <= -1.0 or change == 0.0:
        raise ValueError(
            f"change={change!r} is not a relative change in (-1, 0) or > 0; "
            "pass e.g. -0.1 for a 10 % cut"
        )


def _check_settings(confidence: float, trials: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} is outside (0, 1); pass 0.95")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials={trials!r} is not a whole number >= 1")
