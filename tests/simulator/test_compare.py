"""Comparisons pair replications: common random numbers narrow the intervals."""

from __future__ import annotations

import pytest

from drillhall.simulator.compare import compare
from drillhall.simulator.montecarlo import RunSettings
from drillhall.simulator.scenario import Scenario
from tests.conftest import escalating_data


def escalating(delay: str) -> Scenario:
    data = escalating_data(delay, horizon="90d", replications=20, seed=5)
    return Scenario.model_validate(data)


@pytest.mark.slow
def test_common_random_numbers_narrow_the_interval_of_the_difference():
    base, candidate = escalating("15m"), escalating("5m")
    settings = RunSettings(workers=1)

    paired = compare(base, candidate, settings)
    independent = compare(base, candidate, settings, common_random_numbers=False)

    # With common random numbers both runs see the same incidents and the same
    # work: what differs is the escalation alone, so the noise of heavy-tailed
    # incident durations cancels out of the paired differences.
    for metric in ("ttm.mean", "ttr.mean", "interruptions_per_person_week"):
        crn = paired[metric].difference
        apart = independent[metric].difference
        assert (crn.high - crn.low) < 0.5 * (apart.high - apart.low), metric

    # A shorter first level escalates more often and ends sooner: both clear.
    assert paired["escalated_share"].difference.low > 0
    assert paired["escalated_share"].distinguishable
    assert paired["tta.p90"].difference.high < 0


def test_the_same_scenario_twice_is_not_distinguishable():
    base = escalating("15m")
    same = compare(base, base, RunSettings(workers=1, replications=5))
    for difference in same.differences:
        assert (
            difference.difference.value == 0
            or difference.base.value != difference.base.value
        )
        assert not difference.distinguishable
