"""The M/M/c special case: drillhall's engine against Ciw on the same model.

Poisson arrivals at rate lambda, c interchangeable responders, exponential work
at rate mu per responder, no detection delay and immediate acknowledgement: an
M/M/c queue. drillhall simulates it as a scenario built in code (one service,
one escalation level paging all c people at once); Ciw, a dedicated queueing
simulator, as a one-node network. Both run in the same process, one after the
other, and the output gives customers per second, the mean wait and the share
of arrivals that wait against Erlang's C formula, and the ratio engine / Ciw.

Usage::

    .venv/bin/python benchmarks/mmc_ciw.py [--days D] [--repetitions R]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version

import ciw
import numpy as np

from drillhall.simulator.engine import Engine
from drillhall.simulator.scenario import Scenario

ARRIVALS_PER_HOUR = 2.0
WORK_PER_HOUR = 1.0
RESPONDERS = 3
DAYS = 4000
REPETITIONS = 3


@dataclass
class Trial:
    """One timed run: customers served, their waits in hours, and the time."""

    customers: int
    mean_wait: float
    share_waiting: float
    seconds: float


@dataclass
class Figure:
    """The median of several trials of one simulator."""

    label: str
    trials: list[Trial]

    @property
    def customers_per_second(self) -> float:
        return statistics.median(t.customers / t.seconds for t in self.trials)

    @property
    def seconds(self) -> float:
        return statistics.median(trial.seconds for trial in self.trials)

    @property
    def customers(self) -> float:
        return statistics.median(trial.customers for trial in self.trials)

    @property
    def mean_wait(self) -> float:
        """Mean wait over all repetitions' customers (each weighs alike)."""
        total = sum(t.mean_wait * t.customers for t in self.trials)
        return total / sum(t.customers for t in self.trials)

    @property
    def share_waiting(self) -> float:
        total = sum(t.share_waiting * t.customers for t in self.trials)
        return total / sum(t.customers for t in self.trials)


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang's C formula)."""
    top = offered_load**servers / math.factorial(servers)
    top *= servers / (servers - offered_load)
    bottom = sum(offered_load**k / math.factorial(k) for k in range(servers))
    return top / (bottom + top)


def mmc_scenario(days: int, seed: int) -> Scenario:
    """M/M/c in drillhall's terms: every responder paged at once, work exponential.

    Detection by user report takes no time, acknowledgement takes none and is
    never missed, mitigation is instant, so an incident waits only for a free
    responder and then holds them for the exponential diagnosis.
    """
    people = [f"responder-{number}" for number in range(RESPONDERS)]
    data = {
        "name": "mmc",
        "start": "2027-01-04T00:00:00Z",
        "horizon": f"{days}d",
        "replications": 1,
        "seed": seed,
        "channels": {"push": {}},
        "people": {person: {} for person in people},
        "behaviours": {
            "default": {"acknowledge": {"working": "0s"}, "miss": {"working": 0}}
        },
        "teams": {
            "ops": {
                "rotations": {
                    "primary": {"layers": [{"type": "weekly", "members": people}]}
                }
            }
        },
        "escalation": {"pool": {"levels": [{"targets": people, "delay": "1h"}]}},
        "detection": {"user_report": "0s"},
        "services": {
            "api": {
                "team": "ops",
                "escalation": "pool",
                "faults": [
                    {
                        "name": "crash",
                        "rate": f"{ARRIVALS_PER_HOUR:g}/hour",
                        "diagnose": {
                            "exponential": {"mean": f"{60 / WORK_PER_HOUR:g}m"}
                        },
                        "mitigate": "0s",
                    }
                ],
            }
        },
    }
    return Scenario.model_validate(data)


def run_engine(days: int, seed: int) -> Trial:
    """One replication of the M/M/c scenario; only ``Engine.run`` is timed."""
    engine = Engine(mmc_scenario(days, seed))
    began = time.perf_counter()
    outcome = engine.run(0)
    seconds = time.perf_counter() - began

    waits = np.array([i.work_started - i.detected for i in outcome.incidents]) / 3600
    return Trial(len(waits), float(waits.mean()), float((waits > 0).mean()), seconds)


def run_ciw(days: int, seed: int) -> Trial:
    """The same queue in Ciw, in hours; building the network and records is timed.

    Ciw's records are read after the timing: they exist only once asked for.
    """
    began = time.perf_counter()
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(ARRIVALS_PER_HOUR)],
        service_distributions=[ciw.dists.Exponential(WORK_PER_HOUR)],
        number_of_servers=[RESPONDERS],
    )
    ciw.seed(seed)
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_time(days * 24)
    seconds = time.perf_counter() - began

    # Served customers only, as the engine's incidents are those that arrived.
    records = simulation.get_all_records()
    waits = np.array([record.waiting_time for record in records])
    waited = float((waits > 1e-12).mean())
    return Trial(len(waits), float(waits.mean()), waited, seconds)


def measure(days: int, repetitions: int) -> list[Figure]:
    """Run both simulators ``repetitions`` times, interleaved, seeds 1, 2, ..."""
    runs: dict[str, Callable[[int, int], Trial]] = {
        "drillhall Engine.run": run_engine,
        "Ciw Simulation": run_ciw,
    }
    figures = [Figure(label, []) for label in runs]
    for repetition in range(repetitions):
        for figure, run in zip(figures, runs.values(), strict=True):
            print(f"  repetition {repetition + 1}: {figure.label}", file=sys.stderr)
            figure.trials.append(run(days, repetition + 1))
    return figures


def header(days: int, repetitions: int) -> str:
    machine = (
        f"{date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Ciw {version('ciw')}, "
        f"numpy {np.__version__}"
    )
    return f"""\
M/M/c: lambda = {ARRIVALS_PER_HOUR:g}/hour, mu = {WORK_PER_HOUR:g}/hour, \
c = {RESPONDERS}, {days} days per run, median of {repetitions} repetitions
{machine}

customers/s: customers (incidents) simulated per second of wall time, one process.
mean wait: hours from arrival to a free responder; P(wait>0): share that waited;
both pooled over all repetitions, against Erlang's C formula.
"""


def table(figures: Sequence[Figure]) -> str:
    offered = ARRIVALS_PER_HOUR / WORK_PER_HOUR
    share = erlang_c(RESPONDERS, offered)
    mean_wait = share / (RESPONDERS * WORK_PER_HOUR - ARRIVALS_PER_HOUR)
    heading = (
        f"{'':<22}{'customers/s':>12}{'customers':>11}{'seconds':>9}"
        f"{'mean wait':>11}{'P(wait>0)':>11}"
    )
    lines = [heading]
    for figure in figures:
        lines.append(
            f"{figure.label:<22}{figure.customers_per_second:>12,.0f}"
            f"{figure.customers:>11,.0f}{figure.seconds:>9.2f}"
            f"{figure.mean_wait:>10.4f}h{figure.share_waiting:>11.4f}"
        )
    lines.append(
        f"{'Erlang C (exact)':<22}{'':>12}{'':>11}{'':>9}"
        f"{mean_wait:>10.4f}h{share:>11.4f}"
    )
    return "\n".join(lines)


def ratios(figures: Sequence[Figure]) -> str:
    engine, ciw_figure = figures
    speed = engine.customers_per_second / ciw_figure.customers_per_second
    return f"Ratio of customers/s, engine / Ciw: {speed:.2f}x"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=DAYS, help="simulated days")
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    arguments = parser.parse_args(argv)

    figures = measure(arguments.days, arguments.repetitions)

    print(header(arguments.days, arguments.repetitions))
    print(table(figures))
    print()
    print(ratios(figures))


if __name__ == "__main__":
    main()
