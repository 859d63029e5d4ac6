"""Error budgets, shifts and the bounded memory of the Monte Carlo summary."""

from __future__ import annotations

import pytest

from drillhall.simulator.engine import Engine
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
