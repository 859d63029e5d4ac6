"""Following a drill plan's files: experiment, runbook, scenarios.

A plan names files relative to itself. ``PlanFiles`` resolves them and checks
each as it will be used: the Chaos Toolkit experiment is loaded and validated
by chaoslib with the plan's overrides, the runbook is read and its activities
validated, and the scenarios named for expectations and participants are loaded
and their faults and rotations looked up. It also checks the sections of a plan
that need one another. Every problem is collected, each at its own file and
line, before one ``PlanErrors`` is raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ChaosException
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.hypothesis import ensure_hypothesis_is_valid
from chaoslib.loader import load_experiment

from drillhall.drills.plan import DrillPlan, Expectation, PlanError, PlanErrors
from drillhall.drills.runbook import (
    MARKDOWN_SUFFIXES,
    YAML_SUFFIXES,
    Runbook,
    RunbookError,
    RunbookErrors,
    load_runbook,
    validate_activities,
)
from drillhall.errors import InputError, InputErrors, ScenarioError
from drillhall.simulator.loader import PositionedYaml, format_path, load_scenario
from drillhall.simulator.scenario import Scenario

Location = tuple[str | int, ...]

EXPERIMENT_SUFFIXES = (".json", ".yaml", ".yml")
SCENARIO_SUFFIXES = (".yaml", ".yml")


class PlanFiles:
    """Follows the files a plan names; collects every problem before raising."""

    def __init__(self, plan: DrillPlan, document: PositionedYaml, file: Path) -> None:
        self.plan = plan
        self.document = document
        self.folder = file.resolve().parent
        self.shown = file.parent
        self.problems: list[InputError] = []
        self.experiment: dict[str, Any] | None = None
        self.runbook: Runbook | None = None
        self.scenarios: dict[Path, Scenario] = {}

    def check(self) -> None:
        """Check everything; raise ``PlanErrors`` if anything is wrong."""
        for at, message in _cross_checks(self.plan):
            self.problem(at, message)

        self.check_experiment()
        self.check_steady_state()
        self.check_runbook()
        self.check_locustfile()
        self.check_expectations()
        self.check_participants()

        if self.problems:
            # The plan's own problems first, each file's in the order of its lines.
            source = self.document.source
            self.problems.sort(
                key=lambda problem: (
                    problem.source != source,
                    problem.source or "",
                    problem.line or 0,
                    problem.column or 0,
                )
            )
            raise PlanErrors(self.problems)

    def problem(self, at: Location, message: str) -> None:
        """Record ``message`` at the plan's field ``at``."""
        position = self.document.position(at)
        line, column = position if position else (None, None)
        self.problems.append(
            PlanError(
                message,
                source=self.document.source,
                line=line,
                column=column,
                field=format_path(at) or None,
            )
        )

    def file(self, at: Location, value: Path, suffixes: tuple[str, ...]) -> Path | None:
        """The absolute path of the file at ``at``, or ``None`` after a problem."""
        path = (self.folder / value).resolve()
        if value.suffix.lower() not in suffixes:
            self.problem(
                at, f"expected a {' or '.join(suffixes)} file, got {str(value)!r}"
            )
            return None
        if not path.is_file():
            self.problem(
                at,
                f"no such file {self.show(value)!r} (paths are relative to the plan "
                "file)",
            )
            return None
        return path

    def show(self, value: Path) -> str:
        """A path as the user can find it from where they ran drillhall."""
        return os.path.normpath(self.shown / value)

    def check_experiment(self) -> None:
        """Load the experiment with chaoslib and validate it as it will run."""
        at: Location = ("fault", "experiment")
        value = self.plan.fault.experiment
        path = self.file(at, value, EXPERIMENT_SUFFIXES)
        if path is None:
            return

        shown = self.show(value)
        try:
            experiment = load_experiment(str(path))
        except ValueError as error:  # JSON that cannot be read
            self.problem(at, f"{shown} is not valid JSON or YAML: {_one_line(error)}")
            return
        except OSError as error:
            self.problem(at, f"cannot read {shown}: {_one_line(error)}")
            return
        except ChaosException as error:
            self.problem(at, f"{shown} cannot be loaded: {_one_line(error)}")
            return
        if not isinstance(experiment, dict):
            self.problem(at, f"{shown} is not a Chaos Toolkit experiment (a mapping)")
            return

        checked = dict(experiment)
        checked["configuration"] = {
            **(experiment.get("configuration") or {}),
            **self.plan.fault.configuration,
        }
        checked["secrets"] = {
            **(experiment.get("secrets") or {}),
            **self.plan.fault.secrets,
        }
        reason = _chaoslib_rejects(ensure_experiment_is_valid, checked)
        if reason:
            self.problem(
                at, f"{shown} is not a valid Chaos Toolkit experiment: {reason}"
            )
            return
        if not experiment.get("rollbacks"):
            self.problem(
                at,
                f"{shown} declares no rollbacks; a drill must remove its fault, so "
                "add the actions that undo the method under 'rollbacks'",
            )
            return

        steady = self.plan.target.steady_state
        if steady is not None:
            experiment = {
                **experiment,
                "steady-state-hypothesis": steady.model_dump(),
            }
        self.experiment = experiment

    def check_steady_state(self) -> None:
        """Each of the plan's steady-state probes, as chaoslib checks them."""
        steady = self.plan.target.steady_state
        if steady is None:
            return
        for index, probe in enumerate(steady.probes):
            hypothesis = {"title": steady.title, "probes": [probe]}
            reason = _chaoslib_rejects(
                ensure_hypothesis_is_valid, {"steady-state-hypothesis": hypothesis}
            )
            if reason:
                at = ("target", "steady_state", "probes", index)
                self.problem(at, f"Chaos Toolkit rejects this probe: {reason}")

    def check_runbook(self) -> None:
        """Read the runbook; its own problems are reported at its own lines."""
        suffixes = MARKDOWN_SUFFIXES + YAML_SUFFIXES
        path = self.file(("runbook",), self.plan.runbook, suffixes)
        if path is None:
            return
        try:
            runbook = load_runbook(self.show(self.plan.runbook))
            validate_activities(runbook)
        except RunbookErrors as error:
            self.problems.extend(error.problems)
            return
        except RunbookError as error:
            self.problems.append(error)
            return
        self.runbook = runbook

    def check_locustfile(self) -> None:
        """The locustfile exists (it is run by Locust, not read here)."""
        if self.plan.load is not None and self.plan.load.locustfile is not None:
            self.file(("load", "locustfile"), self.plan.load.locustfile, (".py",))

    def check_expectations(self) -> None:
        """Predicted expectations name a scenario and a fault declared in it."""
        expectations = self.plan.expectations
        for step in ("detect", "acknowledge", "mitigate", "resolve"):
            expectation: Expectation | None = getattr(expectations, step)
            if expectation is None or expectation.scenario is None:
                continue

            at: Location = ("expectations", step)
            scenario = self.scenario((*at, "scenario"), expectation.scenario)
            if scenario is None or expectation.fault is None:
                continue

            service, _, fault = expectation.fault.partition("/")
            declared = scenario.services.get(service)
            if declared is None:
                known = ", ".join(sorted(scenario.services)) or "none"
                message = f"unknown service {service!r}; declared: {known}"
                self.problem((*at, "fault"), message)
            elif fault not in {each.name for each in declared.faults}:
                known = ", ".join(each.name for each in declared.faults) or "none"
                message = f"service {service!r} has no fault {fault!r}; it has: {known}"
                self.problem((*at, "fault"), message)

    def check_participants(self) -> None:
        """A rotation named for the participants is declared in its scenario."""
        participants = self.plan.participants
        if participants.scenario is None or participants.rotation is None:
            return
        scenario = self.scenario(("participants", "scenario"), participants.scenario)
        if scenario is None:
            return

        team, _, rotation = participants.rotation.partition("/")
        declared = scenario.teams.get(team)
        if declared is None or rotation not in declared.rotations:
            known = ", ".join(
                f"{name}/{each}"
                for name, held in sorted(scenario.teams.items())
                for each in held.rotations
            )
            message = f"unknown rotation {participants.rotation!r}; declared: {known}"
            self.problem(("participants", "rotation"), message)

    def scenario(self, at: Location, value: Path) -> Scenario | None:
        """The scenario at ``at``, loaded once; its problems at its own lines."""
        path = self.file(at, value, SCENARIO_SUFFIXES)
        if path is None:
            return None
        if path in self.scenarios:
            return self.scenarios[path]
        try:
            scenario = load_scenario(self.show(value))
        except InputErrors as error:
            self.problems.extend(error.problems)
            return None
        except ScenarioError as error:
            self.problems.append(error)
            return None
        self.scenarios[path] = scenario
        return scenario


def _cross_checks(plan: DrillPlan) -> Iterator[tuple[Location, str]]:
    """Sections that need another section."""
    measured = "is measured from the load; add a 'load' section"
    if plan.load is None:
        if plan.slos is not None:
            yield ("slos",), f"the SLO {measured}"
        if plan.guardrails.error_rate is not None:
            yield ("guardrails", "error_rate"), f"the error rate {measured}"

    budget = plan.guardrails.budget_burn
    if budget is not None and (plan.slos is None or plan.slos.availability is None):
        message = (
            "the error budget comes from the availability SLO; add "
            "'slos: {availability: 99%}'"
        )
        yield ("guardrails", "budget_burn"), message

    load = plan.load
    if load is not None and load.duration is not None:
        if load.duration > plan.guardrails.max_duration:
            message = (
                "the load outlasts the drill (guardrails.max_duration); shorten it "
                "or leave it out to load the whole drill"
            )
            yield ("load", "duration"), message


def _chaoslib_rejects(
    validate: Callable[[dict[str, Any]], object], experiment: dict[str, Any]
) -> str | None:
    """chaoslib's reason for rejecting ``experiment``, on one line, or ``None``."""
    try:
        validate(experiment)
    # NOTE: chaoslib raises its own errors for what it checks, and plain ones
    # (KeyError, TypeError, an imported module's) for shapes it does not expect;
    # all of them are the user's mistake, not ours.
    except ChaosException as error:
        return _one_line(error)
    except Exception as error:
        return (
            f"chaoslib cannot read it ({type(error).__name__}: {_one_line(error)}); "
            "compare it with the Chaos Toolkit experiment format"
        )
    return None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
