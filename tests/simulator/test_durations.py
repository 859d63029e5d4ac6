"""Durations, rates and times of day as people write them."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drillhall.simulator.durations import (
    format_duration,
    parse_duration,
    parse_rate,
    parse_time_of_day,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        ("250ms", 0.25),
        ("1.5h", 5400),
        (42, 42.0),
        ("0s", 0),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["15", "-5m", "1h 30x", "", "m", True, None, "15 minutes"]
)
def test_malformed_durations_say_what_is_expected(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**7))
def test_formatted_whole_minutes_read_back(seconds):
    minutes = seconds - seconds % 60 if seconds >= 60 else seconds
    assert parse_duration(format_duration(minutes)) == minutes


def test_rates():
    assert parse_rate("2/week") == pytest.approx(2 / 604800)
    assert parse_rate("0.5/day") == pytest.approx(0.5 / 86400)
    assert parse_rate("3 / months") == pytest.approx(3 / (365.25 * 86400 / 12))
    assert parse_rate(7) == pytest.approx(7 / 604800)
    with pytest.raises(ValueError, match="unknown rate unit 'fortnight'"):
        parse_rate("1/fortnight")


def test_times_of_day():
    assert parse_time_of_day("09:30") == time(9, 30)
    assert parse_time_of_day("24:00") is None
    with pytest.raises(ValueError, match="time of day"):
        parse_time_of_day("25:00")


def test_sub_second_durations_are_written_in_milliseconds():
    assert format_duration(0.25) == "250ms"
    assert parse_duration(format_duration(0.25)) == 0.25
