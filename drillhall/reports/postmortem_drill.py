"""How a drill's timeline becomes the facts of its postmortem draft.

``drill_draft`` reads a drill's facts (its events, plan, score and load, see
``drillhall.reports.drill_facts``) into the draft's sentences: the summary,
the impact and how each figure is known, the timeline with where the load's
errors began and ended, the first whys, the causes the data shows, what went
well and badly against the expectations and the simulator's prediction, the
resolution steps and the action items the problems suggest. The draft model
and what drills share with incidents are in ``drillhall.reports.postmortem``.

Events are worded and timed as the drill report words and times them
(``DrillFacts.describe``, ``DrillFacts.offset``), and every figure of the
error budget is the one ``DrillFacts.impact`` holds: the score's, when the
drill is scored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from drillhall.drills.plan import DrillPlan
from drillhall.drills.score import PHASE_EVENTS, DrillScore
from drillhall.drills.timeline import TimelineEvent
from drillhall.reports.drill_events import (
    rollback_succeeded,
    step_text,
    utc_text,
)
from drillhall.reports.drill_facts import DrillFacts, LoadSecond
from drillhall.reports.evidence import LogLine, MetricSeries, summarise
from drillhall.reports.postmortem import (
    Cause,
    Entry,
    Impact,
    PostmortemDraft,
    Step,
    SuggestedAction,
    Why,
    evidence_entries,
    file_link,
    metric_causes,
)
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
_USERS_WITHOUT_PLAN: Final = "without the plan, the load's number of users is not known"
"""A drill that ran load knows its users from its plan's load (see
``drill_facts.Impact.users``): only a plan that is gone hides them."""


def drill_draft(
    facts: DrillFacts,
    *,
    logs: Sequence[LogLine] = (),
    metrics: Sequence[MetricSeries] = (),
    folder: Path | None = None,
) -> PostmortemDraft:
    """The postmortem draft of a drill, from its facts and the author's evidence.

    ``folder`` is where the draft will be written: links to files (the
    runbook) are written relative to it (see ``runbook_link``). Without it they
    are absolute paths, for a draft that is not written anywhere.
    """
    reading = _DrillReading(facts, folder)
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


def runbook_link(plan: DrillPlan, folder: Path | None) -> str:
    """The plan's runbook as the draft in ``folder`` links it: relative to that
    folder when it can be, otherwise as the plan names it (relative to the
    plan's own folder); an absolute path when ``folder`` is ``None``."""
    runbook = plan.runbook
    if folder is None:
        return str(runbook)
    named = file_link(runbook, plan.source.parent) if plan.source else None
    return file_link(runbook, folder.resolve()) or named or str(runbook)


class _DrillReading:
    """A drill's facts read into the sentences of its postmortem."""

    def __init__(self, facts: DrillFacts, folder: Path | None) -> None:
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
        self.steps = facts.step_titles
        self.runbook = runbook_link(facts.plan, folder) if facts.plan else None
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
        return self.facts.offset(moment)

    def step(self, number: int) -> str:
        return step_text(number, self.steps)

    def step_of(self, event: TimelineEvent) -> str:
        return self.step(int(event.payload.get("step", 0)))

    # Summary and impact

    def summary(self) -> list[str]:
        facts, phases = self.facts, self.facts.phases
        injected = "injected" in facts.times
        opening = (
            f'injected the fault "{self.fault}" at {utc_text(facts.origin)} UTC'
            if injected
            else f"started at {utc_text(facts.origin)} UTC and injected no fault"
        )
        sentences = [f"Drill {facts.id} of plan {facts.record.plan} {opening}."]
        if self.alert:
            ttd = duration(phases["ttd"])
            sentences.append(f"{self.alert} detected it after {ttd}.")
        elif injected:
            sentences.append("No alert or probe detected it.")
        for phase, since in (
            ("tta", "detection"),
            ("ttm", "the fault's start"),
            ("ttr", "the fault's start"),
        ):
            start, end = (facts.times.get(kind) for kind in PHASE_EVENTS[phase])
            if start is None or end is None:
                continue
            # The score counts a step that came before its phase began (an
            # acknowledgement before the alert) as taking no time; say when.
            took = (end - start).total_seconds()
            sentences.append(
                f"{PHASE_WORDS[phase].capitalize()} came {duration(abs(took))} "
                f"{'after' if took >= 0 else 'before'} {since}."
            )
        impact = facts.impact
        if impact.requests:
            sentences.append(
                f"{impact.failed} of the {impact.requests} requests of the drill's "
                f"load failed ({format_share(impact.error_rate)})."
            )
        points = facts.points
        scored = f" with a score of {points[0]:.1f} of {points[1]:g}" if points else ""
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
        elif impact.users is None:
            unknown.append(f"users affected: {_USERS_WITHOUT_PLAN}")
        budget_unknown = self.budget_unknown()
        if budget_unknown:
            unknown.append(f"the error budget consumed: {budget_unknown}")
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
        """The impact window: the fault's start to the mitigation (or to the
        last failed request, when the mitigation was never declared)."""
        end = self.facts.impact.ended or (self.failing[-1].at if self.failing else None)
        return None if end is None else (self.facts.origin, end)

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
        if not self.facts.impact.requests:
            return "unknown: the drill ran no load with a number of users"
        if users is None:
            return f"unknown: {_USERS_WITHOUT_PLAN}"
        if not self.failing or window is None:
            later = " before the mitigation" if self.failing_after else ""
            return f"no request of the drill's load failed{later}"
        failed, sent = self.load_between(*window)
        return (
            f"the plan's load runs {users} concurrent Locust users, all sending "
            f"requests through the impact window ({self.at(window[0])} to "
            f"{self.at(window[1])}), in which {failed} of {sent} requests failed "
            f"({format_share(failed / sent if sent else None)}): each user is "
            "counted as affected"
        )

    def budget_unknown(self) -> str | None:
        """Why the error budget consumed is unknown, or ``None`` if it is known."""
        impact = self.facts.impact
        if impact.availability is None:
            if self.facts.plan is None:
                return "without the plan, its availability SLO is not known"
            return "the plan declares no availability SLO"
        if not impact.requests:
            return "the drill ran no load to measure it with"
        return None

    def budget_how(self) -> str:
        impact = self.facts.impact
        unknown = self.budget_unknown()
        availability = impact.availability
        if unknown is not None or availability is None:
            return f"unknown: {unknown}"
        allowed = (1 - availability) * impact.requests
        return (
            f"against the plan's availability SLO of {100 * availability:g}%, "
            f"{allowed:.1f} of the drill's {impact.requests} requests may fail; "
            f"{impact.failed} did"
        )

    # Timeline and resolution

    def event_entries(self) -> list[Entry]:
        return [
            Entry(
                event.at,
                self.facts.since_origin(event.at),
                event.source,
                self.facts.describe(event),
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

    def resolution(self) -> list[Step]:
        return [
            Step(event.at, self.facts.describe(event))
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
            f'The fault "{self.fault}" was injected at {self.at(self.facts.origin)} '
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
        if self.score is not None:
            self.judge_score(self.score, well, badly)

        # The rollback is in the timeline, with or without the plan.
        rolled = self.facts.of_kind("rolled_back")
        succeeded = rollback_succeeded(rolled[-1]) if rolled else None
        if rolled and succeeded:
            well.append(f"The fault was rolled back at {self.at(rolled[-1].at)}.")
        elif rolled and succeeded is False:
            badly.append(f"The rollback at {self.at(rolled[-1].at)} did not succeed.")
        elif not rolled and self.facts.of_kind("rolling_back"):
            badly.append("The rollback did not complete.")
        return well, badly

    def judge_score(self, score: DrillScore, well: list[str], badly: list[str]) -> None:
        """The phases, the runbook, the SLO and the guardrails as the plan
        scores them, each into ``well`` or ``badly``."""
        late = self.late_phases()
        for phase in PHASES:
            scored = score.phases[phase]
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
        if score.runbook.steps and not problems:
            well.append(
                f"All {score.runbook.steps} runbook steps were done in order, "
                "and every check passed."
            )

        slo, used = score.slo, self.facts.impact.budget_used
        if used is not None:
            (well if used <= 1 else badly).append(
                f"The drill used {format_share(used)} of its error budget "
                f"({self.budget_how()})."
            )
        if slo.latency_within_slo is not None:
            (well if slo.latency_within_slo >= 1 else badly).append(
                f"Latency met its SLO in {format_share(slo.latency_within_slo, 0)} "
                "of the load's seconds."
            )
        badly.extend(
            f"The {name} guardrail tripped and stopped the drill."
            for name in score.guardrails_tripped
        )

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
        # Link what the action item changes: the alert, or the runbook. Other
        # changes (notification rules, escalation) live outside the plan.
        links = {
            "alert": self.alert,
            "runbook": self.runbook,
            "automation": self.runbook,
        }
        for phase, text in self.late_phases().items():
            _, changes, suggestion = FOLLOW_UPS[phase]
            actions.append(
                SuggestedAction(
                    f"{_sentence(text)[:-1]}: {suggestion}", changes, links.get(changes)
                )
            )
        if self.undetected():
            actions.append(
                SuggestedAction(
                    "No alert fired: add one that detects this fault", "alert", None
                )
            )
        used = self.facts.impact.budget_used
        if used is not None and used > 1:
            actions.append(
                SuggestedAction(
                    f"The drill used {format_share(used)} of its error budget: "
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


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."
