"""Monte Carlo: many replications of a scenario, in parallel worker processes.

Replication ``r`` draws from streams keyed by (seed, r), never from a shared
generator, and results are gathered in replication order, so the figures are
the same whatever the number of workers.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from drillhall.simulator.engine import Engine
from drillhall.simulator.replication import ReplicationSummary, summarize
from drillhall.simulator.scenario import Scenario

logger = logging.getLogger(__name__)

Progress = Callable[[ReplicationSummary], None]


@dataclass(frozen=True)
class RunSettings:
    """How to run a scenario; ``None`` keeps what the scenario file says."""

    replications: int | None = None
    seed: int | None = None
    workers: int | None = None
    keep_records: bool = False

    def apply(self, scenario: Scenario) -> Scenario:
        changes: dict[str, int] = {}
        if self.replications is not None:
            changes["replications"] = self.replications
        if self.seed is not None:
            changes["seed"] = self.seed
        return scenario.model_copy(update=changes) if changes else scenario

    def worker_count(self, replications: int) -> int:
        wanted = self.workers if self.workers else os.cpu_count() or 1
        return max(1, min(wanted, replications))


def run_replications(
    scenario: Scenario, settings: RunSettings
) -> Iterator[ReplicationSummary]:
    """Yield each replication's summary in order, running them on workers."""
    scenario = settings.apply(scenario)
    count = scenario.replications
    workers = settings.worker_count(count)
    logger.info(
        "simulating %s: %d replications on %d worker(s)", scenario.name, count, workers
    )

    if workers == 1:
        engine = Engine(scenario)
        for replication in range(count):
            yield summarize(engine, engine.run(replication), settings.keep_records)
        return

    # NOTE: "spawn" keeps workers free of the parent's threads (the progress bar
    # draws from one) and of anything a parent imported, such as gevent.
    context = multiprocessing.get_context("spawn")
    with context.Pool(
        workers,
        initializer=_start_worker,
        initargs=(scenario, settings.keep_records),
    ) as pool:
        # Chunks of a few replications keep the pipes quiet; results still come
        # back in replication order.
        chunk = max(1, min(8, count // (workers * 4)))
        yield from pool.imap(_run_one, range(count), chunksize=chunk)


_worker_engine: Engine | None = None
_worker_keeps_records = False


def _start_worker(scenario: Scenario, keep_records: bool) -> None:
    global _worker_engine, _worker_keeps_records
    # Ctrl-C is the parent's to handle: it stops the pool and reports once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_engine = Engine(scenario)
    _worker_keeps_records = keep_records


def _run_one(replication: int) -> ReplicationSummary:
    assert _worker_engine is not None, "worker was not initialised"
    outcome = _worker_engine.run(replication)
    return summarize(_worker_engine, outcome, _worker_keeps_records)
