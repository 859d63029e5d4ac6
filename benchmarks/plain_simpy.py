"""A plain SimPy model of drillhall's on-call process, as a yardstick for the engine.

This is the model a typical SimPy user would write for the same scenario: a process
per fault's arrivals, a process per incident, a process per notification rule, an
``any_of`` of the acknowledgement and the level's delay at each escalation level, a
``simpy.Resource`` per responder for the work, and every draw from one
``random.Random``. It reads the same ``Scenario`` as the engine and asks the same
``OnCallCalendar`` and ``LocalClock`` who is on call and where they are in their day,
so both simulate the same process and their mean times can be compared.

Like the engine, it counts every interruption in the person's local-time bucket,
including the re-notifications after an acknowledgement times out (a process that
wakes at each timeout until the incident is resolved).

Run it on its own to compare its mean times with the engine's::

    .venv/bin/python benchmarks/plain_simpy.py [--replications N] [SCENARIO]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import simpy

from drillhall.simulator.arrivals import hour_of_week_intensity
from drillhall.simulator.distributions import DistributionSpec
from drillhall.simulator.durations import MINUTE
from drillhall.simulator.engine import Engine
from drillhall.simulator.loader import load_scenario
from drillhall.simulator.localtime import (
    LocalClock,
    interruption_table,
    parts_of_week,
)
from drillhall.simulator.oncall import OnCallCalendar
from drillhall.simulator.scenario import Fault, Scenario

Draw = Callable[[], float]
Process = Generator[simpy.Event, object, None]
Paged = Generator[simpy.Event, object, tuple["Responder | None", list["Responder"]]]
"""Paging as a sub-generator: it returns who acknowledged and who was paged."""

MARGIN = timedelta(days=30)
"""Calendars and clocks reach this far past the horizon, for incidents still open."""


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    def __init__(self) -> None:
        super().__init__()
        self.events = 0

    def step(self) -> None:
        self.events += 1
        super().step()


@dataclass(slots=True)
class IncidentRecord:
    """The lifecycle times of one incident, in seconds since the start."""

    service: str
    fault: str
    false_alarm: bool
    start: float
    detected: float = math.nan
    acknowledged: float = math.nan
    work_started: float = math.nan
    mitigated: float = math.nan
    resolved: float = math.nan
    level: int = 0


@dataclass
class PlainOutcome:
    """What one replication of the plain model produced."""

    replication: int
    incidents: list[IncidentRecord]
    events: int


@dataclass(slots=True)
class Channel:
    delay: Draw
    failure: float
    interrupts: bool


INTERRUPTION_BUCKETS = interruption_table()


@dataclass(slots=True)
class Responder:
    """A person during one replication: traits, draws and a work queue of one."""

    name: str
    clock: LocalClock
    parts: list[int]
    speed: float
    runbook_factor: float
    escalate_when_busy: bool
    acknowledge: list[Draw]
    miss: list[float]
    rules: list[tuple[float, Channel]]
    desk: simpy.Resource
    interruptions: list[int]

    def part_of_day(self, epoch: float) -> int:
        return self.parts[self.clock.slot_of_week(epoch)]

    def interrupt(self, epoch: float) -> None:
        """Count a notification in the on-call tools' bucket of local time."""
        self.interruptions[INTERRUPTION_BUCKETS[self.clock.slot_of_week(epoch)]] += 1


@dataclass(slots=True)
class FaultDraws:
    """The draws of one fault's lifecycle, bound to the replication's generator."""

    fault: Fault
    detect: Draw
    user_report: Draw
    diagnose: Draw
    mitigate: Draw
    resolve: Draw


class LifecycleTimes(Protocol):
    """An incident of either model, as the comparison reads it."""

    @property
    def false_alarm(self) -> bool: ...
    @property
    def start(self) -> float: ...
    @property
    def detected(self) -> float: ...
    @property
    def acknowledged(self) -> float: ...
    @property
    def mitigated(self) -> float: ...
    @property
    def resolved(self) -> float: ...


class Outcome(Protocol):
    """A replication's outcome of either model: its incidents and event count."""

    @property
    def incidents(self) -> Sequence[LifecycleTimes]: ...
    @property
    def events(self) -> int: ...


Target = OnCallCalendar | str
"""An escalation target: a rotation's calendar, or a person's name."""


@dataclass(slots=True)
class Policy:
    levels: list[tuple[float, list[Target]]]
    repeat: int
    pickup: Draw
    ack_timeout: float


class PlainModel:
    """The scenario's fixed parts (calendars, clocks, tables); run it many times."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        begin = scenario.start_instant()
        end = begin + timedelta(seconds=scenario.horizon) + MARGIN
        self.base = begin.timestamp()
        self.horizon = scenario.horizon

        zones = {person.timezone for person in scenario.people.values()}
        zones |= {service.timezone for service in scenario.services.values()}
        self.clocks = {zone: LocalClock(zone, begin, end) for zone in zones}

        self.calendars: dict[str, OnCallCalendar] = {}
        for team_name, team in scenario.teams.items():
            for rotation_name, rotation in team.rotations.items():
                self.calendars[f"{team_name}/{rotation_name}"] = OnCallCalendar.compile(
                    rotation, scenario.start_date, begin - timedelta(days=1), end
                )

        self.parts = {
            name: parts_of_week(
                scenario.behaviour_of(name).working_hours,
                scenario.behaviour_of(name).sleeping_hours,
            )
            for name in scenario.people
        }
        self.intensities = {
            (service_name, fault.name): hour_of_week_intensity(fault)
            for service_name, service in scenario.services.items()
            for fault in service.faults
        }

    def run(self, replication: int) -> PlainOutcome:
        """Simulate one replication with its own environment and generator."""
        run = _Replication(self, replication)
        run.env.run()
        return PlainOutcome(replication, run.incidents, run.env.events)


class _Replication:
    """The processes of one replication."""

    def __init__(self, model: PlainModel, replication: int) -> None:
        scenario = model.scenario
        self.model = model
        self.env = CountingEnvironment()
        self.rng = random.Random(f"{scenario.seed}/{replication}")
        self.incidents: list[IncidentRecord] = []

        channels = {
            name: Channel(self.draw(channel.delay), channel.failure, channel.interrupts)
            for name, channel in scenario.channels.items()
        }
        self.responders = {
            name: self._responder(name, channels) for name in scenario.people
        }
        self.policies = {
            name: Policy(
                levels=[
                    (level.delay, [model.calendars.get(t, t) for t in level.targets])
                    for level in policy.levels
                ],
                repeat=policy.repeat,
                pickup=self.draw(policy.unacknowledged_pickup),
                ack_timeout=policy.ack_timeout,
            )
            for name, policy in scenario.escalation.items()
        }

        detection = scenario.detection
        for service_name, service in scenario.services.items():
            policy = self.policies[service.escalation]
            for fault in service.faults:
                draws = FaultDraws(
                    fault=fault,
                    detect=self.draw(fault.detect),
                    user_report=self.draw(fault.user_report or detection.user_report),
                    diagnose=self.draw(fault.diagnose),
                    mitigate=self.draw(fault.mitigate),
                    resolve=self.draw(fault.resolve),
                )
                self.env.process(self.arrivals(service_name, draws, policy))
            if service.noise > 0:
                self.env.process(self.false_alerts(service_name, policy))

    def draw(self, spec: DistributionSpec) -> Draw:
        """A function drawing from ``spec`` with the replication's generator."""
        rng = self.rng
        if spec.fixed is not None:
            value = spec.fixed
            return lambda: value
        if spec.empirical is not None:
            values = list(spec.empirical)
            return lambda: rng.choice(values)
        if spec.exponential is not None:
            rate = 1.0 / spec.exponential.mean
            return lambda: rng.expovariate(rate)
        if spec.gamma is not None:
            shape = spec.gamma.shape
            scale = spec.gamma.mean / shape
            return lambda: rng.gammavariate(shape, scale)
        if spec.weibull is not None:
            scale, shape = spec.weibull.scale, spec.weibull.shape
            return lambda: rng.weibullvariate(scale, shape)
        assert spec.lognormal is not None
        mu, sigma = math.log(spec.lognormal.median), spec.lognormal.log_sigma
        return lambda: rng.lognormvariate(mu, sigma)

    def _responder(self, name: str, channels: dict[str, Channel]) -> Responder:
        scenario = self.model.scenario
        person = scenario.people[name]
        behaviour = scenario.behaviour_of(name)
        rules = sorted(scenario.rules_of(name), key=lambda rule: rule.after)
        return Responder(
            name=name,
            clock=self.model.clocks[person.timezone],
            parts=self.model.parts[name],
            speed=person.speed,
            runbook_factor=behaviour.runbook_factor,
            escalate_when_busy=behaviour.when_busy == "escalate",
            acknowledge=[self.draw(spec) for spec in behaviour.acknowledge.by_part()],
            miss=list(behaviour.miss.by_part()),
            rules=[(rule.after, channels[rule.channel]) for rule in rules],
            desk=simpy.Resource(self.env, capacity=1),
            interruptions=[0, 0, 0],
        )

    # -- arrivals -----------------------------------------------------------------

    def arrivals(self, service_name: str, draws: FaultDraws, policy: Policy) -> Process:
        """Start an incident at each arrival of a fault (thinned by hour of week)."""
        env, rng = self.env, self.rng
        fault = draws.fault
        if fault.rate <= 0:
            return
        intensity = self.model.intensities[(service_name, fault.name)]
        peak = max(intensity)
        if peak <= 0:
            return
        clock = self.model.clocks[self.model.scenario.services[service_name].timezone]

        while True:
            yield env.timeout(rng.expovariate(fault.rate * peak))
            if env.now >= self.model.horizon:
                return
            slot = clock.slot_of_week(self.model.base + env.now) if peak != 1 else 0
            if peak == 1 or rng.random() * peak < intensity[slot]:
                record = IncidentRecord(service_name, fault.name, False, env.now)
                self.incidents.append(record)
                env.process(self.incident(record, draws, policy))

    def false_alerts(self, service_name: str, policy: Policy) -> Process:
        """Start a false alert at each arrival of the service's noise."""
        env, rng = self.env, self.rng
        rate = self.model.scenario.services[service_name].noise
        dismiss = self.draw(self.model.scenario.detection.false_alert_dismiss)
        while True:
            yield env.timeout(rng.expovariate(rate))
            if env.now >= self.model.horizon:
                return
            record = IncidentRecord(service_name, "false alert", True, env.now)
            self.incidents.append(record)
            env.process(self.false_alert(record, dismiss(), policy))

    # -- one incident -------------------------------------------------------------

    def incident(
        self, record: IncidentRecord, draws: FaultDraws, policy: Policy
    ) -> Process:
        """Detect, page, acknowledge, work and resolve one incident."""
        fault = draws.fault
        yield self.env.timeout(self.detection_delay(draws))
        record.detected = self.env.now

        acknowledged_by, eligible = yield from self.page(
            record, policy, fault.urgency == "high"
        )
        if acknowledged_by is not None and policy.ack_timeout:
            self.env.process(self.repage(record, acknowledged_by, policy.ack_timeout))

        diagnose, mitigate = draws.diagnose(), draws.mitigate()
        yield from self.work(
            record, acknowledged_by, eligible, diagnose, mitigate, fault.runbook
        )

        yield self.env.timeout(draws.resolve())
        record.resolved = self.env.now

    def false_alert(
        self, record: IncidentRecord, dismiss: float, policy: Policy
    ) -> Process:
        """Page for an alert with no fault behind it; dismissing it is the work."""
        record.detected = record.start
        acknowledged_by, eligible = yield from self.page(record, policy, True)
        yield from self.work(record, acknowledged_by, eligible, 0.0, dismiss, False)
        record.resolved = self.env.now

    def repage(
        self, record: IncidentRecord, owner: Responder, timeout: float
    ) -> Process:
        """Notify the owner again each time the acknowledgement times out."""
        channel = owner.rules[0][1] if owner.rules else None
        while True:
            yield self.env.timeout(timeout)
            if record.resolved <= self.env.now:
                return
            if channel is not None and channel.interrupts:
                owner.interrupt(self.model.base + self.env.now)

    def detection_delay(self, draws: FaultDraws) -> float:
        """Time from the fault to its first alert, or to a user report."""
        rng = self.rng
        fault = draws.fault
        signal = draws.detect()
        found = draws.user_report()
        for name in fault.alerts:
            rule = self.model.scenario.detection.alerts[name]
            # Next scrape, next evaluation, then 'for' in whole evaluations.
            seen = signal + rng.uniform(0, rule.scrape_interval)
            seen += rng.uniform(0, rule.evaluation_interval)
            if rule.for_ > 0 and rule.evaluation_interval > 0:
                seen += (
                    math.ceil(rule.for_ / rule.evaluation_interval)
                    * rule.evaluation_interval
                )
            else:
                seen += rule.for_
            if rng.random() < rule.probability and seen < found:
                found = seen
        return found

    # -- paging -------------------------------------------------------------------

    def page(self, record: IncidentRecord, policy: Policy, high_urgency: bool) -> Paged:
        """Page level after level until somebody acknowledges; return who did."""
        env = self.env
        acknowledged = env.event()
        eligible: list[Responder] = []
        loops = policy.repeat + 1 if high_urgency else 1
        levels = policy.levels if high_urgency else policy.levels[:1]

        for _ in range(loops):
            for index, (delay, targets) in enumerate(levels):
                people = self.on_call(targets)
                if not people:
                    continue
                record.level = max(record.level, index)
                for person in people:
                    if person not in eligible:
                        eligible.append(person)
                    for after, channel in person.rules:
                        # Rules due after the level's delay never fire: it escalates.
                        if high_urgency and after >= delay:
                            break
                        env.process(self.notify(person, after, channel, acknowledged))
                yield env.any_of([acknowledged, env.timeout(delay)])
                if acknowledged.triggered:
                    record.acknowledged = env.now
                    return acknowledged.value, eligible

        # Nobody acknowledged: a page still on its way may, or the first level's
        # on-call person notices the incident after a while.
        yield env.any_of([acknowledged, env.timeout(policy.pickup())])
        record.acknowledged = env.now
        if acknowledged.triggered:
            return acknowledged.value, eligible
        for _, targets in policy.levels:
            people = self.on_call(targets)
            if people:
                break
        else:
            people = eligible[:1]
        if people and people[0] not in eligible:
            eligible.append(people[0])
        return (people[0] if people else None), eligible

    def on_call(self, targets: Sequence[Target]) -> list[Responder]:
        epoch = self.model.base + self.env.now
        people: list[Responder] = []
        for target in targets:
            name = target if isinstance(target, str) else target.person_at(epoch)
            if name is not None and self.responders[name] not in people:
                people.append(self.responders[name])
        return people

    def notify(
        self, person: Responder, after: float, channel: Channel, ack: simpy.Event
    ) -> Process:
        """One notification rule: send after a while, maybe acknowledge."""
        env, rng = self.env, self.rng
        if after:
            yield env.timeout(after)
        if ack.triggered:
            return
        if channel.failure and rng.random() < channel.failure:
            return

        yield env.timeout(channel.delay())
        if channel.interrupts:
            person.interrupt(self.model.base + env.now)
        if ack.triggered or (person.escalate_when_busy and person.desk.count):
            return
        part = person.part_of_day(self.model.base + env.now)
        if person.miss[part] and rng.random() < person.miss[part]:
            return

        yield env.timeout(person.acknowledge[part]())
        if not ack.triggered:
            ack.succeed(person)

    # -- work ---------------------------------------------------------------------

    def work(
        self,
        record: IncidentRecord,
        acknowledged_by: Responder | None,
        eligible: list[Responder],
        diagnose: float,
        mitigate: float,
        runbook: bool,
    ) -> Process:
        """Work the incident at a responder's desk, waiting while they are busy."""
        env = self.env
        if acknowledged_by is None:
            record.work_started = env.now
            yield env.timeout(diagnose + mitigate)
            record.mitigated = env.now
            return

        # A busy responder hands over to a free colleague who was paged, if any.
        worker = acknowledged_by
        if worker.desk.count:
            worker = next((p for p in eligible if not p.desk.count), worker)
        with worker.desk.request() as turn:
            yield turn
            record.work_started = env.now
            if runbook:
                diagnose *= worker.runbook_factor
            yield env.timeout((diagnose + mitigate) / worker.speed)
        record.mitigated = env.now


# -- comparison with the engine ---------------------------------------------------


def lifecycle_means(rows: Sequence[tuple[float, ...]]) -> dict[str, float]:
    """Mean TTD, TTA, TTM and TTR in minutes of ``lifecycle_rows``."""
    columns = list(zip(*rows, strict=True))
    start, detected, acknowledged, mitigated, resolved = columns
    pairs = {
        "ttd": (start, detected),
        "tta": (detected, acknowledged),
        "ttm": (start, mitigated),
        "ttr": (start, resolved),
    }
    return {
        name: statistics.fmean(b - a for a, b in zip(first, second, strict=True))
        / MINUTE
        for name, (first, second) in pairs.items()
    }


def lifecycle_rows(outcomes: Iterable[Outcome]) -> list[tuple[float, ...]]:
    """(start, detected, acknowledged, mitigated, resolved) of real incidents."""
    return [
        (i.start, i.detected, i.acknowledged, i.mitigated, i.resolved)
        for outcome in outcomes
        for i in outcome.incidents
        if not i.false_alarm
    ]


def format_comparison(plain: dict[str, float], engine: dict[str, float]) -> str:
    """A small table of both models' mean times and their relative difference."""
    lines = [f"{'mean (minutes)':<16}{'plain':>10}{'engine':>10}{'plain/engine':>14}"]
    for name in ("ttd", "tta", "ttm", "ttr"):
        ratio = plain[name] / engine[name] if engine[name] else math.nan
        lines.append(
            f"{name.upper():<16}{plain[name]:>10.2f}{engine[name]:>10.2f}{ratio:>14.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="scenarios/follow-the-sun.yaml")
    parser.add_argument("--replications", type=int, default=100)
    arguments = parser.parse_args(argv)
    scenario = load_scenario(arguments.scenario)
    replications = range(arguments.replications)

    # Outcomes are reduced to rows as they come, so few stay alive at once.
    began = time.perf_counter()
    model = PlainModel(scenario)
    plain = lifecycle_rows(model.run(r) for r in replications)
    plain_seconds = time.perf_counter() - began
    began = time.perf_counter()
    engine = Engine(scenario)
    engine_rows = lifecycle_rows(engine.run(r) for r in replications)
    engine_seconds = time.perf_counter() - began

    print(
        f"{scenario.name}, {arguments.replications} replications: real incidents "
        f"{len(plain)} (plain SimPy, {plain_seconds:.1f} s) and "
        f"{len(engine_rows)} (engine, {engine_seconds:.1f} s)"
    )
    print(format_comparison(lifecycle_means(plain), lifecycle_means(engine_rows)))


if __name__ == "__main__":
    main()
