"""Local parts of the day follow time zones and daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime

from drillhall.simulator.fields import Window
from drillhall.simulator.localtime import (
    BUSINESS,
    OFF_HOURS,
    SLEEP_HOURS,
    LocalClock,
    interruption_table,
    week_table,
)


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_berlin_local_hour_moves_with_daylight_saving():
    clock = LocalClock(
        "Europe/Berlin",
        datetime(2027, 1, 1, tzinfo=UTC),
        datetime(2027, 12, 31, tzinfo=UTC),
    )
    night = week_table([Window.model_validate({"from": "23:00", "to": "07:00"})])
    # 22:30 UTC is 23:30 in winter (CET) and 00:30 in summer (CEST): night in both.
    assert night[clock.slot_of_week(epoch("2027-01-13T22:30"))]
    assert night[clock.slot_of_week(epoch("2027-07-14T22:30"))]
    # 21:30 UTC is 22:30 in winter (evening) but 23:30 in summer (night).
    assert not night[clock.slot_of_week(epoch("2027-01-13T21:30"))]
    assert night[clock.slot_of_week(epoch("2027-07-14T21:30"))]


def test_clock_is_right_outside_its_prepared_period():
    clock = LocalClock(
        "America/New_York",
        datetime(2027, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 2, tzinfo=UTC),
    )
    # Wednesday 2028-03-15 12:00 UTC is 08:00 EDT: Wednesday, slot 2*96 + 32.
    assert clock.slot_of_week(epoch("2028-03-15T12:00")) == 2 * 96 + 32


def test_interruption_buckets_as_on_call_tools_count_them():
    table = interruption_table()

    def at(weekday: int, hour: int) -> int:
        return table[weekday * 96 + hour * 4]

    assert at(0, 9) == BUSINESS and at(4, 17) == BUSINESS
    assert at(0, 18) == OFF_HOURS and at(5, 10) == OFF_HOURS and at(6, 21) == OFF_HOURS
    assert (
        at(2, 22) == SLEEP_HOURS and at(5, 7) == SLEEP_HOURS and at(0, 0) == SLEEP_HOURS
    )
