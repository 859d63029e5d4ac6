"""Load for a drill: Locust in a child process, statistics back every second.

``import locust`` patches the standard library with gevent, which breaks
chaostoolkit-lib's signal handling and threads in the same process. So Locust
runs only in a child started with the "spawn" method (a fresh interpreter), and
reports one line of statistics per second over a ``multiprocessing.Pipe`` (a
Queue lost messages in this set-up; a Pipe did not).

A load is a locustfile, or a short declaration: the host, the number of users,
how fast they start, and the paths they request with their weights.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STOP = "stop"


@dataclass(frozen=True)
class Request:
    path: str
    weight: int = 1
    method: str = "GET"
    body: dict[str, Any] | None = None
    """Sent as JSON."""


@dataclass(frozen=True)
class LoadProfile:
    """What load to send: declared requests or a locustfile, for how long."""

    host: str
    users: int = 10
    spawn_rate: float = 10.0
    requests: list[Request] = field(default_factory=list)
    locustfile: Path | None = None
    duration: float = 600.0
    wait: float = 0.1
    """Seconds each declared user waits between requests."""


@dataclass(frozen=True)
class SecondStats:
    """One second of load: how many requests, how many failed, how fast."""

    at: float
    requests: int
    failures: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None

    def to_payload(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
        }


class LoadRun:
    """A running load; ``poll`` for its statistics, ``stop`` to end it.

    The child stops by itself after the profile's duration, and when the parent
    goes away (it watches the pipe).
    """

    def __init__(self, profile: LoadProfile) -> None:
        self.profile = profile
        self._connection: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_run_locust, args=(self.profile, child), daemon=True
        )
        self._process.start()
        child.close()
        self._connection = parent
        logger.info(
            "load started: %d users on %s", self.profile.users, self.profile.host
        )

    def poll(self) -> list[SecondStats]:
        """Statistics of the seconds that finished since the last poll."""
        seconds: list[SecondStats] = []
        connection = self._connection
        while connection is not None and connection.poll():
            try:
                message = connection.recv()
            except EOFError:
                break
            if isinstance(message, SecondStats):
                seconds.append(message)
            elif isinstance(message, str):
                logger.warning("load: %s", message)
        return seconds

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def stop(self, timeout: float = 10.0) -> list[SecondStats]:
        """Stop the load and return the statistics not yet polled."""
        if self._process is None or self._connection is None:
            return []
        try:
            self._connection.send(STOP)
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout)
        if self._process.is_alive():
            logger.warning("load did not stop in %.0f s: terminating it", timeout)
            self._process.terminate()
            self._process.join(timeout)
        rest = self.poll()
        self._connection.close()
        self._connection = None
        logger.info("load stopped")
        return rest

    def __enter__(self) -> LoadRun:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _run_locust(profile: LoadProfile, connection: Connection) -> None:
    """The child process: run Locust and report every second until told to stop."""
    # NOTE: imported here, in the spawned child only, because it monkey-patches.
    import gevent
    from locust.env import Environment

    timings: list[float] = []
    failures = [0]

    def on_request(response_time: float, exception: Any, **_: Any) -> None:
        timings.append(response_time)
        if exception is not None:
            failures[0] += 1

    user_classes = _user_classes(profile)
    environment = Environment(user_classes=user_classes, host=profile.host)
    environment.events.request.add_listener(on_request)
    runner = environment.create_local_runner()
    runner.start(profile.users, spawn_rate=profile.spawn_rate)

    deadline = time.monotonic() + profile.duration
    try:
        while time.monotonic() < deadline:
            gevent.sleep(1.0)
            batch, timings[:] = list(timings), []
            failed, failures[0] = failures[0], 0
            connection.send(_second(batch, failed))
            if connection.poll() and connection.recv() == STOP:
                break
    except (BrokenPipeError, EOFError, OSError):
        pass  # the parent is gone: stop the load with it
    finally:
        runner.quit()


def _second(timings: list[float], failures: int) -> SecondStats:
    ordered = sorted(timings)

    def percentile(share: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

    return SecondStats(
        at=time.time(),
        requests=len(ordered),
        failures=failures,
        latency_p50_ms=percentile(0.5),
        latency_p95_ms=percentile(0.95),
    )


def _user_classes(profile: LoadProfile) -> list[type]:
    from locust import HttpUser, User, constant, task

    if profile.locustfile is not None:
        spec = importlib.util.spec_from_file_location(
            "drill_locustfile", profile.locustfile
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load locustfile {profile.locustfile}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found = [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, User)
            and value not in (User, HttpUser)
            and not getattr(value, "abstract", False)
        ]
        if not found:
            raise ImportError(f"{profile.locustfile} declares no Locust user class")
        return found

    def make_task(request: Request) -> Any:
        def send(user: Any) -> None:
            user.client.request(
                request.method, request.path, name=request.path, json=request.body
            )

        return task(request.weight)(send)

    tasks = {f"request_{i}": make_task(r) for i, r in enumerate(profile.requests)}
    declared = type(
        "DeclaredUser", (HttpUser,), {"wait_time": constant(profile.wait), **tasks}
    )
    return [declared]
