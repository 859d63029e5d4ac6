"""Monte Carlo: many replications of a scenario, in parallel worker processes.

Replication ``r`` draws from streams keyed by (seed, r), never from a shared
generator, and results are gathered in replication order, so the figures are
the same whatever the number of workers, and whether they run in local worker
processes or on a Dask distributed cluster (an optional extra).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from drillhall.errors import InputError
from drillhall.simulator.engine import Engine
from drillhall.simulator.replication import ReplicationSummary, summarize
from drillhall.simulator.scenario import Scenario

if TYPE_CHECKING:
    from distributed import Client, Future

logger = logging.getLogger(__name__)

Progress = Callable[[ReplicationSummary], None]


@dataclass(frozen=True)
class RunSettings:
    """How to run a scenario; ``None`` keeps what the scenario file says.

    ``dask`` picks the executor: ``None`` for local worker processes, ``"local"``
    for a Dask LocalCluster started for the run, or a scheduler address such as
    ``"tcp://HOST:8786"`` for an existing Dask cluster.
    """

    replications: int | None = None
    seed: int | None = None
    workers: int | None = None
    keep_records: bool = False
    dask: str | None = None

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
    if settings.dask is not None:
        yield from _run_on_dask(scenario, settings, settings.dask)
        return

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


# How many replications may be submitted but not yet yielded, per Dask thread:
# enough to keep every worker busy, few enough to keep memory bounded.
DASK_WINDOW_PER_THREAD = 4


def _run_on_dask(
    scenario: Scenario, settings: RunSettings, address: str
) -> Iterator[ReplicationSummary]:
    """Run the replications on a Dask cluster and yield them in order."""
    distributed = _import_distributed()
    count = scenario.replications

    # The stack closes the client (and a cluster started here) when the run
    # ends, fails, or its consumer stops early and closes this generator.
    with ExitStack() as stack:
        client = _connect(distributed, stack, address, settings.worker_count(count))
        threads = max(1, sum(client.nthreads().values()))
        logger.info(
            "simulating %s: %d replications on Dask at %s (%d thread(s))",
            scenario.name,
            count,
            address,
            threads,
        )
        yield from _stream_in_order(
            distributed,
            client,
            scenario,
            settings.keep_records,
            window=threads * DASK_WINDOW_PER_THREAD,
        )


def _import_distributed() -> ModuleType:
    try:
        import distributed
    except ImportError as error:
        raise InputError(
            "Dask is not installed; install it with: pip install 'drillhall[dask]'",
            source="--dask",
        ) from error
    return distributed


def _connect(
    distributed: ModuleType, stack: ExitStack, address: str, workers: int
) -> Client:
    """A client for ``address``, or for a LocalCluster on loopback if "local"."""
    if address == "local":
        cluster = stack.enter_context(
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        )
        client: Client = distributed.Client(cluster, set_as_default=False)
        return stack.enter_context(client)

    _check_address(address)

    # NOTE: the connection timeout is Dask's own setting,
    # ``distributed.comm.timeouts.connect`` (30 s unless configured).
    try:
        client = distributed.Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise InputError(
            f"cannot reach a Dask scheduler at {address!r} "
            f"({_one_line(error)}); start one with `dask scheduler` "
            "or use --dask local",
            source="--dask",
        ) from error
    return stack.enter_context(client)


def _check_address(address: str) -> None:
    # A malformed address is caught here: a client that fails on one lingers and
    # stalls the interpreter's exit.
    scheme, _, location = address.partition("://")
    host, _, port = location.rpartition(":")
    if not (scheme and host and port.isdigit()):
        raise InputError(
            f"expected 'local' or a scheduler address like tcp://HOST:8786, "
            f"not {address!r}",
            source="--dask",
        )


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _stream_in_order(
    distributed: ModuleType,
    client: Client,
    scenario: Scenario,
    keep_records: bool,
    window: int,
) -> Iterator[ReplicationSummary]:
    """Submit replications a window at a time, yield them in replication order.

    At most ``window`` replications are in flight or waiting to be yielded, so
    memory stays bounded however many replications the scenario asks for.
    """
    count = scenario.replications
    digest = _scenario_digest(scenario)
    shared = client.scatter(scenario, broadcast=True)

    def submit(replication: int) -> Future:
        return client.submit(
            _run_on_dask_worker,
            shared,
            digest,
            keep_records,
            replication,
            pure=False,
        )

    submitted = min(window, count)
    first = [submit(replication) for replication in range(submitted)]
    pending = distributed.as_completed(first, loop=client.loop)
    del first
    finished: dict[int, ReplicationSummary] = {}
    following = 0
    for future in pending:
        summary: ReplicationSummary = future.result()
        finished[summary.replication] = summary

        while following in finished:
            yield finished.pop(following)
            following += 1

        # Top the window up only as far as the in-order head has advanced.
        while submitted < count and submitted - following < window:
            pending.add(submit(submitted))
            submitted += 1


def _scenario_digest(scenario: Scenario) -> str:
    return hashlib.sha256(scenario.model_dump_json().encode()).hexdigest()


_dask_engines = threading.local()


def _run_on_dask_worker(
    scenario: Scenario, digest: str, keep_records: bool, replication: int
) -> ReplicationSummary:
    """Run one replication on a Dask worker, building its engine only once.

    The engine is cached per worker thread, keyed by the scenario's digest, so a
    cluster with several threads per worker never shares one engine between
    threads, and a new scenario (the next sweep point) replaces the old one.
    """
    cached: tuple[str, Engine] | None = getattr(_dask_engines, "cached", None)
    if cached is None or cached[0] != digest:
        cached = (digest, Engine(scenario))
        _dask_engines.cached = cached
    engine = cached[1]
    return summarize(engine, engine.run(replication), keep_records)
