"""The figures a simulation predicts, each with its confidence interval.

``MonteCarloSummary`` takes replication summaries as they arrive (memory grows
with replications, not with incidents) and turns them into a ``Prediction``: the
lifecycle durations, escalation, on-call load per person and SLO budget burn.
Reports also draw from it directly: the pooled duration histograms and each
person's interruptions by local hour of the week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drillhall.simulator.distributions import stream
from drillhall.simulator.durations import WEEK
from drillhall.simulator.engine import Engine
from drillhall.simulator.localtime import SHIFT_NAMES
from drillhall.simulator.replication import (
    DURATIONS,
    PolicyCounts,
    ReplicationSummary,
)
from drillhall.simulator.scenario import Scenario
from drillhall.simulator.state import HOURS_PER_WEEK
from drillhall.simulator.statistics import (
    DurationHistogram,
    Estimate,
    mean_interval,
    proportion_interval,
    summarize_durations,
)

BOOTSTRAP_STREAM = "summary/bootstrap"
BOOTSTRAP_UNITS = 256
"""Replication r joins unit r mod 256: past 256 replications, the bootstrap
resamples units of several replications, which are as independent as single ones
and keep memory flat however long the run."""


@dataclass
class PersonLoad:
    shifts: int
    interruptions_per_week: Estimate
    by_shift_type: dict[str, Estimate]
    interruptions_per_shift: float
    acknowledged_per_week: Estimate
    hours_worked_per_week: Estimate


@dataclass
class ServiceBudget:
    availability: float
    window_days: float
    incidents_per_replication: Estimate
    budget_used_per_window: Estimate
    worst_window: Estimate
    breach_probability: Estimate


@dataclass
class Prediction:
    """What the simulator predicts for one scenario."""

    scenario: str
    seed: int
    replications: int
    horizon_days: float
    incidents: int
    incidents_per_replication: Estimate
    false_alarms_per_replication: Estimate
    durations: dict[str, dict[str, Estimate]]
    escalation: dict[str, dict[str, Any]]
    acknowledged_during_sleep: Estimate
    load: dict[str, PersonLoad]
    slo: dict[str, ServiceBudget]
    events_per_incident: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


class MonteCarloSummary:
    """Collects replication summaries, in order, and computes the prediction."""

    def __init__(self, scenario: Scenario, engine: Engine | None = None) -> None:
        self.scenario = scenario
        self.people = list(scenario.people)
        self.services = list(scenario.services)
        self.histograms: dict[str, dict[int, DurationHistogram]] = {
            name: {} for name in DURATIONS
        }
        self.incidents: list[int] = []
        self.false_alarms: list[int] = []
        self.during_sleep = 0
        self.by_service: dict[str, list[int]] = {name: [] for name in self.services}
        self.escalation: dict[str, PolicyCounts] = {}
        self.interruptions: list[np.ndarray] = []
        # A sum, not a list: 168 hours per person would grow fast per replication.
        self.interruptions_by_hour = np.zeros(
            (len(self.people), HOURS_PER_WEEK), dtype=np.int64
        )
        self.acknowledged: list[np.ndarray] = []
        self.busy_seconds: list[np.ndarray] = []
        self.burn_mean: dict[str, list[float]] = {}
        self.burn_worst: dict[str, list[float]] = {}
        self.events = 0
        self._shifts = _shift_counts(engine or Engine(scenario))

    def add(self, summary: ReplicationSummary) -> None:
        unit = summary.replication % BOOTSTRAP_UNITS
        for name in DURATIONS:
            units = self.histograms[name]
            histogram = summary.durations[name]
            units[unit] = units[unit] + histogram if unit in units else histogram
        self.incidents.append(summary.incidents)
        self.false_alarms.append(summary.false_alarms)
        self.during_sleep += summary.during_sleep
        for name, count in summary.by_service.items():
            self.by_service[name].append(count)
        for name, counts in summary.escalation.items():
            total = self.escalation.setdefault(
                name, PolicyCounts.empty(len(counts.reached))
            )
            total.add(counts)
        self.interruptions.append(summary.interruptions)
        self.interruptions_by_hour += summary.interruptions_by_hour
        self.acknowledged.append(summary.acknowledged)
        self.busy_seconds.append(summary.busy_seconds)
        for name, burn in summary.budget_burn.items():
            self.burn_mean.setdefault(name, []).append(float(np.mean(burn)))
            self.burn_worst.setdefault(name, []).append(float(np.max(burn)))
        self.events += summary.events

    def prediction(self) -> Prediction:
        scenario = self.scenario
        total = int(sum(self.incidents))
        rng = stream(scenario.seed, 0, BOOTSTRAP_STREAM)
        durations = {
            name: summarize_durations(_in_order(self.histograms[name]), rng)
            for name in DURATIONS
        }
        return Prediction(
            scenario=scenario.name,
            seed=scenario.seed,
            replications=len(self.incidents),
            horizon_days=scenario.horizon / 86400,
            incidents=total,
            incidents_per_replication=mean_interval(self.incidents),
            false_alarms_per_replication=mean_interval(self.false_alarms),
            durations=durations,
            escalation=self._escalation(),
            acknowledged_during_sleep=proportion_interval(self.during_sleep, total),
            load=self._load(),
            slo=self._slo(),
            events_per_incident=self.events / max(1, total + sum(self.false_alarms)),
        )

    def pooled_durations(self, name: str) -> DurationHistogram:
        """Every duration of one kind (``ttd`` … ``wait``) over all replications."""
        return sum(self.histograms[name].values(), DurationHistogram.empty())

    def load_by_hour_of_week(self) -> dict[str, np.ndarray]:
        """Per person, 168 mean interruptions per week in each local hour.

        Hour 0 is Monday 00:00-01:00 in the person's own time zone, the clock the
        load buckets use; a person's 168 figures add up to their interruptions
        per week.
        """
        replications = len(self.incidents)
        if not replications:
            return {person: np.zeros(HOURS_PER_WEEK) for person in self.people}
        weeks = self.scenario.horizon / WEEK
        means = self.interruptions_by_hour / (replications * weeks)
        return dict(zip(self.people, means, strict=True))

    def _escalation(self) -> dict[str, dict[str, Any]]:
        result = {}
        for name, counts in self.escalation.items():
            levels = []
            for index, reached in enumerate(counts.reached):
                escalated = counts.escalated[index]
                levels.append(
                    {
                        "level": index + 1,
                        "reached": proportion_interval(reached, counts.incidents),
                        "escalated": proportion_interval(escalated, counts.incidents),
                    }
                )
            result[name] = {
                "incidents": counts.incidents,
                "levels": levels,
                "exhausted": proportion_interval(counts.exhausted, counts.incidents),
            }
        return result

    def _load(self) -> dict[str, PersonLoad]:
        weeks = self.scenario.horizon / WEEK
        interruptions = np.stack(self.interruptions)  # replications × people × 3
        acknowledged = np.stack(self.acknowledged)
        hours = np.stack(self.busy_seconds) / 3600
        load = {}
        for index, person in enumerate(self.people):
            per_replication = interruptions[:, index, :]
            total = per_replication.sum(axis=1)
            shifts = self._shifts.get(person, 0)
            load[person] = PersonLoad(
                shifts=shifts,
                interruptions_per_week=mean_interval(total / weeks),
                by_shift_type={
                    kind: mean_interval(per_replication[:, column] / weeks)
                    for column, kind in enumerate(SHIFT_NAMES)
                },
                interruptions_per_shift=(
                    float(total.mean() / shifts) if shifts else math.nan
                ),
                acknowledged_per_week=mean_interval(acknowledged[:, index] / weeks),
                hours_worked_per_week=mean_interval(hours[:, index] / weeks),
            )
        return load

    def _slo(self) -> dict[str, ServiceBudget]:
        result = {}
        for name in self.services:
            service = self.scenario.services[name]
            if service.slo is None or name not in self.burn_mean:
                continue
            worst = self.burn_worst[name]
            breaches = sum(1 for value in worst if value > 1.0)
            result[name] = ServiceBudget(
                availability=service.slo.availability,
                window_days=service.slo.window / 86400,
                incidents_per_replication=mean_interval(self.by_service[name]),
                budget_used_per_window=mean_interval(self.burn_mean[name]),
                worst_window=mean_interval(worst),
                breach_probability=proportion_interval(breaches, len(worst)),
            )
        return result


def _in_order(units: dict[int, DurationHistogram]) -> list[DurationHistogram]:
    return [units[unit] for unit in sorted(units)]


def _shift_counts(engine: Engine) -> dict[str, int]:
    """How many separate on-call stretches each person holds over the horizon."""
    begin = engine.base
    end = begin + engine.horizon
    counts: dict[str, int] = {}
    for calendar in engine.calendars.values():
        previous = None
        for start, stop, person in calendar.segments():
            if stop <= begin or start >= end:
                continue
            if person is not None and person != previous:
                counts[person] = counts.get(person, 0) + 1
            previous = person
    return counts


def _plain(value: Any) -> Any:
    """Turn a prediction into JSON-ready values; NaN becomes None."""
    if isinstance(value, Estimate):
        return value.to_dict()
    if hasattr(value, "__dataclass_fields__"):
        return {
            name: _plain(getattr(value, name)) for name in value.__dataclass_fields__
        }
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
