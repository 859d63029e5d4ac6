"""Who is on call at an instant: a rotation read as a function of time.

``on_call_at`` answers for one instant; ``OnCallCalendar`` compiles a rotation over
a horizon into sorted segments so the simulator can ask with one bisect.

The rules, as PagerDuty and GoAlert users expect them:

- A layer's turns repeat in both directions: turn ``k`` (negative too) belongs to
  ``members[k % len(members)]``. Turn 0 begins at ``layer.start`` when that is a
  datetime; otherwise on ``layer.start`` (or the scenario's anchor date) at
  ``layer.handoff`` local time, moved back to ``handoff_day`` for weekly layers.
- Turns last a day (daily), a week (weekly) or ``length`` (custom). Whole-day turns
  hand off at the same local wall-clock time across daylight-saving changes; other
  lengths count elapsed seconds from turn 0.
- A layer with restrictions has nobody on call outside all of its windows. The
  windows are matched against the local wall clock of the instant, so a window in
  the repeated hour of an autumn change is open twice.
- The last layer that has somebody on call wins; overrides win over every layer,
  and the last-listed override wins where overrides overlap.
- Naive datetimes are local to the rotation's time zone. A local time that occurs
  twice or never is resolved like ``zoneinfo`` with ``fold=0``: the earlier of two,
  and a missing time is read with the offset in force before the change.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from drillhall.simulator.durations import DAY, WEEK, seconds_of_day
from drillhall.simulator.fields import Window
from drillhall.simulator.rotation import Layer, Rotation

_EPOCH_DAY = date(1970, 1, 1)


@dataclass(slots=True)
class _LayerPlan:
    """One layer reduced to numbers: members, hand-off arithmetic and windows."""

    members: tuple[str, ...]
    zone: ZoneInfo
    length: float
    first_handoff: float
    # Whole-day layers keep the local wall clock of turn 0 and count days from it;
    # other layers (wall_start is None) count elapsed seconds from first_handoff.
    wall_start: datetime | None
    days_per_turn: int
    # Restrictions as a weekly table: from week_points[i] (seconds since Monday
    # 00:00 local) to the next point, the windows are open iff week_open[i].
    week_points: list[int]
    week_open: list[bool]
    handoffs: dict[int, float] = field(default_factory=dict)

    def handoff(self, turn: int) -> float:
        """Epoch seconds at which ``turn`` begins."""
        instant = self.handoffs.get(turn)
        if instant is None:
            if self.wall_start is None:
                instant = self.first_handoff + turn * self.length
            else:
                wall = self.wall_start + timedelta(days=turn * self.days_per_turn)
                instant = wall.replace(tzinfo=self.zone).timestamp()
            self.handoffs[turn] = instant
        return instant

    def turn_at(self, epoch_seconds: float) -> int:
        """The turn in progress at ``epoch_seconds``."""
        # Elapsed time gives the turn to within the daylight-saving shifts; the
        # hand-off instants themselves settle it, so every caller agrees exactly.
        turn = math.floor((epoch_seconds - self.first_handoff) / self.length)
        while self.handoff(turn + 1) <= epoch_seconds:
            turn += 1
        while self.handoff(turn) > epoch_seconds:
            turn -= 1
        return turn

    def covers(self, weekday: int, second_of_day: int) -> bool:
        """Whether the layer may have somebody on call at this local time."""
        if not self.week_points:
            return True
        point = bisect_right(self.week_points, weekday * 86400 + second_of_day)
        return self.week_open[point - 1]


class _RotationPlan:
    """A rotation reduced to numbers; its ``person_at`` is the one source of truth."""

    __slots__ = ("layers", "overrides", "restricted", "zone")

    def __init__(self, rotation: Rotation, anchor: date) -> None:
        self.zone = ZoneInfo(rotation.timezone)
        self.layers = tuple(
            _plan_layer(layer, anchor, self.zone) for layer in rotation.layers
        )
        self.restricted = any(layer.week_points for layer in self.layers)
        self.overrides = tuple(
            (
                _epoch(override.start, self.zone),
                _epoch(override.end, self.zone),
                override.person,
            )
            for override in reversed(rotation.overrides)
        )

    def person_at(self, epoch_seconds: float) -> str | None:
        """Who is on call at ``epoch_seconds``."""
        for start, end, person in self.overrides:
            if start <= epoch_seconds < end:
                return person

        # Window edges and zone changes fall on whole seconds, so the local clock
        # at the whole second below tells the windows apart exactly.
        weekday = second_of_day = 0
        if self.restricted:
            local = datetime.fromtimestamp(math.floor(epoch_seconds), self.zone)
            weekday = local.weekday()
            second_of_day = local.hour * 3600 + local.minute * 60 + local.second

        for layer in reversed(self.layers):
            if layer.covers(weekday, second_of_day):
                turn = layer.turn_at(epoch_seconds)
                return layer.members[turn % len(layer.members)]
        return None


def on_call_at(rotation: Rotation, instant: datetime, anchor: date) -> str | None:
    """Return who is on call in ``rotation`` at ``instant``, or ``None`` for nobody.

    ``instant`` must be timezone-aware. ``anchor`` is the date used for layers
    without a ``start`` (the scenario's start date).
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(
            f"instant {instant.isoformat()} has no time zone; pass an aware "
            "datetime such as datetime(2024, 1, 1, tzinfo=ZoneInfo('UTC'))"
        )
    return _RotationPlan(rotation, anchor).person_at(instant.timestamp())


class OnCallCalendar:
    """A rotation compiled over ``[begin, end)`` into segments of one person each.

    Build one with ``compile``. A stretch that runs across ``begin`` or ``end`` is
    cut there; instants outside the horizon are answered the slow way.
    """

    __slots__ = ("_begin", "_end", "_persons", "_plan", "_shift_counts", "_starts")

    def __init__(
        self,
        plan: _RotationPlan,
        begin: float,
        end: float,
        starts: list[float],
        persons: list[str | None],
    ) -> None:
        self._plan = plan
        self._begin = begin
        self._end = end
        self._starts = starts
        self._persons = persons
        self._shift_counts = Counter(person for person in persons if person is not None)

    @classmethod
    def compile(
        cls, rotation: Rotation, anchor: date, begin: datetime, end: datetime
    ) -> OnCallCalendar:
        """Compile ``rotation`` for instants in ``[begin, end)`` (aware datetimes)."""
        for name, value in (("begin", begin), ("end", end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(
                    f"{name} {value.isoformat()} has no time zone; pass aware datetimes"
                )
        if end <= begin:
            raise ValueError(
                f"end {end.isoformat()} must come after begin {begin.isoformat()}"
            )

        plan = _RotationPlan(rotation, anchor)
        first, last = begin.timestamp(), end.timestamp()
        changes = _change_instants(plan, first, last)

        # The answer is constant between consecutive change instants, so one
        # evaluation per interval suffices; equal neighbours merge into one segment.
        starts: list[float] = []
        persons: list[str | None] = []
        for instant in changes:
            person = plan.person_at(instant)
            if not persons or persons[-1] != person:
                starts.append(instant)
                persons.append(person)
        return cls(plan, first, last, starts, persons)

    def person_at(self, epoch_seconds: float) -> str | None:
        """Who is on call at ``epoch_seconds`` (Unix time)."""
        # NOTE: the hot path of the simulator: a range check, a bisect, an index.
        if self._begin <= epoch_seconds < self._end:
            return self._persons[bisect_right(self._starts, epoch_seconds) - 1]
        return self._plan.person_at(epoch_seconds)

    def segments(self) -> list[tuple[float, float, str | None]]:
        """``(start, end, person)`` in epoch seconds, tiling ``[begin, end)``."""
        ends = [*self._starts[1:], self._end]
        return list(zip(self._starts, ends, self._persons, strict=True))

    def shifts(self, person: str) -> int:
        """How many separate on-call stretches ``person`` holds in ``[begin, end)``."""
        return self._shift_counts[person]


def _plan_layer(layer: Layer, anchor: date, zone: ZoneInfo) -> _LayerPlan:
    length = {"daily": DAY, "weekly": WEEK}.get(layer.type, layer.length)
    if length is None:  # the model forbids this; keeps the arithmetic honest
        raise ValueError(f"layer {layer.name or layer.members} has no turn length")

    # Turn 0 starts at an explicit instant, or on a date at the hand-off time.
    if isinstance(layer.start, datetime):
        start = layer.start
        wall = start if start.tzinfo is None else start.astimezone(zone)
        wall = wall.replace(tzinfo=None)
        first_handoff = _epoch(start, zone)
    else:
        day = layer.start or anchor
        if layer.type == "weekly" and layer.handoff_day is not None:
            day -= timedelta(days=(day.weekday() - layer.handoff_day) % 7)
        midnight = datetime.combine(day, time())
        wall = midnight + timedelta(seconds=seconds_of_day(layer.handoff))
        first_handoff = _resolve(wall, zone)

    plan = _LayerPlan(
        members=tuple(layer.members),
        zone=zone,
        length=float(length),
        first_handoff=first_handoff,
        wall_start=None,
        days_per_turn=0,
        week_points=[],
        week_open=[],
    )
    if layer.restrictions:
        plan.week_points, plan.week_open = _weekly_table(layer.restrictions)

    # Whole-day turns hand off by the wall clock, every turn resolved the same way.
    if length % DAY == 0:
        plan.wall_start = wall
        plan.days_per_turn = round(length / DAY)
        plan.first_handoff = plan.handoff(0)
    return plan


def _weekly_table(windows: list[Window]) -> tuple[list[int], list[bool]]:
    """Sample ``Window.contains`` at every edge and midnight of the week.

    Between two of these points no window can open or close, so the samples
    describe the whole week exactly.
    """
    edges = sorted({0, *_window_edges(windows)})
    points = [weekday * 86400 + edge for weekday in range(7) for edge in edges]
    is_open = [
        any(window.contains(point // 86400, point % 86400) for window in windows)
        for point in points
    ]
    return points, is_open


def _window_edges(windows: list[Window]) -> set[int]:
    """The seconds of the local day at which any of ``windows`` opens or closes."""
    return {
        seconds_of_day(moment) % 86400
        for window in windows
        for moment in (window.start, window.end)
    }


def _epoch(value: datetime, zone: ZoneInfo) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.timestamp()


def _change_instants(plan: _RotationPlan, begin: float, end: float) -> list[float]:
    """Sorted instants in ``[begin, end)`` where the answer may change, begin first."""
    candidates = {begin}

    for start, stop, _ in plan.overrides:
        candidates.update((start, stop))

    for layer in plan.layers:
        turn = layer.turn_at(begin) + 1
        while (instant := layer.handoff(turn)) < end:
            candidates.add(instant)
            turn += 1

    # The weekly tables hold every window edge (and each midnight) of every layer.
    edges = sorted(
        {point % 86400 for layer in plan.layers for point in layer.week_points}
    )
    if edges:
        candidates.update(_window_edge_instants(plan.zone, edges, begin, end))

    # Floats throughout: bisect compares float with float much faster than with int.
    return sorted(float(instant) for instant in candidates if begin <= instant < end)


def _window_edge_instants(
    zone: ZoneInfo, edges: list[int], begin: float, end: float
) -> list[float]:
    """Instants whose local clock reads one of ``edges``, plus the zone's changes.

    Between two of these the local (weekday, second of day) moves without crossing
    any window edge, so no restriction can open or close.
    """
    first_day = datetime.fromtimestamp(begin, zone).date() - timedelta(days=1)
    last_day = datetime.fromtimestamp(end, zone).date() + timedelta(days=1)
    days = [
        first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)
    ]

    # Each local day: its midnight as naive seconds, the instant that midnight
    # resolves to, and the UTC offset in force from that instant.
    naive_midnights = [(day - _EPOCH_DAY).days * 86400 for day in days]
    midnights = [_resolve(datetime.combine(day, time()), zone) for day in days]
    offsets = [_offset_at(instant, zone) for instant in midnights]

    instants: list[float] = []
    for index in range(len(days) - 1):
        # NOTE: an equal offset at both midnights is taken to mean no change during
        # the day; no zone in tzdata changes twice within one day and back.
        if offsets[index] == offsets[index + 1]:
            base = naive_midnights[index] - offsets[index]
            instants.extend(base + edge for edge in edges)
            continue

        # A day with a change: each edge may occur twice or never, and the jump of
        # the local clock is itself an edge for any window it skips over.
        instants.extend(_folded_edge_instants(days[index], edges, zone))
        instants.append(_zone_change(zone, midnights[index], midnights[index + 1]))
    return instants


def _resolve(wall: datetime, zone: ZoneInfo) -> float:
    return wall.replace(tzinfo=zone).timestamp()


def _offset_at(instant: float, zone: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(instant, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _folded_edge_instants(day: date, edges: list[int], zone: ZoneInfo) -> list[float]:
    midnight = datetime(day.year, day.month, day.day)
    instants = []
    for edge in edges:
        wall = midnight + timedelta(seconds=edge)
        for fold in (0, 1):
            instants.append(wall.replace(tzinfo=zone, fold=fold).timestamp())
    return instants


def _zone_change(zone: ZoneInfo, low: float, high: float) -> int:
    """The first whole second in ``(low, high]`` whose UTC offset differs from low's."""
    low_second, high_second = math.floor(low), math.ceil(high)
    before = datetime.fromtimestamp(low_second, zone).utcoffset()
    while high_second - low_second > 1:
        middle = (low_second + high_second) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == before:
            low_second = middle
        else:
            high_second = middle
    return high_second
