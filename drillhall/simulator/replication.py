"""One replication reduced to bounded aggregates, and its lifecycle records.

A worker simulates a replication and sends back a ``ReplicationSummary``: duration
histograms, counts per escalation level, per-person load and per-service error
budget, whatever the number of incidents. Records travel only when asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from drillhall.simulator.engine import Engine, ReplicationOutcome
from drillhall.simulator.lifecycle import LifecycleRecord
from drillhall.simulator.state import HOURS_PER_WEEK, Incident, Responder
from drillhall.simulator.statistics import DurationHistogram

DURATIONS = ("ttd", "tta", "ttm", "ttr", "wait")


@dataclass
class PolicyCounts:
    """How far the incidents of one escalation policy went.

    ``reached[k]`` counts incidents that paged somebody at level k (a level with
    nobody on call is skipped, not reached); ``escalated[k]`` those that went on
    to a later level.
    """

    incidents: int
    reached: list[int]
    escalated: list[int]
    exhausted: int = 0

    @classmethod
    def empty(cls, levels: int) -> PolicyCounts:
        return cls(0, [0] * levels, [0] * levels)

    def add(self, other: PolicyCounts) -> None:
        self.incidents += other.incidents
        self.exhausted += other.exhausted
        self.reached = [a + b for a, b in zip(self.reached, other.reached, strict=True)]
        self.escalated = [
            a + b for a, b in zip(self.escalated, other.escalated, strict=True)
        ]


@dataclass
class ReplicationSummary:
    replication: int
    durations: dict[str, DurationHistogram]
    incidents: int
    false_alarms: int
    during_sleep: int
    by_service: dict[str, int]
    escalation: dict[str, PolicyCounts]
    interruptions: np.ndarray
    """people × (business, off hours, sleep) notifications that interrupted."""
    interruptions_by_hour: np.ndarray
    """people × 168: the same interruptions by local hour of the week (Monday
    00:00 first)."""
    acknowledged: np.ndarray
    worked: np.ndarray
    busy_seconds: np.ndarray
    budget_burn: dict[str, list[float]]
    """Per service with an SLO: the share of the error budget used per window."""
    events: int
    records: list[LifecycleRecord] | None = field(default=None)


def summarize(
    engine: Engine, outcome: ReplicationOutcome, keep_records: bool = False
) -> ReplicationSummary:
    """Reduce one replication's outcome to what the Monte Carlo summary needs."""
    real = [incident for incident in outcome.incidents if not incident.false_alarm]
    started = np.array([incident.start for incident in real])
    detected = np.array([incident.detected for incident in real])
    acknowledged = np.array([incident.acknowledged for incident in real])
    work_started = np.array([incident.work_started for incident in real])
    mitigated = np.array([incident.mitigated for incident in real])
    resolved = np.array([incident.resolved for incident in real])

    durations = {
        "ttd": DurationHistogram.from_values(detected - started),
        "tta": DurationHistogram.from_values(acknowledged - detected),
        "ttm": DurationHistogram.from_values(mitigated - started),
        "ttr": DurationHistogram.from_values(resolved - started),
        "wait": DurationHistogram.from_values(work_started - acknowledged),
    }

    responders = outcome.responders
    return ReplicationSummary(
        replication=outcome.replication,
        durations=durations,
        incidents=len(real),
        false_alarms=len(outcome.incidents) - len(real),
        during_sleep=sum(incident.during_sleep for incident in real),
        by_service=_by_service(engine, real),
        escalation=_escalation(engine, outcome.incidents),
        interruptions=np.array([r.interruptions for r in responders], dtype=np.int64),
        interruptions_by_hour=_by_hour(responders),
        acknowledged=np.array([r.acknowledged for r in responders], dtype=np.int64),
        worked=np.array([r.worked for r in responders], dtype=np.int64),
        busy_seconds=np.array([r.busy_seconds for r in responders]),
        budget_burn=_budget_burn(engine, real),
        events=outcome.events,
        records=lifecycle_records(engine, outcome) if keep_records else None,
    )


def _by_hour(responders: list[Responder]) -> np.ndarray:
    """People × 168 interruptions by local hour of the week."""
    counts = np.zeros((len(responders), HOURS_PER_WEEK), dtype=np.int64)
    for row, responder in enumerate(responders):
        if responder.hours_of_week is not None:
            counts[row] = responder.hours_of_week
    return counts


def _by_service(engine: Engine, incidents: list[Incident]) -> dict[str, int]:
    counts = dict.fromkeys(engine.services, 0)
    for incident in incidents:
        counts[engine.services[incident.service]] += 1
    return counts


def _escalation(engine: Engine, incidents: list[Incident]) -> dict[str, PolicyCounts]:
    counts = {
        name: PolicyCounts.empty(len(policy.levels))
        for name, policy in engine.scenario.escalation.items()
    }
    for incident in incidents:
        if incident.false_alarm:
            continue
        policy = counts[incident.policy.name]
        policy.incidents += 1
        for level in range(len(policy.reached)):
            if incident.paged_levels >> level & 1:
                policy.reached[level] += 1
            if incident.level > level:
                policy.escalated[level] += 1
        policy.exhausted += incident.exhausted
    return counts


def _budget_burn(engine: Engine, incidents: list[Incident]) -> dict[str, list[float]]:
    """Share of each SLO window's error budget that the incidents consumed.

    An incident costs its impact (the share of traffic failing) times the time
    from its start to its mitigation; the last window, if cut by the horizon,
    gets a budget in proportion to its length.
    """
    horizon = engine.horizon
    burn: dict[str, list[float]] = {}
    for service_index, name in enumerate(engine.services):
        service = engine.scenario.services[name]
        if service.slo is None:
            continue

        window = service.slo.window
        windows = max(1, math.ceil(horizon / window - 1e-9))
        bad = [0.0] * windows
        faults = service.faults
        for incident in incidents:
            if incident.service != service_index:
                continue
            impact = faults[incident.fault].impact
            impact = service.impact if impact is None else impact
            begin, end = incident.start, min(incident.mitigated, horizon)
            index = int(begin // window)
            while begin < end and index < windows:
                edge = min(end, (index + 1) * window)
                bad[index] += impact * (edge - begin)
                begin, index = edge, index + 1

        allowed = 1.0 - service.slo.availability
        budgets = [
            allowed * (min(horizon, (i + 1) * window) - i * window)
            for i in range(windows)
        ]
        burn[name] = [
            spent / budget for spent, budget in zip(bad, budgets, strict=True)
        ]
    return burn


def lifecycle_records(
    engine: Engine, outcome: ReplicationOutcome
) -> list[LifecycleRecord]:
    """The lifecycle record of every incident, false alerts included."""
    base = engine.base
    scenario = engine.scenario

    def instant(seconds: float) -> datetime:
        return datetime.fromtimestamp(base + seconds, UTC)

    def reached(seconds: float) -> datetime | None:
        return None if seconds == math.inf else instant(seconds)

    records = []
    for incident in outcome.incidents:
        service_name = engine.services[incident.service]
        service = scenario.services[service_name]
        fault = service.faults[incident.fault] if incident.fault >= 0 else None
        records.append(
            LifecycleRecord(
                incident=f"{outcome.replication}-{incident.index}",
                service=service_name,
                fault=fault.name if fault else "false alert",
                severity=fault.severity if fault else "none",
                urgency=fault.urgency if fault else "high",
                false_alarm=incident.false_alarm,
                started=instant(incident.start),
                detected=instant(incident.detected),
                detected_by=incident.detected_by,
                acknowledged=reached(incident.acknowledged),
                acknowledged_by=_name(incident.acknowledged_by),
                escalation_level=incident.level + 1,
                escalations=incident.escalations,
                work_started=reached(incident.work_started),
                worked_by=_name(incident.worker),
                mitigated=instant(incident.mitigated),
                resolved=instant(incident.resolved),
                during_sleep=incident.during_sleep,
                replication=outcome.replication,
            )
        )
    return records


def _name(responder: Responder | None) -> str | None:
    return None if responder is None else responder.name
