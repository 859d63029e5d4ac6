"""The records of the history store: incidents, postmortems and action items.

Real incidents and drills share one table, told apart by ``kind``; both carry
the lifecycle timestamps of the simulator's records (started, detected,
acknowledged, mitigated, resolved), so trends, scoring and reports read them
the same way. Times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal

IncidentKind = Literal["incident", "drill"]
ActionStatus = Literal["open", "done", "dropped"]

ACTION_CHANGES: Final = ("runbook", "alert", "automation", "test", "other")
"""What an action item changes, so trends can tell where learning lands."""

LIFECYCLE_TIMES: Final = (
    "started",
    "detected",
    "acknowledged",
    "mitigated",
    "resolved",
)


@dataclass(frozen=True)
class IncidentRecord:
    id: str
    """``INC-12`` for incidents the store numbered, a drill's id for drills."""
    kind: IncidentKind
    title: str
    service: str | None
    team: str | None
    severity: int | None
    """1 is the most severe (SEV1/P1); None when the source did not say."""
    started: datetime
    detected: datetime | None
    acknowledged: datetime | None
    mitigated: datetime | None
    resolved: datetime | None
    source: str
    """Where the record came from: ``cli``, ``import:FILE`` or ``drill``."""
    external_id: str | None
    """The id in the system it was imported from; imports deduplicate on it."""


@dataclass(frozen=True)
class PostmortemRecord:
    id: int
    incident: str
    drafted: datetime
    completed: datetime | None
    """When the author published it; a draft alone does not count as done."""
    path: str | None


@dataclass(frozen=True)
class ActionItem:
    id: int
    title: str
    owner: str | None
    due: date | None
    status: ActionStatus
    changes: str
    """One of ``ACTION_CHANGES``."""
    link: str | None
    """What it changes: a runbook path, an alert rule, a ticket URL."""
    incident: str | None
    postmortem: int | None
    created: datetime
    closed: datetime | None

    def overdue(self, today: date) -> bool:
        return self.status == "open" and self.due is not None and self.due < today
