"""The discrete-event engine: one replication of a scenario on SimPy.

Each incident goes fault → detected → paged level by level → acknowledged →
worked (diagnosed and mitigated) → resolved. Responders are shared: a person who
works one incident is busy for the next, which either waits or escalates.

NOTE: events per incident are the cost that matters (see FACTS.md), so the
engine schedules SimPy timeouts with callbacks instead of a process per incident,
creates an escalation timer only when a level really escalates, draws random
numbers in numpy batches (each incident's answers to its pages in a row of its
own), and handles a step at once, without an event, when no scheduled event and
no pending detection comes before it: nothing else can change the shared state
in between, so the result is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import numpy as np
import simpy

from drillhall.simulator.arrivals import (
    arrival_times,
    detection_times,
    hour_of_week_intensity,
)
from drillhall.simulator.distributions import stream, transform, uniform_rows
from drillhall.simulator.durations import DAY
from drillhall.simulator.localtime import (
    SLEEPING,
    LocalClock,
    SlotTable,
    interruption_table,
    parts_of_week,
)
from drillhall.simulator.oncall import OnCallCalendar
from drillhall.simulator.scenario import EscalationPolicy, Scenario
from drillhall.simulator.state import (
    HOURS_PER_WEEK,
    INFINITY,
    ChannelState,
    Incident,
    Level,
    PolicyState,
    Responder,
    RotationTarget,
    Target,
    on_call,
)

MARGIN_DAYS = 30.0
"""Calendars and clocks are prepared this far past the horizon for late work."""
SLOTS_PER_HOUR = 4
"""Quarter hours of the local clock per hour of the week."""
MAX_INLINE_DEPTH = 40
"""Steps handled at once may call one another; past this depth they are scheduled."""
ANSWER_DRAWS = 16
"""Uniform draws per incident for the answers to its pages (a notification takes
up to four); an incident that needs more goes on with a counter-based generator."""

# The steps of a lifecycle that may be scheduled, as indices into _Run.handlers.
ACKNOWLEDGE, ESCALATE, GIVE_UP, MITIGATED = range(4)


@dataclass
class ReplicationOutcome:
    """Everything one replication produced, before it is reduced to aggregates."""

    replication: int
    incidents: list[Incident]
    responders: list[Responder]
    events: int


class Engine:
    """Runs replications of one scenario; build once, run many times."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.begin = scenario.start_instant()
        self.base = self.begin.timestamp()
        self.horizon = scenario.horizon
        end = self.begin + timedelta(seconds=self.horizon + MARGIN_DAYS * DAY)

        self.clocks: dict[str, LocalClock] = {}
        for zone in self._zones():
            self.clocks[zone] = LocalClock(zone, self.begin, end)

        self.calendars: dict[str, OnCallCalendar] = {}
        for team_name, team in scenario.teams.items():
            for rotation_name, rotation in team.rotations.items():
                self.calendars[f"{team_name}/{rotation_name}"] = OnCallCalendar.compile(
                    rotation, scenario.start_date, self.begin - timedelta(days=1), end
                )

        self.people = list(scenario.people)
        self.services = list(scenario.services)
        self._intensity = {
            (service, fault.name): hour_of_week_intensity(fault)
            for service, declared in scenario.services.items()
            for fault in declared.faults
        }
        self._part_tables: dict[str, SlotTable] = {}
        self._bucket_tables: dict[str, SlotTable] = {}
        buckets = interruption_table()
        for name, person in scenario.people.items():
            clock = self.clocks[person.timezone]
            behaviour = scenario.behaviour_of(name)
            week = parts_of_week(behaviour.working_hours, behaviour.sleeping_hours)
            self._part_tables[name] = SlotTable(clock, week, self.base)
            if person.timezone not in self._bucket_tables:
                table = SlotTable(clock, buckets, self.base)
                self._bucket_tables[person.timezone] = table

    # -- set-up -----------------------------------------------------------------

    def _zones(self) -> set[str]:
        zones = {person.timezone for person in self.scenario.people.values()}
        zones |= {service.timezone for service in self.scenario.services.values()}
        return zones

    def _responders(self) -> list[Responder]:
        scenario = self.scenario
        channels = self._channels()
        responders = []
        for index, name in enumerate(self.people):
            person = scenario.people[name]
            behaviour = scenario.behaviour_of(name)
            rules = sorted(scenario.rules_of(name), key=lambda rule: rule.after)

            # Answers (channel failures and delays, misses, times to acknowledge)
            # draw from the paging incident's own uniforms, not from a stream per
            # person: a scenario that pages somebody more or less often leaves
            # their answers to the other incidents as they were.
            # NOTE: within one incident the draws are taken in paging order, so
            # where a change alters an incident's paging, its later answers
            # shift too. Drawing by paging slot (a stream per target of each
            # level) keeps them, but cost 8% of the engine's speed to make the
            # paired interval of p90 TTA 0.49 as wide as an independent one
            # instead of 0.51 (benchmarks/README.md): not worth it.
            responders.append(
                Responder(
                    name,
                    index,
                    parts=self._part_tables[name],
                    buckets=self._bucket_tables[person.timezone],
                    clock=self.clocks[person.timezone],
                    acknowledge=[
                        transform(spec) for spec in behaviour.acknowledge.by_part()
                    ],
                    miss=list(behaviour.miss.by_part()),
                    rules=[(rule.after, channels[rule.channel]) for rule in rules],
                    speed=person.speed,
                    runbook_factor=behaviour.runbook_factor,
                    escalate_when_busy=behaviour.when_busy == "escalate",
                )
            )
        return responders

    def _channels(self) -> dict[str, ChannelState]:
        channels = {}
        for name, channel in self.scenario.channels.items():
            channels[name] = ChannelState(
                name, transform(channel.delay), channel.failure, channel.interrupts
            )
        return channels

    def _policies(self, responders: list[Responder]) -> dict[str, PolicyState]:
        policies = {}
        for name, policy in self.scenario.escalation.items():
            policies[name] = self._policy(name, policy, responders)
        return policies

    def _policy(
        self, name: str, policy: EscalationPolicy, responders: list[Responder]
    ) -> PolicyState:
        by_name = {responder.name: responder for responder in responders}
        levels: list[Level] = []
        for level in policy.levels:
            targets: list[Target] = []
            for target in level.targets:
                if target in self.calendars:
                    targets.append(RotationTarget(self.calendars[target], by_name))
                else:
                    targets.append(by_name[target])
            levels.append((level.delay, targets))

        pickup = transform(policy.unacknowledged_pickup)
        return PolicyState(name, levels, policy.repeat, policy.ack_timeout, pickup)

    # -- incidents --------------------------------------------------------------

    def _incidents(
        self, replication: int, policies: dict[str, PolicyState]
    ) -> list[Incident]:
        scenario = self.scenario
        seed = scenario.seed
        incidents: list[Incident] = []
        for service_index, (service_name, service) in enumerate(
            scenario.services.items()
        ):
            policy = policies[service.escalation]
            clock = self.clocks[service.timezone]
            for fault_index, fault in enumerate(service.faults):
                name = f"{service_name}/{fault.name}"
                intensity = self._intensity[service_name, fault.name]
                rng = stream(seed, replication, name)
                starts = arrival_times(
                    fault.rate, intensity, clock, self.horizon, self.base, rng
                )
                if not len(starts):
                    continue
                draws = stream(seed, replication, f"lifecycle/{name}")
                report = fault.user_report or scenario.detection.user_report
                detected, detected_by = detection_times(
                    fault, starts, scenario.detection.alerts, report, draws
                )
                diagnose = fault.diagnose.sample(draws, len(starts))
                mitigate = fault.mitigate.sample(draws, len(starts))
                resolve = fault.resolve.sample(draws, len(starts))
                answers = uniform_rows(draws, len(starts), ANSWER_DRAWS + 1)
                high_urgency = fault.urgency == "high"
                for start, found, finder, diagnosis, mitigation, resolution, row in zip(
                    starts.tolist(),
                    detected.tolist(),
                    detected_by,
                    diagnose.tolist(),
                    mitigate.tolist(),
                    resolve.tolist(),
                    answers,
                    strict=True,
                ):
                    incident = Incident(
                        service_index,
                        fault_index,
                        start,
                        found,
                        finder,
                        diagnosis,
                        mitigation,
                        resolution,
                        policy,
                    )
                    if not high_urgency:
                        incident.high_urgency = False
                    if fault.runbook:
                        incident.runbook = True
                    _give_answers(incident, row)
                    incidents.append(incident)
            incidents += self._false_alerts(
                service_index, service.noise, policy, replication
            )

        incidents.sort(key=lambda incident: (incident.detected, incident.start))
        for index, incident in enumerate(incidents):
            incident.index = index
        return incidents

    def _false_alerts(
        self, service: int, noise: float, policy: PolicyState, replication: int
    ) -> list[Incident]:
        if noise <= 0:
            return []

        name = self.services[service]
        rng = stream(self.scenario.seed, replication, f"noise/{name}")
        count = rng.poisson(noise * self.horizon)
        starts = np.sort(rng.uniform(0.0, self.horizon, count))
        dismiss = self.scenario.detection.false_alert_dismiss.sample(rng, count)
        answers = uniform_rows(rng, count, ANSWER_DRAWS + 1)
        incidents = []
        for start, work, row in zip(
            starts.tolist(), dismiss.tolist(), answers, strict=True
        ):
            incident = Incident(
                service, -1, start, start, "false alert", 0.0, work, 0.0, policy
            )
            incident.false_alarm = True
            _give_answers(incident, row)
            incidents.append(incident)
        return incidents

    # -- one replication ----------------------------------------------------------

    def run(self, replication: int) -> ReplicationOutcome:
        """Simulate one replication; the same number gives the same outcome."""
        responders = self._responders()
        policies = self._policies(responders)
        incidents = self._incidents(replication, policies)
        run = _Run(self, incidents, responders)
        run.go()
        return ReplicationOutcome(replication, incidents, responders, run.events)


class _Run:
    """The event loop of one replication."""

    def __init__(
        self, engine: Engine, incidents: list[Incident], responders: list[Responder]
    ) -> None:
        self.env = simpy.Environment()
        self.base = engine.base
        self.incidents = incidents
        self.responders = responders
        self.pending = list(reversed(incidents))
        self.waiting: list[Incident] = []
        self.feeder_scheduled = False
        self.depth = 0
        self.events = 0
        self.handlers: list[Callable[[Incident, float], None]] = [
            self._acknowledge,
            self._escalate,
            self._give_up,
            self._mitigated,
        ]
        self.callbacks = [self._callback(handler) for handler in self.handlers]

    def go(self) -> None:
        self._drain()
        self.env.run()
        self._count_interruptions_at_the_end()

    # -- scheduling -------------------------------------------------------------

    def _callback(
        self, handler: Callable[[Incident, float], None]
    ) -> Callable[[simpy.Event], None]:
        def fire(event: simpy.Event) -> None:
            self.events += 1
            handler(cast(Incident, event.value), self.env.now)
            self._drain()

        return fire

    def _at(self, time: float, kind: int, incident: Incident) -> None:
        """Run step ``kind`` at ``time``: now, if nothing can come before it."""
        env = self.env
        pending = self.pending
        # NOTE: SimPy's queue is read directly; Environment.peek() would cost a
        # method call on every step of every incident.
        queue = env._queue
        horizon = queue[0][0] if queue else INFINITY
        if pending and pending[-1].detected < horizon:
            horizon = pending[-1].detected
        if time < horizon and self.depth < MAX_INLINE_DEPTH:
            self.depth += 1
            self.handlers[kind](incident, time)
            self.depth -= 1
            return

        delay = time - env.now
        timeout = env.timeout(delay if delay > 0 else 0.0, incident)
        timeout.callbacks.append(self.callbacks[kind])

    def _drain(self) -> None:
        """Detect every pending incident that no scheduled event precedes."""
        if self.feeder_scheduled:
            return
        pending = self.pending
        env = self.env
        while pending:
            incident = pending[-1]
            if incident.detected < env.peek():
                pending.pop()
                self._page(incident, 0, 0, incident.detected)
                continue
            timeout = env.timeout(max(incident.detected - env.now, 0.0), incident)
            timeout.callbacks.append(self._feed)
            self.feeder_scheduled = True
            return

    def _feed(self, event: simpy.Event) -> None:
        self.events += 1
        self.feeder_scheduled = False
        incident = self.pending.pop()
        self._page(incident, 0, 0, self.env.now)
        self._drain()

    # -- paging -----------------------------------------------------------------

    def _page(self, incident: Incident, level: int, loop: int, now: float) -> None:
        """Page one level of the incident's escalation policy at ``now``."""
        policy = incident.policy
        levels = policy.levels
        epoch = self.base + now

        # A level with nobody on call is skipped at once.
        while True:
            delay, targets = levels[level]
            people = on_call(targets, epoch)
            if people:
                break
            following = _next_level(policy, level, loop, incident.high_urgency)
            if following is None:
                # Somebody paged earlier may still answer; else nobody will.
                if incident.pending_ack < INFINITY:
                    self._at(incident.pending_ack, ACKNOWLEDGE, incident)
                else:
                    self._at(now, GIVE_UP, incident)
                return
            level, loop = following

        incident.paged_levels |= 1 << level
        if level > incident.level:
            incident.level = level
        level_end = now + delay if incident.high_urgency else INFINITY
        best = incident.pending_ack
        best_person = incident.pending_person
        for person in people:
            if person not in incident.eligible:
                incident.eligible.append(person)
            answer = self._notify(incident, person, now, level_end)
            if answer < best:
                best, best_person = answer, person

        if best < level_end:
            incident.pending_person = best_person
            self._at(best, ACKNOWLEDGE, incident)
            return

        incident.pending_ack, incident.pending_person = best, best_person
        following = _next_level(policy, level, loop, incident.high_urgency)
        if following is not None:
            incident.next_level, incident.next_loop = following
            incident.escalations += 1
            self._at(level_end, ESCALATE, incident)
        elif best < INFINITY:
            self._at(best, ACKNOWLEDGE, incident)
        else:
            self._at(now + delay, GIVE_UP, incident)

    def _notify(
        self, incident: Incident, person: Responder, now: float, cutoff: float
    ) -> float:
        """Run a person's notification rules; return when they would acknowledge."""
        answer = INFINITY
        ignores = person.current is not None and person.escalate_when_busy
        uniform = incident.uniform
        for after, channel in person.rules:
            planned = now + after
            if planned >= cutoff or planned >= answer:
                break
            if channel.failure and uniform() < channel.failure:
                continue
            delivered = planned + channel.delay(uniform)
            incident.notifications.append(
                (person, planned, delivered, channel.interrupts)
            )
            if ignores:
                continue
            part = person.parts.at(delivered)
            miss = person.miss[part]
            if miss and uniform() < miss:
                continue
            candidate = delivered + person.acknowledge[part](uniform)
            if candidate < answer:
                answer = candidate
        return answer

    def _escalate(self, incident: Incident, now: float) -> None:
        self._page(incident, incident.next_level, incident.next_loop, now)

    def _give_up(self, incident: Incident, now: float) -> None:
        """Nobody acknowledged: the first level's on-call notices it later."""
        incident.exhausted = True
        noticed = now + incident.policy.pickup(incident.uniform)
        epoch = self.base + noticed
        for _, targets in incident.policy.levels:
            people = on_call(targets, epoch)
            if people:
                incident.pending_person = people[0]
                break
        else:
            incident.pending_person = (
                incident.eligible[0] if incident.eligible else None
            )
        person = incident.pending_person
        if person is not None and person not in incident.eligible:
            incident.eligible.append(person)
        self._at(noticed, ACKNOWLEDGE, incident)

    # -- work ---------------------------------------------------------------------

    def _acknowledge(self, incident: Incident, now: float) -> None:
        person = incident.pending_person
        incident.acknowledged = now
        incident.acknowledged_by = person
        self._note_interruptions(incident, now)
        if person is None:
            self._start_work(incident, None, now)
            return

        person.acknowledged += 1
        incident.during_sleep = person.parts.at(now) == SLEEPING
        if person.current is None:
            self._start_work(incident, person, now)
            return
        for other in incident.eligible:
            if other.current is None:
                self._start_work(incident, other, now)
                return
        self.waiting.append(incident)

    def _note_interruptions(self, incident: Incident, acknowledged: float) -> None:
        # Notifications planned after the acknowledgement never went out.
        for person, planned, delivered, interrupts in incident.notifications:
            if interrupts and planned <= acknowledged:
                person.interrupted.append(delivered)

    def _start_work(
        self, incident: Incident, worker: Responder | None, now: float
    ) -> None:
        incident.work_started = now
        incident.worker = worker
        diagnose = incident.diagnose
        if worker is None:
            work = diagnose + incident.mitigate
        else:
            worker.current = incident
            if incident.runbook:
                diagnose *= worker.runbook_factor
            work = (diagnose + incident.mitigate) / worker.speed
        self._at(now + work, MITIGATED, incident)

    def _mitigated(self, incident: Incident, now: float) -> None:
        incident.mitigated = now
        incident.resolved = now + incident.resolve
        worker = incident.worker
        if worker is None:
            return

        worker.current = None
        worker.worked += 1
        worker.busy_seconds += now - incident.work_started
        for position, waiting in enumerate(self.waiting):
            if worker in waiting.eligible:
                del self.waiting[position]
                self._start_work(waiting, worker, now)
                return

    def _count_interruptions_at_the_end(self) -> None:
        """Count every interruption by the person's local time, all at once.

        Nobody's state depends on these counts, so the loop only notes when each
        interruption happened; here they are counted per on-call bucket and per
        local hour of the week. Besides the notifications noted while paging, an
        acknowledged incident not resolved within its policy's timeout notifies
        its owner again each time the timeout passes.
        """
        for incident in self.incidents:
            timeout = incident.policy.ack_timeout
            person = incident.acknowledged_by
            if not timeout or person is None or not person.rules:
                continue
            if not person.rules[0][1].interrupts:
                continue
            moment = incident.acknowledged + timeout
            while moment < incident.resolved:
                person.interrupted.append(moment)
                moment += timeout

        for person in self.responders:
            if not person.interrupted:
                continue
            moments = np.asarray(person.interrupted)
            buckets = person.buckets.at_many(moments)
            person.interruptions = np.bincount(buckets, minlength=3).tolist()
            # The same local quarter hours the bucket table reads, by the hour.
            hours = person.clock.slots_of_week(self.base + moments) // SLOTS_PER_HOUR
            person.hours_of_week = np.bincount(hours, minlength=HOURS_PER_WEEK)
            person.interrupted = []


def _give_answers(incident: Incident, row: list[float]) -> None:
    """Hand an incident its row of uniforms; the last one seeds what comes after."""
    incident.spill = int(row.pop() * 2.0**53)
    incident.uniforms = row


def _next_level(
    policy: PolicyState, level: int, loop: int, high_urgency: bool
) -> tuple[int, int] | None:
    # Low-urgency incidents stay with the first level (as in PagerDuty).
    if not high_urgency:
        return None
    if level + 1 < len(policy.levels):
        return level + 1, loop
    if loop < policy.repeat:
        return 0, loop + 1
    return None
