"""Trends of the incident history, per calendar month and per team.

What ``drillhall metrics`` shows, computed from the store's records and nothing
else, so the numbers can be checked by hand:

- Incidents fall in the UTC calendar month of ``started``; action items in the
  month they were created. Drills count only when asked for.
- Durations are the lifecycle's (see ``drillhall.simulator.lifecycle``):
  TTD = detected − started, TTA = acknowledged − detected, TTM = mitigated −
  started, TTR = resolved − started. An incident missing one of the two times
  is left out of that figure, never counted as zero; ``count`` says how many
  incidents a figure is over.
- Incident durations are heavy-tailed, so each figure has its median and 90th
  percentile beside the mean. Quantiles interpolate linearly between order
  statistics (numpy's default, Hyndman and Fan's type 7): of n sorted values
  x[0] … x[n−1], the q quantile sits at position q·(n − 1). The simulator's
  figures use the same definition.
- Postmortem completion: of the incidents at or above a severity (1 is the
  most severe; an unknown severity does not qualify), the share whose
  postmortem was *completed* within a grace period after resolution. An
  incident whose deadline is still ahead and has no completed postmortem is
  "not yet due" and left out of the share; one not resolved yet has no
  deadline and counts the same way.
- Action items: the share done of those created in the month, and how many of
  them are open and past their due date as of the report's day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import numpy as np

from drillhall.errors import InputError
from drillhall.reports.history import ActionItem, IncidentRecord, PostmortemRecord
from drillhall.simulator.lifecycle import PHASES

logger = logging.getLogger(__name__)

PHASE_TIMES = {
    "ttd": ("started", "detected"),
    "tta": ("detected", "acknowledged"),
    "ttm": ("started", "mitigated"),
    "ttr": ("started", "resolved"),
}
"""Each duration as the pair of lifecycle times it runs between."""

PostmortemState = Literal["on_time", "late", "missing", "not_yet_due"]


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in UTC."""

    year: int
    month: int

    @classmethod
    def of(cls, moment: datetime) -> Month:
        moment = utc(moment)
        return cls(moment.year, moment.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """``2026-03`` as a month; raise ``ValueError`` for anything else."""
        year, dash, month = text.strip().partition("-")
        if not (dash and year.isdigit() and month.isdigit() and len(year) == 4):
            raise ValueError(f"expected a month like '2026-03', got {text!r}")
        if not 1 <= int(month) <= 12:
            raise ValueError(f"a month runs from 01 to 12, got {text!r}")
        return cls(int(year), int(month))

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    def shift(self, months: int) -> Month:
        """The month ``months`` later (or earlier, when negative)."""
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Window:
    """The months a report covers, ``first`` to ``last`` inclusive."""

    first: Month
    last: Month

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise InputError(
                f"the window ends ({self.last}) before it starts ({self.first}); "
                "give --since a month before --until",
                source="--since",
            )

    @classmethod
    def last_months(cls, count: int, last: Month) -> Window:
        return cls(last.shift(1 - count), last)

    @property
    def months(self) -> list[Month]:
        months, month = [], self.first
        while month <= self.last:
            months.append(month)
            month = month.shift(1)
        return months

    @property
    def start(self) -> datetime:
        return self.first.start

    @property
    def end(self) -> datetime:
        """The first moment after the window."""
        return self.last.shift(1).start

    def contains(self, moment: datetime) -> bool:
        return self.start <= utc(moment) < self.end


@dataclass(frozen=True)
class TrendSettings:
    window: Window
    as_of: datetime
    """The moment deadlines are judged against (``--today``)."""
    severity: int = 2
    """Incidents of this severity or more severe (a smaller number) qualify."""
    within: timedelta = timedelta(days=5)
    """How long after resolution a postmortem may be completed."""
    include_drills: bool = False
    team: str | None = None
    """Only this team's incidents and action items; None: every team."""

    @property
    def today(self) -> date:
        return utc(self.as_of).date()


@dataclass(frozen=True)
class DurationSummary:
    """One duration over a set of incidents, in seconds; None when empty."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> DurationSummary:
        if not seconds:
            return cls(0, None, None, None)
        values = np.asarray(seconds, dtype=np.float64)
        median, p90 = np.quantile(values, [0.5, 0.9])
        return cls(len(values), float(values.mean()), float(median), float(p90))


@dataclass(frozen=True)
class PostmortemCompletion:
    """Qualifying incidents by the state of their postmortem."""

    on_time: int = 0
    late: int = 0
    """Completed, but after the deadline."""
    missing: int = 0
    """None completed, and the deadline has passed."""
    not_yet_due: int = 0

    @property
    def due(self) -> int:
        """The incidents the share is over: those whose deadline has passed."""
        return self.on_time + self.late + self.missing

    @property
    def share(self) -> float | None:
        return self.on_time / self.due if self.due else None


@dataclass(frozen=True)
class ActionCompletion:
    created: int = 0
    done: int = 0
    overdue: int = 0
    """Open and past due as of the report's day."""

    @property
    def share(self) -> float | None:
        return self.done / self.created if self.created else None


@dataclass(frozen=True)
class Figures:
    """Everything ``drillhall metrics`` shows for one team over one period."""

    incidents: int
    durations: dict[str, DurationSummary]
    """By phase: ``ttd``, ``tta``, ``ttm``, ``ttr``."""
    postmortems: PostmortemCompletion
    actions: ActionCompletion


@dataclass(frozen=True)
class TeamTrend:
    months: dict[Month, Figures]
    """Every month of the window, in order, empty months included."""
    window: Figures
    """The whole window at once (durations pooled, not averaged by month)."""


@dataclass(frozen=True)
class Trends:
    settings: TrendSettings
    everyone: TeamTrend
    """All teams together (with ``--team``, that team)."""
    teams: dict[str | None, TeamTrend] = field(default_factory=dict)
    """Each team by name, sorted; None holds the records with no team."""


def compute_trends(
    incidents: Iterable[IncidentRecord],
    postmortems: Iterable[PostmortemRecord],
    actions: Iterable[ActionItem],
    settings: TrendSettings,
) -> Trends:
    """Bucket the history by team and month and compute each bucket's figures.

    ``incidents`` should be the whole history, drills included: action items
    find their team through the incident they came from, which may be older
    than the window or a drill.
    """
    incidents = list(incidents)
    postmortems = list(postmortems)
    team_of = {record.id: record.team for record in incidents}
    _check_team(settings.team, team_of.values())

    counted = [record for record in incidents if _counts(record, settings)]
    completed = _completion_times(postmortems)
    incident_of_postmortem = {record.id: record.incident for record in postmortems}
    items = [
        (item, _action_team(item, team_of, incident_of_postmortem))
        for item in actions
        if settings.window.contains(item.created)
    ]
    if settings.team is not None:
        items = [(item, team) for item, team in items if team == settings.team]
    logger.debug(
        "%d of %d incidents and %d action items fall in %s..%s",
        len(counted),
        len(incidents),
        len(items),
        settings.window.first,
        settings.window.last,
    )

    def trend_of(
        team_incidents: list[IncidentRecord], team_items: list[ActionItem]
    ) -> TeamTrend:
        return _team_trend(team_incidents, team_items, completed, settings)

    everyone = trend_of(counted, [item for item, _ in items])
    if settings.team is not None:
        teams: set[str | None] = {settings.team}
    else:
        teams = {record.team for record in counted} | {team for _, team in items}
    by_team = {
        team: trend_of(
            [record for record in counted if record.team == team],
            [item for item, owner in items if owner == team],
        )
        for team in sorted(teams, key=lambda name: (name is None, name or ""))
    }
    return Trends(settings, everyone, by_team)


def _check_team(team: str | None, known: Iterable[str | None]) -> None:
    """A --team that no record names is a typo more often than a quiet team."""
    teams = sorted({name for name in known if name})
    if team is None or team in teams:
        return
    raise InputError(
        f"no incident in the history belongs to team {team!r}; "
        f"known teams: {', '.join(teams) or 'none yet'}",
        source="--team",
    )


def _counts(record: IncidentRecord, settings: TrendSettings) -> bool:
    if record.kind == "drill" and not settings.include_drills:
        return False
    if settings.team is not None and record.team != settings.team:
        return False
    return settings.window.contains(record.started)


def _completion_times(postmortems: list[PostmortemRecord]) -> dict[str, datetime]:
    """Each incident's earliest completed postmortem."""
    completed: dict[str, datetime] = {}
    for postmortem in postmortems:
        if postmortem.completed is None:
            continue
        moment = utc(postmortem.completed)
        earlier = completed.get(postmortem.incident)
        if earlier is None or moment < earlier:
            completed[postmortem.incident] = moment
    return completed


def _action_team(
    item: ActionItem,
    team_of: dict[str, str | None],
    incident_of_postmortem: dict[int, str],
) -> str | None:
    """An action item's team is its incident's, directly or via its postmortem."""
    incident = item.incident
    if incident is None and item.postmortem is not None:
        incident = incident_of_postmortem.get(item.postmortem)
    return team_of.get(incident) if incident is not None else None


def _team_trend(
    incidents: list[IncidentRecord],
    items: list[ActionItem],
    completed: dict[str, datetime],
    settings: TrendSettings,
) -> TeamTrend:
    incidents_by_month: dict[Month, list[IncidentRecord]] = defaultdict(list)
    for record in incidents:
        incidents_by_month[Month.of(record.started)].append(record)
    items_by_month: dict[Month, list[ActionItem]] = defaultdict(list)
    for item in items:
        items_by_month[Month.of(item.created)].append(item)

    months = {
        month: figures(
            incidents_by_month[month], items_by_month[month], completed, settings
        )
        for month in settings.window.months
    }
    window = figures(incidents, items, completed, settings)
    return TeamTrend(months, window)


def figures(
    incidents: Sequence[IncidentRecord],
    items: Sequence[ActionItem],
    completed: dict[str, datetime],
    settings: TrendSettings,
) -> Figures:
    """The figures of one bucket; the records are already chosen."""
    durations = {
        phase: DurationSummary.of(
            [
                seconds
                for record in incidents
                if (seconds := phase_seconds(record, phase)) is not None
            ]
        )
        for phase in PHASES
    }

    states: dict[str, int] = defaultdict(int)
    for record in incidents:
        state = postmortem_state(record, completed.get(record.id), settings)
        if state is not None:
            states[state] += 1

    actions = ActionCompletion(
        created=len(items),
        done=sum(item.status == "done" for item in items),
        overdue=sum(item.overdue(settings.today) for item in items),
    )
    return Figures(len(incidents), durations, PostmortemCompletion(**states), actions)


def phase_seconds(record: IncidentRecord, phase: str) -> float | None:
    """One of the record's durations, or None when a time is missing."""
    earlier_name, later_name = PHASE_TIMES[phase]
    earlier = getattr(record, earlier_name)
    later = getattr(record, later_name)
    if earlier is None or later is None:
        return None

    seconds = (utc(later) - utc(earlier)).total_seconds()
    if seconds < 0:
        # The store checks the order on the way in; an old row may predate that.
        logger.warning(
            "incident %s: %s comes before %s; left out of %s",
            record.id,
            later_name,
            earlier_name,
            phase.upper(),
        )
        return None
    return seconds


def postmortem_state(
    record: IncidentRecord, completed: datetime | None, settings: TrendSettings
) -> PostmortemState | None:
    """Where the incident's postmortem stands; None if the incident does not
    qualify (less severe than the threshold, or of unknown severity)."""
    if record.severity is None or record.severity > settings.severity:
        return None

    deadline = (
        utc(record.resolved) + settings.within if record.resolved is not None else None
    )
    if completed is not None:
        on_time = deadline is None or completed <= deadline
        return "on_time" if on_time else "late"
    if deadline is None or deadline > utc(settings.as_of):
        return "not_yet_due"
    return "missing"


def utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive time is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
