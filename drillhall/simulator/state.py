"""The mutable state of one replication: responders, channels, policies, incidents.

The engine builds these afresh for every replication from the scenario and then
only reads and updates them in its event loop, so they are plain slotted classes
with everything the loop needs at hand.
"""

from __future__ import annotations

import math

import numpy as np

from drillhall.simulator.distributions import Transform, spill_draw
from drillhall.simulator.localtime import LocalClock, SlotTable
from drillhall.simulator.oncall import OnCallCalendar

INFINITY = math.inf

HOURS_PER_WEEK = 168


class ChannelState:
    """A notification channel: its delivery delay and how often it fails."""

    __slots__ = ("delay", "failure", "interrupts", "name")

    def __init__(
        self, name: str, delay: Transform, failure: float, interrupts: bool
    ) -> None:
        self.name = name
        self.delay = delay
        self.failure = failure
        self.interrupts = interrupts


class Responder:
    """A person's traits and their state during one replication.

    ``parts`` gives the part of the local day (working, evening, sleeping) and
    ``buckets`` the on-call tools' bucket (business, off hours, sleep) for any
    simulated time, ``clock`` the local quarter hour of the week for any instant;
    ``acknowledge`` holds a time-to-acknowledge transform (of the incident's
    uniform draws) and ``miss`` a probability of missing a notification for each
    part of the day.

    ``interruptions`` counts interruptions per bucket and ``hours_of_week`` per
    local hour of the week (0 is Monday 00:00-01:00; None for nobody
    interrupted); both are filled once, when the replication ends.
    """

    __slots__ = (
        "acknowledge",
        "acknowledged",
        "buckets",
        "busy_seconds",
        "clock",
        "current",
        "escalate_when_busy",
        "hours_of_week",
        "index",
        "interrupted",
        "interruptions",
        "miss",
        "name",
        "parts",
        "rules",
        "runbook_factor",
        "speed",
        "worked",
    )

    def __init__(
        self,
        name: str,
        index: int,
        *,
        parts: SlotTable,
        buckets: SlotTable,
        clock: LocalClock,
        acknowledge: list[Transform],
        miss: list[float],
        rules: list[tuple[float, ChannelState]],
        speed: float,
        runbook_factor: float,
        escalate_when_busy: bool,
    ) -> None:
        self.name = name
        self.index = index
        self.parts = parts
        self.buckets = buckets
        self.clock = clock
        self.acknowledge = acknowledge
        self.miss = miss
        self.rules = rules
        self.speed = speed
        self.runbook_factor = runbook_factor
        self.escalate_when_busy = escalate_when_busy

        self.current: Incident | None = None
        self.acknowledged = 0
        self.worked = 0
        self.busy_seconds = 0.0
        self.interruptions = [0, 0, 0]
        self.hours_of_week: np.ndarray | None = None
        self.interrupted: list[float] = []


class RotationTarget:
    """A rotation as an escalation target: its calendar and its people."""

    __slots__ = ("calendar", "responders")

    def __init__(
        self, calendar: OnCallCalendar, responders: dict[str, Responder]
    ) -> None:
        self.calendar = calendar
        self.responders = responders


Target = Responder | RotationTarget
Level = tuple[float, list[Target]]


class PolicyState:
    """An escalation policy with its levels' targets resolved to responders."""

    __slots__ = ("ack_timeout", "levels", "name", "pickup", "repeat")

    def __init__(
        self,
        name: str,
        levels: list[Level],
        repeat: int,
        ack_timeout: float,
        pickup: Transform,
    ) -> None:
        self.name = name
        self.levels = levels
        self.repeat = repeat
        self.ack_timeout = ack_timeout
        self.pickup = pickup


class Incident:
    """An incident in flight; its lifecycle times are seconds since the start.

    ``uniforms`` are the incident's own uniform draws, taken from the end by
    ``uniform`` for every human and channel answer to its pages; past them,
    ``spill`` keeps a counter-based generator going. So what a person answers to
    one incident does not depend on how many other incidents paged them.
    """

    __slots__ = (
        "acknowledged",
        "acknowledged_by",
        "detected",
        "detected_by",
        "diagnose",
        "during_sleep",
        "eligible",
        "escalations",
        "exhausted",
        "false_alarm",
        "fault",
        "high_urgency",
        "index",
        "level",
        "mitigate",
        "mitigated",
        "next_level",
        "next_loop",
        "notifications",
        "paged_levels",
        "pending_ack",
        "pending_person",
        "policy",
        "resolve",
        "resolved",
        "runbook",
        "service",
        "spill",
        "start",
        "uniforms",
        "work_started",
        "worker",
    )

    def __init__(
        self,
        service: int,
        fault: int,
        start: float,
        detected: float,
        detected_by: str,
        diagnose: float,
        mitigate: float,
        resolve: float,
        policy: PolicyState,
    ) -> None:
        self.index = 0
        self.service = service
        self.fault = fault
        self.start = start
        self.detected = detected
        self.detected_by = detected_by
        self.diagnose = diagnose
        self.mitigate = mitigate
        self.resolve = resolve
        self.policy = policy
        self.false_alarm = False
        self.high_urgency = True
        self.runbook = False
        self.level = 0
        self.paged_levels = 0
        self.escalations = 0
        self.exhausted = False
        self.next_level = 0
        self.next_loop = 0
        self.pending_ack = INFINITY
        self.pending_person: Responder | None = None
        self.eligible: list[Responder] = []
        self.notifications: list[tuple[Responder, float, float, bool]] = []
        self.acknowledged = INFINITY
        self.acknowledged_by: Responder | None = None
        self.work_started = INFINITY
        self.worker: Responder | None = None
        self.mitigated = INFINITY
        self.resolved = INFINITY
        self.during_sleep = False
        self.uniforms: list[float] = []
        self.spill = 0

    def uniform(self) -> float:
        """The incident's next uniform draw on (0, 1)."""
        uniforms = self.uniforms
        if uniforms:
            return uniforms.pop()
        self.spill, value = spill_draw(self.spill)
        return value

    def phase_seconds(self) -> dict[str, float]:
        """TTD, TTA, TTM and TTR of the incident, as ``lifecycle`` defines them."""
        return {
            "ttd": self.detected - self.start,
            "tta": self.acknowledged - self.detected,
            "ttm": self.mitigated - self.start,
            "ttr": self.resolved - self.start,
        }


def on_call(targets: list[Target], epoch: float) -> list[Responder]:
    """The people a level's targets reach at ``epoch``, each once."""
    people: list[Responder] = []
    for target in targets:
        if isinstance(target, Responder):
            if target not in people:
                people.append(target)
            continue
        person = target.calendar.person_at(epoch)
        if person is not None:
            responder = target.responders[person]
            if responder not in people:
                people.append(responder)
    return people
