"""The incident lifecycle record: one per incident, simulated or live.

start → detected → acknowledged → mitigated (user impact ends) → resolved. The
four headline durations are measured the way on-call tools report them: time to
detect and to acknowledge from the previous step, time to mitigate and to resolve
from the start of the fault.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from itertools import pairwise

PHASES = ("ttd", "tta", "ttm", "ttr")
PHASE_NAMES = {
    "ttd": "time to detect",
    "tta": "time to acknowledge",
    "ttm": "time to mitigate",
    "ttr": "time to resolve",
}


@dataclass(frozen=True, slots=True)
class LifecycleRecord:
    """What happened to one incident, and who held it at each step."""

    incident: str
    service: str
    fault: str
    severity: str
    urgency: str
    false_alarm: bool
    started: datetime
    detected: datetime
    detected_by: str
    acknowledged: datetime | None
    acknowledged_by: str | None
    escalation_level: int
    escalations: int
    work_started: datetime | None
    worked_by: str | None
    mitigated: datetime
    resolved: datetime
    during_sleep: bool
    replication: int | None = None

    @property
    def ttd(self) -> float:
        return (self.detected - self.started).total_seconds()

    @property
    def tta(self) -> float | None:
        if self.acknowledged is None:
            return None
        return (self.acknowledged - self.detected).total_seconds()

    @property
    def ttm(self) -> float:
        return (self.mitigated - self.started).total_seconds()

    @property
    def ttr(self) -> float:
        return (self.resolved - self.started).total_seconds()

    def check_order(self) -> None:
        """Raise ``ValueError`` unless the timestamps follow the lifecycle."""
        steps = [("started", self.started), ("detected", self.detected)]
        if self.acknowledged is not None:
            steps.append(("acknowledged", self.acknowledged))
        if self.work_started is not None:
            steps.append(("work_started", self.work_started))
        steps += [("mitigated", self.mitigated), ("resolved", self.resolved)]
        for (earlier, first), (later, second) in pairwise(steps):
            if second < first:
                raise ValueError(f"{later} ({second}) comes before {earlier} ({first})")


RECORD_FIELDS = tuple(field.name for field in fields(LifecycleRecord))
