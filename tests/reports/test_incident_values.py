"""The values of an incident: severities as tools write them, lifecycle order,
and the checks every incident passes before the store keeps it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from drillhall.errors import InputError
from drillhall.reports.incident_values import (
    check_lifecycle,
    incident_values,
    parse_severity,
)

T0 = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# Severities


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("SEV1", 1),
        ("sev-2", 2),
        ("Sev 3", 3),
        ("severity_4", 4),
        ("P3", 3),
        ("p5", 5),
        ("2", 2),
        (" critical ", 1),
        ("High", 2),
        ("medium", 3),
        ("moderate", 3),
        ("low", 4),
        ("informational", 5),
    ],
)
def test_severities_are_read_as_tools_write_them(text: str, severity: int) -> None:
    assert parse_severity(text) == severity


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("SEV0", "'SEV0' is outside 1 to 5"),
        ("P6", "'P6' is outside 1 to 5"),
        ("urgent", "'urgent' is not a severity; write SEV1 to SEV5"),
        ("", "'' is not a severity"),
    ],
)
def test_other_severities_are_refused_saying_what_is_accepted(
    text: str, problem: str
) -> None:
    with pytest.raises(InputError, match=problem) as caught:
        parse_severity(text)
    assert caught.value.field == "severity"


# Lifecycle and values


def test_missing_lifecycle_times_are_skipped_when_checking_the_order() -> None:
    check_lifecycle({"started": at(0), "resolved": at(9)})

    with pytest.raises(InputError, match="is before started ") as caught:
        check_lifecycle({"started": at(0), "acknowledged": None, "resolved": at(-1)})
    assert caught.value.field == "resolved"


def test_values_come_out_in_utc_with_severity_numbers_and_every_field() -> None:
    berlin = datetime(2027, 1, 4, 10, 30, tzinfo=timezone(timedelta(hours=1)))

    values = incident_values(
        {"title": " db down ", "started": berlin, "severity": "SEV2", "team": "ops"}
    )

    assert values == {
        "title": "db down",
        "service": None,
        "team": "ops",
        "severity": 2,
        "started": at(0),
        "detected": None,
        "acknowledged": None,
        "mitigated": None,
        "resolved": None,
        "external_id": None,
    }
    assert values["started"].tzinfo is UTC


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"severity": True}, "severity", "must be a number from 1 to 5"),
        ({"severity": 9}, "severity", "9 is outside 1 to 5"),
        ({"started": None}, "started", "needs the time it started"),
        ({"started": "today"}, "started", "'today' must be a datetime"),
        ({"team": " "}, "team", "must be non-empty text"),
        ({"external_id": "x" * 201}, "external_id", "the store keeps at most 200"),
        ({"urgency": "high"}, "urgency", "unknown incident fields urgency"),
    ],
)
def test_bad_values_name_their_field(
    changes: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InputError, match=problem) as caught:
        incident_values({"title": "db down", "started": at(0), **changes})
    assert caught.value.field == field
