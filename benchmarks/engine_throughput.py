"""How many incidents per second drillhall simulates, against plain SimPy.

Simulates the follow-the-sun example four ways in one run and prints incidents
per second of wall time for each:

(a) the plain SimPy model in ``plain_simpy.py`` (a process per incident),
(b) drillhall's ``Engine.run`` in this process,
(c) ``run_replications`` with one worker and with two worker processes.

Usage::

    .venv/bin/python benchmarks/engine_throughput.py [--replications N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import simpy
from plain_simpy import (
    PlainModel,
    engine_rows,
    format_comparison,
    lifecycle_means,
    plain_rows,
)

from drillhall.simulator.engine import Engine
from drillhall.simulator.loader import load_scenario
from drillhall.simulator.montecarlo import RunSettings, run_replications
from drillhall.simulator.scenario import Scenario

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "follow-the-sun.yaml"
REPETITIONS = 3


@dataclass
class Trial:
    """One timed repetition: how much was simulated and how long it took."""

    incidents: int
    events: int | None
    seconds: float
    first_result: float
    outcomes: list[object]


@dataclass
class Figure:
    """The median of several trials of one way of running the scenario."""

    label: str
    trials: list[Trial]

    @property
    def incidents_per_second(self) -> float:
        return statistics.median(t.incidents / t.seconds for t in self.trials)

    @property
    def seconds(self) -> float:
        return statistics.median(trial.seconds for trial in self.trials)

    @property
    def first_result(self) -> float:
        return statistics.median(trial.first_result for trial in self.trials)

    @property
    def events_per_incident(self) -> float | None:
        trial = self.trials[-1]
        return None if trial.events is None else trial.events / trial.incidents


Runner = Callable[[], Trial]


def time_outcomes(run_one: Callable[[int], object], replications: int) -> Trial:
    """Time ``run_one`` over the replications; count incidents and events."""
    began = time.perf_counter()
    first = run_one(0)
    first_result = time.perf_counter() - began
    outcomes = [first, *(run_one(r) for r in range(1, replications))]
    seconds = time.perf_counter() - began

    incidents = sum(len(outcome.incidents) for outcome in outcomes)  # type: ignore[attr-defined]
    events = sum(outcome.events for outcome in outcomes)  # type: ignore[attr-defined]
    return Trial(incidents, events, seconds, first_result, outcomes)


def time_monte_carlo(scenario: Scenario, replications: int, workers: int) -> Trial:
    """Time ``run_replications`` from the call to the last summary."""
    settings = RunSettings(replications=replications, workers=workers)
    began = time.perf_counter()
    summaries = run_replications(scenario, settings)
    first = next(summaries)
    first_result = time.perf_counter() - began
    rest = list(summaries)
    seconds = time.perf_counter() - began

    incidents = sum(s.incidents + s.false_alarms for s in [first, *rest])
    return Trial(incidents, None, seconds, first_result, [])


def runners(scenario: Scenario, replications: int) -> dict[str, Runner]:
    """The four ways to run, each a function doing one timed repetition."""
    # The plain model and the engine are built once, as a caller reusing them
    # would; Monte Carlo builds its engine (one per worker) inside the timing.
    plain = PlainModel(scenario)
    engine = Engine(scenario)
    return {
        "(a) plain SimPy model": lambda: time_outcomes(plain.run, replications),
        "(b) Engine.run, one process": lambda: time_outcomes(engine.run, replications),
        "(c) run_replications, 1 worker": lambda: time_monte_carlo(
            scenario, replications, 1
        ),
        "(c) run_replications, 2 workers": lambda: time_monte_carlo(
            scenario, replications, 2
        ),
    }


def measure(ways: dict[str, Runner], repetitions: int) -> list[Figure]:
    """Run every way ``repetitions`` times, interleaved so drift hits all alike."""
    figures = [Figure(label, []) for label in ways]
    for repetition in range(repetitions):
        for figure, run in zip(figures, ways.values(), strict=True):
            print(f"  repetition {repetition + 1}: {figure.label}", file=sys.stderr)
            figure.trials.append(run())
            # Only the last repetition's outcomes are kept, for the comparison.
            if repetition + 1 < repetitions:
                figure.trials[-1].outcomes = []
    return figures


def header(scenario: Scenario, replications: int, repetitions: int) -> str:
    cores = os.cpu_count()
    return f"""\
drillhall engine throughput: {scenario.name}, {replications} replications
of {scenario.horizon / 86400:g} days each, median of {repetitions} repetitions
{date.today()}, {platform.machine()}, {cores} cores, Python {platform.python_version()}, \
SimPy {simpy.__version__}, numpy {np.__version__}

incidents/s: incidents simulated (false alerts included) per second of wall time.
events/incident: SimPy events processed per incident ('-' where not counted).
(a) and (b) build their model once, outside the timing; (c) times the whole call,
including building the engine, starting worker processes and summarizing each
replication, as 'drillhall simulate' does. 'first result' is the time until the
first replication came back: for 2 workers, mostly process start-up.
"""


def table(figures: Sequence[Figure]) -> str:
    lines = [
        f"{'':<34}{'incidents/s':>12}{'events/incident':>17}"
        f"{'seconds':>9}{'first result':>14}"
    ]
    for figure in figures:
        events = figure.events_per_incident
        shown = "-" if events is None else f"{events:.2f}"
        lines.append(
            f"{figure.label:<34}{figure.incidents_per_second:>12,.0f}{shown:>17}"
            f"{figure.seconds:>9.2f}{figure.first_result:>13.2f}s"
        )
    return "\n".join(lines)


def ratios(figures: Sequence[Figure]) -> str:
    plain, engine, one, two = (figure.incidents_per_second for figure in figures)
    return "\n".join(
        [
            f"engine / plain SimPy, incidents/s, (b) / (a):      {engine / plain:6.2f}x",
            f"2 workers / 1 worker, incidents/s, (c):            {two / one:6.2f}x",
            f"run_replications 1 worker / Engine.run, (c) / (b): {one / engine:6.2f}x",
        ]
    )


def comparison(figures: Sequence[Figure]) -> str:
    plain = lifecycle_means(plain_rows(figures[0].trials[-1].outcomes))  # type: ignore[arg-type]
    engine = lifecycle_means(engine_rows(figures[1].trials[-1].outcomes))
    return (
        "Same process, two models: mean times of real incidents, last repetition\n"
        + format_comparison(plain, engine)
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--replications", type=int, default=200, help="simulated years per run"
    )
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    arguments = parser.parse_args(argv)
    scenario = load_scenario(str(SCENARIO))

    figures = measure(runners(scenario, arguments.replications), arguments.repetitions)

    print(header(scenario, arguments.replications, arguments.repetitions))
    print(table(figures))
    print()
    print(ratios(figures))
    print()
    print(comparison(figures))


if __name__ == "__main__":
    main()
