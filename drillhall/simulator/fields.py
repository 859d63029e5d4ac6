"""Field types for the scenario schema: durations, rates, probabilities, windows.

Each type validates what users write in YAML and converts it to what the engine
uses (seconds, events per second, fractions), and describes itself in the JSON
Schema in the form users write.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from drillhall.simulator.durations import (
    DURATION_PATTERN,
    RATE_PATTERN,
    format_duration,
    parse_duration,
    parse_rate,
    parse_time_of_day,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class StrictModel(BaseModel):
    """Base of every scenario model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: Any) -> float:
    return parse_duration(value)


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a positive duration like '15m', got {value!r}")
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["90s", "15m"]}
    ),
]
"""A duration such as ``90s`` or ``1h30m``, held in seconds."""

PositiveDuration = Annotated[
    float,
    BeforeValidator(_positive_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]

Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": RATE_PATTERN},
                {"type": "number", "minimum": 0, "description": "per week"},
            ],
            "examples": ["2/week", "0.5/day"],
        }
    ),
]
"""A rate such as ``2/week``, held in events per second."""


def _probability(value: Any) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        value = float(value.strip()[:-1]) / 100
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a probability like 0.05 or '5%', got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"a probability lies between 0 and 1, got {value!r}")
    return float(value)


Probability = Annotated[
    float,
    BeforeValidator(_probability),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1},
                {"type": "string", "pattern": r"^\d+(\.\d+)?%$"},
            ]
        }
    ),
]
"""A probability or fraction: ``0.05`` or ``'5%'``."""


def _availability(value: Any) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        value = float(value.strip()[:-1])
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected an availability like '99.9%', got {value!r}")
    fraction = value / 100 if value > 1 else value
    if not 0 < fraction < 1:
        raise ValueError(
            f"an availability target lies strictly between 0% and 100%, got {value!r}"
        )
    return float(fraction)


Availability = Annotated[
    float,
    BeforeValidator(_availability),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?%$"},
                {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
            ],
            "examples": ["99.9%"],
        }
    ),
]
"""An availability target: ``'99.9%'``, ``99.9`` or ``0.999``, held as a fraction."""


def _time_zone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(
            f"expected an IANA time zone like 'Europe/Berlin', got {value!r}"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name like 'America/New_York'"
        ) from None
    return value


TimeZone = Annotated[
    str,
    BeforeValidator(_time_zone),
    WithJsonSchema({"type": "string", "examples": ["UTC", "Europe/Berlin"]}),
]

TimeOfDay = Annotated[
    time | None,
    BeforeValidator(parse_time_of_day),
    PlainSerializer(lambda t: "24:00" if t is None else t.strftime("%H:%M")),
    WithJsonSchema({"type": "string", "pattern": r"^([01]?\d|2[0-4]):[0-5]\d$"}),
]
"""A local time of day ``HH:MM``; ``24:00`` (held as ``None``) ends the day."""


def _weekdays(value: Any) -> tuple[int, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(
            f"expected weekdays like [mon, tue] or 'mon-fri', got {value!r}"
        )

    days: list[int] = []
    for item in items:
        text = str(item).strip().lower()
        first, _, last = text.partition("-")
        if first[:3] not in WEEKDAYS or (last and last[:3] not in WEEKDAYS):
            raise ValueError(
                f"unknown weekday {item!r}; use mon, tue, wed, thu, fri, sat, sun "
                "or a range like 'mon-fri'"
            )
        begin = WEEKDAYS.index(first[:3])
        end = WEEKDAYS.index(last[:3]) if last else begin
        day = begin
        while True:
            days.append(day)
            if day == end:
                break
            day = (day + 1) % 7
    return tuple(sorted(set(days)))


Weekdays = Annotated[
    tuple[int, ...],
    BeforeValidator(_weekdays),
    PlainSerializer(lambda days: [WEEKDAYS[d] for d in days]),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "examples": ["mon-fri"]},
                {"type": "array", "items": {"type": "string"}},
            ]
        }
    ),
]
"""Weekdays as ``[mon, wed]`` or ``'mon-fri'``, held as indices (Monday is 0)."""


def _weekday(value: Any) -> int:
    days = _weekdays(value)
    if len(days) != 1:
        raise ValueError(f"expected one weekday like 'mon', got {value!r}")
    return days[0]


Weekday = Annotated[
    int,
    BeforeValidator(_weekday),
    PlainSerializer(lambda day: WEEKDAYS[day]),
    WithJsonSchema({"type": "string", "enum": list(WEEKDAYS)}),
]


class Window(StrictModel):
    """Local hours on some weekdays, e.g. Monday to Friday 09:00-17:00.

    A window whose end is not after its start runs past midnight into the next day
    (``from: '22:00'``, ``to: '08:00'``); it belongs to the day it starts on.
    """

    days: Weekdays = tuple(range(7))
    start: TimeOfDay = Field(alias="from")
    end: TimeOfDay = Field(alias="to")

    def contains(self, weekday: int, second_of_day: int) -> bool:
        """Whether a local instant (weekday, seconds since midnight) is inside."""
        start = _second(self.start)
        end = 86400 if self.end is None else _second(self.end)
        if start < end:
            return weekday in self.days and start <= second_of_day < end
        if weekday in self.days and second_of_day >= start:
            return True
        return (weekday - 1) % 7 in self.days and second_of_day < end


def _second(value: time | None) -> int:
    if value is None:
        return 86400
    return value.hour * 3600 + value.minute * 60 + value.second
