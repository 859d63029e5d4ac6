"""The drill plan: what to break, under which load, how to respond, what to expect.

A plan is a YAML file validated like a scenario: every mistake is one line
``file:line:column: field: message``. This module holds the plan's schema and
``load_plan``, which reads a plan and has ``drillhall.drills.plan_files`` follow
the files it names (relative to the plan file): the Chaos Toolkit experiment,
the runbook, and the scenarios named for expectations and participants.

The loaded plan holds absolute paths, the experiment ready to run
(``loaded_experiment``), the runbook (``loaded_runbook``) and the scenarios.
"""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    PrivateAttr,
    field_validator,
    model_validator,
)

from drillhall.drills.runbook import URL_STARTS, Runbook
from drillhall.drills.schedule import Schedule
from drillhall.errors import InputError, InputErrors
from drillhall.simulator.durations import format_duration
from drillhall.simulator.fields import (
    Availability,
    Duration,
    PositiveDuration,
    Probability,
    StrictModel,
)
from drillhall.simulator.loader import PositionedYaml, parse_document
from drillhall.simulator.scenario import Scenario

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

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

    # NOTE: imported here, not at the top, because plan_files builds on the
    # models above; at the top, whichever module came first would fail.
    from drillhall.drills.plan_files import PlanFiles

    files = PlanFiles(plan, PositionedYaml(text, source), Path(file))
    files.check()

    plan = _with_absolute_paths(plan, files.folder)
    plan._source = Path(file).resolve()
    plan._experiment = files.experiment
    plan._runbook = files.runbook
    plan._scenarios = files.scenarios
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
