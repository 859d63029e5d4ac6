"""Monte Carlo: many replications of a scenario, in parallel worker processes.

Replication ``r`` draws from streams keyed by (seed, r), never from a shared
generator, and results are gathered in replication order, so the figures are
the same whatever the number of workers, and whether they run in local worker
processes or on a Dask distributed cluster (an optional extra).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

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
    scenario: Scenario,
    settings: RunSettings,
    executor: ReplicationExecutor | None = None,
) -> Iterator[ReplicationSummary]:
    """Yield each replication's summary in order, running them on workers.

    ``executor`` runs them on workers it has already started (see
    ``replication_executor``); without one, workers start for this run alone.
    Either way ``settings`` decides the replications, seed and records kept.
    """
    scenario = settings.apply(scenario)
    if executor is not None:
        yield from executor.replicate(scenario, settings.keep_records)
        return

    with replication_executor(settings) as own:
        yield from own.replicate(scenario, settings.keep_records)


@contextmanager
def replication_executor(settings: RunSettings) -> Iterator[ReplicationExecutor]:
    """Workers that run the replications of many scenarios, one after another.

    A sweep or a seek runs every point on the same workers instead of starting
    a pool or a Dask cluster per point. The workers start at the first run, sized
    by its replications, and stop when the block ends, however it ends (an
    error, Ctrl-C, a consumer that stops early).
    """
    with ExitStack() as stack:
        yield ReplicationExecutor(settings, stack)


class ReplicationExecutor:
    """Runs replications in this process, in worker processes, or on Dask.

    ``settings.workers`` and ``settings.dask`` pick where, as for one run. Each
    worker keeps the engine of the scenario it last ran, keyed by a digest of the
    scenario, so a scenario is built once per worker and reaches it once, however
    many replications it runs there.
    """

    def __init__(self, settings: RunSettings, stack: ExitStack) -> None:
        self._settings = settings
        self._stack = stack
        self._backend: _Backend | None = None

    def replicate(
        self, scenario: Scenario, keep_records: bool = False
    ) -> Iterator[ReplicationSummary]:
        """Yield each replication's summary of ``scenario`` in order."""
        if self._backend is None:
            self._backend = self._start(scenario.replications)
        logger.info(
            "simulating %s: %d replications %s",
            scenario.name,
            scenario.replications,
            self._backend.where,
        )
        yield from self._backend.replicate(scenario, keep_records)

    def _start(self, replications: int) -> _Backend:
        workers = self._settings.worker_count(replications)
        if self._settings.dask is not None:
            return _DaskBackend(self._stack, self._settings.dask, workers)
        if workers == 1:
            return _InProcessBackend()
        return _PoolBackend(self._stack, workers)


class _Backend(Protocol):
    where: str

    def replicate(
        self, scenario: Scenario, keep_records: bool
    ) -> Iterator[ReplicationSummary]: ...


class _InProcessBackend:
    """One worker: this process, with the engine of the last scenario it ran."""

    where = "on 1 worker"

    def __init__(self) -> None:
        self._engines = _EngineCache()

    def replicate(
        self, scenario: Scenario, keep_records: bool
    ) -> Iterator[ReplicationSummary]:
        digest = _scenario_digest(scenario)
        engine = self._engines.engine(digest, lambda: scenario)
        for replication in range(scenario.replications):
            yield summarize(engine, engine.run(replication), keep_records)


class _PoolBackend:
    """Worker processes that read each scenario once, from a file of the pool's.

    A task names a few replications and the scenario's digest and file; a worker
    whose engine is of another scenario loads the file and builds a new one.
    """

    def __init__(self, stack: ExitStack, workers: int) -> None:
        self.where = f"on {workers} worker(s)"
        self._workers = workers
        self._runs = itertools.count()
        self._folder = stack.enter_context(
            tempfile.TemporaryDirectory(prefix="drillhall-scenarios-")
        )
        logger.info("starting %d worker processes", workers)

        # NOTE: "spawn" keeps workers free of the parent's threads (the progress
        # bar draws from one) and of anything a parent imported, such as gevent.
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(workers, initializer=_start_worker)
        stack.callback(self._stop)

    def _stop(self) -> None:
        """Let the workers finish the tasks in flight, then exit.

        NOTE: not Pool.terminate: a worker killed while it sends a result holds
        the result queue's lock for good, and the pool then waits for that lock
        forever (it happened in this project's tests, about one run in three).
        At most a window of tasks is in flight, so this takes moments.
        """
        self._pool.close()
        self._pool.join()

    def replicate(
        self, scenario: Scenario, keep_records: bool
    ) -> Iterator[ReplicationSummary]:
        digest = _scenario_digest(scenario)
        path = os.path.join(self._folder, f"{next(self._runs)}-{digest}.pickle")
        with open(path, "wb") as stream:
            pickle.dump(scenario, stream, protocol=pickle.HIGHEST_PROTOCOL)

        # Chunks of a few replications keep the pipes quiet, and a window of
        # chunks in flight keeps every worker busy while a consumer that stops
        # (or fails, or Ctrl-C) leaves little to finish. Results come back in
        # replication order.
        count = scenario.replications
        size = max(1, min(8, count // (self._workers * 4)))
        chunks = (
            (digest, path, keep_records, range(first, min(first + size, count)))
            for first in range(0, count, size)
        )
        window = self._workers * POOL_WINDOW_PER_WORKER
        in_flight: deque[AsyncResult[list[ReplicationSummary]]] = deque()
        for chunk in chunks:
            in_flight.append(self._pool.apply_async(_run_chunk, (chunk,)))
            if len(in_flight) >= window:
                yield from in_flight.popleft().get()
        while in_flight:
            yield from in_flight.popleft().get()

        # The file goes with the pool's folder if the run stops early: a task
        # still in flight may need it.
        os.remove(path)


POOL_WINDOW_PER_WORKER = 3
"""Chunks submitted to the pool but not yet yielded, per worker."""


class _EngineCache:
    """The engine of the scenario last run here, keyed by the scenario's digest.

    A run of another scenario (the next point of a sweep) replaces it, dropping
    the old engine before building the new one.
    """

    def __init__(self) -> None:
        self._digest: str | None = None
        self._engine: Engine | None = None

    def engine(self, digest: str, scenario: Callable[[], Scenario]) -> Engine:
        """The engine of ``digest``; ``scenario`` gives the scenario if it is new."""
        if self._engine is None or self._digest != digest:
            self._engine = None
            self._engine = Engine(scenario())
            self._digest = digest
        return self._engine


_worker_engines = _EngineCache()


def _start_worker() -> None:
    # Ctrl-C is the parent's to handle: it stops the pool and reports once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_chunk(task: tuple[str, str, bool, range]) -> list[ReplicationSummary]:
    digest, path, keep_records, replications = task
    engine = _worker_engines.engine(digest, lambda: _load_scenario(path))
    return [
        summarize(engine, engine.run(replication), keep_records)
        for replication in replications
    ]


def _load_scenario(path: str) -> Scenario:
    with open(path, "rb") as stream:
        scenario: Scenario = pickle.load(stream)
    return scenario


# How many replications may be submitted but not yet yielded, per Dask thread:
# enough to keep every worker busy, few enough to keep memory bounded.
DASK_WINDOW_PER_THREAD = 4


class _DaskBackend:
    """A Dask client, and the LocalCluster behind it for ``--dask local``.

    The stack closes the client (and a cluster started here) when the executor's
    block ends, fails, or a consumer stops early and closes the run.
    """

    def __init__(self, stack: ExitStack, address: str, workers: int) -> None:
        self._distributed = _import_distributed()
        self._client = _connect(self._distributed, stack, address, workers)
        self._threads = max(1, sum(self._client.nthreads().values()))
        self.where = f"on Dask at {address} ({self._threads} thread(s))"

    def replicate(
        self, scenario: Scenario, keep_records: bool
    ) -> Iterator[ReplicationSummary]:
        yield from _stream_in_order(
            self._distributed,
            self._client,
            scenario,
            keep_records,
            window=self._threads * DASK_WINDOW_PER_THREAD,
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
    engines: _EngineCache | None = getattr(_dask_engines, "cache", None)
    if engines is None:
        engines = _dask_engines.cache = _EngineCache()
    engine = engines.engine(digest, lambda: scenario)
    return summarize(engine, engine.run(replication), keep_records)
