"""A drill's events in words, and their times on the fault's clock.

The drill report and the postmortem draft both list a drill's events. Both say
each one with ``describe_event`` and time it with ``utc_text`` and
``offset_text`` (``T+1:02`` from the fault's start), so the two documents tell
the same story in the same words: ``fault injected: …``, ``runbook step 2
"Promote the replica" done, check passed by ana``, ``rollback succeeded``.
``DrillFacts.describe`` and ``DrillFacts.offset`` apply them with the drill's
runbook and its origin. Incidents' drafts use the same clock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from drillhall.drills.timeline import TimelineEvent

logger = logging.getLogger(__name__)

_DETAIL_KEYS: Final = (
    "summary",
    "why",
    "text",
    "title",
    "alertname",
    "guardrail",
    "status",
)
"""Where an event of another kind keeps its one line of detail, in order."""

_WORDS: Final = {
    "drill_started": "drill started",
    "injected": "fault injected",
    "guardrail_tripped": "guardrail tripped",
    "rolling_back": "rollback started",
    "rollback_intent": "rollback owed",
    "drill_ended": "drill ended",
}
"""What an event's kind says, where its name alone would not read well."""


def offset_text(seconds: float) -> str:
    """``T+0:33``, ``T+1:02:03``, ``T-0:05``: a time on the fault's clock, in
    whole seconds (a moment less than a second before the fault is ``T+0:00``)."""
    hours, rest = divmod(int(abs(seconds)), 3600)
    minutes, whole = divmod(rest, 60)
    sign = "-" if seconds < 0 and (hours or rest) else "+"
    if hours:
        return f"T{sign}{hours}:{minutes:02d}:{whole:02d}"
    return f"T{sign}{minutes}:{whole:02d}"


def offset_tick(seconds: float, _: object = None) -> str:
    """A figure's tick label on the fault's clock (a matplotlib tick formatter)."""
    # Ticks fall on round seconds, but as floats (59.999…): round them first.
    return offset_text(round(seconds))


def utc_text(moment: datetime) -> str:
    """``2027-03-02 13:00:05``: a moment on the UTC clock, to the second."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def describe_event(event: TimelineEvent, steps: Mapping[int, str] | None = None) -> str:
    """What happened, in one line: the kind in words, who did it, and the
    detail its payload holds. ``steps`` names the runbook's steps by number,
    when the runbook is known."""
    payload, kind = event.payload, event.kind
    if kind == "runbook_step":
        text = f"runbook {step_outcome(event, steps)}"
    elif kind == "steady_state_checked":
        met = payload.get("met")
        text = "steady state checked" + _outcome(met, ": met", ": not met", "")
    elif kind == "rolled_back":
        succeeded = rollback_succeeded(event)
        text = "rollback " + _outcome(
            succeeded, "succeeded", "did not succeed", "finished"
        )
    elif kind == "score":
        points, out_of = payload.get("points"), payload.get("out_of")
        text = f"scored {_number(points)} of {_number(out_of)}"
    else:
        words = _WORDS.get(kind, kind.replace("_", " ")) + _by(payload)
        detail = _detail(kind, payload)
        text = f"{words}: {detail}" if detail else words
    return " ".join(text.split())


def step_text(number: int, steps: Mapping[int, str] | None = None) -> str:
    """``step 3 "Repoint the service"``, or ``step 3`` without its title."""
    title = (steps or {}).get(number)
    return f'step {number} "{title}"' if title else f"step {number}"


def step_outcome(event: TimelineEvent, steps: Mapping[int, str] | None = None) -> str:
    """A runbook step's event as ``step 3 "…" done, check failed (why) by ana``."""
    payload = event.payload
    status = str(payload.get("status", "done"))
    if payload.get("check") is True:
        status += ", check passed"
    elif payload.get("check") is False:
        error = f" ({payload['error']})" if payload.get("error") else ""
        status += f", check failed{error}"
    number = int(payload.get("step", 0))
    return f"{step_text(number, steps)} {status}{_by(payload)}"


def rollback_succeeded(event: TimelineEvent) -> bool | None:
    """Whether a ``rolled_back`` event says its rollbacks succeeded; ``None``
    when it does not say (the runner always does)."""
    succeeded = event.payload.get("succeeded")
    return succeeded if isinstance(succeeded, bool) else None


def _outcome(value: Any, yes: str, no: str, unknown: str) -> str:
    if not isinstance(value, bool):
        return unknown
    return yes if value else no


def _number(value: Any) -> str:
    """``92.5``, ``100``: a number without a trailing ``.0``."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return f"{value:g}" if is_number else str(value)


def _by(payload: Mapping[str, Any]) -> str:
    return f" by {payload['by']}" if payload.get("by") else ""


def _detail(kind: str, payload: Mapping[str, Any]) -> str:
    """The payload's one line of detail: the plan of a start, else the first
    text field there is, else its plain values as ``key=value``."""
    if kind == "drill_started" and payload.get("plan"):
        return f"plan {payload['plan']}"
    for key in _DETAIL_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ", ".join(
        f"{key}={value}"
        for key, value in payload.items()
        if isinstance(value, str | int | float | bool) and key != "by"
    )
