"""The drill plan: what to break, under which load, how to respond, what to expect.

A plan is a YAML file validated like a scenario: every mistake is one line
``file:line:column: field: message``. ``load_plan`` also follows the files a plan
names (relative to the plan file): the Chaos Toolkit experiment is loaded and
validated by chaoslib, the runbook is read, and scenarios named for expectations
and participants are loaded and their faults and rotations looked up.

The loaded plan holds absolute paths, the experiment ready to run
(``loaded_experiment``), the runbook (``loaded_runbook``) and the scenarios.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from chaoslib.exceptions import ChaosException
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.hypothesis import ensure_hypothesis_is_valid
from chaoslib.loader import load_experiment
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    PrivateAttr,
    field_validator,
    model_validator,
)

from drillhall.drills.runbook import (
    MARKDOWN_SUFFIXES,
    URL_STARTS,
    YAML_SUFFIXES,
    Runbook,
    RunbookError,
    RunbookErrors,
    load_runbook,
    validate_activities,
)
from drillhall.drills.schedule import Schedule
from drillhall.errors import InputError, InputErrors, ScenarioError
from drillhall.simulator.durations import format_duration
from drillhall.simulator.fields import (
    Availability,
    Duration,
    PositiveDuration,
    Probability,
    StrictModel,
)
from drillhall.simulator.loader import (
    PositionedYaml,
    format_path,
    load_scenario,
    parse_document,
)
from drillhall.simulator.scenario import Scenario

logger = logging.getLogger(__name__)

Location = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

EXPERIMENT_SUFFIXES = (".json", ".yaml", ".yml")
SCENARIO_SUFFIXES = (".yaml", ".yml")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_PAIR = re.compile(r"^[^/\s]+/[^/\s]+$")


class PlanError(InputError):
    """A drill plan, or a file it names, is invalid."""


class PlanErrors(InputErrors, PlanError):
    """Several problems in one drill plan, each on a line of its own."""


PlanFile = Annotated[Path, Field(description="a file path, relative to the plan file")]


# Target and fault


class SteadyState(StrictModel):
    """A Chaos Toolkit steady-state hypothesis: probes with tolerances.

    Written as Chaos Toolkit takes it; replaces the experiment's own hypothesis.
    """

    title: str = Field(min_length=1)
    probes: list[dict[str, Any]] = Field(
        default=[], description="Chaos Toolkit probes, each with a 'tolerance'"
    )


class Target(StrictModel):
    """The system under drill and the steady state it should hold."""

    name: str = Field(min_length=1)
    steady_state: SteadyState | None = Field(
        default=None,
        description="if absent, the experiment's own steady-state-hypothesis",
    )


class Injection(StrictModel):
    """The fault: a Chaos Toolkit experiment that ``chaos run`` would accept.

    Its method injects the fault and its rollbacks remove it. ``configuration``
    and ``secrets`` override the experiment's values of the same names.
    """

    experiment: PlanFile
    configuration: dict[str, Any] = {}
    secrets: dict[str, dict[str, Any]] = {}


# Load


class LoadRequest(StrictModel):
    """One kind of request a simulated user sends; ``weight`` is relative."""

    path: str = Field(description="starts with '/', e.g. '/item/a'")
    weight: int = Field(default=1, ge=1)
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    body: dict[str, Any] | None = Field(default=None, description="sent as JSON")

    @field_validator("path")
    @classmethod
    def _rooted(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(
                f"a request path starts with '/', like '/item/a'; got {path!r}"
            )
        return path


class Load(StrictModel):
    """A Locust profile: a locustfile, or requests declared here.

    ``duration`` defaults to the whole drill.
    """

    locustfile: PlanFile | None = None
    host: str | None = Field(
        default=None,
        description="base URL, e.g. 'http://127.0.0.1:8380', or '${key}' naming "
        "a configuration value of the experiment",
    )
    users: int = Field(default=10, ge=1)
    spawn_rate: float = Field(default=10.0, gt=0, description="users per second")
    wait: Duration = Field(
        default=1.0, description="pause between one user's requests (declared load)"
    )
    requests: list[LoadRequest] | None = Field(default=None, min_length=1)
    duration: PositiveDuration | None = None

    @field_validator("host")
    @classmethod
    def _absolute_host(cls, host: str | None) -> str | None:
        if host is not None and not host.startswith(URL_STARTS):
            raise ValueError(
                f"expected a base URL like 'http://127.0.0.1:8380' or "
                f"'${{service_url}}', got {host!r}"
            )
        return host

    @model_validator(mode="after")
    def _one_source(self) -> Load:
        if (self.locustfile is None) == (self.requests is None):
            raise ValueError(
                "give either 'locustfile' or 'requests' (with 'host'), not both "
                "and not neither"
            )
        if self.requests is not None and self.host is None:
            raise ValueError("declared 'requests' need a 'host' to send them to")
        return self


# SLOs and guardrails


def _format_latency(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else format_duration(seconds)


Latency = Annotated[PositiveDuration, PlainSerializer(_format_latency, return_type=str)]
"""A positive duration shown to the millisecond below a second: ``250ms``."""


class LatencySlo(StrictModel):
    """The ``percentile`` of request latency stays below ``below``."""

    percentile: float = Field(gt=0, lt=100, examples=[95])
    below: Latency = Field(examples=["300ms"])


class Slos(StrictModel):
    """Service level objectives over the drill window, measured from the load."""

    availability: Availability | None = None
    latency: LatencySlo | None = None

    @model_validator(mode="after")
    def _something(self) -> Slos:
        if self.availability is None and self.latency is None:
            raise ValueError("declare 'availability', 'latency' or both")
        return self


class ErrorRateGuardrail(StrictModel):
    """Abort when the error rate stays above ``above`` for ``for``."""

    above: Probability
    for_: PositiveDuration = Field(
        default=30.0, alias="for", description="length of the sliding window"
    )


class BudgetBurnGuardrail(StrictModel):
    """Abort once the drill has burnt ``above`` of its error budget."""

    above: Probability


class Guardrails(StrictModel):
    """Limits that abort the drill and roll the fault back."""

    error_rate: ErrorRateGuardrail | None = None
    budget_burn: BudgetBurnGuardrail | None = None
    max_duration: PositiveDuration = Field(
        default=30 * 60.0, description="the drill's longest run"
    )


# Expectations


class Expectation(StrictModel):
    """A target time: ``within`` a duration, or a percentile of a prediction.

    ``{scenario, fault, percentile}`` means the ``percentile``-th percentile the
    simulator predicts for ``fault`` (``service/fault``) in ``scenario``. A bare
    duration such as ``5m`` means ``{within: 5m}``.
    """

    within: PositiveDuration | None = None
    scenario: PlanFile | None = None
    fault: str | None = Field(default=None, examples=["checkout/db-primary-down"])
    percentile: float = Field(default=90.0, gt=0, lt=100)

    @model_validator(mode="after")
    def _one_kind(self) -> Expectation:
        if (self.within is None) == (self.scenario is None):
            raise ValueError(
                "give either a duration ('5m') or a prediction "
                "({scenario: FILE, fault: service/fault, percentile: 90})"
            )
        if self.scenario is not None:
            if self.fault is None:
                raise ValueError("a prediction names its 'fault' as service/fault")
            if not _PAIR.match(self.fault):
                raise ValueError(
                    f"expected the fault as 'service/fault', got {self.fault!r}"
                )
        return self


def _bare_duration(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"within": value}
    return value


ExpectedTime = Annotated[
    Expectation,
    BeforeValidator(_bare_duration, json_schema_input_type=str | Expectation),
]


class Expectations(StrictModel):
    """Target times from the fault's start for each step of the lifecycle."""

    detect: ExpectedTime | None = None
    acknowledge: ExpectedTime | None = None
    mitigate: ExpectedTime | None = None
    resolve: ExpectedTime | None = None


# Participants


class Robots(StrictModel):
    """drillhall plays a responder: it acknowledges, then runs the steps' actions."""

    acknowledge_after: Duration = 30.0
    role: Literal["primary", "secondary"] = "primary"
    step_pace: Duration = Field(
        default=10.0, description="pause before each runbook step"
    )


class Participants(StrictModel):
    """Who responds: a scenario's rotation at the drill's start, or names.

    An unannounced drill (``announced: false``) shows participants nothing of
    the fault until the report.
    """

    scenario: PlanFile | None = None
    rotation: str | None = Field(default=None, examples=["ops/primary"])
    names: list[str] | None = Field(default=None, min_length=1)
    announced: bool = True
    robots: Robots | None = None

    @model_validator(mode="after")
    def _who(self) -> Participants:
        if (self.scenario is None) != (self.rotation is None):
            raise ValueError("'scenario' and 'rotation' go together")
        if self.rotation is not None and not _PAIR.match(self.rotation):
            raise ValueError(
                f"expected the rotation as 'team/rotation', got {self.rotation!r}"
            )
        if self.scenario is not None and self.names is not None:
            raise ValueError("give either 'scenario' with 'rotation' or 'names'")

        people = self.scenario is not None or self.names is not None
        if not people and self.robots is None:
            raise ValueError(
                "nobody responds: give 'scenario' and 'rotation', 'names' or 'robots'"
            )
        if not people and self.robots is not None and self.robots.role != "primary":
            raise ValueError("a secondary robot needs people as the primary")
        return self


# The plan


class DrillPlan(StrictModel):
    """A live drill: target, fault, load, runbook, SLOs, guardrails, schedule."""

    name: str = Field(description="lowercase letters, digits, '.', '_' and '-'")
    description: str = ""
    target: Target
    fault: Injection
    load: Load | None = None
    runbook: PlanFile = Field(description="Markdown (.md) or YAML (.yaml) runbook")
    slos: Slos | None = None
    guardrails: Guardrails = Guardrails()
    expectations: Expectations = Expectations()
    participants: Participants
    schedule: Schedule | None = None

    _source: Path | None = PrivateAttr(default=None)
    _experiment: dict[str, Any] | None = PrivateAttr(default=None)
    _runbook: Runbook | None = PrivateAttr(default=None)
    _scenarios: dict[Path, Scenario] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _slug(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(
                f"a drill name is lowercase letters, digits, '.', '_' and '-', "
                f"like 'primary-down'; got {name!r}"
            )
        return name

    @property
    def source(self) -> Path | None:
        """The plan file this plan was loaded from."""
        return self._source

    @property
    def loaded_experiment(self) -> dict[str, Any]:
        """The experiment to run: the file, with the plan's steady state if any.

        A fresh copy each time: chaoslib may change what it runs.
        """
        if self._experiment is None:
            raise PlanError(f"load the plan {self.name!r} with load_plan first")
        return copy.deepcopy(self._experiment)

    @property
    def loaded_runbook(self) -> Runbook:
        """The runbook named by ``runbook``."""
        if self._runbook is None:
            raise PlanError(f"load the plan {self.name!r} with load_plan first")
        return self._runbook

    @property
    def scenarios(self) -> dict[Path, Scenario]:
        """Scenarios named by expectations and participants, by absolute path."""
        return dict(self._scenarios)

    @property
    def experiment_vars(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The overrides as chaoslib's ``experiment_vars``: (configuration, secrets)."""
        return dict(self.fault.configuration), dict(self.fault.secrets)


def load_plan(file: str | Path) -> DrillPlan:
    """Read and validate the drill plan in ``file`` and every file it names.

    Raises ``PlanErrors``: each problem on a line of its own, in the plan or in
    the file that holds it (runbook, scenario, experiment).
    """
    source = str(file)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanErrors([PlanError("no such file", source=source)]) from None
    except (OSError, UnicodeDecodeError) as error:
        problem = PlanError(f"cannot read the file: {error}", source=source)
        raise PlanErrors([problem]) from None

    plan = _parse(text, source)
    check = _Check(plan, PositionedYaml(text, source), Path(file))
    check.run()

    plan = _with_absolute_paths(plan, check.folder)
    plan._source = Path(file).resolve()
    plan._experiment = check.experiment
    plan._runbook = check.runbook
    plan._scenarios = check.scenarios
    logger.debug("loaded drill plan %s from %s", plan.name, source)
    return plan


def _parse(text: str, source: str) -> DrillPlan:
    try:
        return parse_document(
            text,
            source,
            DrillPlan,
            errors=PlanErrors,
            shape="a drill plan is a mapping with keys like name, target, fault, "
            "load, runbook, slos, guardrails, expectations and participants",
        )
    except PlanErrors:
        raise
    # NOTE: the shared loader reports YAML it cannot read as a ScenarioError;
    # give it the plan's error class until the loader takes one for that too.
    except InputError as error:
        raise PlanErrors([_relabelled(error)]) from None


def _relabelled(problem: InputError) -> PlanError:
    return PlanError(
        problem.message,
        source=problem.source,
        line=problem.line,
        column=problem.column,
        field=problem.field,
    )


class _Check:
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

    def run(self) -> None:
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


def _with_absolute_paths(model: M, folder: Path) -> M:
    """A copy of ``model`` whose relative paths are made absolute from ``folder``."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            update[name] = (folder / value).resolve()
        elif isinstance(value, BaseModel):
            resolved = _with_absolute_paths(value, folder)
            if resolved is not value:
                update[name] = resolved
    return model.model_copy(update=update) if update else model
