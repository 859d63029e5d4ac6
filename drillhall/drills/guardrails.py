"""Guardrails: when a drill hurts users more than it may, stop it and roll back.

Three limits, each optional: the error rate over a sliding window (every second
of the window above the limit), the share of the drill's error budget burnt so
far, and the drill's length. ``Guard.check`` is fed the load's statistics as they
come and says which limit, if any, was crossed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from drillhall.drills.load import SecondStats


@dataclass(frozen=True)
class Limits:
    error_rate_above: float | None = None
    error_rate_for: float = 30.0
    """Seconds the error rate must stay above its limit before the drill stops."""
    budget_burn_above: float | None = None
    availability: float | None = None
    """The SLO whose error budget ``budget_burn_above`` is a share of."""
    max_duration: float | None = None


@dataclass(frozen=True)
class Tripped:
    guardrail: str
    value: float
    limit: float

    def describe(self) -> str:
        if self.guardrail == "max_duration":
            took, limit = f"{self.value:.0f} s", f"{self.limit:.0f} s"
            return f"the drill ran {took}, over its limit of {limit}"
        return (
            f"{self.guardrail} at {self.value:.1%}, over its limit of {self.limit:.1%}"
        )


class Guard:
    """Watches one drill's load against its limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._window: deque[SecondStats] = deque()
        self._requests = 0
        self._failures = 0

    def check(self, seconds: list[SecondStats], elapsed: float) -> Tripped | None:
        """Take new seconds of statistics; return the first limit crossed."""
        limits = self.limits
        for second in seconds:
            self._requests += second.requests
            self._failures += second.failures
            self._window.append(second)
        while self._window and (
            self._window[-1].at - self._window[0].at >= limits.error_rate_for
        ):
            self._window.popleft()

        if limits.max_duration is not None and elapsed > limits.max_duration:
            return Tripped("max_duration", elapsed, limits.max_duration)

        if limits.error_rate_above is not None and self._window:
            span = self._window[-1].at - self._window[0].at + 1.0
            rates = [
                second.failures / second.requests if second.requests else 0.0
                for second in self._window
            ]
            if span >= limits.error_rate_for and min(rates) > limits.error_rate_above:
                return Tripped("error_rate", min(rates), limits.error_rate_above)

        if (
            limits.budget_burn_above is not None
            and limits.availability is not None
            and self._requests
        ):
            allowed = (1.0 - limits.availability) * self._requests
            burn = self._failures / allowed if allowed else float("inf")
            if burn > limits.budget_burn_above:
                return Tripped("budget_burn", burn, limits.budget_burn_above)
        return None
