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

import numpy as np

from drillhall.simulator.fields import Window

SLOT = 900.0
"""Seconds per slot: every time zone's offset is a multiple of 15 minutes."""
SLOTS_PER_WEEK = 7 * 96
WORKING, EVENING, SLEEPING = 0, 1, 2
"""Parts of a person's local day, in the order behaviours declare them."""


class LocalClock:
    """Quarter hour of the local week for every quarter hour from ``begin``.

    Slot 0 is Monday 00:00-00:15 local time. Instants past the prepared period are
    computed directly (slower, but still correct).
    """

    __slots__ = ("begin", "slots", "slots_array", "zone")

    def __init__(self, zone: str, begin: datetime, end: datetime) -> None:
        self.zone = ZoneInfo(zone)
        # Quarter hours of UTC are quarter hours of every zone's local time.
        self.begin = begin.timestamp() // SLOT * SLOT
        count = int((end.timestamp() - self.begin) // SLOT) + 2
        self.slots = [self._compute(self.begin + i * SLOT) for i in range(count)]
        self.slots_array = np.asarray(self.slots, dtype=np.int64)

    def _compute(self, epoch: float) -> int:
        local = datetime.fromtimestamp(epoch, UTC).astimezone(self.zone)
        return local.weekday() * 96 + local.hour * 4 + local.minute // 15

    def slot_of_week(self, epoch: float) -> int:
        """The local quarter hour of the week (0 = Monday 00:00) at ``epoch``."""
        index = int((epoch - self.begin) // SLOT)
        if 0 <= index < len(self.slots):
            return self.slots[index]
        return self._compute(epoch)

    def slots_of_week(self, epochs: np.ndarray) -> np.ndarray:
        """``slot_of_week`` for an array of instants, vectorised."""
        index = ((epochs - self.begin) // SLOT).astype(np.int64)
        inside = (index >= 0) & (index < len(self.slots))
        result = np.empty(len(epochs), dtype=np.int64)
        result[inside] = self.slots_array[index[inside]]
        for position in np.flatnonzero(~inside).tolist():
            result[position] = self._compute(float(epochs[position]))
        return result


class SlotTable:
    """A week table laid over the simulated period: a value per quarter hour.

    ``at(seconds)`` takes seconds since ``start`` (the simulation's clock) and
    costs a multiplication and a list index inside the prepared period.
    """

    __slots__ = ("_clock", "_shift", "_start", "_week", "array", "values")

    def __init__(self, clock: LocalClock, week: Sequence[int], start: float) -> None:
        self._clock = clock
        self._week = list(week)
        self._start = start
        self._shift = (start - clock.begin) / SLOT
        self.values = [self._week[slot] for slot in clock.slots]
        self.array = np.asarray(self.values, dtype=np.int8)

    def at(self, seconds: float) -> int:
        try:
            return self.values[int(seconds * _PER_SLOT + self._shift)]
        except IndexError:
            return self._week[self._clock.slot_of_week(self._start + seconds)]

    def at_many(self, seconds: np.ndarray) -> np.ndarray:
        """``at`` for an array of times, vectorised."""
        index = (seconds * _PER_SLOT + self._shift).astype(np.int64)
        inside = index < len(self.values)
        result = np.empty(len(seconds), dtype=np.int8)
        result[inside] = self.array[index[inside]]
        for position in np.flatnonzero(~inside).tolist():
            result[position] = self.at(float(seconds[position]))
        return result


_PER_SLOT = 1.0 / SLOT


def week_table(windows: Sequence[Window]) -> list[bool]:
    """For each local quarter hour of the week, whether any window covers it."""
    return [
        any(window.contains(slot // 96, (slot % 96) * 900) for window in windows)
        for slot in range(SLOTS_PER_WEEK)
    ]


def parts_of_week(
    working_hours: Sequence[Window], sleeping_hours: Sequence[Window]
) -> list[int]:
    """Working, evening or sleeping for each local quarter hour of the week.

    Sleeping hours win over working hours; what neither covers is evening.
    """
    sleeping = week_table(sleeping_hours)
    working = week_table(working_hours)
    return [
        SLEEPING if sleeping[slot] else WORKING if working[slot] else EVENING
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
