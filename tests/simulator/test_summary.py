"""Error budgets, shifts and the bounded memory of the Monte Carlo summary."""

from __future__ import annotations

import numpy as np
import pytest

from drillhall.simulator.engine import Engine
from drillhall.simulator.montecarlo import RunSettings, run_replications
from drillhall.simulator.replication import _budget_burn, summarize
from drillhall.simulator.scenario import SLO
from drillhall.simulator.state import Incident
from drillhall.simulator.summary import BOOTSTRAP_UNITS, MonteCarloSummary
from tests.conftest import build_scenario

HOUR = 3600.0
DAY = 24 * HOUR


def incident(start: float, mitigated: float, fault: int = 0) -> Incident:
    made = Incident(0, fault, start, start, "test", 0.0, 0.0, 0.0, None)
    made.mitigated = mitigated
    return made


def test_budget_burn_splits_incidents_across_windows_and_prorates_the_last():
    scenario = build_scenario(horizon="25d")
    slo = SLO(availability=0.99, window=10 * DAY)
    service = scenario.services["api"].model_copy(update={"slo": slo, "impact": 0.5})
    engine = Engine(scenario.model_copy(update={"services": {"api": service}}))

    burn = _budget_burn(
        engine,
        [
            incident(10 * DAY - HOUR, 10 * DAY + HOUR),  # 1 h at half impact, split
            incident(24 * DAY, 26 * DAY),  # runs past the horizon: cut at 25 d
        ],
    )

    budget = 0.01 * 10 * DAY
    assert burn["api"] == pytest.approx(
        [0.5 * HOUR / budget, 0.5 * HOUR / budget, 0.5 * DAY / (budget / 2)]
    )


def test_shifts_count_unbroken_stretches_on_call():
    scenario = build_scenario(horizon="21d")
    summary = MonteCarloSummary(scenario)
    # Weekly turns from Monday 09:00: cai's turn before the first hand-off covers
    # the first nine hours, and cai's next turn begins in the third week.
    assert summary._shifts == {"ana": 1, "ben": 1, "cai": 2}


def test_duration_units_stay_bounded_for_many_replications():
    scenario = build_scenario(horizon="2d", replications=BOOTSTRAP_UNITS + 44)
    engine = Engine(scenario)
    summary = MonteCarloSummary(scenario, engine)
    for replication in range(scenario.replications):
        summary.add(summarize(engine, engine.run(replication)))

    assert len(summary.histograms["ttr"]) == BOOTSTRAP_UNITS
    pooled = sum(summary.histograms["ttr"].values())
    assert pooled.count == sum(summary.incidents)
    prediction = summary.prediction()
    assert prediction.replications == BOOTSTRAP_UNITS + 44
    ttr = prediction.durations["ttr"]["median"]
    assert ttr.low <= ttr.value <= ttr.high


def hours_in(kind: str) -> list[int]:
    """Hours of the week (Monday 00:00 first) in an on-call tool's bucket."""
    hours = []
    for hour in range(168):
        day, clock = divmod(hour, 24)
        sleep = clock >= 22 or clock < 8
        business = not sleep and day < 5 and clock < 18
        if {"sleep": sleep, "business": business}[kind]:
            hours.append(hour)
    return hours


def test_load_by_hour_of_week_adds_up_to_each_persons_buckets():
    # Three time zones: the hours are each person's own, as the buckets are.
    people = {
        "ana": {"timezone": "America/New_York"},
        "ben": {"timezone": "Asia/Tokyo"},
        "cai": {},
    }
    scenario = build_scenario(horizon="60d", replications=3, people=people)
    engine = Engine(scenario)
    summary = MonteCarloSummary(scenario, engine)
    for replication in range(scenario.replications):
        summary.add(summarize(engine, engine.run(replication)))

    by_hour = summary.load_by_hour_of_week()
    load = summary.prediction().load
    assert set(by_hour) == {"ana", "ben", "cai"}
    for person, hours in by_hour.items():
        assert hours.shape == (168,)
        expected = load[person].interruptions_per_week.value
        assert expected > 0
        assert hours.sum() == pytest.approx(expected, rel=1e-12)
        for kind in ("sleep", "business"):
            in_bucket = hours[hours_in(kind)].sum()
            assert in_bucket == pytest.approx(load[person].by_shift_type[kind].value)


def test_load_by_hour_of_week_is_the_same_with_any_number_of_workers():
    scenario = build_scenario(horizon="30d", replications=4, seed=3)
    results = []
    for workers in (1, 2):
        settings = RunSettings(workers=workers)
        summary = MonteCarloSummary(scenario)
        for replication in run_replications(scenario, settings):
            summary.add(replication)
        results.append(summary.load_by_hour_of_week())
    assert results[0].keys() == results[1].keys()
    for person in results[0]:
        assert np.array_equal(results[0][person], results[1][person])
