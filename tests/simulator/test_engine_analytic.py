"""The engine against queueing and escalation formulas that have exact answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from drillhall.simulator.engine import Engine
from tests.conftest import build_scenario


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang's C formula)."""
    top = offered_load**servers / math.factorial(servers)
    top *= servers / (servers - offered_load)
    bottom = sum(offered_load**k / math.factorial(k) for k in range(servers))
    return top / (bottom + top)


def run_incidents(scenario, replications: int):
    engine = Engine(scenario)
    incidents = []
    for replication in range(replications):
        incidents += engine.run(replication).incidents
    return incidents


@pytest.mark.slow
def test_waiting_times_match_erlang_c():
    """Poisson arrivals, instant detection and acknowledgement, exponential work,
    three interchangeable responders: the wait for a free one is M/M/3."""
    arrivals_per_hour, mean_work_hours, servers = 2.0, 1.0, 3
    scenario = build_scenario(
        horizon="400d",
        escalation={
            "pool": {"levels": [{"targets": ["ana", "ben", "cai"], "delay": "1h"}]}
        },
        services={
            "api": {
                "team": "ops",
                "escalation": "pool",
                "faults": [
                    {
                        "name": "crash",
                        "rate": f"{arrivals_per_hour}/hour",
                        "diagnose": {"exponential": {"mean": f"{mean_work_hours}h"}},
                        "mitigate": "0s",
                    }
                ],
            }
        },
    )

    incidents = run_incidents(scenario, replications=3)
    waits = np.array([i.work_started - i.detected for i in incidents]) / 3600

    offered = arrivals_per_hour * mean_work_hours
    waiting_share = erlang_c(servers, offered)
    mean_wait = waiting_share / (servers / mean_work_hours - arrivals_per_hour)
    assert len(incidents) > 50_000
    assert np.mean(waits > 0) == pytest.approx(waiting_share, rel=0.04)
    assert np.mean(waits) == pytest.approx(mean_wait, rel=0.06)


def test_one_level_escalates_with_exponential_tail():
    """Exponential acknowledgement with mean m and a level delay T: a share
    1 - exp(-T/m) is acknowledged within the level, exp(-T/m) escalates."""
    mean_ack, delay = 10.0, 15.0  # minutes
    scenario = build_scenario(
        horizon="365d",
        behaviours={
            "default": {"acknowledge": {"working": {"exponential": {"mean": "10m"}}}}
        },
        escalation={
            "main": {
                "levels": [
                    {"targets": ["ana"], "delay": f"{delay:g}m"},
                    {"targets": ["ben"], "delay": "1h"},
                ]
            }
        },
        services={
            "api": {
                "team": "ops",
                "escalation": "main",
                "faults": [
                    {
                        "name": "crash",
                        "rate": "6/day",
                        "diagnose": "5m",
                        "mitigate": "0s",
                    }
                ],
            }
        },
    )

    incidents = run_incidents(scenario, replications=2)
    escalated = np.mean([incident.level >= 1 for incident in incidents])
    within = np.mean(
        [
            incident.acknowledged - incident.detected <= delay * 60
            for incident in incidents
        ]
    )

    expected_within = 1 - math.exp(-delay / mean_ack)
    assert within == pytest.approx(expected_within, abs=0.015)
    assert escalated == pytest.approx(1 - expected_within, abs=0.015)
    assert all(incident.escalations == (incident.level >= 1) for incident in incidents)


def test_single_level_without_repeat_keeps_late_acknowledgements():
    """With one level and no repeat there is nowhere to escalate: the page stays
    with the person, who acknowledges late, and nothing is marked exhausted."""
    scenario = build_scenario(
        behaviours={
            "default": {"acknowledge": {"working": {"exponential": {"mean": "30m"}}}}
        },
    )
    incidents = run_incidents(scenario, replications=1)
    late = [i for i in incidents if i.acknowledged - i.detected > 15 * 60]
    assert late
    assert not any(incident.exhausted for incident in incidents)
    assert all(incident.acknowledged_by is not None for incident in incidents)
