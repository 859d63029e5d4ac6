"""Peak memory of a sweep: many points times many replications of a year.

Runs ``run_sweep`` on the small-team example over one axis, the first
escalation level's delay (1m, 2m, ..., N m), with R replications of a year per
point, and prints the peak resident memory of this process and of its largest
worker process, once after the first point and once at the end. Each point's
replications are streamed and reduced before the next starts, so the peaks
should not grow with the number of points or replications.

Usage::

    .venv/bin/python benchmarks/sweep_memory.py [--points N] [--replications R]

The issue's case is ``--points 100 --replications 1000``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from drillhall.simulator.montecarlo import RunSettings
from drillhall.simulator.sweep import parse_grid, run_sweep

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "small-team-weekly.yaml"
AXIS = "escalation.platform-default.levels[0].delay"
POINTS = 20
REPLICATIONS = 200
WORKERS = 2


@dataclass
class Peaks:
    """Peak resident memory in MiB, and when it was read."""

    own: float
    largest_worker: float
    seconds: float


def peaks(began: float) -> Peaks:
    """Peak RSS of this process and of its largest child so far.

    ``ru_maxrss`` is in KiB on Linux. For children it is the largest peak of any
    one finished (waited for) child, not a sum; the workers run side by side, so
    two workers at most hold about twice that. The sweep's workers live until it
    ends, so the peaks of running children are read from /proc too.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finished = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    running = [running_peak(child.pid) for child in multiprocessing.active_children()]
    children = max([finished, *running])
    return Peaks(own, children, time.perf_counter() - began)


def running_peak(pid: int | None) -> float:
    """A running process's peak RSS in MiB (VmHWM), or 0 if it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Watch:
    """A progress callback that reads the peaks once the first point is done.

    It reads them at the first replication of the second point, while the
    sweep's workers (started once for all points) are running.
    """

    def __init__(self, replications: int, began: float) -> None:
        self.replications = replications
        self.began = began
        self.done = 0
        self.after_first: Peaks | None = None

    def __call__(self) -> None:
        self.done += 1
        if self.done == self.replications + 1:
            self.after_first = peaks(self.began)
        if self.done % (self.replications * 10) == 0:
            print(f"  {self.done:,} replications done", file=sys.stderr)


def header(points: int, replications: int, workers: int) -> str:
    machine = (
        f"{date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    return f"""\
drillhall sweep memory: {SCENARIO.stem}, {points} points x {replications} \
replications of a year, {workers} workers
axis: {AXIS} = 1m..{points}m
{machine}

peak RSS (MiB, resource.getrusage): 'this process' is the sweep's own process;
'largest worker' is the largest peak of any one worker process.
"""


def table(first: Peaks | None, last: Peaks) -> str:
    lines = [f"{'':<24}{'this process':>14}{'largest worker':>16}{'seconds':>9}"]
    for label, read in (("after the first point", first), ("at the end", last)):
        if read is None:
            lines.append(f"{label:<24}{'(one point only)':>39}")
            continue
        lines.append(
            f"{label:<24}{read.own:>14.1f}{read.largest_worker:>16.1f}"
            f"{read.seconds:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=POINTS)
    parser.add_argument("--replications", type=int, default=REPLICATIONS)
    parser.add_argument("--workers", type=int, default=WORKERS)
    arguments = parser.parse_args(argv)

    axis = parse_grid(f"{AXIS}=1m..{arguments.points}m:1m")
    settings = RunSettings(
        replications=arguments.replications, workers=arguments.workers
    )
    began = time.perf_counter()
    watch = Watch(arguments.replications, began)
    result = run_sweep(SCENARIO, [axis], settings, progress=watch)
    last = peaks(began)

    print(header(len(result.points), arguments.replications, arguments.workers))
    print(table(watch.after_first, last))
    print()
    total = len(result.points) * arguments.replications
    print(
        f"{total:,} replications in {last.seconds:.0f} s "
        f"({total / last.seconds:.0f} replications/s)"
    )
    if watch.after_first:
        own = last.own / watch.after_first.own
        worker = last.largest_worker / watch.after_first.largest_worker
        print(
            f"end / after the first point: {own:.2f}x this process, "
            f"{worker:.2f}x largest worker"
        )


if __name__ == "__main__":
    main()
