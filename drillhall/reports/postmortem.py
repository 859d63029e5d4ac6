"""A blameless postmortem draft: what the data knows, and room for the rest.

The draft is built from a drill's facts (its timeline, plan and score) or from
an incident in the history store, plus the logs and metrics the author brings.
Every figure is traceable: durations are differences of event times, requests
are sums of the load's per-second statistics, and each sentence drillhall
writes says where its numbers come from.

What only people know (the summary in their words, the deeper whys, causes
the data cannot see, owners and dates) is left to the author: the templates
mark each such part with ``PLACEHOLDER`` (see ``drillhall.reports.blame``,
which finds the ones left unfilled).

Times are UTC and each is also given as ``T+m:ss`` from the fault's start (the
injection for a drill, the start for an incident): one clock for events, log
lines and metric points alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal

from drillhall.drills.timeline import TimelineEvent
from drillhall.reports.drill_facts import DrillFacts, LoadSecond
from drillhall.reports.evidence import LogLine, MetricSeries, SeriesSummary, summarise
from drillhall.reports.fishbone import CATEGORIES
from drillhall.reports.history import LIFECYCLE_TIMES, IncidentRecord
from drillhall.reports.render import duration, format_share
from drillhall.simulator.lifecycle import PHASES

logger = logging.getLogger(__name__)

PHASE_WORDS: Final = {
    "ttd": "detection",
    "tta": "acknowledgement",
    "ttm": "mitigation",
    "ttr": "resolution",
}
FOLLOW_UPS: Final = {
    "ttd": ("monitoring", "alert", "tune the alert (threshold, for:, interval)"),
    "tta": ("people", "other", "review the notification rules and escalation delay"),
    "ttm": ("process", "automation", "automate the runbook's slowest steps"),
    "ttr": ("process", "runbook", "shorten what the runbook asks after mitigation"),
}
"""For a phase slower than expected: the fishbone category it points to, what
its action item changes, and what the action item suggests."""

_PLAN_STEPS: Final = {
    "ttd": "detect",
    "tta": "acknowledge",
    "ttm": "mitigate",
    "ttr": "resolve",
}
_HIDDEN_KINDS: Final = frozenset({"load_stats", "rollback_intent"})
"""Events left out of the postmortem's timeline: the load shows as where the
errors began and ended; the rollback's intent is bookkeeping."""

_RESOLUTION_KINDS: Final = frozenset(
    {"runbook_step", "mitigated", "resolved", "rolling_back", "rolled_back"}
)
_STATUS_WORDS: Final = {
    "running": "is still running",
    "aborted": "was aborted",
    "interrupted": "was interrupted",
    "recovered": "was rolled back later, by `drillhall drill recover`",
}
_ONE_SECOND: Final = timedelta(seconds=1)
SECTIONS: Final = (
    "Summary",
    "Impact",
    "Timeline",
    "Root cause",
    "What went well",
    "What went badly",
    "Resolution",
    "Action items",
)
"""The draft's sections, in order, as its templates title them."""
_SIGNAL_AHEAD: Final = 30.0
"""A metric that departed this many seconds before detection is a monitoring
cause: the signal was there before the alert."""

EntryKind = Literal["event", "load", "log", "metric"]


@dataclass(frozen=True)
class Entry:
    """One line of the postmortem's timeline."""

    at: datetime
    offset: float
    """Seconds from the fault's start (negative before it)."""
    source: str
    what: str
    kind: EntryKind


@dataclass(frozen=True)
class Impact:
    """What users lost and how each figure is known; ``None`` is unknown."""

    started: datetime
    mitigated: datetime | None
    resolved: datetime | None
    requests: int | None
    failed: int | None
    users: int | None
    users_how: str
    budget_used: float | None
    budget_how: str
    unknown: list[str] = field(default_factory=list)
    """What the data cannot tell, for the author to add."""

    @property
    def to_mitigated(self) -> float | None:
        return _seconds(self.started, self.mitigated)

    @property
    def to_resolved(self) -> float | None:
        return _seconds(self.started, self.resolved)

    @property
    def failed_share(self) -> float | None:
        if not self.requests or self.failed is None:
            return None
        return self.failed / self.requests


@dataclass(frozen=True)
class Why:
    question: str
    answer: str | None
    """``None``: the author's to answer."""


@dataclass(frozen=True)
class Cause:
    category: str
    """One of the fishbone's ``CATEGORIES``."""
    text: str


@dataclass(frozen=True)
class Step:
    """A resolution step: what was done, and when."""

    at: datetime
    what: str


@dataclass(frozen=True)
class SuggestedAction:
    """An action item the data suggests; owner and due date are the author's."""

    title: str
    changes: str
    """One of ``drillhall.reports.history.ACTION_CHANGES``."""
    link: str | None


@dataclass(frozen=True)
class PostmortemDraft:
    subject: str
    """The drill's or the incident's id."""
    kind: Literal["drill", "incident"]
    title: str
    origin: datetime
    """Time zero: the fault's start."""
    summary: list[str]
    impact: Impact
    timeline: list[Entry]
    series: list[SeriesSummary]
    whys: list[Why]
    effect: str
    """The fishbone's head: what users experienced."""
    causes: list[Cause]
    went_well: list[str]
    went_badly: list[str]
    resolution: list[Step]
    actions: list[SuggestedAction]
    marks: dict[str, datetime]
    """The lifecycle's first times (injected, detected …), for figures."""
    people: list[str] = field(default_factory=list)
    """Who took part, for the blame check."""
    systems: list[str] = field(default_factory=list)
    """Names in the draft that are systems, not people, for the blame check."""
    notes: list[str] = field(default_factory=list)
    """What limited the draft (a plan file that moved, say)."""

    def causes_by_category(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {category: [] for category in CATEGORIES}
        for cause in self.causes:
            grouped[cause.category].append(cause.text)
        return grouped

    def offset_of(self, moment: datetime) -> float:
        return (moment - self.origin).total_seconds()


def offset_text(seconds: float) -> str:
    """``T+0:33``, ``T+1:02:03``, ``T-0:05``: a time on the fault's clock, in
    whole seconds (a moment less than a second before the fault is ``T+0:00``)."""
    hours, rest = divmod(int(abs(seconds)), 3600)
    minutes, whole = divmod(rest, 60)
    sign = "-" if seconds < 0 and (hours or rest) else "+"
    if hours:
        return f"T{sign}{hours}:{minutes:02d}:{whole:02d}"
    return f"T{sign}{minutes}:{whole:02d}"


def utc_text(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def number_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def drill_draft(
    facts: DrillFacts,
    *,
    logs: Sequence[LogLine] = (),
    metrics: Sequence[MetricSeries] = (),
) -> PostmortemDraft:
    """The postmortem draft of a drill, from its facts and the author's evidence."""
    reading = _DrillReading(facts)
    series = [summarise(one, facts.origin) for one in metrics]
    timeline = [
        *reading.event_entries(),
        *reading.load_entries(),
        *evidence_entries(logs, series, facts.origin),
    ]
    well, badly = reading.well_and_badly()
    notes = [f"Without the plan: {facts.plan_note}."] if facts.plan_note else []

    return PostmortemDraft(
        subject=facts.id,
        kind="drill",
        title=f"drill {facts.record.plan}: {reading.fault}",
        origin=facts.origin,
        summary=reading.summary(),
        impact=reading.impact(),
        timeline=sorted(timeline, key=lambda entry: entry.at),
        series=series,
        whys=reading.whys(),
        effect=reading.effect(),
        causes=[*reading.causes(), *metric_causes(series, facts.times, facts.origin)],
        went_well=well,
        went_badly=badly,
        resolution=reading.resolution(),
        actions=reading.actions(),
        marks=dict(facts.times),
        people=[str(name) for name in facts.record.details.get("participants") or []],
        systems=reading.systems(),
        notes=notes,
    )


class _DrillReading:
    """A drill's facts read into the sentences of its postmortem."""

    def __init__(self, facts: DrillFacts) -> None:
        self.facts = facts
        self.score = facts.score
        injected = facts.of_kind("injected")
        title = injected[0].payload.get("title") if injected else None
        self.fault = str(title or facts.record.plan)
        detected = facts.of_kind("detected")
        self.alert = (
            str(detected[0].payload.get("alertname") or detected[0].source)
            if detected
            else None
        )
        plan = facts.plan
        steps = plan.loaded_runbook.steps if plan else []
        self.steps = {step.number: step.title for step in steps}
        self.runbook = _shown_path(plan.runbook) if plan else None
        # The seconds with failed requests during the impact (up to the
        # mitigation), and any after it (a rollback may cause a few).
        mitigated = facts.times.get("mitigated")
        failing = [second for second in facts.load if second.failures]
        self.failing = [
            second
            for second in failing
            if mitigated is None or second.at <= mitigated + _ONE_SECOND
        ]
        self.failing_after = failing[len(self.failing) :]

    def at(self, moment: datetime) -> str:
        return offset_text(self.facts.since_origin(moment))

    def step(self, number: int) -> str:
        title = self.steps.get(number)
        return f'step {number} "{title}"' if title else f"step {number}"

    def step_of(self, event: TimelineEvent) -> str:
        return self.step(int(event.payload.get("step", 0)))

    # Summary and impact

    def summary(self) -> list[str]:
        facts, phases = self.facts, self.facts.phases
        injected = (
            f'injected the fault "{self.fault}" at {utc_text(facts.origin)} UTC'
            if "injected" in facts.times
            else f"started at {utc_text(facts.origin)} UTC and injected no fault"
        )
        sentences = [
            f"Drill {facts.id} of plan {facts.record.plan} {injected}.",
            f"{self.alert} detected it after {duration(phases['ttd'])}."
            if self.alert
            else "No alert or probe detected it.",
        ]
        for phase, after in (
            ("tta", "detection"),
            ("ttm", "the fault's start"),
            ("ttr", "the fault's start"),
        ):
            if phases[phase] is not None:
                sentences.append(
                    f"{PHASE_WORDS[phase].capitalize()} came "
                    f"{duration(phases[phase])} after {after}."
                )
        impact = facts.impact
        if impact.requests:
            sentences.append(
                f"{impact.failed} of the {impact.requests} requests of the drill's "
                f"load failed ({format_share(impact.error_rate)})."
            )
        score = facts.recorded_score
        scored = f" with a score of {score[0]:g} of {score[1]:g}" if score else ""
        sentences.append(f"The drill {self.status()}{scored}.")
        return sentences

    def status(self) -> str:
        status = self.facts.record.status
        return _STATUS_WORDS.get(status, status)

    def impact(self) -> Impact:
        impact = self.facts.impact
        unknown = []
        if not impact.requests:
            unknown.append("requests and users affected: the drill ran no load")
        if impact.budget_used is None:
            unknown.append("the error budget consumed: the plan declares no SLO")
        return Impact(
            started=self.facts.origin,
            mitigated=self.facts.times.get("mitigated"),
            resolved=self.facts.times.get("resolved"),
            requests=impact.requests or None,
            failed=impact.failed if impact.requests else None,
            users=self.users(),
            users_how=self.users_how(),
            budget_used=impact.budget_used,
            budget_how=self.budget_how(),
            unknown=unknown,
        )

    def window(self) -> tuple[datetime, datetime] | None:
        """The impact window: injection to mitigation (or to the last failed
        request, when the mitigation was never declared)."""
        impact = self.facts.impact
        end = impact.ended or (self.failing[-1].at if self.failing else None)
        if impact.started is None or end is None:
            return None
        return impact.started, end

    def load_between(self, start: datetime, end: datetime) -> tuple[int, int]:
        """Failed and sent requests in the seconds from ``start`` to ``end``."""
        seconds = [
            second
            for second in self.facts.load
            if start <= second.at <= end + _ONE_SECOND
        ]
        return (
            sum(second.failures for second in seconds),
            sum(second.requests for second in seconds),
        )

    def users(self) -> int | None:
        users = self.facts.impact.users
        if users is None or not self.facts.impact.requests:
            return None
        return users if self.failing else 0

    def users_how(self) -> str:
        users = self.facts.impact.users
        window = self.window()
        if users is None or not self.facts.impact.requests:
            return "unknown: the drill ran no load with a number of users"
        if not self.failing or window is None:
            return "no request of the drill's load failed"
        failed, sent = self.load_between(*window)
        return (
            f"the plan's load runs {users} concurrent Locust users, all sending "
            f"requests through the impact window ({self.at(window[0])} to "
            f"{self.at(window[1])}), in which {failed} of {sent} requests failed "
            f"({format_share(failed / sent if sent else None)}): each user is "
            "counted as affected"
        )

    def budget_how(self) -> str:
        impact = self.facts.impact
        if impact.availability is None:
            return "unknown: the plan declares no availability SLO"
        if not impact.requests:
            return "unknown: the drill ran no load to measure it with"
        allowed = (1 - impact.availability) * impact.requests
        return (
            f"against the plan's availability SLO of "
            f"{format_share(impact.availability, 2)}, {allowed:.1f} of the drill's "
            f"{impact.requests} requests may fail; {impact.failed} did"
        )

    # Timeline and resolution

    def event_entries(self) -> list[Entry]:
        return [
            Entry(
                event.at,
                self.facts.since_origin(event.at),
                event.source,
                self.describe(event),
                "event",
            )
            for event in self.facts.events
            if event.kind not in _HIDDEN_KINDS
        ]

    def load_entries(self) -> list[Entry]:
        """Where the load's errors began and ended, from its per-second counts,
        and any that came after the mitigation."""
        entries: list[tuple[LoadSecond, str]] = []
        if self.failing:
            first, last = self.failing[0], self.failing[-1]
            total = sum(second.failures for second in self.failing)
            began = (
                f"errors begin: {first.failures} of {first.requests} requests "
                "failed in this second"
            )
            ended = (
                "errors end: the last second with failed requests before the "
                f"mitigation ({last.failures} of {last.requests}); {total} failed "
                "until then"
            )
            entries += [(first, began), (last, ended)]
        if self.failing_after:
            again = self.failing_after
            failed = sum(second.failures for second in again)
            later = (
                f"errors again after the mitigation: {failed} requests failed from "
                f"{self.at(again[0].at)} to {self.at(again[-1].at)}"
            )
            entries.append((again[0], later))
        return [
            Entry(second.at, self.facts.since_origin(second.at), "load", what, "load")
            for second, what in entries
        ]

    def describe(self, event: TimelineEvent) -> str:
        payload, kind = event.payload, event.kind
        by = f" by {payload['by']}" if payload.get("by") else ""
        if kind == "runbook_step":
            return "runbook " + self.step_done(event)
        if kind == "steady_state_checked":
            met = "not met" if payload.get("met") is False else "met"
            return f"steady state checked: {met}"
        if kind == "rolled_back":
            ok = "succeeded" if payload.get("succeeded", True) else "did not succeed"
            return f"rollback {ok}"
        if kind == "score":
            return f"scored {payload.get('points')} of {payload.get('out_of')}"
        detail = {
            "drill_started": payload.get("plan"),
            "injected": payload.get("title"),
            "note": payload.get("text"),
            "guardrail_tripped": payload.get("why") or payload.get("guardrail"),
            "rolling_back": payload.get("title"),
            "drill_ended": payload.get("status"),
        }.get(kind, payload.get("summary"))
        words = {"injected": "fault injected", "rolling_back": "rollback started"}
        text = words.get(kind, kind.replace("_", " ")) + by
        return f"{text}: {detail}" if detail else text

    def step_done(self, event: TimelineEvent) -> str:
        payload = event.payload
        status = str(payload.get("status", "done"))
        if payload.get("check") is True:
            status += ", check passed"
        elif payload.get("check") is False:
            error = f" ({payload['error']})" if payload.get("error") else ""
            status += f", check failed{error}"
        by = f" by {payload['by']}" if payload.get("by") else ""
        return f"{self.step_of(event)} {status}{by}"

    def resolution(self) -> list[Step]:
        return [
            Step(
                event.at,
                self.step_done(event)
                if event.kind == "runbook_step"
                else self.describe(event),
            )
            for event in self.facts.events
            if event.kind in _RESOLUTION_KINDS
        ]

    # Root cause

    def effect(self) -> str:
        impact = self.facts.impact
        if not impact.failed:
            return f"The fault: {self.fault}"
        return f"Users saw errors: {impact.failed} of {impact.requests} requests failed"

    def whys(self) -> list[Why]:
        whys = []
        if self.failing:
            first, last = self.failing[0].at, self.failing[-1].at
            failed, sent = self.load_between(first, last)
            whys.append(
                Why(
                    "Why did users see errors?",
                    f"{failed} of {sent} requests failed between {self.at(first)} "
                    f"and {self.at(last)}.",
                )
            )
        elif self.alert:
            detected = self.facts.times["detected"]
            whys.append(
                Why(
                    "Why was there an incident?",
                    f"{self.alert} fired at {self.at(detected)}.",
                )
            )

        experiment = Path(str(self.facts.record.details.get("experiment") or "")).name
        by = f" by the experiment {experiment}" if experiment else ""
        injected = (
            f'The fault "{self.fault}" was injected at T+0:00 '
            f"({utc_text(self.facts.origin)} UTC){by}."
            if "injected" in self.facts.times
            else f"The fault was never injected: the drill {self.status()}."
        )
        whys.append(Why("Why?", injected))
        lasting = self.errors_ended_by()
        if lasting:
            took = duration(self.facts.since_origin(self.failing[-1].at))
            whys.append(
                Why(
                    f"Why did the errors last {took}?",
                    f"They stopped after runbook {self.step_of(lasting)}, done at "
                    f"{self.at(lasting.at)}: recovery waited for that step.",
                )
            )
        whys.append(Why("Why could this fault reach users?", None))
        while len(whys) < 5:
            whys.append(Why("Why?", None))
        return whys

    def errors_ended_by(self) -> TimelineEvent | None:
        """The runbook step done last before the errors stopped, when they
        stopped under load (not because the load or the drill ended)."""
        if not self.failing:
            return None
        ended = self.failing[-1].at
        rolled = self.facts.of_kind("rolling_back")
        calm = [
            second
            for second in self.facts.load
            if second.at > ended
            and second.requests
            and not second.failures
            and (not rolled or second.at < rolled[0].at)
        ]
        done = [
            event
            for event in self.facts.of_kind("runbook_step")
            if event.at <= ended + _ONE_SECOND
            and event.payload.get("status") != "skipped"
        ]
        return done[-1] if calm and done else None

    def causes(self) -> list[Cause]:
        causes = []
        if "injected" in self.facts.times:
            causes.append(Cause("platform", f"the fault: {self.fault}"))
        for event in self.facts.of_kind("guardrail_tripped"):
            why = event.payload.get("why") or event.payload.get("guardrail")
            causes.append(
                Cause("platform", f"a guardrail tripped at {self.at(event.at)}: {why}")
            )
        step = self.errors_ended_by()
        if step is not None:
            causes.append(
                Cause(
                    "tooling",
                    f"user impact ended only with runbook {self.step_of(step)} at "
                    f"{self.at(step.at)}",
                )
            )
        if self.undetected():
            causes.append(Cause("monitoring", "no alert fired for the fault"))
        for phase, text in self.late_phases().items():
            causes.append(Cause(FOLLOW_UPS[phase][0], text))
        causes.extend(Cause("process", text) for text in self.runbook_problems())
        return causes

    def undetected(self) -> bool:
        return self.alert is None and "injected" in self.facts.times

    def late_phases(self) -> dict[str, str]:
        """The phases that took longer than expected, each said in words."""
        late: dict[str, str] = {}
        for phase in PHASES:
            scored = self.score.phases[phase] if self.score else None
            if scored is None or scored.seconds is None or scored.expected is None:
                continue
            if scored.seconds > scored.expected:
                late[phase] = (
                    f"{PHASE_WORDS[phase]} took {duration(scored.seconds)}, longer "
                    f"than {self.expectation(phase, scored.expected)}"
                )
        return late

    def expectation(self, phase: str, seconds: float) -> str:
        """The expected time of a phase in words: where it came from, and it."""
        plan = self.facts.plan
        expected = getattr(plan.expectations, _PLAN_STEPS[phase]) if plan else None
        if expected is not None and expected.scenario is not None:
            return (
                f"the simulator's p{expected.percentile:g} for this team, "
                f"{duration(seconds)}"
            )
        return f"the expected {duration(seconds)}"

    def runbook_problems(self) -> list[str]:
        if self.score is None:
            return []
        runbook = self.score.runbook
        problems = [(number, "failed its check") for number in runbook.checks_failed]
        problems += [(number, "was skipped") for number in runbook.skipped]
        problems += [(number, "was not done") for number in runbook.missing]
        problems += [
            (number, "was done out of order") for number in runbook.out_of_order
        ]
        return [f"runbook {self.step(number)} {what}" for number, what in problems]

    # What went well and badly, and what to do

    def well_and_badly(self) -> tuple[list[str], list[str]]:
        well: list[str] = []
        badly: list[str] = []
        if self.score is None:
            return well, badly

        late = self.late_phases()
        for phase in PHASES:
            scored = self.score.phases[phase]
            placed = self.facts.percentiles.get(phase)
            among = (
                f"; faster than {100 - placed:.0f}% of the simulator's incidents "
                "for this fault"
                if placed is not None
                else ""
            )
            if scored.seconds is None:
                badly.append(f"{PHASE_WORDS[phase].capitalize()} never happened.")
            elif phase in late:
                badly.append(_sentence(late[phase] + among))
            elif scored.expected is not None:
                within = self.expectation(phase, scored.expected)
                well.append(
                    f"{PHASE_WORDS[phase].capitalize()} took "
                    f"{duration(scored.seconds)}, within {within}{among}."
                )

        problems = self.runbook_problems()
        badly.extend(_sentence(problem) for problem in problems)
        if self.score.runbook.steps and not problems:
            well.append(
                f"All {self.score.runbook.steps} runbook steps were done in order, "
                "and every check passed."
            )

        slo = self.score.slo
        if slo.budget_used is not None:
            (well if slo.budget_used <= 1 else badly).append(
                f"The drill used {format_share(slo.budget_used, 0)} of its error "
                f"budget ({self.budget_how()})."
            )
        if slo.latency_within_slo is not None:
            (well if slo.latency_within_slo >= 1 else badly).append(
                f"Latency met its SLO in {format_share(slo.latency_within_slo, 0)} "
                "of the load's seconds."
            )
        badly.extend(
            f"The {name} guardrail tripped and stopped the drill."
            for name in self.score.guardrails_tripped
        )
        rolled = self.facts.of_kind("rolled_back")
        if rolled and rolled[-1].payload.get("succeeded", True):
            well.append(f"The fault was rolled back at {self.at(rolled[-1].at)}.")
        elif self.facts.of_kind("rolling_back"):
            badly.append("The rollback did not complete.")
        return well, badly

    def actions(self) -> list[SuggestedAction]:
        actions = [
            SuggestedAction(
                _sentence(problem)[:-1] + ": change the runbook (or the system) so "
                "that the step works as written and in that order",
                "runbook",
                self.runbook,
            )
            for problem in self.runbook_problems()
        ]
        for phase, text in self.late_phases().items():
            _, changes, suggestion = FOLLOW_UPS[phase]
            link = self.alert if changes == "alert" else self.runbook
            actions.append(
                SuggestedAction(f"{_sentence(text)[:-1]}: {suggestion}", changes, link)
            )
        if self.undetected():
            actions.append(
                SuggestedAction(
                    "No alert fired: add one that detects this fault", "alert", None
                )
            )
        used = self.score.slo.budget_used if self.score else None
        if used is not None and used > 1:
            actions.append(
                SuggestedAction(
                    f"The drill used {format_share(used, 0)} of its error budget: "
                    f'make recovery from "{self.fault}" automatic or faster',
                    "automation",
                    self.runbook,
                )
            )
        for name in self.score.guardrails_tripped if self.score else []:
            actions.append(
                SuggestedAction(
                    f"The {name} guardrail tripped: add a test that catches this "
                    "fault before a drill does",
                    "test",
                    None,
                )
            )
        return actions

    def systems(self) -> list[str]:
        names = {self.facts.record.plan, self.alert or ""}
        names.update(event.source.split(":")[0] for event in self.facts.events)
        return sorted(name for name in names if name)


def incident_draft(
    record: IncidentRecord,
    *,
    logs: Sequence[LogLine] = (),
    metrics: Sequence[MetricSeries] = (),
) -> PostmortemDraft:
    """The postmortem draft of a recorded incident.

    The store knows its lifecycle times and little else: requests, users and
    the error budget are said to be unknown and left to the author.
    """
    origin = record.started
    series = [summarise(one, origin) for one in metrics]
    times = {
        name: getattr(record, name)
        for name in LIFECYCLE_TIMES
        if getattr(record, name) is not None
    }
    lifecycle = [
        Entry(at, (at - origin).total_seconds(), "store", f"incident {name}", "event")
        for name, at in times.items()
    ]
    service = f" on {record.service}" if record.service else ""
    answer = f'The incident "{record.title}"{service} started at {utc_text(origin)} UTC'
    if record.mitigated is not None:
        lasted = duration((record.mitigated - origin).total_seconds())
        answer += f" and user impact lasted {lasted}, until its mitigation"

    return PostmortemDraft(
        subject=record.id,
        kind="incident",
        title=f"{record.id}: {record.title}",
        origin=origin,
        summary=_incident_summary(record),
        impact=Impact(
            started=origin,
            mitigated=record.mitigated,
            resolved=record.resolved,
            requests=None,
            failed=None,
            users=None,
            users_how="unknown: the store holds no load data for a real incident",
            budget_used=None,
            budget_how="unknown: the store holds no SLO or request counts for it",
            unknown=[
                "requests failed and their share (from the service's request metrics)",
                "users affected (from the service's traffic in the impact window)",
                "error budget consumed (against the service's SLO)",
            ],
        ),
        timeline=sorted(
            [*lifecycle, *evidence_entries(logs, series, origin)],
            key=lambda entry: entry.at,
        ),
        series=series,
        whys=[
            Why("Why did users see an impact?", answer + "."),
            *(Why("Why?", None) for _ in range(4)),
        ],
        effect=record.title,
        causes=metric_causes(series, times, origin),
        went_well=[],
        went_badly=[],
        resolution=[
            Step(at, f"incident {name}")
            for name, at in times.items()
            if name in ("mitigated", "resolved")
        ],
        actions=[],
        marks=dict(times),
        systems=[record.service] if record.service else [],
    )


def _incident_summary(record: IncidentRecord) -> list[str]:
    severity = f"SEV{record.severity} " if record.severity else ""
    service = f" on {record.service}" if record.service else ""
    team = f", owned by {record.team}" if record.team else ""
    opening = (
        f'{severity}Incident {record.id} "{record.title}"{service}{team} started '
        f"at {utc_text(record.started)} UTC."
    )
    sentences = [opening]
    for name in LIFECYCLE_TIMES[1:]:
        moment = getattr(record, name)
        if moment is None:
            sentences.append(f"The store does not say when it was {name}.")
        else:
            took = duration((moment - record.started).total_seconds())
            sentences.append(f"It was {name} {took} after it started.")
    return sentences


def evidence_entries(
    logs: Sequence[LogLine], series: Sequence[SeriesSummary], origin: datetime
) -> list[Entry]:
    """The author's log lines, and where each metric departed, peaked and was
    back, as timeline entries on the fault's clock."""
    entries = [
        Entry(
            line.at,
            (line.at - origin).total_seconds(),
            f"{line.source}:{line.line}",
            f"[{line.level}] {line.message}" if line.level else line.message,
            "log",
        )
        for line in logs
    ]
    for summary in series:
        name, baseline = summary.series.name, number_text(summary.baseline)
        moves = (
            (summary.departed, f"{name} departs from its baseline {baseline}"),
            (summary.peak, f"{name} peaks (baseline {baseline})"),
            (summary.recovered, f"{name} is back within its baseline {baseline}"),
        )
        for point, words in moves:
            if point is not None:
                at, value = point
                entries.append(
                    Entry(
                        at,
                        (at - origin).total_seconds(),
                        summary.series.source,
                        f"{words}: {number_text(value)}",
                        "metric",
                    )
                )
    return entries


def metric_causes(
    series: Sequence[SeriesSummary], times: Mapping[str, datetime], origin: datetime
) -> list[Cause]:
    """Monitoring causes: a metric that moved well before anything detected it."""
    detected = times.get("detected")
    causes = []
    for summary in series:
        if summary.departed is None:
            continue
        moved = summary.departed[0]
        when = offset_text((moved - origin).total_seconds())
        name = summary.series.name
        if detected is None:
            causes.append(
                Cause("monitoring", f"{name} departed at {when}; no alert fired")
            )
        elif (detected - moved).total_seconds() >= _SIGNAL_AHEAD:
            ahead = duration((detected - moved).total_seconds())
            causes.append(
                Cause(
                    "monitoring", f"{name} departed at {when}, {ahead} before detection"
                )
            )
    return causes


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


def _shown_path(path: Path) -> str:
    """A path as short as it can be said: relative to the working directory
    when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
