"""Drill schedules: cron fires in the plan's zone, windows, freezes, DST."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from drillhall.drills.plan import DrillPlan
from drillhall.drills.schedule import Schedule, due, upcoming

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Drill:
    """Anything with a schedule will do; plans are the usual case."""

    name: str
    schedule: Schedule | None


def drill(name: str = "d", **schedule: Any) -> Drill:
    return Drill(name, Schedule.model_validate(schedule))


def tuesdays(**changes: Any) -> Drill:
    """Tuesdays at 14:00 in Berlin, weekdays 10-16 only."""
    schedule: dict[str, Any] = {
        "cron": "0 14 * * 2",
        "timezone": "Europe/Berlin",
        "windows": [{"days": "mon-fri", "from": "10:00", "to": "16:00"}],
    }
    schedule.update(changes)
    return drill("tuesdays", **schedule)


def at(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int = 0,
    *,
    zone: ZoneInfo = BERLIN,
    fold: int = 0,
) -> datetime:
    """A wall-clock time in ``zone`` (Berlin unless told)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=zone, fold=fold)


# due


def test_due_within_the_grace_period_after_a_fire():
    plan = tuesdays()
    [found] = due([plan], at(2027, 1, 5, 14, 10))
    assert found.plan is plan
    assert found.fired == at(2027, 1, 5, 14, 0)


def test_due_at_the_fire_itself_and_not_before():
    assert due([tuesdays()], at(2027, 1, 5, 14, 0))
    assert not due([tuesdays()], at(2027, 1, 5, 13, 59, 59))


def test_not_due_after_the_grace_period():
    assert not due([tuesdays()], at(2027, 1, 5, 14, 16))
    assert due([tuesdays(grace="30m")], at(2027, 1, 5, 14, 16))


def test_now_in_another_zone_is_the_same_instant():
    now = datetime(2027, 1, 5, 13, 5, tzinfo=UTC)  # 14:05 in Berlin
    assert due([tuesdays()], now)
    assert not due([tuesdays(timezone="America/New_York")], now)


def test_not_due_outside_the_windows():
    plan = tuesdays(windows=[{"days": "mon-fri", "from": "10:00", "to": "14:05"}])
    assert due([plan], at(2027, 1, 5, 14, 4))
    assert not due([plan], at(2027, 1, 5, 14, 6))  # fired inside, now outside

    early = tuesdays(windows=[{"days": "tue", "from": "14:01", "to": "16:00"}])
    assert not due([early], at(2027, 1, 5, 14, 2))  # fired before the window


def test_not_due_in_a_freeze():
    freeze = {"from": "2027-01-04", "to": "2027-01-05", "reason": "release"}
    plan = tuesdays(freezes=[freeze])
    assert not due([plan], at(2027, 1, 5, 14, 5))  # the last day is frozen too
    assert due([plan], at(2027, 1, 12, 14, 5))


def test_freeze_with_times_in_the_plans_zone_and_with_offsets():
    local = {"from": datetime(2027, 1, 5, 14, 2), "to": datetime(2027, 1, 5, 14, 10)}
    assert due([tuesdays(freezes=[local])], at(2027, 1, 5, 14, 1))
    assert not due([tuesdays(freezes=[local])], at(2027, 1, 5, 14, 3))
    assert due([tuesdays(freezes=[local])], at(2027, 1, 5, 14, 10))

    utc = {"from": "2027-01-05T13:02:00Z", "to": "2027-01-05T13:10:00Z"}
    assert not due([tuesdays(freezes=[utc])], at(2027, 1, 5, 14, 3))


def test_freeze_must_end_after_it_starts():
    with pytest.raises(ValidationError, match="a freeze ends after it starts"):
        Schedule.model_validate(
            {
                "cron": "0 14 * * 2",
                "freezes": [{"from": "2027-01-05T10:00", "to": "2027-01-05T09:00"}],
            }
        )


def test_plans_without_a_schedule_are_never_due():
    assert due([Drill("unscheduled", None), tuesdays()], at(2027, 1, 5, 14, 1)) == [
        due([tuesdays()], at(2027, 1, 5, 14, 1))[0]
    ]


def test_due_keeps_the_order_given():
    first, second = drill("a", cron="*/5 * * * *"), drill("b", cron="0 * * * *")
    found = due([second, first], at(2027, 1, 5, 14, 1))
    assert [item.plan.name for item in found] == ["b", "a"]


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        due([tuesdays()], datetime(2027, 1, 5, 14, 0))


def test_drill_plans_have_schedules():
    plan = DrillPlan.model_validate(
        {
            "name": "x",
            "target": {"name": "t"},
            "fault": {"experiment": "e.json"},
            "runbook": "r.md",
            "participants": {"names": ["ana"]},
            "schedule": {"cron": "@daily", "timezone": "Asia/Tokyo"},
        }
    )
    [found] = due([plan], at(2027, 1, 5, 0, 3, zone=ZoneInfo("Asia/Tokyo")))
    assert found.plan is plan


# Daylight-saving time


def test_a_fire_in_the_skipped_spring_hour_runs_after_the_change():
    plan = drill(cron="30 2 * * *", timezone="Europe/Berlin")
    [found] = due([plan], at(2027, 3, 28, 3, 40))
    assert found.fired == at(2027, 3, 28, 3, 30)
    assert found.fired.utcoffset() == timedelta(hours=2)
    assert not due([plan], at(2027, 3, 28, 3, 10))  # 03:30 has not come yet

    assert upcoming(plan, at(2027, 3, 27, 12, 0), 2) == [
        at(2027, 3, 28, 3, 30),
        at(2027, 3, 29, 2, 30),
    ]


def test_a_fire_in_the_repeated_autumn_hour_runs_once():
    plan = drill(cron="30 2 * * *", timezone="Europe/Berlin")
    first = at(2027, 10, 31, 2, 35)  # summer time, +02:00
    second = at(2027, 10, 31, 2, 35, fold=1)  # winter time, +01:00
    assert first.utcoffset() != second.utcoffset()

    [found] = due([plan], first)
    assert found.fired.utcoffset() == timedelta(hours=2)
    assert not due([plan], second)
    assert upcoming(plan, first, 1) == [at(2027, 11, 1, 2, 30)]


def test_windows_follow_local_time_across_the_change():
    found = upcoming(tuesdays(), at(2027, 3, 20, 0, 0), 3)
    assert [fire.astimezone(UTC).hour for fire in found] == [13, 12, 12]
    assert all(fire.hour == 14 for fire in found)


def test_new_york_spring_forward():
    plan = drill(cron="30 2 * * *", timezone="America/New_York")
    [found] = due([plan], at(2027, 3, 14, 3, 31, zone=NEW_YORK))
    assert found.fired == at(2027, 3, 14, 3, 30, zone=NEW_YORK)


# upcoming


def test_upcoming_skips_freezes_and_closed_windows():
    freeze = {"from": "2027-01-12", "to": "2027-01-12"}
    plan = tuesdays(freezes=[freeze])
    assert upcoming(plan, at(2027, 1, 5, 14, 0), 3) == [
        at(2027, 1, 19, 14, 0),
        at(2027, 1, 26, 14, 0),
        at(2027, 2, 2, 14, 0),
    ]

    hourly = drill(
        cron="0 * * * *",
        timezone="Europe/Berlin",
        windows=[{"days": "mon-fri", "from": "10:00", "to": "12:00"}],
    )
    assert upcoming(hourly, at(2027, 1, 8, 11, 30), 3) == [  # a Friday
        at(2027, 1, 11, 10, 0),
        at(2027, 1, 11, 11, 0),
        at(2027, 1, 12, 10, 0),
    ]


def test_upcoming_when_windows_never_open():
    sundays = tuesdays(cron="0 14 * * 0")
    assert upcoming(sundays, at(2027, 1, 5, 14, 0), 3) == []


def test_upcoming_without_a_schedule_or_count():
    assert upcoming(Drill("x", None), at(2027, 1, 5, 14, 0), 3) == []
    assert upcoming(tuesdays(), at(2027, 1, 5, 14, 0), 0) == []


# cron


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 14 * *", "expected five cron fields"),
        ("0 0 14 * * 2", "expected five cron fields"),
        ("0 25 * * 2", "invalid cron expression"),
        ("@sometimes", "invalid cron expression"),
    ],
)
def test_bad_cron(cron: str, message: str):
    with pytest.raises(ValidationError, match=message):
        Schedule.model_validate({"cron": cron})


# Invariants

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]
CRONS = ["30 2 * * *", "*/20 * * * *", "0 14 * * 2", "15 1-3 * * 0"]


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    cron=st.sampled_from(CRONS),
    now=st.datetimes(
        min_value=datetime(2027, 1, 1), max_value=datetime(2028, 12, 31)
    ).map(lambda naive: naive.replace(tzinfo=UTC)),
)
def test_the_last_fire_is_the_latest_one_not_after_now(zone, cron, now):
    schedule = Schedule.model_validate({"cron": cron, "timezone": zone})
    last = schedule.last_fire(now)
    following = next(iter(schedule.fires_after(last)))

    assert last <= now < following
    assert next(iter(schedule.fires_after(now))) == following


@settings(max_examples=50, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2027, 1, 1), max_value=datetime(2028, 12, 31)
    ).map(lambda naive: naive.replace(tzinfo=UTC)),
)
def test_upcoming_fires_are_allowed_and_ascending(now):
    plan = tuesdays(freezes=[{"from": "2027-06-01", "to": "2027-08-31"}])
    found = upcoming(plan, now, 5)

    assert len(found) == 5
    assert all(earlier < later for earlier, later in itertools.pairwise(found))
    assert all(now < fire and plan.schedule.allows(fire) for fire in found)
