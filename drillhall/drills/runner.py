"""Running a drill: steady state, load, injection, follow-up, rollback, score.

``run_drill`` is a sequence of named phases. Every phase writes its timeline
event before it acts, so a crash leaves a record of what was under way; the
intent to roll back is recorded before the fault is injected, so that
``recover_drills`` (and the next ``drill run``) can find and clean up a drill that
was left open. Rollbacks run on success, failure, guardrail abort, Ctrl-C and
SIGTERM.

Robot responders play the team for unattended runs: they acknowledge a while
after the alert arrives, then perform the runbook's steps (Chaos Toolkit
activities) at a steady pace, check each step, and declare the incident
mitigated and resolved once the steady state holds again.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from chaoslib.activity import run_activity
from chaoslib.exceptions import ChaosException
from chaoslib.hypothesis import within_tolerance

from drillhall.drills.fault import Fault, FaultOutcome
from drillhall.drills.guardrails import Guard, Limits, Tripped
from drillhall.drills.load import LoadProfile, LoadRun
from drillhall.drills.receiver import WebhookReceiver
from drillhall.drills.score import DrillScore, drill_lifecycle, score_drill
from drillhall.drills.timeline import Timeline
from drillhall.drills.webhooks import Signal
from drillhall.simulator.lifecycle import RECORD_FIELDS, LifecycleRecord

logger = logging.getLogger(__name__)

ALERT_SOURCES = ("alertmanager", "grafana")
FOLLOW_TICK = 0.5
"""Seconds between two looks at the load, the guardrails and the robots."""


class DrillInterrupted(BaseException):
    """SIGTERM or Ctrl-C during a drill: roll back, then stop."""


@dataclass(frozen=True)
class RunbookAction:
    """A runbook step as a robot performs it: an action, then a check."""

    number: int
    title: str
    action: dict[str, Any] | None = None
    check: dict[str, Any] | None = None


@dataclass(frozen=True)
class Robot:
    """A robot responder: how long it takes to acknowledge and per step."""

    acknowledge_after: float = 30.0
    step_pace: float = 5.0
    secondary: bool = False
    """A secondary acknowledges only if nobody did within twice its delay."""


@dataclass(frozen=True)
class ReceiverSettings:
    """Where real alerting webhooks reach this drill, and their secrets."""

    port: int = 0
    alertmanager_token: str | None = None
    grafana_token: str | None = None
    pagerduty_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class DrillSpec:
    """Everything a drill run needs, resolved from its plan."""

    name: str
    experiment: Path
    configuration: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)
    load: LoadProfile | None = None
    limits: Limits = field(default_factory=Limits)
    runbook: list[RunbookAction] = field(default_factory=list)
    robot: Robot | None = None
    expected: dict[str, float | None] = field(default_factory=dict)
    predicted: dict[str, np.ndarray] = field(default_factory=dict)
    availability: float | None = None
    latency_below: float | None = None
    """The latency SLO: seconds the 95th percentile must stay below."""
    max_duration: float = 900.0
    receiver: ReceiverSettings | None = None
    participants: Callable[[datetime], list[str]] | None = None
    """Who responds, for a drill starting at the given time."""
    announced: bool = True
    loaded_experiment: dict[str, Any] | None = None
    """The experiment as the plan loaded it (its steady state may be the plan's)."""
    plan_file: Path | None = None
    start_signal: Callable[[], None] | None = None
    """Called once the fault is injected (a test hook)."""


@dataclass
class DrillResult:
    drill: str
    status: str
    score: DrillScore | None
    injected: FaultOutcome | None
    rolled_back: FaultOutcome | None
    tripped: Tripped | None = None
    lifecycle: LifecycleRecord | None = None
    """The drill as the simulator's record, once it was resolved."""


def run_drill(
    spec: DrillSpec,
    timeline: Timeline,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrillResult:
    """Run one drill from start to score; the fault is always rolled back."""
    fault = Fault(
        spec.experiment,
        spec.configuration,
        spec.secrets,
        experiment=spec.loaded_experiment,
    )
    record = timeline.start_drill(
        spec.name,
        {
            "experiment": str(spec.experiment.resolve()),
            "configuration": spec.configuration,
            "plan": str(spec.plan_file) if spec.plan_file else None,
            "participants": (
                spec.participants(datetime.now(UTC)) if spec.participants else []
            ),
            "announced": spec.announced,
        },
    )
    drill = record.id
    logger.info("drill %s: %s", drill, spec.name)

    steady = fault.check_steady_state()
    timeline.record(
        drill, "steady_state_checked", "runner", {"met": steady.steady_state_met}
    )
    if steady.steady_state_met is False:
        logger.warning("steady state not met: the drill does not start")
        timeline.finish(drill, "aborted")
        return DrillResult(drill, "aborted", None, None, None)

    load = LoadRun(spec.load) if spec.load else None
    receiver = _receiver(spec.receiver, timeline, drill)
    result = DrillResult(drill, "finished", None, None, None)
    with _interruptible():
        try:
            if receiver:
                logger.info("alerts to %s", receiver.start())
            if load:
                load.start()
            timeline.record(
                drill, "rollback_intent", "runner", {"experiment": str(spec.experiment)}
            )
            timeline.set_rollback_pending(drill, True)
            timeline.record(drill, "injected", "runner", {"title": fault.title})
            result.injected = fault.inject()
            if spec.start_signal:
                spec.start_signal()
            result.tripped = _follow(spec, timeline, drill, fault, load, clock, sleep)
            if result.tripped:
                result.status = "aborted"
        except (DrillInterrupted, KeyboardInterrupt):
            result.status = "interrupted"
            timeline.record(drill, "note", "runner", {"text": "interrupted"})
            raise
        finally:
            result.rolled_back = _roll_back(timeline, drill, fault)
            if receiver:
                receiver.stop()
            if load:
                for second in load.stop():
                    _record_load(timeline, drill, second.to_payload(), second.at)
            result.score, result.lifecycle = _score(spec, timeline, drill)
            timeline.finish(drill, result.status)
    return result


def _follow(
    spec: DrillSpec,
    timeline: Timeline,
    drill: str,
    fault: Fault,
    load: LoadRun | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Tripped | None:
    """Follow the drill until it is resolved, a guardrail trips or time runs out."""
    guard = Guard(_with_max_duration(spec.limits, spec.max_duration))
    robot = _RobotPlay(spec, timeline, drill, fault, clock) if spec.robot else None
    began = clock()
    while True:
        seconds = load.poll() if load else []
        for second in seconds:
            _record_load(timeline, drill, second.to_payload(), second.at)
        tripped = guard.check(seconds, clock() - began)
        if tripped:
            logger.warning("guardrail: %s; rolling back", tripped.describe())
            timeline.record(
                drill,
                "guardrail_tripped",
                "runner",
                {"guardrail": tripped.guardrail, "why": tripped.describe()},
            )
            return tripped

        kinds = {event.kind for event in timeline.events(drill)}
        if "resolved" in kinds:
            return None
        if robot:
            robot.act(kinds)
        sleep(FOLLOW_TICK)


def _with_max_duration(limits: Limits, max_duration: float) -> Limits:
    if limits.max_duration is not None:
        return limits
    return Limits(
        limits.error_rate_above,
        limits.error_rate_for,
        limits.budget_burn_above,
        limits.availability,
        max_duration,
    )


class _RobotPlay:
    """A robot responder working through the runbook, one step per tick."""

    def __init__(
        self,
        spec: DrillSpec,
        timeline: Timeline,
        drill: str,
        fault: Fault,
        clock: Callable[[], float],
    ) -> None:
        assert spec.robot is not None
        self.robot = spec.robot
        self.spec = spec
        self.timeline = timeline
        self.drill = drill
        self.fault = fault
        self.clock = clock
        self.detected_at: float | None = None
        self.next_at: float | None = None
        self.step = 0

    def act(self, kinds: set[str]) -> None:
        now = self.clock()
        if self.detected_at is None:
            if "detected" in kinds:
                self.detected_at = now
                delay = self.robot.acknowledge_after
                self.next_at = now + (2 * delay if self.robot.secondary else delay)
            return
        if self.next_at is None or now < self.next_at:
            return

        if self.step == 0:
            if "acknowledged" not in kinds or not self.robot.secondary:
                self._record("acknowledged", {"by": "robot"})
            self.step = 1
        elif self.step <= len(self.spec.runbook):
            self._perform(self.spec.runbook[self.step - 1])
            self.step += 1
        else:
            self._finish()
            self.next_at = None
            return
        self.next_at = now + self.robot.step_pace

    def _perform(self, step: RunbookAction) -> None:
        payload: dict[str, Any] = {"step": step.number, "status": "done", "by": "robot"}
        configuration, secrets = self.fault.resolved_variables()
        try:
            if step.action:
                run_activity(step.action, configuration, secrets)
            if step.check:
                value = run_activity(step.check, configuration, secrets)
                tolerance = step.check.get("tolerance")
                payload["check"] = (
                    True
                    if tolerance is None
                    else bool(
                        within_tolerance(tolerance, value, configuration, secrets)
                    )
                )
        except ChaosException as error:
            payload["check"] = False
            payload["error"] = str(error)[:300]
            logger.warning("robot: step %d failed: %s", step.number, error)
        self._record("runbook_step", payload)

    def _finish(self) -> None:
        steady = self.fault.check_steady_state()
        if steady.steady_state_met is not False:
            self._record("mitigated", {"by": "robot"})
            self._record("resolved", {"by": "robot"})
        else:
            self._record("note", {"text": "robot: steady state still not met"})

    def _record(self, kind: str, payload: dict[str, Any]) -> None:
        self.timeline.record(self.drill, kind, "robot", payload)


def _roll_back(timeline: Timeline, drill: str, fault: Fault) -> FaultOutcome | None:
    timeline.record(drill, "rolling_back", "runner", {"title": fault.title})
    try:
        outcome = fault.roll_back()
    except Exception as error:
        logger.error("rollback failed: %s; `drillhall drill recover` retries", error)
        timeline.record(drill, "note", "runner", {"text": f"rollback failed: {error}"})
        return None
    timeline.record(
        drill,
        "rolled_back",
        "runner",
        {"succeeded": outcome.succeeded, "steady_state_met": outcome.steady_state_met},
    )
    timeline.set_rollback_pending(drill, False)
    return outcome


def recover_drills(timeline: Timeline) -> list[str]:
    """Roll back every drill left open by a crash; return their ids."""
    recovered = []
    for record in timeline.open_drills():
        experiment = Path(record.details.get("experiment", ""))
        configuration = record.details.get("configuration") or {}
        logger.warning("drill %s was left open: rolling it back", record.id)
        fault = Fault(experiment, configuration)
        if _roll_back(timeline, record.id, fault) is not None:
            timeline.finish(record.id, "recovered")
            recovered.append(record.id)
    return recovered


def _record_load(
    timeline: Timeline, drill: str, payload: dict[str, Any], at: float
) -> None:
    timeline.record(
        drill, "load_stats", "load", payload, at=datetime.fromtimestamp(at, UTC)
    )


def _score(
    spec: DrillSpec, timeline: Timeline, drill: str
) -> tuple[DrillScore, LifecycleRecord | None]:
    score = score_drill(
        timeline.events(drill),
        expected=spec.expected,
        runbook_steps=len(spec.runbook),
        availability=spec.availability,
        latency_below=spec.latency_below,
        predicted=spec.predicted,
    )
    lifecycle = drill_lifecycle(drill, spec.name, spec.name, timeline.events(drill))
    timeline.record(
        drill,
        "score",
        "runner",
        {
            "points": round(score.points, 1),
            "out_of": score.out_of,
            "lifecycle": record_json(lifecycle) if lifecycle else None,
        },
    )
    return score, lifecycle


def record_json(record: LifecycleRecord) -> dict[str, Any]:
    """A lifecycle record as JSON-ready values, times in ISO 8601."""
    values = {}
    for name in RECORD_FIELDS:
        value = getattr(record, name)
        values[name] = value.isoformat() if isinstance(value, datetime) else value
    return values


def _receiver(
    settings: ReceiverSettings | None, timeline: Timeline, drill: str
) -> WebhookReceiver | None:
    """A webhook receiver that writes each new signal to the drill's timeline.

    Alertmanager re-sends firing alerts and PagerDuty delivers at least once, so
    a signal already seen (same source, kind and alert fingerprint or event id)
    is dropped. An alert that stops firing tells that user impact ended: it marks
    the incident mitigated; only people (or PagerDuty) resolve it.
    """
    if settings is None:
        return None
    seen: set[tuple[str, str, str]] = set()

    def sink(signal: Signal) -> None:
        identity = str(
            signal.details.get("fingerprint")
            or signal.details.get("event_id")
            or signal.summary
        )
        key = (signal.source, signal.kind, identity)
        if key in seen:
            return
        seen.add(key)
        kind = signal.kind
        if kind == "resolved" and signal.source in ALERT_SOURCES:
            kind = "mitigated"
        payload = {"summary": signal.summary, **signal.details}
        timeline.record(drill, kind, signal.source, payload, at=signal.at)

    return WebhookReceiver(
        sink,
        alertmanager_token=settings.alertmanager_token,
        grafana_token=settings.grafana_token,
        pagerduty_secrets=list(settings.pagerduty_secrets),
        port=settings.port,
    )


@contextmanager
def _interruptible() -> Iterator[None]:
    """Turn SIGTERM into an exception, so that rollbacks run before exiting."""

    def stop(number: int, frame: Any) -> None:
        raise DrillInterrupted(signal.Signals(number).name)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
