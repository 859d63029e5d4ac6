"""When drills run: a cron expression, allowed windows and freezes.

A plan's ``schedule`` fires on its cron expression, read as wall-clock time in the
plan's time zone. A fire counts only when it falls inside an allowed window and
outside every freeze; ``due`` says which drills fired within the grace period
before ``now`` (and are allowed now), so that cron or a CI schedule that calls
``drillhall drill due`` every few minutes starts each drill once per fire.

Daylight-saving time follows cron's custom: a fire in the hour that is skipped in
spring runs when the clocks have gone forward (02:30 becomes 03:30), and a fire
in the hour that repeats in autumn runs once, the first time.

Everything here is a pure function of its arguments; ``now`` is passed in.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from drillhall.simulator.durations import MINUTE
from drillhall.simulator.fields import PositiveDuration, StrictModel, TimeZone, Window

_LOOKAHEAD = timedelta(days=731)
_SCAN_LIMIT = 100_000
# More than any daylight-saving shift in the time zone database.
_SHIFT = timedelta(hours=3)


class Freeze(StrictModel):
    """A period without drills, e.g. a release or the end of the year.

    Dates cover whole days in the plan's time zone, ``to`` included; times
    without an offset are in the plan's time zone.
    """

    start: date | datetime = Field(alias="from")
    end: date | datetime = Field(alias="to")
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        zone = ZoneInfo("UTC")
        if self.bounds(zone)[1] <= self.bounds(zone)[0]:
            raise ValueError(
                f"a freeze ends after it starts; got from {self.start} to {self.end}"
            )
        return self

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The freeze as UTC instants [start, end), read in ``zone``."""
        return _bound(self.start, zone, end=False), _bound(self.end, zone, end=True)

    def contains(self, instant: datetime, zone: ZoneInfo) -> bool:
        """Whether the aware ``instant`` lies inside the freeze."""
        start, end = self.bounds(zone)
        return start <= instant.astimezone(UTC) < end


def _bound(value: date | datetime, zone: ZoneInfo, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return aware.astimezone(UTC)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


class Schedule(StrictModel):
    """When a drill may start: cron fires inside windows, outside freezes."""

    cron: str = Field(
        description="five fields (minute hour day-of-month month day-of-week) "
        "or @hourly/@daily/@weekly/@monthly, in the plan's time zone",
        examples=["0 14 * * 2"],
    )
    timezone: TimeZone = "UTC"
    windows: list[Window] = Field(
        default=[], description="allowed local hours; none means any time"
    )
    freezes: list[Freeze] = []
    grace: PositiveDuration = Field(
        default=15 * MINUTE,
        description="how long after a fire the drill is still due",
    )

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        text = " ".join(cron.split())
        fields = text.split(" ")
        if not text.startswith("@") and len(fields) != 5:
            raise ValueError(
                f"expected five cron fields (minute hour day-of-month month "
                f"day-of-week) like '0 14 * * 2', got {len(fields)} in {cron!r}"
            )
        if not croniter.is_valid(text):
            raise ValueError(
                f"invalid cron expression {cron!r}; e.g. '0 14 * * 2' is "
                "Tuesdays at 14:00"
            )
        return text

    @property
    def zone(self) -> ZoneInfo:
        """The plan's time zone, in which cron, windows and freezes are read."""
        return ZoneInfo(self.timezone)

    def allows(self, instant: datetime) -> bool:
        """Whether a drill may run at the aware ``instant``."""
        local = instant.astimezone(self.zone)
        if any(freeze.contains(instant, self.zone) for freeze in self.freezes):
            return False
        if not self.windows:
            return True
        second = local.hour * 3600 + local.minute * 60 + local.second
        return any(window.contains(local.weekday(), second) for window in self.windows)

    def last_fire(self, now: datetime) -> datetime:
        """The latest fire time at or before ``now`` (allowed or not), local."""
        instant = _utc(now)
        # croniter steps through wall-clock times, which map to instants out of
        # order around a DST change: scan back from a little after now and keep
        # the latest instant not after now. get_prev is strictly before its start.
        start = self._wall(instant).replace(second=0, microsecond=0)
        fires = croniter(self.cron, start + _SHIFT + timedelta(minutes=1))
        best: datetime | None = None
        while True:
            wall = fires.get_prev(datetime)
            if best is not None and wall < self._wall(best) - _SHIFT:
                return best.astimezone(self.zone)
            fire = self._instant(wall)
            if fire <= instant and (best is None or fire > best):
                best = fire

    def fires_after(self, now: datetime) -> Iterator[datetime]:
        """Fire times after ``now`` (allowed or not), local, earliest first, once."""
        last = _utc(now)
        fires = croniter(self.cron, self._wall(last) - _SHIFT)
        pending: list[datetime] = []
        while True:
            fire = self._instant(fires.get_next(datetime))
            heapq.heappush(pending, fire)

            # No later wall-clock fire maps to an instant before fire - SHIFT.
            while pending and pending[0] < fire - _SHIFT:
                earliest = heapq.heappop(pending)
                if earliest > last:
                    yield earliest.astimezone(self.zone)
                    last = earliest

    def _wall(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone).replace(tzinfo=None, fold=0)

    def _instant(self, wall: datetime) -> datetime:
        # NOTE: instants are compared in UTC: Python compares two times that
        # share a zone by their wall clocks, which is wrong across a DST change.
        # fold=0 takes the first of a repeated hour; a time in the skipped hour
        # keeps the offset from before the change, i.e. moves forward.
        return wall.replace(tzinfo=self.zone).astimezone(UTC)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    return now.astimezone(UTC)


class Scheduled(Protocol):
    """Anything with an optional schedule, such as a ``DrillPlan``."""

    @property
    def schedule(self) -> Schedule | None: ...


P = TypeVar("P", bound=Scheduled)


@dataclass(frozen=True, slots=True)
class DueDrill(Generic[P]):
    """A drill that is due, and the fire time that made it due.

    The same fire stays due for the whole grace period; callers that run often
    start a drill once per (drill, ``fired``).
    """

    plan: P
    fired: datetime


def due(plans: Iterable[P], now: datetime) -> list[DueDrill[P]]:
    """The plans due at ``now``, in the order given.

    A plan is due when its last fire lies within its grace period before ``now``,
    both that fire and ``now`` are inside an allowed window, and neither is
    inside a freeze. Plans without a schedule are never due.
    """
    found: list[DueDrill[P]] = []
    for plan in plans:
        schedule = plan.schedule
        if schedule is None:
            continue

        fired = schedule.last_fire(now)
        if (_utc(now) - _utc(fired)).total_seconds() > schedule.grace:
            continue

        if schedule.allows(fired) and schedule.allows(now):
            found.append(DueDrill(plan=plan, fired=fired))
    return found


def upcoming(plan: Scheduled, now: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` allowed fire times after ``now``, in the plan's zone.

    Looks two years (at most 100,000 fires) ahead: a schedule whose fires never
    fall in its windows gives fewer, or none.
    """
    schedule = plan.schedule
    if schedule is None or count <= 0:
        return []

    horizon = _utc(now) + _LOOKAHEAD
    found: list[datetime] = []
    for scanned, fire in enumerate(schedule.fires_after(now)):
        if fire > horizon or scanned >= _SCAN_LIMIT:
            break
        if schedule.allows(fire):
            found.append(fire)
            if len(found) == count:
                break
    return found
