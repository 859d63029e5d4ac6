"""Local time of day for the simulator's hot loop, by quarter hour.

Where a person is in their day (working, evening, sleeping; business, off or sleep
hours) depends on their time zone and on daylight saving. ``LocalClock`` maps
every quarter hour of the simulated period to the local quarter hour of the week
once, so that a lookup in the event loop is two list indexings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from drillhall.simulator.fields import Window

SLOT = 900.0
"""Seconds per slot: every time zone's offset is a multiple of 15 minutes."""
SLOTS_PER_WEEK = 7 * 96


class LocalClock:
    """Quarter hour of the local week for every quarter hour from ``begin``.

    Slot 0 is Monday 00:00-00:15 local time. Instants past the prepared period are
    computed directly (slower, but still correct).
    """

    __slots__ = ("_begin", "_slots", "zone")

    def __init__(self, zone: str, begin: datetime, end: datetime) -> None:
        self.zone = ZoneInfo(zone)
        self._begin = begin.timestamp()
        count = int((end.timestamp() - self._begin) // SLOT) + 2
        self._slots = [self._compute(self._begin + i * SLOT) for i in range(count)]

    def _compute(self, epoch: float) -> int:
        local = datetime.fromtimestamp(epoch, UTC).astimezone(self.zone)
        return local.weekday() * 96 + local.hour * 4 + local.minute // 15

    def slot_of_week(self, epoch: float) -> int:
        """The local quarter hour of the week (0 = Monday 00:00) at ``epoch``."""
        index = int((epoch - self._begin) // SLOT)
        if 0 <= index < len(self._slots):
            return self._slots[index]
        return self._compute(epoch)

    def slots_of_week(self, epochs: Sequence[float]) -> list[int]:
        return [self.slot_of_week(epoch) for epoch in epochs]


def week_table(windows: Sequence[Window]) -> list[bool]:
    """For each local quarter hour of the week, whether any window covers it."""
    return [
        any(window.contains(slot // 96, (slot % 96) * 900) for window in windows)
        for slot in range(SLOTS_PER_WEEK)
    ]


BUSINESS, OFF_HOURS, SLEEP_HOURS = 0, 1, 2
SHIFT_NAMES = ("business", "off_hours", "sleep")


def interruption_table() -> list[int]:
    """On-call tools' buckets by local quarter hour of the week.

    Business hours are 08-18 Monday to Friday, sleep hours 22-08 every day, off
    hours the rest (18-22 on weekdays, 08-22 at weekends).
    """
    table = []
    for slot in range(SLOTS_PER_WEEK):
        weekday, hour = slot // 96, (slot % 96) // 4
        if hour >= 22 or hour < 8:
            table.append(SLEEP_HOURS)
        elif weekday < 5 and hour < 18:
            table.append(BUSINESS)
        else:
            table.append(OFF_HOURS)
    return table
