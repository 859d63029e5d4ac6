"""Dask as an executor: the same figures as local workers, and clear errors."""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
from typing import Any

import pytest

from drillhall.errors import InputError
from drillhall.simulator.montecarlo import RunSettings, run_replications
from drillhall.simulator.scenario import Scenario
from drillhall.simulator.summary import MonteCarloSummary
from tests.conftest import build_scenario

needs_distributed = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="Dask is an optional extra: pip install 'drillhall[dask]'",
)


def predicted(scenario: Scenario, settings: RunSettings) -> dict[str, Any]:
    summary = MonteCarloSummary(settings.apply(scenario))
    order = []
    for replication in run_replications(scenario, settings):
        order.append(replication.replication)
        summary.add(replication)
    assert order == list(range(summary.scenario.replications))
    return summary.prediction().to_dict()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.slow
@needs_distributed
def test_local_cluster_gives_the_same_prediction_as_local_workers():
    # More replications than the submission window (2 threads × 4), so results
    # arrive out of order and are put back in order.
    scenario = build_scenario(replications=11, seed=7)

    one = predicted(scenario, RunSettings(workers=1))
    two = predicted(scenario, RunSettings(workers=2))
    dask = predicted(scenario, RunSettings(workers=2, dask="local"))

    assert one == two
    assert dask == one


@needs_distributed
def test_unreachable_scheduler_is_a_one_line_input_error():
    import dask

    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(InputError) as caught:
            next(run_replications(build_scenario(), RunSettings(dask=address)))

    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert message.startswith("--dask: ")
    assert address in message
    assert "\n" not in message


@needs_distributed
@pytest.mark.parametrize("address", ["lcoal", "127.0.0.1", "tcp://127.0.0.1"])
def test_malformed_address_names_the_expected_forms(address: str):
    with pytest.raises(InputError, match="tcp://HOST:8786") as caught:
        next(run_replications(build_scenario(), RunSettings(dask=address)))

    assert str(caught.value).startswith("--dask: ")


def test_missing_dask_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "distributed", None)

    with pytest.raises(InputError) as caught:
        next(run_replications(build_scenario(), RunSettings(dask="local")))

    message = str(caught.value)
    assert message.startswith("--dask: ")
    assert "pip install 'drillhall[dask]'" in message
    assert "\n" not in message
