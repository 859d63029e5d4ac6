"""Tests for ``drillhall.simulator.oncall``: who is on call, and its compiled form."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillhall.simulator.fields import WEEKDAYS
from drillhall.simulator.oncall import OnCallCalendar, on_call_at
from drillhall.simulator.rotation import Rotation

BERLIN = ZoneInfo("Europe/Berlin")


def rotation(**fields: Any) -> Rotation:
    return Rotation.model_validate(fields)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def handoffs(calendar: OnCallCalendar) -> list[datetime]:
    """The UTC instants at which the person on call changes."""
    return [
        datetime.fromtimestamp(start, UTC) for start, _, _ in calendar.segments()[1:]
    ]


# Concrete cases


def test_weekly_handoff_keeps_local_time_across_both_daylight_saving_changes() -> None:
    weekly = rotation(
        timezone="Europe/Berlin",
        layers=[{"members": ["ana", "ben", "cho"], "handoff_day": "mon"}],
    )
    anchor = date(2024, 3, 20)  # a Wednesday: turn 0 began Monday 18 March

    # Spring: Monday 25 March is still CET (UTC+1), Monday 1 April is CEST (UTC+2).
    assert on_call_at(weekly, utc(2024, 3, 25, 7, 59, 59), anchor) == "ana"
    assert on_call_at(weekly, utc(2024, 3, 25, 8), anchor) == "ben"
    assert on_call_at(weekly, utc(2024, 4, 1, 6, 59, 59), anchor) == "ben"
    assert on_call_at(weekly, utc(2024, 4, 1, 7), anchor) == "cho"

    # Autumn: 21 October is turn 31 (CEST), 28 October turn 32 (CET again).
    assert on_call_at(weekly, utc(2024, 10, 21, 6, 59), anchor) == "ana"
    assert on_call_at(weekly, utc(2024, 10, 21, 7), anchor) == "ben"
    assert on_call_at(weekly, utc(2024, 10, 28, 7, 59), anchor) == "ben"
    assert on_call_at(weekly, utc(2024, 10, 28, 8), anchor) == "cho"

    calendar = OnCallCalendar.compile(
        weekly, anchor, utc(2024, 3, 20), utc(2024, 11, 6)
    )
    changes = handoffs(calendar)
    assert all(change.astimezone(BERLIN).time() == time(9) for change in changes)
    assert all(change.weekday() == 0 for change in changes)
    assert {change.hour for change in changes if change.month < 4} == {8}
    assert {change.hour for change in changes if 4 <= change.month < 10} == {7}
    assert utc(2024, 10, 21, 7) in changes
    assert utc(2024, 10, 28, 8) in changes
    assert calendar.shifts("ana") == 12  # turns 0, 3, ..., 33


def test_daily_layer_hands_off_every_day_at_its_time() -> None:
    daily = rotation(
        timezone="America/New_York",
        layers=[{"members": ["ana", "ben"], "type": "daily", "handoff": "18:00"}],
    )
    anchor = date(2024, 1, 10)

    assert on_call_at(daily, utc(2024, 1, 10, 22, 59), anchor) == "ben"
    assert on_call_at(daily, utc(2024, 1, 10, 23), anchor) == "ana"
    assert on_call_at(daily, utc(2024, 1, 11, 23), anchor) == "ben"
    assert on_call_at(daily, utc(2024, 1, 13, 12), anchor) == "ana"

    # In summer time 18:00 local is 22:00 UTC; 1 July begins turn 173.
    assert on_call_at(daily, utc(2024, 7, 1, 21, 59), anchor) == "ana"
    assert on_call_at(daily, utc(2024, 7, 1, 22), anchor) == "ben"


def test_custom_twelve_hour_layer_counts_elapsed_time_across_a_change() -> None:
    halves = rotation(
        timezone="Europe/Berlin",
        layers=[
            {
                "members": ["ana", "ben"],
                "type": "custom",
                "length": "12h",
                "start": datetime(2024, 3, 30, 21),
            }
        ],
    )
    anchor = date(2024, 1, 1)

    # 21:00 CET is 20:00 UTC; twelve real hours later it is 10:00 CEST, not 09:00.
    assert on_call_at(halves, utc(2024, 3, 30, 20), anchor) == "ana"
    assert on_call_at(halves, utc(2024, 3, 31, 7, 59), anchor) == "ana"
    assert on_call_at(halves, utc(2024, 3, 31, 8), anchor) == "ben"
    assert on_call_at(halves, utc(2024, 3, 31, 20), anchor) == "ana"
    assert on_call_at(halves, utc(2024, 3, 30, 19, 59), anchor) == "ben"  # turn -1

    calendar = OnCallCalendar.compile(halves, anchor, utc(2024, 3, 30), utc(2024, 4, 2))
    assert [change.hour for change in handoffs(calendar)] == [8, 20] * 3


def test_follow_the_sun_leaves_exactly_one_expected_person() -> None:
    # London covers its day; a second layer covers Los Angeles's day (08:00-20:00
    # Pacific), written in London time; the bottom layer wins where they overlap.
    sun = rotation(
        timezone="Europe/London",
        layers=[
            {
                "members": ["lon"],
                "type": "daily",
                "restrictions": [{"days": "mon-fri", "from": "08:00", "to": "20:00"}],
            },
            {
                "members": ["lax"],
                "type": "daily",
                "restrictions": [{"days": "mon-fri", "from": "16:00", "to": "04:00"}],
            },
        ],
    )
    anchor = date(2024, 1, 1)
    monday = (2024, 1, 15)

    assert on_call_at(sun, utc(*monday, 7, 59), anchor) is None
    assert on_call_at(sun, utc(*monday, 8), anchor) == "lon"
    assert on_call_at(sun, utc(*monday, 15, 59), anchor) == "lon"
    assert on_call_at(sun, utc(*monday, 16), anchor) == "lax"
    assert on_call_at(sun, utc(*monday, 23), anchor) == "lax"
    assert on_call_at(sun, utc(2024, 1, 16, 3, 59), anchor) == "lax"
    assert on_call_at(sun, utc(2024, 1, 16, 4), anchor) is None
    assert on_call_at(sun, utc(2024, 1, 20, 12), anchor) is None  # Saturday

    # In British summer time the same local hours sit an hour earlier in UTC.
    assert on_call_at(sun, utc(2024, 7, 15, 7), anchor) == "lon"
    assert on_call_at(sun, utc(2024, 7, 15, 15), anchor) == "lax"

    calendar = OnCallCalendar.compile(sun, anchor, utc(*monday), utc(2024, 1, 22))
    assert calendar.shifts("lon") == 5
    assert calendar.shifts("lax") == 5
    assert calendar.person_at(utc(*monday, 12).timestamp()) == "lon"


def test_restriction_window_crossing_midnight_belongs_to_its_first_day() -> None:
    nights = rotation(
        layers=[
            {
                "members": ["owl"],
                "restrictions": [{"days": "mon-fri", "from": "22:00", "to": "06:00"}],
            }
        ],
    )
    anchor = date(2024, 1, 1)

    assert on_call_at(nights, utc(2024, 1, 5, 23), anchor) == "owl"  # Friday night
    assert on_call_at(nights, utc(2024, 1, 6, 5, 59), anchor) == "owl"
    assert on_call_at(nights, utc(2024, 1, 6, 6), anchor) is None
    assert on_call_at(nights, utc(2024, 1, 6, 23), anchor) is None  # Saturday
    assert on_call_at(nights, utc(2024, 1, 8, 5), anchor) is None  # after Sunday
    assert on_call_at(nights, utc(2024, 1, 8, 22), anchor) == "owl"

    calendar = OnCallCalendar.compile(nights, anchor, utc(2024, 1, 1), utc(2024, 1, 8))
    assert calendar.shifts("owl") == 5
    assert all(
        end - start == 8 * 3600 for start, end, who in calendar.segments() if who
    )


def test_override_inside_a_weekly_turn_splits_it() -> None:
    covered = rotation(
        timezone="Europe/Berlin",
        layers=[{"members": ["ana", "ben"], "handoff_day": "mon"}],
        overrides=[
            {"person": "cho", "from": "2024-05-08T10:00", "to": "2024-05-08T14:00"}
        ],
    )
    anchor = date(2024, 5, 6)

    assert on_call_at(covered, utc(2024, 5, 8, 7, 59), anchor) == "ana"
    assert on_call_at(covered, utc(2024, 5, 8, 8), anchor) == "cho"
    assert on_call_at(covered, utc(2024, 5, 8, 11, 59), anchor) == "cho"
    assert on_call_at(covered, utc(2024, 5, 8, 12), anchor) == "ana"

    calendar = OnCallCalendar.compile(
        covered, anchor, utc(2024, 5, 6, 7), utc(2024, 5, 20)
    )
    assert [who for _, _, who in calendar.segments()] == ["ana", "cho", "ana", "ben"]
    assert calendar.shifts("ana") == 2
    assert calendar.shifts("cho") == 1
    assert calendar.shifts("nobody") == 0


def test_window_in_the_repeated_hour_is_open_twice() -> None:
    repeated = rotation(
        timezone="Europe/Berlin",
        layers=[
            {"members": ["ana"], "restrictions": [{"from": "02:15", "to": "02:45"}]}
        ],
    )
    anchor = date(2024, 10, 1)

    # On 27 October 2024 Berlin's clock reads 02:00-03:00 twice: CEST, then CET.
    assert on_call_at(repeated, utc(2024, 10, 27, 0, 30), anchor) == "ana"
    assert on_call_at(repeated, utc(2024, 10, 27, 1), anchor) is None
    assert on_call_at(repeated, utc(2024, 10, 27, 1, 30), anchor) == "ana"

    calendar = OnCallCalendar.compile(
        repeated, anchor, utc(2024, 10, 27), utc(2024, 10, 28)
    )
    assert calendar.shifts("ana") == 2


def test_missing_local_times_resolve_with_the_offset_before_the_change() -> None:
    anchor = date(2024, 3, 1)
    # 02:30 on 31 March 2024 does not exist in Berlin; read as CET it is 01:30 UTC.
    daily = rotation(
        timezone="Europe/Berlin",
        layers=[{"members": ["ana", "ben"], "type": "daily", "handoff": "02:30"}],
    )
    calendar = OnCallCalendar.compile(daily, anchor, utc(2024, 3, 30), utc(2024, 4, 1))
    assert handoffs(calendar) == [utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 30)]

    # A window opening at 02:30 opens when the clock jumps to 03:00.
    skipped = rotation(
        timezone="Europe/Berlin",
        layers=[
            {"members": ["ana"], "restrictions": [{"from": "02:30", "to": "04:00"}]}
        ],
    )
    assert on_call_at(skipped, utc(2024, 3, 31, 0, 59), anchor) is None
    assert on_call_at(skipped, utc(2024, 3, 31, 1), anchor) == "ana"
    calendar = OnCallCalendar.compile(
        skipped, anchor, utc(2024, 3, 31), utc(2024, 4, 1)
    )
    assert calendar.segments() == [
        (utc(2024, 3, 31).timestamp(), utc(2024, 3, 31, 1).timestamp(), None),
        (utc(2024, 3, 31, 1).timestamp(), utc(2024, 3, 31, 2).timestamp(), "ana"),
        (utc(2024, 3, 31, 2).timestamp(), utc(2024, 4, 1).timestamp(), None),
    ]


def test_naive_instants_are_refused() -> None:
    simple = rotation(layers=[{"members": ["ana"]}])

    with pytest.raises(ValueError, match="no time zone"):
        on_call_at(simple, datetime(2024, 1, 1), date(2024, 1, 1))
    with pytest.raises(ValueError, match="must come after"):
        OnCallCalendar.compile(
            simple, date(2024, 1, 1), utc(2024, 2, 1), utc(2024, 1, 1)
        )


# Properties over random rotations

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/Los_Angeles",
    "Australia/Lord_Howe",  # half-hour daylight saving
    "America/Santiago",  # changes at local midnight
    "Asia/Kolkata",
]
CHANGING_ZONES = ZONES[1:5]
MEMBERS = ["ana", "ben", "cho", "dev", "eli"]
STAND_INS = ["sub", "tmp"]
EARLIEST = datetime(2023, 1, 1)
LATEST = datetime(2026, 12, 31)

# Daylight-saving changes happen around midnight and in the small hours: draw those
# hours often, so that window edges and hand-offs fall into skipped or repeated time.
SMALL_HOURS = st.sampled_from([23, 0, 1, 2, 3])
ANY_HOUR = st.one_of(SMALL_HOURS, st.integers(0, 23))
local_datetimes = st.datetimes(EARLIEST, LATEST).map(
    lambda moment: moment.replace(second=0, microsecond=0)
)
instants = st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC))


def clock_readings(hours: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    minutes = st.sampled_from([0, 15, 30, 45])
    return st.builds(lambda hour, minute: f"{hour:02}:{minute:02}", hours, minutes)


@st.composite
def windows(
    draw: st.DrawFn, readings: st.SearchStrategy[str], nightly: bool
) -> dict[str, Any]:
    window = {"from": draw(readings), "to": draw(readings | st.just("24:00"))}
    if not nightly:
        window["days"] = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1))
    return window


@st.composite
def layers(
    draw: st.DrawFn, readings: st.SearchStrategy[str], nightly: bool
) -> dict[str, Any]:
    """A layer; ``nightly`` layers have windows on every day, at least one."""
    kind = draw(st.sampled_from(["daily", "weekly", "custom"]))
    restrictions = st.lists(windows(readings, nightly), min_size=nightly, max_size=2)
    layer: dict[str, Any] = {
        "members": draw(st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=4)),
        "type": kind,
        "handoff": draw(readings | st.just("24:00")),
        "restrictions": draw(restrictions),
    }
    if kind == "custom":
        layer["length"] = draw(st.sampled_from(["12h", "8h", "1h30m", "2d", "3d"]))
    if kind == "weekly":
        layer["handoff_day"] = draw(st.none() | st.sampled_from(WEEKDAYS))
    start = draw(
        st.one_of(
            st.none(),
            st.dates(EARLIEST.date(), LATEST.date()),
            local_datetimes,
            local_datetimes.map(lambda moment: moment.replace(tzinfo=UTC)),
        )
    )
    if start is not None:
        layer["start"] = start
    return layer


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(local_datetimes)
    minutes = draw(st.integers(1, 60 * 24 * 10))
    person = draw(st.sampled_from(STAND_INS + MEMBERS))
    return {"person": person, "from": start, "to": start + timedelta(minutes=minutes)}


rotations = st.builds(
    rotation,
    timezone=st.sampled_from(ZONES),
    layers=st.lists(layers(clock_readings(ANY_HOUR), False), min_size=1, max_size=3),
    overrides=st.lists(overrides(), max_size=3),
)

# Rotations whose every restriction opens and closes in the small hours, in zones
# that change their clocks: the cases where skipped and repeated time matter.
night_rotations = st.builds(
    rotation,
    timezone=st.sampled_from(CHANGING_ZONES),
    layers=st.lists(layers(clock_readings(SMALL_HOURS), True), min_size=1, max_size=2),
)
anchors = st.dates(EARLIEST.date(), LATEST.date())
# Each example builds and evaluates whole rotations: a hundred keep the file at a
# few seconds and still found every daylight-saving mistake seeded by hand.
fast = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def override_span(override: Any, zone: ZoneInfo) -> tuple[float, float]:
    start, end = override.start, override.end
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    if end.tzinfo is None:
        end = end.replace(tzinfo=zone)
    return start.timestamp(), end.timestamp()


@fast
@given(rotations, anchors, st.lists(instants, min_size=1, max_size=10))
def test_answer_is_a_declared_person_and_nobody_only_if_all_layers_are_restricted(
    schedule: Rotation, anchor: date, moments: list[datetime]
) -> None:
    declared = {member for layer in schedule.layers for member in layer.members}
    declared |= {override.person for override in schedule.overrides}
    always_covered = any(not layer.restrictions for layer in schedule.layers)

    for moment in moments:
        person = on_call_at(schedule, moment, anchor)
        if person is None:
            assert not always_covered
        else:
            assert person in declared


@fast
@given(rotations, anchors, st.data())
def test_inside_an_override_its_person_is_on_call(
    schedule: Rotation, anchor: date, data: st.DataObject
) -> None:
    zone = ZoneInfo(schedule.timezone)
    spans = [override_span(override, zone) for override in schedule.overrides]
    spans = [span for span in spans if span[0] < span[1]]
    if not spans:
        return

    # Overrides are whole minutes, so their edges are whole seconds.
    start, end = data.draw(st.sampled_from(spans))
    moment = data.draw(st.integers(int(start), int(end) - 1))
    covering = [
        override.person
        for override in schedule.overrides
        if override_span(override, zone)[0] <= moment < override_span(override, zone)[1]
    ]
    instant = datetime.fromtimestamp(moment, UTC)
    assert on_call_at(schedule, instant, anchor) == covering[-1]


@fast
@given(
    rotations,
    anchors,
    instants,
    st.integers(1, 60),
    st.lists(instants, max_size=8),
)
def test_calendar_agrees_with_on_call_at_and_tiles_its_horizon(
    schedule: Rotation,
    anchor: date,
    begin: datetime,
    days: int,
    moments: list[datetime],
) -> None:
    end = begin + timedelta(days=days)
    calendar = OnCallCalendar.compile(schedule, anchor, begin, end)
    segments = calendar.segments()

    # Tiling: no gap, no overlap, no empty segment, equal neighbours merged.
    assert segments[0][0] == begin.timestamp()
    assert segments[-1][1] == end.timestamp()
    for (_, stop, person), (start, _, following) in pairwise(segments):
        assert stop == start
        assert person != following
    assert all(start < stop for start, stop, _ in segments)

    # Agreement at every segment start and midpoint, and at random instants
    # inside and outside the horizon.
    probes = [datetime.fromtimestamp(start, UTC) for start, _, _ in segments]
    probes += [
        datetime.fromtimestamp((start + stop) / 2, UTC) for start, stop, _ in segments
    ]
    span = end - begin
    probes += [begin + (moment - begin) % span for moment in moments]
    probes += moments
    assert_agrees(calendar, schedule, anchor, probes)

    for person in {who for _, _, who in segments if who is not None}:
        stretches = sum(1 for _, _, who in segments if who == person)
        assert calendar.shifts(person) == stretches


@fast
@given(
    night_rotations,
    anchors,
    st.integers(EARLIEST.year, LATEST.year),
    st.integers(0, 1),
)
def test_calendar_agrees_with_on_call_at_across_daylight_saving_changes(
    schedule: Rotation, anchor: date, year: int, which: int
) -> None:
    change = zone_changes(schedule.timezone, year)[which]
    begin, end = change - timedelta(days=1), change + timedelta(days=1)
    calendar = OnCallCalendar.compile(schedule, anchor, begin, end)

    # Every input the strategies draw falls on a whole minute and every drawn
    # zone's offsets on a quarter hour, so a missed change shows on this grid.
    probes = [change + timedelta(minutes=15 * step) for step in range(-16, 16)]
    assert_agrees(calendar, schedule, anchor, probes)


def assert_agrees(
    calendar: OnCallCalendar,
    schedule: Rotation,
    anchor: date,
    probes: list[datetime],
) -> None:
    for probe in probes:
        expected = on_call_at(schedule, probe, anchor)
        assert calendar.person_at(probe.timestamp()) == expected, probe


@cache
def zone_changes(name: str, year: int) -> list[datetime]:
    """The first whole UTC hour after each of the zone's offset changes in ``year``."""
    zone = ZoneInfo(name)
    hour = datetime(year, 1, 1, tzinfo=UTC)
    offset = hour.astimezone(zone).utcoffset()
    changes = []
    while hour.year == year:
        hour += timedelta(hours=1)
        if hour.astimezone(zone).utcoffset() != offset:
            offset = hour.astimezone(zone).utcoffset()
            changes.append(hour)
    return changes
