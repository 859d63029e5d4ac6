"""Comparing two scenarios with common random numbers.

Replication ``r`` of both scenarios draws its incidents from the same named
streams, and each incident draws the answers to its pages from a row of its own,
so both see the same incidents and, where a change does not touch them, the same
human answers. Each figure is then compared replication by replication: the paired
differences vary far less than two independent runs would, and their interval
says whether the change is distinguishable from noise. Incident durations are
heavy-tailed, so medians and 90th percentiles are compared, not only means.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from drillhall.simulator.durations import WEEK
from drillhall.simulator.lifecycle import PHASES
from drillhall.simulator.montecarlo import (
    ReplicationExecutor,
    RunSettings,
    replication_executor,
    run_replications,
)
from drillhall.simulator.replication import ReplicationSummary
from drillhall.simulator.scenario import Scenario
from drillhall.simulator.statistics import Estimate, mean_interval
from drillhall.simulator.summary import MonteCarloSummary

STATISTICS = ("mean", "median", "p90")
INDEPENDENT_SEED_OFFSET = 1_000_003
"""Added to the candidate's seed when common random numbers are turned off."""


@dataclass(frozen=True)
class Difference:
    """One figure in both scenarios and their paired difference."""

    metric: str
    base: Estimate
    candidate: Estimate
    difference: Estimate

    @property
    def distinguishable(self) -> bool:
        """Whether the difference's interval excludes zero."""
        low, high = self.difference.low, self.difference.high
        if math.isnan(low) or math.isnan(high):
            return False
        return low > 0 or high < 0

    @property
    def relative(self) -> float:
        """The difference as a share of the base value."""
        base = self.base.value
        return self.difference.value / base if base else math.nan


@dataclass(frozen=True)
class Comparison:
    """The paired differences, and each side's whole Monte Carlo summary.

    The summaries hold what a report draws beyond the paired figures: each
    side's prediction, duration histograms and load by hour of the week.
    """

    base: str
    candidate: str
    replications: int
    common_random_numbers: bool
    differences: list[Difference]
    base_summary: MonteCarloSummary | None = field(
        default=None, compare=False, repr=False
    )
    candidate_summary: MonteCarloSummary | None = field(
        default=None, compare=False, repr=False
    )

    def __getitem__(self, metric: str) -> Difference:
        for difference in self.differences:
            if difference.metric == metric:
                return difference
        raise KeyError(metric)


def replication_figures(
    summary: ReplicationSummary, horizon: float
) -> dict[str, float]:
    """The figures of one replication that a comparison pairs up."""
    figures: dict[str, float] = {}
    for phase in PHASES:
        histogram = summary.durations[phase]
        figures[f"{phase}.mean"] = histogram.mean
        figures[f"{phase}.median"] = float(histogram.quantile(0.5))
        figures[f"{phase}.p90"] = float(histogram.quantile(0.9))

    incidents = summary.incidents
    escalated = sum(counts.escalated[0] for counts in summary.escalation.values())
    weeks = horizon / WEEK
    people = max(1, len(summary.interruptions))
    figures["escalated_share"] = escalated / incidents if incidents else math.nan
    figures["interruptions_per_person_week"] = (
        float(summary.interruptions.sum()) / people / weeks
    )
    figures["night_interruptions_per_person_week"] = (
        float(summary.interruptions[:, 2].sum()) / people / weeks
    )
    figures["acknowledged_during_sleep_share"] = (
        summary.during_sleep / incidents if incidents else math.nan
    )
    return figures


def compare(
    base: Scenario,
    candidate: Scenario,
    settings: RunSettings,
    *,
    common_random_numbers: bool = True,
    progress: Callable[[], None] | None = None,
) -> Comparison:
    """Run both scenarios replication by replication and pair their figures."""
    base = settings.apply(base)
    replications = base.replications
    candidate = candidate.model_copy(
        update={
            "replications": replications,
            "seed": base.seed
            if common_random_numbers
            else base.seed + INDEPENDENT_SEED_OFFSET,
        }
    )
    run = replace(settings, replications=None, seed=None)

    base_summary = MonteCarloSummary(base)
    candidate_summary = MonteCarloSummary(candidate)
    # One set of workers runs both sides, one after the other.
    with replication_executor(run) as executor:
        base_figures = list(_figures(base, run, executor, base_summary, progress))
        candidate_figures = list(
            _figures(candidate, run, executor, candidate_summary, progress)
        )

    differences = []
    for metric in base_figures[0]:
        before = np.array([figures[metric] for figures in base_figures])
        after = np.array([figures[metric] for figures in candidate_figures])
        paired = ~(np.isnan(before) | np.isnan(after))
        if paired.sum() < 2:
            missing = Estimate.missing()
            differences.append(Difference(metric, missing, missing, missing))
            continue
        differences.append(
            Difference(
                metric,
                mean_interval(before[paired]),
                mean_interval(after[paired]),
                mean_interval(after[paired] - before[paired]),
            )
        )
    return Comparison(
        base.name,
        candidate.name,
        replications,
        common_random_numbers,
        differences,
        base_summary,
        candidate_summary,
    )


def _figures(
    scenario: Scenario,
    settings: RunSettings,
    executor: ReplicationExecutor,
    whole: MonteCarloSummary,
    progress: Callable[[], None] | None,
) -> Iterator[dict[str, float]]:
    """Each replication's paired figures; ``whole`` takes every replication too."""
    for summary in run_replications(scenario, settings, executor):
        whole.add(summary)
        if progress:
            progress()
        yield replication_figures(summary, scenario.horizon)


def comparison_json(comparison: Comparison) -> dict[str, object]:
    """The comparison as JSON-ready values; NaN becomes None."""
    return {
        "base": comparison.base,
        "candidate": comparison.candidate,
        "replications": comparison.replications,
        "common_random_numbers": comparison.common_random_numbers,
        "figures": {
            difference.metric: {
                "base": difference.base.to_dict(),
                "candidate": difference.candidate.to_dict(),
                "difference": difference.difference.to_dict(),
                "distinguishable": difference.distinguishable,
            }
            for difference in comparison.differences
        },
    }
