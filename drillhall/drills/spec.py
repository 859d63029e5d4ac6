"""From a validated drill plan to what the runner needs, values resolved.

Three things are resolved here: ``${key}`` references to the experiment's
configuration (the load's host, say), expected times that a plan takes from the
simulator ("the 90th percentile predicted for this fault"), and the runbook's
steps as the Chaos Toolkit activities a robot performs.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from chaoslib import substitute

from drillhall.drills.fault import Fault
from drillhall.drills.guardrails import Limits
from drillhall.drills.load import LoadProfile, Request
from drillhall.drills.plan import DrillPlan, Expectation
from drillhall.drills.runner import DrillSpec, ReceiverSettings, Robot, RunbookAction
from drillhall.simulator.engine import Engine
from drillhall.simulator.oncall import on_call_at
from drillhall.simulator.scenario import Scenario

logger = logging.getLogger(__name__)

PREDICTION_REPLICATIONS = 20
"""Simulated years behind a predicted expectation (a few hundred incidents)."""

PHASE_OF = {"detect": "ttd", "acknowledge": "tta", "mitigate": "ttm", "resolve": "ttr"}


def spec_from_plan(
    plan: DrillPlan,
    variables: dict[str, Any] | None = None,
    receiver: ReceiverSettings | None = None,
) -> DrillSpec:
    """The run of ``plan``; ``variables`` override its configuration."""
    source = plan.source or Path(plan.name)
    overrides, secrets = plan.experiment_vars
    overrides.update(variables or {})
    fault = Fault(
        plan.fault.experiment,
        overrides,
        secrets,
        experiment=plan.loaded_experiment,
    )
    configuration, _ = fault.resolved_variables()

    expected, predicted = _expectations(plan)
    guardrails = plan.guardrails
    availability = plan.slos.availability if plan.slos else None
    limits = Limits(
        error_rate_above=guardrails.error_rate.above if guardrails.error_rate else None,
        error_rate_for=guardrails.error_rate.for_ if guardrails.error_rate else 30.0,
        budget_burn_above=(
            guardrails.budget_burn.above if guardrails.budget_burn else None
        ),
        availability=availability,
        max_duration=guardrails.max_duration,
    )
    robots = plan.participants.robots
    return DrillSpec(
        name=plan.name,
        experiment=Path(plan.fault.experiment),
        configuration=overrides,
        secrets=secrets,
        load=_load(plan, configuration),
        limits=limits,
        runbook=_runbook(plan),
        robot=(
            Robot(
                acknowledge_after=robots.acknowledge_after,
                step_pace=robots.step_pace,
                secondary=robots.role == "secondary",
            )
            if robots
            else None
        ),
        expected=expected,
        predicted=predicted,
        availability=availability,
        latency_below=(
            plan.slos.latency.below if plan.slos and plan.slos.latency else None
        ),
        max_duration=guardrails.max_duration,
        receiver=receiver,
        participants=lambda moment: participants_at(plan, moment),
        announced=plan.participants.announced,
        loaded_experiment=plan.loaded_experiment,
        plan_file=source,
    )


def participants_at(plan: DrillPlan, moment: datetime) -> list[str]:
    """Who responds to a drill starting at ``moment``: the names the plan lists,
    or whoever the scenario's rotation has on call then."""
    participants = plan.participants
    if participants.names:
        return list(participants.names)
    if participants.scenario is None or participants.rotation is None:
        return []

    scenario = plan.scenarios[Path(participants.scenario)]
    team, _, rotation = participants.rotation.partition("/")
    person = on_call_at(
        scenario.teams[team].rotations[rotation], moment, scenario.start_date
    )
    return [person] if person else []


def _load(plan: DrillPlan, configuration: dict[str, Any]) -> LoadProfile | None:
    load = plan.load
    if load is None:
        return None
    host = str(substitute(load.host or "", configuration, {}))
    requests = [
        Request(request.path, request.weight, request.method, request.body)
        for request in load.requests or []
    ]
    return LoadProfile(
        host=host,
        users=load.users,
        spawn_rate=load.spawn_rate,
        requests=requests,
        locustfile=Path(load.locustfile) if load.locustfile else None,
        duration=load.duration or plan.guardrails.max_duration,
        wait=load.wait,
    )


def _runbook(plan: DrillPlan) -> list[RunbookAction]:
    return [
        RunbookAction(
            step.number,
            step.title,
            action=step.action_activity(),
            check=step.check_activity(),
        )
        for step in plan.loaded_runbook.steps
    ]


def _expectations(
    plan: DrillPlan,
) -> tuple[dict[str, float | None], dict[str, np.ndarray]]:
    expected: dict[str, float | None] = {}
    predicted: dict[str, np.ndarray] = {}
    for name, phase in PHASE_OF.items():
        expectation: Expectation | None = getattr(plan.expectations, name)
        if expectation is None:
            expected[phase] = None
            continue
        if expectation.within is not None:
            expected[phase] = expectation.within
            continue

        assert expectation.scenario is not None and expectation.fault is not None
        scenario = plan.scenarios[Path(expectation.scenario)]
        durations = predicted_durations(scenario, expectation.fault)[phase]
        predicted[phase] = durations
        expected[phase] = (
            float(np.percentile(durations, expectation.percentile))
            if len(durations)
            else None
        )
    return expected, predicted


def predicted_durations(scenario: Scenario, fault: str) -> dict[str, np.ndarray]:
    """Simulated TTD, TTA, TTM and TTR of one ``service/fault`` of a scenario."""
    service, _, fault_name = fault.partition("/")
    engine = Engine(scenario)
    service_index = engine.services.index(service)
    fault_index = [f.name for f in scenario.services[service].faults].index(fault_name)
    phases: dict[str, list[float]] = {"ttd": [], "tta": [], "ttm": [], "ttr": []}
    for replication in range(PREDICTION_REPLICATIONS):
        for incident in engine.run(replication).incidents:
            if incident.service != service_index or incident.fault != fault_index:
                continue
            for phase, seconds in incident.phase_seconds().items():
                phases[phase].append(seconds)
    logger.info("predicted %s from %d simulated incidents", fault, len(phases["ttd"]))
    return {phase: np.asarray(values) for phase, values in phases.items()}
