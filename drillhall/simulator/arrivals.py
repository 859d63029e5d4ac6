"""When faults start and when they are found: the incident model's random times.

Everything here is drawn for a whole replication at once with numpy, before the
event loop runs: fault start times (a Poisson process, thinned by an hour-of-week
shape), and the time each fault is detected by an alert rule or a user report.
"""

from __future__ import annotations

import math

import numpy as np

from drillhall.simulator.distributions import DistributionSpec
from drillhall.simulator.localtime import SLOT, SLOTS_PER_WEEK, LocalClock
from drillhall.simulator.scenario import AlertRule, Fault

USER_REPORT = "user report"


def hour_of_week_intensity(fault: Fault) -> list[float]:
    """Relative arrival intensity per local quarter hour of the week, mean one.

    Outside every window the factor is one; where windows overlap, the one listed
    last applies. A fault without a shape gets ``[1.0]``.
    """
    if not fault.hour_of_week:
        return [1.0]

    factors = []
    for slot in range(SLOTS_PER_WEEK):
        factor = 1.0
        for window in fault.hour_of_week:
            if window.contains(slot // 96, (slot % 96) * int(SLOT)):
                factor = window.factor
        factors.append(factor)

    mean = sum(factors) / len(factors)
    if mean == 0:
        return [0.0] * SLOTS_PER_WEEK
    return [factor / mean for factor in factors]


def arrival_times(
    rate: float,
    intensity: list[float],
    clock: LocalClock,
    horizon: float,
    base: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Sorted start times, in seconds after ``base``, of a fault over the horizon.

    ``rate`` is the mean rate per second; ``intensity`` its relative shape by
    local quarter hour of the week (from ``hour_of_week_intensity``), applied by
    thinning a homogeneous process at the peak rate.
    """
    if rate <= 0:
        return np.empty(0)

    peak = max(intensity)
    count = rng.poisson(rate * peak * horizon)
    starts = np.sort(rng.uniform(0.0, horizon, count))
    if peak == 1.0 and min(intensity) == 1.0:
        return starts

    slots = clock.slots_of_week(starts + base)
    keep = rng.random(count) * peak < np.asarray(intensity)[slots]
    return starts[keep]


def detection_times(
    fault: Fault,
    starts: np.ndarray,
    rules: dict[str, AlertRule],
    user_report: DistributionSpec,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[str]]:
    """When each fault is found, and by which alert rule or by a user report.

    A rule catches a fault with its probability. The fault's signal lands at the
    next scrape, the rule sees it at the next evaluation, and fires once it has
    stayed true for its ``for`` duration, counted in whole evaluations. A user
    report comes after its own delay; whichever comes first detects the fault.
    """
    count = len(starts)
    signal = fault.detect.sample(rng, count)
    found = user_report.sample(rng, count)
    found_by = np.full(count, -1)

    for index, name in enumerate(fault.alerts):
        rule = rules[name]
        seen = signal + rng.uniform(0, rule.scrape_interval, count)
        seen += rng.uniform(0, rule.evaluation_interval, count)
        if rule.for_ > 0 and rule.evaluation_interval > 0:
            steps = math.ceil(rule.for_ / rule.evaluation_interval)
            seen += steps * rule.evaluation_interval
        else:
            seen += rule.for_
        caught = rng.random(count) < rule.probability
        earlier = caught & (seen < found)
        found = np.where(earlier, seen, found)
        found_by = np.where(earlier, index, found_by)

    names = [USER_REPORT, *fault.alerts]
    return starts + found, [names[index + 1] for index in found_by.tolist()]
