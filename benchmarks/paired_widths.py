"""How much common random numbers narrow a comparison's intervals.

Compares the small-team example with its first escalation level at 5 minutes
instead of 15, twice in the same run: once paired (both sides on the same seed,
so the same incidents, work and answers) and once independent (the candidate on
another seed). For each figure it prints the width of the 95 % interval of the
difference both ways and their ratio: 1 means pairing gained nothing, 0.3 means
the paired interval is less than a third as wide.

Usage::

    .venv/bin/python benchmarks/paired_widths.py [--replications R] [--workers W]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from drillhall.simulator.compare import compare
from drillhall.simulator.loader import load_scenario_with
from drillhall.simulator.montecarlo import RunSettings

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "small-team-weekly.yaml"
AXIS = "escalation.platform-default.levels[0].delay"
METRICS = (
    "tta.mean",
    "tta.p90",
    "ttm.mean",
    "ttr.mean",
    "escalated_share",
    "interruptions_per_person_week",
    "night_interruptions_per_person_week",
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args(argv)

    base = load_scenario_with(SCENARIO, [f"{AXIS}=15m"])
    candidate = load_scenario_with(SCENARIO, [f"{AXIS}=5m"])
    settings = RunSettings(replications=options.replications, workers=options.workers)

    began = time.perf_counter()
    paired = compare(base, candidate, settings)
    independent = compare(base, candidate, settings, common_random_numbers=False)
    seconds = time.perf_counter() - began

    print(
        f"# paired_widths, {date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{SCENARIO.name}: {AXIS} 15m -> 5m, {options.replications} "
        f"replications per side, {seconds:.1f} s for both comparisons"
    )
    print()
    print("| figure | paired width | independent width | paired / independent |")
    print("| --- | --- | --- | --- |")
    for metric in METRICS:
        crn = paired[metric].difference
        apart = independent[metric].difference
        narrow, wide = crn.high - crn.low, apart.high - apart.low
        ratio = narrow / wide if wide else float("nan")
        print(f"| {metric} | {narrow:.4g} | {wide:.4g} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
