"""Durations, rates and times of day as humans write them.

Durations are strings such as ``90s``, ``15m``, ``1h30m`` or ``2d``; a bare number
means seconds. Rates are ``2/week`` or ``0.5/day``. Times of day are ``HH:MM``.
Everything is converted to seconds (float) for the engine.
"""

from __future__ import annotations

import re
from datetime import time

SECOND = 1.0
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY
YEAR = 365.25 * DAY
MONTH = YEAR / 12

_UNITS = {"ms": 0.001, "s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_RATE_UNITS = {
    "second": SECOND,
    "minute": MINUTE,
    "hour": HOUR,
    "day": DAY,
    "week": WEEK,
    "month": MONTH,
    "year": YEAR,
}
_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")

DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"
RATE_PATTERN = r"^\d+(\.\d+)?\s*/\s*(second|minute|hour|day|week|month|year)$"


def parse_duration(value: object) -> float:
    """Return the duration ``value`` in seconds; raise ``ValueError`` if malformed."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '15m', got {value!r}")

    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)

    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '15m', got {value!r}")

    text = value.strip().replace(" ", "")
    if text.startswith("-"):
        raise ValueError(f"a duration cannot be negative, got {value!r}")

    position = 0
    seconds = 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(
            f"expected a duration like '90s', '15m' or '1h30m', got {value!r}"
        )
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds the way ``parse_duration`` reads them, e.g. ``1h30m``."""
    if seconds != seconds:  # NaN
        return "-"
    if 0 < seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"

    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    if not days and not hours:
        parts.append((secs, "s"))
    text = "".join(f"{amount}{unit}" for amount, unit in parts if amount)
    return text or "0s"


def parse_rate(value: object) -> float:
    """Return events per second for a rate like ``2/week``; numbers are per week."""
    if isinstance(value, bool):
        raise ValueError(f"expected a rate like '2/week', got {value!r}")

    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a rate cannot be negative, got {value!r}")
        return float(value) / WEEK

    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"expected a rate like '2/week' or '0.5/day', got {value!r}")

    amount_text, _, unit = value.partition("/")
    unit = unit.strip().lower().removesuffix("s")
    try:
        amount = float(amount_text)
    except ValueError:
        raise ValueError(f"expected a rate like '2/week', got {value!r}") from None
    if unit not in _RATE_UNITS:
        known = ", ".join(_RATE_UNITS)
        raise ValueError(f"unknown rate unit {unit!r} in {value!r}; use one of {known}")
    if amount < 0:
        raise ValueError(f"a rate cannot be negative, got {value!r}")
    return amount / _RATE_UNITS[unit]


def parse_time_of_day(value: object) -> time | None:
    """Return ``HH:MM`` as a ``time``; ``24:00`` returns ``None`` (end of day)."""
    if isinstance(value, time):
        return value

    text = str(value).strip()
    match = _TIME_OF_DAY.match(text)
    if not match:
        raise ValueError(f"expected a time of day like '09:00', got {value!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        if minute:
            raise ValueError(f"expected a time of day before '24:00', got {value!r}")
        return None
    return time(hour, minute)


def seconds_of_day(value: time | None) -> int:
    """Seconds since local midnight; ``None`` (24:00) is the end of the day."""
    if value is None:
        return 86400
    return value.hour * 3600 + value.minute * 60 + value.second
