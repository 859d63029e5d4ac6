"""A drill's fault: a Chaos Toolkit experiment injected now, rolled back later.

``chaos run`` plays an experiment's method and rollbacks in one go, and by default
skips the rollbacks when a run fails or is interrupted. A drill needs time between
the two (the team works the incident) and must never leave the fault behind, so
the experiment is played in two runs of chaostoolkit-lib:

1. ``inject``: the steady-state hypothesis is checked, then the method runs; the
   experiment's rollbacks are held back.
2. ``roll_back``: the held-back rollbacks run as the method of a second run, with
   the rollback strategy "always", whatever happened in between; then the
   steady-state hypothesis is checked again.

The experiment file is used as it is: whatever ``chaos run`` accepts, extensions
included. chaoslib installs signal handlers and keeps module-level state, so both
runs must happen in the main thread of the process, one experiment at a time.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.configuration import load_configuration
from chaoslib.exceptions import ChaosException
from chaoslib.experiment import ensure_experiment_is_valid, run_experiment
from chaoslib.loader import load_experiment
from chaoslib.secret import load_secrets
from chaoslib.types import Strategy

from drillhall.errors import DrillhallError, InputError

logger = logging.getLogger(__name__)

ALWAYS_ROLL_BACK = {"runtime": {"rollbacks": {"strategy": "always"}}}


class FaultError(DrillhallError):
    """The fault could not be injected or rolled back."""


@dataclass(frozen=True)
class FaultOutcome:
    """What one chaostoolkit-lib run reported, kept from its journal."""

    status: str
    deviated: bool
    steady_state_met: bool | None
    activities: list[dict[str, Any]]
    journal: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        """The run completed and every steady-state check it made was met."""
        completed = self.status == "completed" and not self.deviated
        return completed and self.steady_state_met is not False


class Fault:
    """The experiment of one drill, loaded and validated once."""

    def __init__(
        self,
        experiment_file: str | Path,
        configuration: dict[str, Any] | None = None,
        secrets: dict[str, Any] | None = None,
        *,
        experiment: dict[str, Any] | None = None,
    ) -> None:
        self.source = Path(experiment_file)
        if experiment is None:
            experiment = load_fault_experiment(self.source)
        self.experiment = experiment
        self.variables = (configuration or {}, secrets or {})

    def resolved_variables(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Configuration and secrets as activities see them (defaults applied)."""
        overrides, secret_overrides = copy.deepcopy(self.variables)
        configuration = load_configuration(
            self.experiment.get("configuration", {}), overrides
        )
        secrets = load_secrets(
            self.experiment.get("secrets", {}), configuration, secret_overrides
        )
        return dict(configuration), dict(secrets)

    @property
    def title(self) -> str:
        return str(self.experiment.get("title", self.source.name))

    def check_steady_state(self) -> FaultOutcome:
        """Probe the steady-state hypothesis alone, touching nothing."""
        if not self.experiment.get("steady-state-hypothesis"):
            return _nothing_to_do("no steady-state hypothesis declared")
        experiment = copy.deepcopy(self.experiment)
        experiment["method"] = []
        experiment["rollbacks"] = []
        return self._run(experiment, Strategy.BEFORE_METHOD, "steady state")

    def inject(self) -> FaultOutcome:
        """Check the steady state, then play the method; hold the rollbacks."""
        experiment = copy.deepcopy(self.experiment)
        experiment["rollbacks"] = []
        outcome = self._run(experiment, Strategy.BEFORE_METHOD, "injection")
        if outcome.steady_state_met is False:
            logger.warning("steady state not met before injection: nothing injected")
        return outcome

    def roll_back(self) -> FaultOutcome:
        """Play the experiment's rollbacks, then check the steady state again."""
        experiment = copy.deepcopy(self.experiment)
        experiment["method"] = copy.deepcopy(self.experiment.get("rollbacks", []))
        experiment["rollbacks"] = []
        if not experiment["method"]:
            return _nothing_to_do("the experiment declares no rollbacks")
        return self._run(experiment, Strategy.AFTER_METHOD, "rollback")

    def _run(
        self, experiment: dict[str, Any], strategy: Strategy, what: str
    ) -> FaultOutcome:
        logger.info("%s: %s", what, self.title)
        try:
            journal = run_experiment(
                experiment,
                settings=copy.deepcopy(ALWAYS_ROLL_BACK),
                # chaoslib pops the variables it uses: hand it copies.
                experiment_vars=copy.deepcopy(self.variables),
                strategy=strategy,
            )
        except ChaosException as error:
            raise FaultError(f"{self.source}: {what} failed: {error}") from error
        return _outcome(journal)


def load_fault_experiment(path: Path) -> dict[str, Any]:
    """Load and validate a Chaos Toolkit experiment as ``chaos run`` would."""
    if not path.is_file():
        raise InputError("no such experiment file", source=str(path))
    try:
        experiment = load_experiment(str(path))
        ensure_experiment_is_valid(experiment)
    except ChaosException as error:
        message = str(error).strip().splitlines()[0] if str(error) else repr(error)
        raise InputError(
            f"not a valid Chaos Toolkit experiment: {message}", source=str(path)
        ) from None
    return dict(experiment)


def _outcome(journal: dict[str, Any]) -> FaultOutcome:
    states = journal.get("steady_states") or {}
    checks = [state for state in states.values() if state]
    met = all(state.get("steady_state_met") for state in checks) if checks else None
    activities = [
        {
            "name": run.get("activity", {}).get("name"),
            "status": run.get("status"),
            "start": run.get("start"),
            "end": run.get("end"),
            "output": _printable(run.get("output")),
        }
        for run in journal.get("run", [])
    ]
    return FaultOutcome(
        status=str(journal.get("status")),
        deviated=bool(journal.get("deviated")),
        steady_state_met=met,
        activities=activities,
        journal=journal,
    )


def _nothing_to_do(reason: str) -> FaultOutcome:
    return FaultOutcome("completed", False, None, [], {"note": reason})


def _printable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)[:500]
