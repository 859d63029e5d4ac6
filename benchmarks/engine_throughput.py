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
import resource
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
    Outcome,
    PlainModel,
    format_comparison,
    lifecycle_means,
    lifecycle_rows,
)

from drillhall.simulator.engine import Engine
from drillhall.simulator.loader import load_scenario
from drillhall.simulator.montecarlo import RunSettings, run_replications
from drillhall.simulator.scenario import Scenario

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "follow-the-sun.yaml"
REPETITIONS = 3
COMPARED = 100


@dataclass
class Trial:
    """One timed repetition: how much was simulated and how long it took."""

    replications: int
    incidents: int
    events: int | None
    seconds: float
    cpu_seconds: float
    first_result: float
    second_half_incidents: int
    second_half_seconds: float


@dataclass
class Figure:
    """The median of several trials of one way of running the scenario."""

    label: str
    trials: list[Trial]

    @property
    def incidents_per_second(self) -> float:
        return statistics.median(t.incidents / t.seconds for t in self.trials)

    @property
    def second_half_per_second(self) -> float:
        """Incidents per second over the second half of the replications.

        By then the workers are running and the start-up is paid, whatever the
        size of the chunks that replications are sent in.
        """
        return statistics.median(
            t.second_half_incidents / t.second_half_seconds for t in self.trials
        )

    @property
    def seconds(self) -> float:
        return statistics.median(trial.seconds for trial in self.trials)

    @property
    def cores_used(self) -> float:
        return statistics.median(t.cpu_seconds / t.seconds for t in self.trials)

    @property
    def first_result(self) -> float:
        return statistics.median(trial.first_result for trial in self.trials)

    @property
    def events_per_incident(self) -> float | None:
        trial = self.trials[-1]
        return None if trial.events is None else trial.events / trial.incidents


Runner = Callable[[], Trial]


def time_outcomes(run_one: Callable[[int], Outcome], replications: int) -> Trial:
    """Time ``run_one`` over the replications; count incidents and events."""
    # NOTE: outcomes are dropped as they come: keeping 200 replications' incidents
    # alive made the garbage collector's full passes cost a quarter of the time.
    incidents = events = 0
    first_result = half_time = 0.0
    half_incidents = 0
    cpu = cpu_seconds()
    began = time.perf_counter()
    for replication in range(replications):
        outcome = run_one(replication)
        incidents += len(outcome.incidents)
        events += outcome.events
        if not replication:
            first_result = time.perf_counter() - began
        if replication + 1 == replications // 2:
            half_time, half_incidents = time.perf_counter() - began, incidents
    seconds = time.perf_counter() - began
    return Trial(
        replications,
        incidents,
        events,
        seconds,
        cpu_seconds() - cpu,
        first_result,
        incidents - half_incidents,
        seconds - half_time,
    )


def time_monte_carlo(scenario: Scenario, replications: int, workers: int) -> Trial:
    """Time ``run_replications`` from the call to the last summary."""
    settings = RunSettings(replications=replications, workers=workers)
    cpu = cpu_seconds()
    began = time.perf_counter()
    incidents = half_incidents = 0
    first_result = half_time = 0.0
    for done, summary in enumerate(run_replications(scenario, settings), start=1):
        incidents += summary.incidents + summary.false_alarms
        if done == 1:
            first_result = time.perf_counter() - began
        if done == replications // 2:
            half_time, half_incidents = time.perf_counter() - began, incidents
    seconds = time.perf_counter() - began

    # Exhausting the generator closed the pool, so the workers' time is counted.
    return Trial(
        replications,
        incidents,
        None,
        seconds,
        cpu_seconds() - cpu,
        first_result,
        incidents - half_incidents,
        seconds - half_time,
    )


def cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


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
    return figures


def header(scenario: Scenario, replications: int, repetitions: int) -> str:
    machine = (
        f"{date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SimPy {simpy.__version__}, "
        f"numpy {np.__version__}"
    )
    return f"""\
drillhall engine throughput: {scenario.name}, {replications} replications
of {scenario.horizon / 86400:g} days each, median of {repetitions} repetitions
{machine}

incidents/s: incidents simulated (false alerts included) per second of wall time.
events/incident: SimPy events processed per incident ('-' where not counted).
(a) and (b) build their model once, outside the timing; (c) times the whole call,
including building the engine, starting worker processes and summarizing each
replication, as 'drillhall simulate' does. 'first result' is the time until the
first replication came back: for 2 workers, mostly process start-up. 'cores' is
CPU time over wall time: near 2 for 2 workers on an idle machine, lower when other
programs share the cores.
"""


def table(figures: Sequence[Figure]) -> str:
    heading = (
        f"{'':<34}{'incidents/s':>12}{'events/incident':>17}"
        f"{'seconds':>9}{'first result':>14}{'cores':>7}"
    )
    lines = [heading]
    for figure in figures:
        events = figure.events_per_incident
        shown = "-" if events is None else f"{events:.2f}"
        lines.append(
            f"{figure.label:<34}{figure.incidents_per_second:>12,.0f}{shown:>17}"
            f"{figure.seconds:>9.2f}{figure.first_result:>13.2f}s"
            f"{figure.cores_used:>7.2f}"
        )
    return "\n".join(lines)


def ratios(figures: Sequence[Figure]) -> str:
    plain, engine, one, two = (figure.incidents_per_second for figure in figures)
    one_after, two_after = (figure.second_half_per_second for figure in figures[2:])
    named = [
        ("engine / plain SimPy, (b) / (a)", engine / plain),
        ("2 workers / 1 worker, (c)", two / one),
        ("2 workers / 1 worker, (c), second half of the run", two_after / one_after),
        ("run_replications 1 worker / Engine.run, (c) / (b)", one / engine),
    ]
    lines = ["Ratios of incidents/s"]
    lines += [f"  {name:<52}{value:6.2f}x" for name, value in named]
    return "\n".join(lines)


def comparison(scenario: Scenario, replications: int) -> str:
    """Both models' mean lifecycle times over the same replication numbers."""
    # An untimed pass of its own: the timed loops keep no outcomes.
    plain, engine = PlainModel(scenario), Engine(scenario)
    numbers = range(replications)
    plain_means = lifecycle_means(lifecycle_rows(plain.run(r) for r in numbers))
    engine_means = lifecycle_means(lifecycle_rows(engine.run(r) for r in numbers))
    return (
        f"Same process, two models: mean times of real incidents over "
        f"{replications} replications (untimed)\n"
        + format_comparison(plain_means, engine_means)
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--replications", type=int, default=200, help="simulated years per run"
    )
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    parser.add_argument(
        "--compare",
        type=int,
        default=COMPARED,
        help="replications for the comparison of mean times (0: skip it)",
    )
    arguments = parser.parse_args(argv)
    scenario = load_scenario(str(SCENARIO))

    load_before = os.getloadavg()[0]
    figures = measure(runners(scenario, arguments.replications), arguments.repetitions)
    load_after = os.getloadavg()[0]

    print(header(scenario, arguments.replications, arguments.repetitions))
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after")
    print("(other work on the machine lowers every figure, the 2-worker one most)")
    print()
    print(table(figures))
    print()
    print(ratios(figures))
    if arguments.compare:
        print()
        print(comparison(scenario, arguments.compare))


if __name__ == "__main__":
    main()
