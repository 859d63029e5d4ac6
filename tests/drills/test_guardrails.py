"""Guardrails trip on a sustained error rate, a burnt budget or a long drill."""

from __future__ import annotations

from drillhall.drills.guardrails import Guard, Limits
from drillhall.drills.load import SecondStats


def seconds(start: int, count: int, requests: int, failures: int) -> list[SecondStats]:
    return [
        SecondStats(float(start + i), requests, failures, 10.0, 20.0)
        for i in range(count)
    ]


def test_error_rate_must_stay_over_the_limit_for_the_whole_window():
    guard = Guard(Limits(error_rate_above=0.2, error_rate_for=10))
    assert guard.check(seconds(0, 9, 100, 50), elapsed=9) is None  # not long enough
    assert guard.check(seconds(9, 1, 100, 10), elapsed=10) is None  # one good second
    tripped = guard.check(seconds(10, 10, 100, 50), elapsed=20)
    assert tripped is not None and tripped.guardrail == "error_rate"
    assert "error_rate at 50.0%, over its limit of 20.0%" == tripped.describe()


def test_budget_burn_and_length():
    guard = Guard(Limits(budget_burn_above=0.5, availability=0.99))
    assert guard.check(seconds(0, 10, 100, 0), elapsed=10) is None
    tripped = guard.check(seconds(10, 1, 100, 10), elapsed=11)  # 10 of 11 allowed
    assert tripped is not None and tripped.guardrail == "budget_burn"

    guard = Guard(Limits(max_duration=60))
    assert guard.check([], elapsed=59) is None
    assert guard.check([], elapsed=61).guardrail == "max_duration"
