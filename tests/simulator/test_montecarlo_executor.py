"""One executor for many runs: the same figures as separate runs, no leftovers."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from drillhall.simulator.montecarlo import (
    RunSettings,
    replication_executor,
    run_replications,
)
from drillhall.simulator.scenario import Scenario
from drillhall.simulator.summary import MonteCarloSummary
from tests.conftest import build_scenario, escalating_data


class Interrupted(Exception):
    """Raised from inside an executor's block to stop it half way."""


def prediction(
    scenario: Scenario, settings: RunSettings, executor: Any = None
) -> dict[str, Any]:
    summary = MonteCarloSummary(settings.apply(scenario))
    for replication in run_replications(scenario, settings, executor):
        summary.add(replication)
    return summary.prediction().to_dict()


def worker_ids() -> set[int | None]:
    return {child.pid for child in multiprocessing.active_children()}


@pytest.fixture
def scenarios() -> tuple[Scenario, Scenario]:
    """Two scenarios that differ in who answers, not in which incidents happen."""
    quick = Scenario.model_validate(escalating_data("2m", replications=5, seed=3))
    slow = Scenario.model_validate(escalating_data("30m", replications=5, seed=3))
    return quick, slow


@pytest.mark.parametrize("workers", [1, 2])
def test_runs_in_turn_on_one_executor_equal_separate_runs(
    scenarios: tuple[Scenario, Scenario], workers: int
):
    quick, slow = scenarios
    settings = RunSettings(workers=workers)
    separate = [prediction(s, RunSettings(workers=1)) for s in (quick, slow)]
    assert separate[0] != separate[1]

    # Back to the first scenario: each worker's engine follows the scenario.
    with replication_executor(settings) as executor:
        shared = [prediction(s, settings, executor) for s in (quick, slow, quick)]

    assert shared == [separate[0], separate[1], separate[0]]


def test_the_workers_start_once_and_are_gone_after_the_block(
    scenarios: tuple[Scenario, Scenario],
):
    before = worker_ids()
    seen: list[set[int | None]] = []
    settings = RunSettings(workers=2)

    with replication_executor(settings) as executor:
        for scenario in scenarios:
            for _ in run_replications(scenario, settings, executor):
                seen.append(worker_ids() - before)

    assert len(seen[0]) == 2
    assert all(ids == seen[0] for ids in seen)
    assert worker_ids() == before


@pytest.mark.parametrize("stop", [Interrupted, KeyboardInterrupt])
def test_an_error_half_way_stops_the_workers(stop: type[BaseException]):
    before = worker_ids()
    scenario = build_scenario(replications=6, seed=2)
    settings = RunSettings(workers=2)

    with pytest.raises(stop):
        with replication_executor(settings) as executor:
            for replication in run_replications(scenario, settings, executor):
                assert len(worker_ids() - before) == 2
                if replication.replication == 2:
                    raise stop()

    assert worker_ids() == before


def test_a_consumer_that_stops_early_leaves_no_workers():
    before = worker_ids()
    replications = run_replications(
        build_scenario(replications=6), RunSettings(workers=2)
    )
    assert next(replications).replication == 0
    assert len(worker_ids() - before) == 2

    replications.close()
    assert worker_ids() == before
