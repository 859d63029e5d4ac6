"""The on-call model, the SimPy engine and Monte Carlo predictions."""

from drillhall.simulator.engine import Engine
from drillhall.simulator.lifecycle import LifecycleRecord
from drillhall.simulator.loader import load_scenario, parse_scenario
from drillhall.simulator.montecarlo import RunSettings, run_replications
from drillhall.simulator.oncall import OnCallCalendar, on_call_at
from drillhall.simulator.scenario import Scenario
from drillhall.simulator.summary import MonteCarloSummary, Prediction

__all__ = [
    "Engine",
    "LifecycleRecord",
    "MonteCarloSummary",
    "OnCallCalendar",
    "Prediction",
    "RunSettings",
    "Scenario",
    "load_scenario",
    "on_call_at",
    "parse_scenario",
    "run_replications",
]
