"""The scenario: an on-call organisation, its incident model and a horizon.

This is the validated form of a scenario file. Field names are what users write;
values are converted for the engine (durations in seconds, rates per second,
availability as a fraction). ``check_references`` finds names that point nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from typing import Literal

from pydantic import Field, model_validator

from drillhall.simulator.distributions import (
    Distribution,
    DistributionSpec,
    exponential,
    fixed,
)
from drillhall.simulator.durations import HOUR, MINUTE
from drillhall.simulator.fields import (
    Availability,
    Duration,
    PositiveDuration,
    Probability,
    Rate,
    StrictModel,
    TimeZone,
    Window,
)
from drillhall.simulator.rotation import Rotation

Path = tuple[str | int, ...]


class Channel(StrictModel):
    """A way to reach a person: push, SMS, phone call, e-mail."""

    delay: Distribution = fixed(0)
    failure: Probability = 0.0
    interrupts: bool = Field(
        default=True,
        description="counts as an interruption (on-call tools count push, SMS and "
        "phone, not e-mail)",
    )


class NotificationRule(StrictModel):
    """Notify through ``channel`` this long after the person is paged."""

    channel: str
    after: Duration = 0.0


class AcknowledgeTimes(StrictModel):
    """Time to acknowledge by part of the responder's local day.

    ``evening`` defaults to ``working`` and ``sleeping`` to ``evening``.
    """

    working: Distribution
    evening: Distribution | None = None
    sleeping: Distribution | None = None

    def by_part(self) -> tuple[DistributionSpec, DistributionSpec, DistributionSpec]:
        evening = self.working if self.evening is None else self.evening
        sleeping = evening if self.sleeping is None else self.sleeping
        return self.working, evening, sleeping


class MissProbabilities(StrictModel):
    """Probability of missing a notification, by part of the local day."""

    working: Probability = 0.0
    evening: Probability | None = None
    sleeping: Probability | None = None

    def by_part(self) -> tuple[float, float, float]:
        evening = self.working if self.evening is None else self.evening
        sleeping = evening if self.sleeping is None else self.sleeping
        return self.working, evening, sleeping


def _weekday_hours() -> list[Window]:
    return [Window.model_validate({"days": "mon-fri", "from": "09:00", "to": "18:00"})]


def _night() -> list[Window]:
    return [Window.model_validate({"from": "23:00", "to": "07:00"})]


class Behaviour(StrictModel):
    """How responders act on a page, by their local time of day.

    Local time is ``sleeping`` inside ``sleeping_hours``, else ``working`` inside
    ``working_hours``, else ``evening``. Durations of work are divided by the
    person's ``speed``; a runbook multiplies diagnosis time by ``runbook_factor``.
    """

    working_hours: list[Window] = Field(default_factory=_weekday_hours)
    sleeping_hours: list[Window] = Field(default_factory=_night)
    acknowledge: AcknowledgeTimes = AcknowledgeTimes(
        working=exponential(2 * MINUTE),
        evening=exponential(5 * MINUTE),
        sleeping=exponential(10 * MINUTE),
    )
    miss: MissProbabilities = MissProbabilities()
    runbook_factor: float = Field(default=0.6, gt=0)
    when_busy: Literal["wait", "escalate"] = Field(
        default="wait",
        description="wait: a busy responder still acknowledges and the new incident "
        "waits for the first free responder who was paged; escalate: a busy "
        "responder does not acknowledge and the page escalates",
    )


class Person(StrictModel):
    timezone: TimeZone = "UTC"
    behaviour: str = "default"
    speed: float = Field(default=1.0, gt=0)
    notify: list[NotificationRule] | None = Field(
        default=None, description="notification rules (default: the scenario's)"
    )


class Team(StrictModel):
    rotations: dict[str, Rotation] = Field(min_length=1)


class Level(StrictModel):
    targets: list[str] = Field(
        min_length=1, description="'team/rotation' names or people's names"
    )
    delay: PositiveDuration = 30 * MINUTE


class EscalationPolicy(StrictModel):
    """Levels paged in turn; low-urgency incidents stay at the first level."""

    levels: list[Level] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=9, description="extra loops")
    ack_timeout: Duration = Field(
        default=30 * MINUTE,
        description="an acknowledged incident not resolved by then pages again "
        "(0 turns it off)",
    )
    unacknowledged_pickup: Distribution = Field(
        default=fixed(HOUR),
        description="after the last level and repeat, how long until the first "
        "level's on-call person notices the incident anyway",
    )


class AlertRule(StrictModel):
    """A Prometheus-style rule: scraped, evaluated, pending for ``for``."""

    scrape_interval: Duration = 15.0
    evaluation_interval: Duration = 15.0
    for_: Duration = Field(default=0.0, alias="for")
    probability: Probability = 1.0


class Detection(StrictModel):
    alerts: dict[str, AlertRule] = {}
    user_report: Distribution = Field(
        default=exponential(HOUR),
        description="time from the fault to a user report, for faults no alert "
        "catches first",
    )
    false_alert_dismiss: Distribution = Field(
        default=fixed(5 * MINUTE),
        description="time a responder spends dismissing a false alert",
    )


class HourOfWeekFactor(Window):
    """Arrivals in this window are ``factor`` times as frequent as elsewhere."""

    factor: float = Field(ge=0)


class Fault(StrictModel):
    name: str
    rate: Rate
    hour_of_week: list[HourOfWeekFactor] = Field(
        default=[],
        description="relative arrival intensity by local hour of week; the rate "
        "stays the weekly average",
    )
    severity: str = "sev2"
    urgency: Literal["high", "low"] = "high"
    impact: Probability | None = Field(
        default=None, description="fraction of traffic failing (default: service's)"
    )
    detect: Distribution = Field(
        default=fixed(0),
        description="time from the fault's start until its signal shows in metrics",
    )
    alerts: list[str] = []
    user_report: Distribution | None = None
    diagnose: Distribution
    mitigate: Distribution
    resolve: Distribution = fixed(0)
    runbook: bool = False


class SLO(StrictModel):
    availability: Availability
    window: PositiveDuration = 30 * 86400.0


class Service(StrictModel):
    team: str
    escalation: str
    timezone: TimeZone = "UTC"
    slo: SLO | None = None
    impact: Probability = 1.0
    noise: Rate = Field(default=0.0, description="false alerts, e.g. '2/week'")
    faults: list[Fault] = []

    @model_validator(mode="after")
    def _unique_fault_names(self) -> Service:
        names = [fault.name for fault in self.faults]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"fault names must be unique, repeated: {duplicates}")
        return self


def _default_channels() -> dict[str, Channel]:
    return {"push": Channel()}


def _default_notify() -> list[NotificationRule]:
    return [NotificationRule(channel="push")]


class Scenario(StrictModel):
    """An on-call organisation, its incident model and how long to simulate it."""

    name: str
    description: str = ""
    start: date | datetime = Field(
        description="when simulated time begins (a naive value is UTC)"
    )
    horizon: PositiveDuration
    replications: int = Field(default=100, ge=1)
    seed: int = Field(default=0, ge=0)
    channels: dict[str, Channel] = Field(default_factory=_default_channels)
    notify: list[NotificationRule] = Field(
        default_factory=_default_notify,
        description="notification rules for people who declare none",
    )
    people: dict[str, Person] = Field(min_length=1)
    behaviours: dict[str, Behaviour] = {}
    teams: dict[str, Team] = Field(min_length=1)
    escalation: dict[str, EscalationPolicy] = Field(min_length=1)
    detection: Detection = Detection()
    services: dict[str, Service] = Field(min_length=1)

    @property
    def start_date(self) -> date:
        return self.start.date() if isinstance(self.start, datetime) else self.start

    def start_instant(self) -> datetime:
        """The start as an aware UTC datetime."""
        from datetime import UTC

        if isinstance(self.start, datetime):
            if self.start.tzinfo is None:
                return self.start.replace(tzinfo=UTC)
            return self.start.astimezone(UTC)
        return datetime.combine(self.start, time(0), tzinfo=UTC)

    def behaviour_of(self, person: str) -> Behaviour:
        name = self.people[person].behaviour
        return self.behaviours.get(name) or Behaviour()

    def rules_of(self, person: str) -> list[NotificationRule]:
        rules = self.people[person].notify
        return self.notify if rules is None else rules


def check_references(scenario: Scenario) -> Iterator[tuple[Path, str]]:
    """Yield (path, message) for every name that points at nothing declared."""
    people = scenario.people
    rotations = {
        f"{team}/{rotation}"
        for team, declared in scenario.teams.items()
        for rotation in declared.rotations
    }

    yield from _check_rules(scenario, ("notify",), scenario.notify)
    for name, person in scenario.people.items():
        known = {"default", *scenario.behaviours}
        if person.behaviour not in known:
            at: Path = ("people", name, "behaviour")
            yield at, _unknown("behaviour", person.behaviour, known)
        if person.notify is not None:
            yield from _check_rules(scenario, ("people", name, "notify"), person.notify)

    for team_name, team in scenario.teams.items():
        for rotation_name, rotation in team.rotations.items():
            at = ("teams", team_name, "rotations", rotation_name)
            for index, layer in enumerate(rotation.layers):
                for position, member in enumerate(layer.members):
                    if member not in people:
                        where: Path = (*at, "layers", index, "members", position)
                        yield where, _unknown("person", member, people)
            for index, override in enumerate(rotation.overrides):
                if override.person not in people:
                    where = (*at, "overrides", index, "person")
                    yield where, _unknown("person", override.person, people)

    targets = sorted(rotations) + sorted(people)
    for policy_name, policy in scenario.escalation.items():
        for index, level in enumerate(policy.levels):
            for position, target in enumerate(level.targets):
                if target not in rotations and target not in people:
                    where = ("escalation", policy_name, "levels", index)
                    message = _unknown("target", target, targets)
                    message += " (a target is 'team/rotation' or a person's name)"
                    yield (*where, "targets", position), message

    for service_name, service in scenario.services.items():
        at = ("services", service_name)
        if service.team not in scenario.teams:
            yield (*at, "team"), _unknown("team", service.team, scenario.teams)
        if service.escalation not in scenario.escalation:
            message = _unknown(
                "escalation policy", service.escalation, scenario.escalation
            )
            yield (*at, "escalation"), message
        for index, fault in enumerate(service.faults):
            for position, alert in enumerate(fault.alerts):
                if alert not in scenario.detection.alerts:
                    where = (*at, "faults", index, "alerts", position)
                    declared = scenario.detection.alerts
                    message = _unknown("alert rule", alert, declared)
                    yield where, message + " under detection.alerts"


def _check_rules(
    scenario: Scenario, at: Path, rules: list[NotificationRule]
) -> Iterator[tuple[Path, str]]:
    for index, rule in enumerate(rules):
        if rule.channel not in scenario.channels:
            message = _unknown("channel", rule.channel, scenario.channels)
            yield (*at, index, "channel"), message


def _unknown(kind: str, name: str, declared: Iterable[str]) -> str:
    names = ", ".join(sorted(declared)) or "none"
    return f"unknown {kind} {name!r}; declared: {names}"
