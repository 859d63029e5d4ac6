"""A drill's facts, gathered once from its timeline for every report about it.

The drill report and the postmortem draft both read one ``DrillFacts``: the
drill's record and events, the plan it ran (reloaded from the file the drill
recorded, when that file is still there), when each step of the lifecycle
first happened, the phase durations, the score recomputed as the runner
computed it, the load second by second, the user impact, and where the team's
times sit within the simulator's prediction for the same fault. It also says
each event in words and times it on the fault's clock (``describe``,
``offset``, see ``drillhall.reports.drill_events``), so that both documents
word the drill alike.

Everything here is derived from the timeline and the plan; nothing is written.
A drill whose plan file has moved or no longer loads still has its facts: the
parts that need the plan (score, expectations, prediction, SLO targets) are
``None`` and ``plan_note`` says why.

``drill_incidents`` reads the same timeline more lightly, for the history
store: each ended drill as the incident record it is beside real incidents.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from drillhall.drills.plan import DrillPlan, load_plan
from drillhall.drills.runner import DrillSpec
from drillhall.drills.score import (
    DrillScore,
    first_times,
    phase_seconds,
    score_drill,
    score_slo,
)
from drillhall.drills.spec import PHASE_OF, predicted_durations, spec_from_plan
from drillhall.drills.timeline import (
    ENDED_STATUSES,
    DrillRecord,
    Timeline,
    TimelineEvent,
)
from drillhall.errors import DrillhallError, InputError
from drillhall.reports.drill_events import describe_event, offset_text
from drillhall.reports.history import LIFECYCLE_TIMES, IncidentRecord
from drillhall.reports.incident_values import check_lifecycle

logger = logging.getLogger(__name__)

LIFECYCLE_KINDS: Final = (
    "injected",
    "detected",
    "acknowledged",
    "mitigated",
    "resolved",
    "rolled_back",
)
"""The lifecycle steps of a drill, in their usual order, as ``times`` keys."""


@dataclass(frozen=True)
class LoadSecond:
    """One second of the drill's load, from a ``load_stats`` event."""

    at: datetime
    requests: int
    failures: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None

    @property
    def error_rate(self) -> float | None:
        """Failed share of the second's requests; ``None`` when none were sent."""
        return self.failures / self.requests if self.requests else None


@dataclass(frozen=True)
class Impact:
    """What users of the target saw, measured from the drill's load.

    ``requests`` and ``failed`` are sums over every ``load_stats`` event.
    ``budget_used`` is the failed share of the error budget the availability
    SLO allows for those requests (1.0 is the whole budget, more is a breach);
    ``None`` without the plan or without that SLO.

    There is one figure for each of these, and every report reads it here: when
    the drill is scored, it is the score's (``DrillScore.slo``, measured with
    the SLOs of the run as the runner resolved them from the plan and the run's
    configuration); without a score, it is measured here the same way, with
    the plan's SLOs. So the score's SLO part and the impact never disagree.
    """

    requests: int
    failed: int
    budget_used: float | None
    worst_minute_error_rate: float | None
    """The highest error rate of a minute of load (whole minutes from the first
    second, as the score counts them)."""
    latency_p95_ms: float | None
    """The 95th percentile of the per-second p95 latencies during the fault."""
    latency_within_slo: float | None
    """Share of seconds whose p95 latency met the latency SLO."""
    started: datetime | None
    """The impact window opens with the injection ..."""
    ended: datetime | None
    """... and closes with the first mitigation (``None`` if never mitigated)."""
    users: int | None
    """Simulated users of the plan's load (``None`` without the plan's load)."""
    availability: float | None
    """The availability SLO the budget is measured against, e.g. 0.95."""
    latency_below_ms: float | None
    """The latency SLO: the p95 stays below this many milliseconds."""

    @property
    def window_seconds(self) -> float | None:
        """Seconds from the injection to the first mitigation, if both happened."""
        if self.started is None or self.ended is None:
            return None
        return max(0.0, (self.ended - self.started).total_seconds())

    @property
    def error_rate(self) -> float | None:
        """Failed share of every request the load sent during the drill."""
        return self.failed / self.requests if self.requests else None


@dataclass(frozen=True)
class DrillFacts:
    """Everything the timeline and the plan tell about one drill.

    ``times`` holds the first time of each of ``LIFECYCLE_KINDS`` that happened.
    ``phases`` holds TTD, TTA, TTM and TTR in seconds (``None`` for a phase that
    never ended), measured as ``drillhall.drills.score.phase_seconds`` measures
    them. ``score`` is ``score_drill`` run again with the plan's expectations,
    runbook and SLOs: the same numbers the runner printed; ``None`` without the
    plan, and for a drill whose fault was never injected (the runner scores
    only a drill whose steady state held, and then injects at once).
    ``predicted`` holds the simulator's TTD, TTA, TTM and TTR (seconds) for the
    fault the plan's expectations name, and ``percentiles`` the share of those
    simulated incidents (0 to 100) that were faster than the team.
    """

    record: DrillRecord
    events: list[TimelineEvent]
    plan: DrillPlan | None
    plan_note: str | None
    """Why ``plan`` is ``None`` (moved, invalid, another plan), else ``None``."""
    times: dict[str, datetime]
    phases: dict[str, float | None]
    score: DrillScore | None
    recorded_score: tuple[float, float] | None
    """Points and out-of as the runner wrote them in the ``score`` event."""
    load: list[LoadSecond]
    impact: Impact
    predicted: dict[str, np.ndarray] | None
    predicted_for: str | None
    """The fault the prediction is for, as ``service/fault in SCENARIO_FILE``."""
    percentiles: dict[str, float | None]

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def origin(self) -> datetime:
        """Time zero of the drill: the injection, or the start if none happened."""
        return self.times.get("injected", self.record.started)

    def since_origin(self, moment: datetime) -> float:
        """Seconds from ``origin`` to ``moment`` (negative before the injection)."""
        return (moment - self.origin).total_seconds()

    def of_kind(self, kind: str) -> list[TimelineEvent]:
        """The drill's events of one kind, in time order."""
        return [event for event in self.events if event.kind == kind]

    def offset(self, moment: datetime) -> str:
        """``moment`` on the fault's clock, such as ``T+1:02``."""
        return offset_text(self.since_origin(moment))

    @property
    def step_titles(self) -> dict[int, str]:
        """The plan's runbook steps by number (empty without the plan)."""
        if self.plan is None:
            return {}
        return {step.number: step.title for step in self.plan.loaded_runbook.steps}

    def describe(self, event: TimelineEvent) -> str:
        """One of the drill's events in words, its runbook steps by title."""
        return describe_event(event, self.step_titles)

    @property
    def points(self) -> tuple[float, float] | None:
        """The score as points and out-of: ``score``'s when there is one, else
        as the runner recorded it; ``None`` for a drill that was not scored."""
        if self.score is not None:
            return self.score.points, self.score.out_of
        return self.recorded_score


def drill_facts(timeline: Timeline, drill: str) -> DrillFacts:
    """Gather the facts of ``drill`` from ``timeline``.

    An unknown drill id raises ``InputError`` naming it (and the latest known
    ids). Reloading the plan runs the simulator for predicted expectations,
    which takes about a second for the example plan.
    """
    record = timeline.drill(drill)
    events = timeline.events(drill)
    plan, plan_note = reload_plan(record)

    phases = phase_seconds(events)
    first = first_times(events)
    injected = "injected" in first
    scored = _rescore(plan, record, events) if plan and injected else None
    score = scored[0] if scored is not None else None
    predicted, predicted_for = _prediction(plan) if plan else (None, None)

    logger.debug("drill %s: %d events, plan %s", drill, len(events), plan_note or "ok")
    return DrillFacts(
        record=record,
        events=events,
        plan=plan,
        plan_note=plan_note,
        times={kind: first[kind] for kind in LIFECYCLE_KINDS if kind in first},
        phases=phases,
        score=score,
        recorded_score=_recorded_score(events),
        load=_load_seconds(events),
        impact=_impact(plan, events, scored),
        predicted=predicted,
        predicted_for=predicted_for,
        percentiles=_percentiles(phases, predicted),
    )


def predicted_percentile(durations: np.ndarray, seconds: float) -> float:
    """The share (0 to 100) of simulated durations shorter than ``seconds``.

    The same measure as the score's ``predicted_percentile``.
    """
    return float(np.mean(np.asarray(durations) < seconds) * 100)


def drill_incidents(timeline: Timeline) -> list[IncidentRecord]:
    """Every ended drill of ``timeline`` whose fault was injected, as the history
    store records it (see ``drill_incident``), newest first.

    A plan file is loaded once for all the drills that ran it.
    """
    plans: dict[tuple[str, str], DrillPlan | None] = {}
    incidents = []
    for record in timeline.drills():
        if record.status not in ENDED_STATUSES:
            continue
        key = (str(record.details.get("plan")), record.plan)
        if key not in plans:
            plans[key] = reload_plan(record)[0]
        incident = drill_incident(record, timeline.events(record.id), plans[key])
        if incident is not None:
            incidents.append(incident)
    return incidents


def drill_incident(
    record: DrillRecord, events: Sequence[TimelineEvent], plan: DrillPlan | None
) -> IncidentRecord | None:
    """The drill as an incident record of kind ``drill``; ``None`` when its
    fault was never injected.

    It starts with the injection; the other lifecycle times are the first event
    of each kind. The title reads as the postmortem draft's, ``drill PLAN:
    FAULT``; the team is that of the plan's participants' rotation
    (``team/rotation``) when the plan is known. Service and severity are
    unknown: a drill has neither.
    """
    first = first_times(events)
    if "injected" not in first:
        return None
    times = {name: first.get(name) for name in LIFECYCLE_TIMES}
    times["started"] = first["injected"]

    injected = min(
        (event for event in events if event.kind == "injected"),
        key=lambda event: event.at,
    )
    fault = injected.payload.get("title") or record.plan
    rotation = plan.participants.rotation if plan is not None else None
    return IncidentRecord(
        id=record.id,
        kind="drill",
        title=f"drill {record.plan}: {fault}",
        service=None,
        team=rotation.partition("/")[0] if rotation else None,
        severity=None,
        **_in_order(record.id, times),
        source="drill",
        external_id=None,
    )


def _in_order(drill: str, times: dict[str, datetime | None]) -> dict[str, Any]:
    """The lifecycle times without those that come before an earlier step's.

    A participant may acknowledge before the alert fires, say; an incident's
    times cannot go backwards, so that time is left out of the record (and of
    the figures over it) rather than the whole drill.
    """
    while True:
        try:
            check_lifecycle(times)
            return times
        except InputError as error:
            field = str(error.field)
            logger.warning(
                "drill %s: %s %s; the history records the drill without %s",
                drill,
                field,
                error.message.partition("; ")[0],
                field,
            )
            times = {**times, field: None}


def reload_plan(record: DrillRecord) -> tuple[DrillPlan | None, str | None]:
    """The plan the drill ran, or ``None`` and the reason it is not available."""
    recorded = record.details.get("plan")
    if not recorded:
        return None, "the drill recorded no plan file"
    path = Path(str(recorded))
    if not path.is_file():
        return None, f"the plan file {path} is no longer there"

    try:
        plan = load_plan(path)
    except DrillhallError as error:
        first = str(error).splitlines()[0]
        return None, f"the plan file {path} no longer loads: {first}"
    if plan.name != record.plan:
        return None, f"{path} now holds plan {plan.name!r}, not {record.plan!r}"
    return plan, None


def _rescore(
    plan: DrillPlan, record: DrillRecord, events: list[TimelineEvent]
) -> tuple[DrillScore, DrillSpec] | None:
    """The score as the runner computed it (same spec, same events), and the
    spec whose SLOs it was measured against."""
    configuration = record.details.get("configuration") or {}
    try:
        spec = spec_from_plan(plan, dict(configuration))
    except DrillhallError as error:
        logger.warning("drill %s cannot be scored again: %s", record.id, error)
        return None
    score = score_drill(
        events,
        expected=spec.expected,
        runbook_steps=len(spec.runbook),
        availability=spec.availability,
        latency_below=spec.latency_below,
        predicted=spec.predicted,
    )
    return score, spec


def _prediction(
    plan: DrillPlan,
) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """The simulator's four phase durations for the fault the expectations name.

    The first expectation that is a prediction names the scenario and fault; the
    other phases are placed in the same simulated incidents.
    """
    for step in PHASE_OF:
        expectation = getattr(plan.expectations, step)
        if expectation is None or expectation.scenario is None:
            continue
        if expectation.fault is None:
            continue
        scenario = plan.scenarios[Path(expectation.scenario)]
        described = f"{expectation.fault} in {Path(expectation.scenario).name}"
        return predicted_durations(scenario, expectation.fault), described
    return None, None


def _percentiles(
    phases: dict[str, float | None], predicted: dict[str, np.ndarray] | None
) -> dict[str, float | None]:
    placed: dict[str, float | None] = {}
    for phase, seconds in phases.items():
        durations = (predicted or {}).get(phase)
        if seconds is None or durations is None or not len(durations):
            placed[phase] = None
        else:
            placed[phase] = predicted_percentile(durations, seconds)
    return placed


def _load_seconds(events: list[TimelineEvent]) -> list[LoadSecond]:
    return [
        LoadSecond(
            at=event.at,
            requests=int(event.payload.get("requests", 0)),
            failures=int(event.payload.get("failures", 0)),
            latency_p50_ms=_number(event.payload.get("latency_p50_ms")),
            latency_p95_ms=_number(event.payload.get("latency_p95_ms")),
        )
        for event in events
        if event.kind == "load_stats"
    ]


def _impact(
    plan: DrillPlan | None,
    events: list[TimelineEvent],
    scored: tuple[DrillScore, DrillSpec] | None,
) -> Impact:
    """The impact, its SLO figures the score's when there is one (see
    ``Impact``), else measured with the plan's SLOs."""
    if scored is not None:
        score, spec = scored
        availability, latency_below = spec.availability, spec.latency_below
        slo = score.slo
    else:
        slos = plan.slos if plan else None
        availability = slos.availability if slos else None
        latency_below = slos.latency.below if slos and slos.latency else None
        slo = score_slo(events, availability, latency_below)

    first = first_times(events)
    users = plan.load.users if plan and plan.load else None
    return Impact(
        requests=slo.requests,
        failed=slo.failures,
        budget_used=slo.budget_used,
        worst_minute_error_rate=slo.worst_minute_error_rate,
        latency_p95_ms=slo.latency_p95_ms,
        latency_within_slo=slo.latency_within_slo,
        started=first.get("injected"),
        ended=first.get("mitigated"),
        users=users,
        availability=availability,
        latency_below_ms=None if latency_below is None else latency_below * 1000,
    )


def _recorded_score(events: list[TimelineEvent]) -> tuple[float, float] | None:
    for event in events:
        if event.kind == "score":
            points, out_of = event.payload.get("points"), event.payload.get("out_of")
            if isinstance(points, int | float) and isinstance(out_of, int | float):
                return float(points), float(out_of)
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
