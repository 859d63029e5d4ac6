"""A blameless postmortem draft: what the data knows, and room for the rest.

This module holds the draft itself (``PostmortemDraft`` and its parts) and what
drafts of drills and of incidents share: the fault's clock, the author's logs
and metrics as timeline entries and causes, and the draft of an incident from
the history store. How a drill's timeline becomes a draft is in
``drillhall.reports.postmortem_drill``. Every figure is traceable: durations
are differences of event times, requests are sums of the load's per-second
statistics, and each sentence drillhall writes says where its numbers come
from.

What only people know (the summary in their words, the deeper whys, causes
the data cannot see, owners and dates) is left to the author: the templates
mark each such part with ``PLACEHOLDER`` (see ``drillhall.reports.blame``,
which finds the ones left unfilled).

Times are UTC and each is also given as ``T+m:ss`` from the fault's start (the
injection for a drill, the start for an incident): one clock for events, log
lines and metric points alike, and the one the drill report uses too (see
``drillhall.reports.drill_events``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from drillhall.reports.drill_events import offset_text, utc_text
from drillhall.reports.evidence import LogLine, MetricSeries, SeriesSummary, summarise
from drillhall.reports.fishbone import CATEGORIES
from drillhall.reports.history import LIFECYCLE_TIMES, IncidentRecord
from drillhall.reports.render import duration

logger = logging.getLogger(__name__)

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


# Numbers and links


def number_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def file_link(target: Path, folder: Path) -> str | None:
    """``target`` as a relative link from a draft in ``folder`` (both absolute),
    or ``None`` when the two share no folder but the file system's root.

    NOTE: a link that climbs up to the root names this machine's layout just as
    an absolute path does, and breaks as soon as the draft is read elsewhere.
    """
    try:
        common = Path(os.path.commonpath([target, folder]))
    except ValueError:  # on different drives
        return None
    if common == Path(common.anchor):
        return None
    return Path(os.path.relpath(target, folder)).as_posix()


# The author's evidence, shared by drills and incidents


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
    """Monitoring causes: a metric that moved well before anything detected it,
    or with no detection recorded at all."""
    detected = times.get("detected")
    causes = []
    for summary in series:
        if summary.departed is None:
            continue
        moved = summary.departed[0]
        when = offset_text((moved - origin).total_seconds())
        name = summary.series.name
        if detected is None:
            # An incident from the store may simply not say when it was
            # detected: "no alert fired" would claim more than the data knows.
            causes.append(
                Cause(
                    "monitoring", f"{name} departed at {when}; no detection is recorded"
                )
            )
        elif (detected - moved).total_seconds() >= _SIGNAL_AHEAD:
            ahead = duration((detected - moved).total_seconds())
            causes.append(
                Cause(
                    "monitoring", f"{name} departed at {when}, {ahead} before detection"
                )
            )
    return causes


# An incident from the history store


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
    severity = f"SEV{record.severity} " if record.severity is not None else ""
    service = f" on {record.service}" if record.service else ""
    team = f", owned by {record.team}," if record.team else ""
    opening = (
        f'{severity}incident {record.id} "{record.title}"{service}{team} started '
        f"at {utc_text(record.started)} UTC."
    )
    sentences = [opening[0].upper() + opening[1:]]
    for name in LIFECYCLE_TIMES[1:]:
        moment = getattr(record, name)
        if moment is None:
            sentences.append(f"The store does not say when it was {name}.")
        else:
            took = duration((moment - record.started).total_seconds())
            sentences.append(f"It was {name} {took} after it started.")
    return sentences


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()
