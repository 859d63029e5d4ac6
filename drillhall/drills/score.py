"""Scoring a drill from its timeline: times, runbook adherence, SLO impact.

The rubric is explicit and printed with every score. Each part earns points in
proportion to how well it went, so a team sees where the points were lost:

| part | points | full marks when |
| --- | --- | --- |
| detection | 15 | detected within the expected time |
| acknowledgement | 15 | acknowledged within the expected time |
| mitigation | 20 | user impact ended within the expected time |
| resolution | 10 | resolved within the expected time |
| runbook | 25 | every step done, in order, its check passed |
| SLO | 15 | the drill window stayed within its error budget |

A phase that took longer than expected earns points falling linearly to zero at
twice the expected time; a phase that never happened earns none. Times are also
placed within the simulator's predicted distribution when one is given (the
share of simulated incidents that were faster).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from drillhall.simulator.lifecycle import PHASES, LifecycleRecord

PHASE_EVENTS = {
    "ttd": ("injected", "detected"),
    "tta": ("detected", "acknowledged"),
    "ttm": ("injected", "mitigated"),
    "ttr": ("injected", "resolved"),
}
RUBRIC = {
    "ttd": ("detection", 15.0),
    "tta": ("acknowledgement", 15.0),
    "ttm": ("mitigation", 20.0),
    "ttr": ("resolution", 10.0),
    "runbook": ("runbook", 25.0),
    "slo": ("SLO", 15.0),
}


class Event(Protocol):
    """What scoring reads of a timeline event."""

    @property
    def at(self) -> datetime: ...

    @property
    def kind(self) -> str: ...

    @property
    def payload(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class PhaseScore:
    phase: str
    seconds: float | None
    expected: float | None
    predicted_percentile: float | None
    points: float
    out_of: float


@dataclass(frozen=True)
class RunbookScore:
    steps: int
    done: list[int]
    skipped: list[int]
    missing: list[int]
    out_of_order: list[int]
    checks_failed: list[int]
    seconds_per_step: dict[int, float]
    points: float
    out_of: float


@dataclass(frozen=True)
class SloScore:
    requests: int
    failures: int
    budget_used: float | None
    worst_minute_error_rate: float | None
    latency_p95_ms: float | None
    latency_within_slo: float | None
    """Share of seconds whose 95th percentile met the latency SLO."""
    points: float
    out_of: float


@dataclass(frozen=True)
class DrillScore:
    phases: dict[str, PhaseScore]
    runbook: RunbookScore
    slo: SloScore
    guardrails_tripped: list[str]
    rubric: dict[str, tuple[str, float]] = field(default_factory=lambda: dict(RUBRIC))

    @property
    def points(self) -> float:
        parts = [phase.points for phase in self.phases.values()]
        return sum(parts) + self.runbook.points + self.slo.points

    @property
    def out_of(self) -> float:
        return sum(points for _, points in self.rubric.values())


def drill_lifecycle(
    drill: str, plan: str, fault: str, events: Sequence[Event]
) -> LifecycleRecord | None:
    """The drill as a lifecycle record, the simulator's kind; ``None`` until the
    fault was injected, detected, mitigated and resolved."""
    first = first_times(events)
    needed = ("injected", "detected", "mitigated", "resolved")
    if any(kind not in first for kind in needed):
        return None

    def who(kind: str) -> str | None:
        for event in sorted(events, key=lambda event: event.at):
            if event.kind == kind:
                return str(event.payload.get("by") or getattr(event, "source", ""))
        return None

    return LifecycleRecord(
        incident=drill,
        service=plan,
        fault=fault,
        severity="drill",
        urgency="high",
        false_alarm=False,
        started=first["injected"],
        detected=first["detected"],
        detected_by=str(
            next(
                (e.payload.get("alertname") for e in events if e.kind == "detected"),
                None,
            )
            or "detected"
        ),
        acknowledged=first.get("acknowledged"),
        acknowledged_by=who("acknowledged"),
        escalation_level=1,
        escalations=0,
        work_started=first.get("acknowledged"),
        worked_by=who("acknowledged"),
        mitigated=first["mitigated"],
        resolved=first["resolved"],
        during_sleep=False,
    )


def first_times(events: Iterable[Event]) -> dict[str, datetime]:
    """The first time each lifecycle event happened in a timeline."""
    first: dict[str, datetime] = {}
    for event in sorted(events, key=lambda event: event.at):
        first.setdefault(event.kind, event.at)
    return first


def phase_seconds(events: Sequence[Event]) -> dict[str, float | None]:
    """TTD, TTA, TTM and TTR of a drill; ``None`` for a phase that never ended."""
    first = first_times(events)
    seconds: dict[str, float | None] = {}
    for phase, (start, end) in PHASE_EVENTS.items():
        if start in first and end in first:
            seconds[phase] = max(0.0, (first[end] - first[start]).total_seconds())
        else:
            seconds[phase] = None
    return seconds


def score_drill(
    events: Sequence[Event],
    *,
    expected: Mapping[str, float | None],
    runbook_steps: int,
    availability: float | None = None,
    latency_below: float | None = None,
    predicted: Mapping[str, np.ndarray] | None = None,
) -> DrillScore:
    """Score a drill's timeline against its expectations and its SLO.

    ``expected`` maps phases (ttd, tta, ttm, ttr) to seconds; ``predicted`` maps
    them to simulated durations for the same team and fault.
    """
    seconds = phase_seconds(events)
    phases = {
        phase: _phase_score(
            phase, seconds[phase], expected.get(phase), (predicted or {}).get(phase)
        )
        for phase in PHASES
    }
    guardrails = [
        str(event.payload.get("guardrail", "guardrail"))
        for event in events
        if event.kind == "guardrail_tripped"
    ]
    return DrillScore(
        phases=phases,
        runbook=score_runbook(events, runbook_steps),
        slo=score_slo(events, availability, latency_below),
        guardrails_tripped=guardrails,
    )


def _phase_score(
    phase: str, took: float | None, expected: float | None, predicted: Any
) -> PhaseScore:
    _, out_of = RUBRIC[phase]
    percentile = None
    if took is not None and predicted is not None and len(predicted):
        percentile = float(np.mean(np.asarray(predicted) < took) * 100)

    if took is None:
        points = 0.0
    elif expected is None or expected <= 0 or took <= expected:
        points = out_of
    else:
        points = out_of * max(0.0, 2.0 - took / expected)
    return PhaseScore(phase, took, expected, percentile, round(points, 2), out_of)


def score_runbook(events: Sequence[Event], steps: int) -> RunbookScore:
    """Adherence to the runbook: steps done, skipped, missing, order, checks."""
    _, out_of = RUBRIC["runbook"]
    marks = [event for event in events if event.kind == "runbook_step"]
    marks.sort(key=lambda event: event.at)
    started = first_times(events).get("acknowledged") or first_times(events).get(
        "injected"
    )

    done: list[int] = []
    skipped: list[int] = []
    failed: list[int] = []
    durations: dict[int, float] = {}
    previous = started
    for event in marks:
        step = int(event.payload.get("step", 0))
        if event.payload.get("status", "done") == "skipped":
            skipped.append(step)
            continue
        if step in done:
            continue
        done.append(step)
        if event.payload.get("check") is False:
            failed.append(step)
        if previous is not None:
            durations[step] = (event.at - previous).total_seconds()
        previous = event.at

    out_of_order = [
        step
        for position, step in enumerate(done)
        if any(step < s for s in done[:position])
    ]
    missing = [
        step for step in range(1, steps + 1) if step not in done and step not in skipped
    ]
    if steps:
        good = len([step for step in done if step not in failed and 1 <= step <= steps])
        share = good / steps
        share -= 0.5 * len(out_of_order) / steps
        points = out_of * max(0.0, share)
    else:
        points = out_of
    return RunbookScore(
        steps=steps,
        done=done,
        skipped=skipped,
        missing=missing,
        out_of_order=out_of_order,
        checks_failed=failed,
        seconds_per_step=durations,
        points=round(points, 2),
        out_of=out_of,
    )


def score_slo(
    events: Sequence[Event],
    availability: float | None,
    latency_below: float | None = None,
) -> SloScore:
    """SLO impact from the load's per-second statistics in the timeline.

    ``load_stats`` events carry ``requests``, ``failures`` and ``latency_p95_ms``
    for one second of load. The availability part compares failures with the
    error budget of the requests sent; the latency part (``latency_below``, in
    seconds) is the share of seconds whose 95th percentile stayed below it. The
    latency reported is the 95th percentile of those seconds during the fault
    (from the injection to the mitigation).
    """
    _, out_of = RUBRIC["slo"]
    seconds = sorted(
        (event for event in events if event.kind == "load_stats"),
        key=lambda event: event.at,
    )
    requests = sum(int(event.payload.get("requests", 0)) for event in seconds)
    failures = sum(int(event.payload.get("failures", 0)) for event in seconds)

    worst = None
    for start in range(0, len(seconds), 60):
        minute = seconds[start : start + 60]
        sent = sum(int(event.payload.get("requests", 0)) for event in minute)
        if sent:
            failed = sum(int(event.payload.get("failures", 0)) for event in minute)
            worst = max(worst or 0.0, failed / sent)

    first = first_times(events)
    began, ended = first.get("injected"), first.get("mitigated")
    during = [
        float(event.payload["latency_p95_ms"])
        for event in seconds
        if event.payload.get("latency_p95_ms") is not None
        and (began is None or event.at >= began)
        and (ended is None or event.at <= ended)
    ]
    p95 = float(np.percentile(during, 95)) if during else None

    parts: list[float] = []
    budget_used = None
    if availability is not None and requests:
        allowed = (1.0 - availability) * requests
        budget_used = failures / allowed if allowed else float("inf")
        parts.append(max(0.0, 1.0 - max(0.0, budget_used - 1.0)))

    within = None
    measured = [
        float(event.payload["latency_p95_ms"])
        for event in seconds
        if event.payload.get("latency_p95_ms") is not None
    ]
    if latency_below is not None and measured:
        limit_ms = latency_below * 1000
        within = sum(value <= limit_ms for value in measured) / len(measured)
        parts.append(within)

    points = out_of * (sum(parts) / len(parts)) if parts else out_of
    return SloScore(
        requests, failures, budget_used, worst, p95, within, round(points, 2), out_of
    )
