"""The values of an incident, checked and made ready for the history store.

Whatever records an incident (``drillhall incident add``, a CSV import, a
drill's timeline) goes through ``incident_values``: text that must not be
empty, aware times turned to UTC, lifecycle times in their order, and a
severity from 1 (most severe) to 5, read the ways on-call tools write it.
Every refusal is an ``InputError`` naming the field and the bad value.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Final

from drillhall.errors import InputError
from drillhall.reports.history import LIFECYCLE_TIMES

logger = logging.getLogger(__name__)

SEVERITIES: Final = range(1, 6)

SEVERITY_WORDS: Final = {
    "critical": 1,
    "high": 2,
    "major": 2,
    "medium": 3,
    "moderate": 3,
    "low": 4,
    "minor": 4,
    "info": 5,
    "informational": 5,
}
"""Opsgenie's priority names and PagerDuty's urgencies, as severities."""

EXTERNAL_ID_LIMIT: Final = 200
"""The longest id from another system that the store keeps."""

INCIDENT_FIELDS: Final = (
    "title",
    "service",
    "team",
    "severity",
    *LIFECYCLE_TIMES,
    "external_id",
)
"""What ``incident_values`` accepts: ``add_incident``'s keywords."""

_SEVERITY = re.compile(r"(?:sev(?:erity)?|p(?:riority)?)?[\s_-]*(\d+)")


def parse_severity(value: str) -> int:
    """A severity from 1 (most severe) to 5, from the ways tools write it.

    ``SEV1``, ``sev-2``, ``Sev 3``, ``P3``, ``3``, and the words ``critical``,
    ``high``, ``medium``/``moderate``, ``low`` and ``info``.
    """
    text = str(value).strip().lower()
    if text in SEVERITY_WORDS:
        return SEVERITY_WORDS[text]

    match = _SEVERITY.fullmatch(text)
    if match is None:
        raise InputError(
            f"{value!r} is not a severity; write SEV1 to SEV5, P1 to P5, 1 to 5, "
            "or critical, high, medium, low, info",
            field="severity",
        )
    number = int(match.group(1))
    if number not in SEVERITIES:
        raise InputError(
            f"{value!r} is outside 1 to 5; 1 is the most severe (a SEV0 is a 1 here)",
            field="severity",
        )
    return number


def check_lifecycle(times: Mapping[str, datetime | None]) -> None:
    """Refuse lifecycle times that go backwards, naming the two that disagree.

    The times go started, detected, acknowledged, mitigated, resolved; any of
    them but ``started`` may be missing. The error's field is the later one.
    """
    steps = [
        (name, time)
        for name in LIFECYCLE_TIMES
        if (time := times.get(name)) is not None
    ]
    for (earlier, first), (later, second) in pairwise(steps):
        if second < first:
            raise InputError(
                f"{second.isoformat()} is before {earlier} "
                f"{first.isoformat()}; the times go {', '.join(LIFECYCLE_TIMES)}, "
                f"so correct one of the two or leave {later} empty",
                field=later,
            )


def incident_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of ``add_incident``'s keywords checked and made ready to store.

    Missing keys mean ``None``; times become UTC; a severity may be text.
    """
    unknown = set(row) - set(INCIDENT_FIELDS)
    if unknown:
        raise InputError(
            f"unknown incident fields {', '.join(sorted(unknown))}; an incident "
            f"has {', '.join(INCIDENT_FIELDS)}",
            field=sorted(unknown)[0],
        )

    check_text(row.get("title"), "title")
    for name in ("service", "team"):
        check_optional_text(row.get(name), name)
    external_id = row.get("external_id")
    check_optional_text(external_id, "external_id")
    if external_id is not None and len(external_id) > EXTERNAL_ID_LIMIT:
        raise InputError(
            f"{external_id[:40]!r}… is {len(external_id)} characters "
            f"long; the store keeps at most {EXTERNAL_ID_LIMIT}",
            field="external_id",
        )

    if row.get("started") is None:
        raise InputError("an incident needs the time it started", field="started")
    times = {
        name: None if row.get(name) is None else utc_time(row[name], name)
        for name in LIFECYCLE_TIMES
    }
    check_lifecycle(times)

    return {
        "title": row["title"].strip(),
        "service": row.get("service"),
        "team": row.get("team"),
        "severity": _severity(row.get("severity")),
        **times,
        "external_id": external_id,
    }


def utc_time(value: object, field: str) -> datetime:
    """An aware datetime in UTC; a naive one is a programming error."""
    if not isinstance(value, datetime):
        raise InputError(f"{value!r} must be a datetime", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{field} {value.isoformat()} has no time zone; pass an aware "
            "datetime such as datetime(2027, 1, 4, 9, 30, tzinfo=UTC)"
        )
    return value.astimezone(UTC)


def check_text(value: object, field: str) -> None:
    """Refuse anything but text with at least one visible character."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{value!r} must be non-empty text", field=field)


def check_optional_text(value: object, field: str) -> None:
    """``check_text``, but ``None`` is fine too."""
    if value is not None:
        check_text(value, field)


def _severity(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(
            f"{value!r} must be a number from 1 to 5 or text like SEV2",
            field="severity",
        )
    if isinstance(value, str):
        return parse_severity(value)
    if value not in SEVERITIES:
        raise InputError(
            f"{value} is outside 1 to 5; 1 is the most severe",
            field="severity",
        )
    return value
