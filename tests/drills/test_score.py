"""Scoring a drill from its timeline, against an explicit rubric."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from drillhall.drills.score import phase_seconds, score_drill

T0 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


def at(seconds: float, kind: str, **payload: Any) -> Event:
    return Event(T0 + timedelta(seconds=seconds), kind, payload)


def timeline(*extra: Event) -> list[Event]:
    return [
        at(0, "injected"),
        at(4, "detected", alert="ExampleBackendDown"),
        at(34, "acknowledged"),
        at(60, "runbook_step", step=1, status="done", check=True),
        at(90, "runbook_step", step=2, status="done", check=True),
        at(120, "mitigated"),
        at(150, "resolved"),
        *extra,
    ]


def test_phase_times_come_from_the_first_of_each_event():
    events = timeline(at(200, "detected"))
    assert phase_seconds(events) == {"ttd": 4, "tta": 30, "ttm": 120, "ttr": 150}


def test_full_marks_within_expectations():
    expected = {"ttd": 10, "tta": 60, "ttm": 300, "ttr": 600}
    score = score_drill(timeline(), expected=expected, runbook_steps=2)
    assert score.points == score.out_of == 100
    assert score.runbook.done == [1, 2] and score.runbook.missing == []
    assert score.runbook.seconds_per_step == {1: 26.0, 2: 30.0}


def test_late_phases_lose_points_linearly_and_missing_ones_all():
    expected = {"ttd": 2, "tta": 60, "ttm": 300, "ttr": 600}
    events = [e for e in timeline() if e.kind != "resolved"]
    score = score_drill(events, expected=expected, runbook_steps=2)
    assert score.phases["ttd"].points == pytest.approx(15 * (2 - 4 / 2))  # 0 at 2x
    assert score.phases["ttr"].seconds is None and score.phases["ttr"].points == 0


def test_runbook_steps_skipped_out_of_order_or_failing_cost_points():
    events = [
        at(0, "injected"),
        at(10, "acknowledged"),
        at(20, "runbook_step", step=2, status="done", check=True),
        at(30, "runbook_step", step=1, status="done", check=False),
        at(40, "runbook_step", step=3, status="skipped"),
    ]
    score = score_drill(events, expected={}, runbook_steps=4)
    runbook = score.runbook
    assert runbook.done == [2, 1] and runbook.skipped == [3] and runbook.missing == [4]
    assert runbook.out_of_order == [1] and runbook.checks_failed == [1]
    assert runbook.points == pytest.approx(25 * (1 / 4 - 0.5 / 4), abs=0.01)


def test_slo_impact_from_load_statistics():
    stats = [
        at(s, "load_stats", requests=100, failures=0, latency_p95_ms=40)
        for s in range(60)
    ]
    stats += [
        at(60 + s, "load_stats", requests=100, failures=30, latency_p95_ms=900)
        for s in range(10)
    ]
    score = score_drill(
        timeline(*stats), expected={}, runbook_steps=2, availability=0.99
    )
    slo = score.slo
    assert slo.requests == 7000 and slo.failures == 300
    assert slo.budget_used == pytest.approx(300 / 70)
    assert slo.worst_minute_error_rate == pytest.approx(300 / 1000)
    assert slo.points == 0  # over twice the budget


def test_times_are_placed_within_the_predicted_distribution():
    predicted = {"tta": np.array([10.0, 20.0, 40.0, 80.0])}
    score = score_drill(timeline(), expected={}, runbook_steps=2, predicted=predicted)
    assert score.phases["tta"].predicted_percentile == 50.0  # 30 s beat two of four


def test_guardrail_events_are_listed():
    events = timeline(at(50, "guardrail_tripped", guardrail="error_rate"))
    assert score_drill(events, expected={}, runbook_steps=2).guardrails_tripped == [
        "error_rate"
    ]


def test_the_latency_slo_counts_the_seconds_within_it():
    stats = [
        at(s, "load_stats", requests=10, failures=0, latency_p95_ms=100)
        for s in range(30)
    ]
    stats += [
        at(30 + s, "load_stats", requests=10, failures=0, latency_p95_ms=900)
        for s in range(10)
    ]
    score = score_drill(
        timeline(*stats), expected={}, runbook_steps=2, latency_below=0.3
    )
    assert score.slo.latency_within_slo == 0.75
    assert score.slo.points == 15 * 0.75
    assert score.slo.latency_p95_ms == 900  # the slow seconds fall inside the fault
