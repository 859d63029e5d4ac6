"""Start, stop and inspect the example system of the drill "primary down".

    python3 system.py up --dir RUNDIR --webhook-url URL [--webhook-token TOKEN]
    python3 system.py status --dir RUNDIR
    python3 system.py down --dir RUNDIR

The system, every part a separate process on 127.0.0.1 with a free port:

- ``primary`` and ``replica``: two stores (store.py), the replica following;
- ``service``: the HTTP service (service.py) reading and writing the primary;
- ``alertmanager``: a real Alertmanager sending to the webhook URL, with
  ``Authorization: Bearer <token>`` when a token is given;
- ``prometheus``: a real Prometheus scraping the service every second and firing
  ``ExampleBackendDown`` when ``service_backend_up == 0`` for 2 s.

RUNDIR (``--dir``, else $DRILLHALL_EXAMPLE_RUNDIR, else /tmp/drillhall-primary-down)
receives the generated configuration, ``logs/``, the Prometheus and Alertmanager
data, and ``state.json``: ports, pids and command lines, so that actions.py and
``drill recover`` in other processes find the parts. The webhook token goes to
``webhook-token`` (mode 0600), never into state.json or a command line.

The same from Python: ``start_system``, ``stop_system`` and ``system_status``;
``SystemState.configuration()`` gives the keys the Chaos Toolkit experiment reads.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from jsonhttp import call

ENV_RUNDIR = "DRILLHALL_EXAMPLE_RUNDIR"
ENV_WEBHOOK_TOKEN = "DRILLHALL_WEBHOOK_TOKEN"
DEFAULT_RUNDIR = "/tmp/drillhall-primary-down"
DEFAULT_LIFETIME = 86400.0
SYSTEM_DIR = Path(__file__).resolve().parent

STORES = ("primary", "replica")
START_ORDER = ("primary", "replica", "service", "alertmanager", "prometheus")
ALERT_NAME = "ExampleBackendDown"
SERVICE_JOB = "example-service"
STATE_FORMAT = 1
_HAS_PROC = Path("/proc/self/stat").exists()

T = TypeVar("T")


class ExampleSystemError(Exception):
    """The example system could not be started, found, repaired or stopped."""


@dataclass
class Component:
    """One process of the system: how it was started and which pid it has now."""

    name: str
    port: int
    argv: list[str]
    log: str
    pid: int | None = None
    # The kernel's start time of the process, so that a recycled pid is never
    # taken for the component (and never signalled).
    started: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class SystemState:
    """What state.json holds: where the system lives and its processes."""

    rundir: Path
    python: str
    lifetime: float
    webhook_url: str | None
    components: dict[str, Component] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.components[name].url

    def configuration(self) -> dict[str, str]:
        """The Chaos Toolkit configuration keys of experiments/primary-down.json."""
        return {
            "rundir": str(self.rundir),
            "system_dir": str(SYSTEM_DIR),
            "service_url": self.url("service"),
            "primary_url": self.url("primary"),
            "replica_url": self.url("replica"),
            "prometheus_url": self.url("prometheus"),
            "alertmanager_url": self.url("alertmanager"),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "rundir": str(self.rundir),
            "python": self.python,
            "lifetime": self.lifetime,
            "webhook_url": self.webhook_url,
            "components": {name: asdict(c) for name, c in self.components.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SystemState:
        return cls(
            rundir=Path(data["rundir"]),
            python=data["python"],
            lifetime=float(data["lifetime"]),
            webhook_url=data.get("webhook_url"),
            components={
                name: Component(**component)
                for name, component in data["components"].items()
            },
        )


# --- the run directory and state.json ------------------------------------------


def resolve_rundir(rundir: str | os.PathLike[str] | None = None) -> Path:
    """The run directory: the argument, else $DRILLHALL_EXAMPLE_RUNDIR, else /tmp."""
    chosen = rundir or os.environ.get(ENV_RUNDIR) or DEFAULT_RUNDIR
    return Path(chosen).expanduser().resolve()


def load_state(rundir: str | os.PathLike[str] | None = None) -> SystemState:
    """Read RUNDIR/state.json; a clear error when the system was never started."""
    path = resolve_rundir(rundir) / "state.json"
    try:
        data = json.loads(path.read_text())
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {STATE_FORMAT}")
        return SystemState.from_json(data)
    except FileNotFoundError:
        raise ExampleSystemError(
            f"{path}: no such file; start the system first: "
            f"python3 {SYSTEM_DIR / 'system.py'} up --dir {path.parent}"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise ExampleSystemError(
            f"{path}: not a state file of system.py: {error}"
        ) from None


def save_state(state: SystemState) -> None:
    """Write state.json whole or not at all (readers never see half a file)."""
    path = state.rundir / "state.json"
    partial = path.with_name("state.json.partial")
    partial.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    os.replace(partial, path)


@contextmanager
def locked(rundir: Path) -> Iterator[None]:
    """Hold RUNDIR's lock: one process at a time changes the system."""
    rundir.mkdir(parents=True, exist_ok=True)
    with open(rundir / "state.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- processes -------------------------------------------------------------------


def is_running(component: Component) -> bool:
    """Whether the component's process is alive (a zombie is not; it is reaped)."""
    if component.pid is None:
        return False
    stat = _process_stat(component.pid)
    if stat is None:
        return False
    status, started = stat
    if status in ("Z", "X"):
        _reap(component.pid)
        return False
    return component.started is None or started == component.started


def spawn(state: SystemState, component: Component, argv: list[str]) -> None:
    """Start the component's process in a session of its own, logging to a file.

    The process outlives the caller (``system.py up`` returns at once).
    """
    log = state.rundir / component.log
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as stream:
        stream.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {argv}\n")
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_APPEND, 0),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(
        argv[0], argv, dict(os.environ), file_actions=file_actions, setsid=True
    )
    component.argv = argv
    component.pid = pid
    stat = _process_stat(pid)
    component.started = stat[1] if stat else None


def terminate(
    component: Component, sig: int = signal.SIGTERM, timeout: float = 5.0
) -> bool:
    """Send ``sig`` and wait until the process is gone; SIGKILL it if it lingers.

    Returns whether the process was running. Only the recorded process is
    signalled, after checking it is still the one that was started.
    """
    pid = component.pid
    if pid is None or not is_running(component):
        return False
    with suppress(ProcessLookupError):
        os.kill(pid, sig)
    gone = _wait_gone(component, timeout)
    if not gone and sig != signal.SIGKILL:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        gone = _wait_gone(component, 2.0)
    if not gone:
        raise ExampleSystemError(f"{component.name} (pid {pid}) survived {sig!r}")
    return True


def _wait_gone(component: Component, timeout: float) -> bool:
    for _ in range(max(1, int(timeout / 0.02))):
        if not is_running(component):
            return True
        time.sleep(0.02)
    return not is_running(component)


def _process_stat(pid: int) -> tuple[str, int] | None:
    """The state letter and start time (clock ticks) of a process, from /proc."""
    if not _HAS_PROC:
        # NOTE: without /proc (not Linux) a recycled pid cannot be told apart.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "R", 0
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _reap(pid: int) -> None:
    """Collect a dead child of this process, so that it leaves no zombie."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(
    check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1
) -> T:
    """Call ``check`` until it returns something, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    for _ in range(max(1, int(timeout / interval) + 1)):
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise ExampleSystemError(f"timed out after {timeout:g} s waiting for {what}")


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1.

    NOTE: a port is free when picked, not reserved; another process could take it
    before the component binds it, and then that component fails to start.
    """
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def get(url: str, timeout: float = 1.0) -> tuple[int, Any] | None:
    """GET a URL of the system; None when nothing answers."""
    try:
        return call("GET", url, timeout=timeout)
    except OSError:
        return None


def health(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """A store's or the service's /health document when it answers 200."""
    answer = get(f"{url}/health", timeout)
    if answer is None or answer[0] != 200 or not isinstance(answer[1], dict):
        return None
    return answer[1]


# --- command lines and configuration ---------------------------------------------


def store_argv(state: SystemState, name: str, follow: str | None) -> list[str]:
    """The command line of a store; with ``follow`` it starts as a replica."""
    argv = [state.python, str(SYSTEM_DIR / "store.py"), "--name", name]
    argv += ["--port", str(state.components[name].port)]
    argv += ["--lifetime", str(state.lifetime)]
    return argv + (["--follow", follow] if follow else [])


def service_argv(state: SystemState, backend: str) -> list[str]:
    """The command line of the service, reading and writing ``backend``."""
    argv = [state.python, str(SYSTEM_DIR / "service.py")]
    argv += ["--port", str(state.components["service"].port)]
    return [*argv, "--backend", backend, "--lifetime", str(state.lifetime)]


def find_binaries() -> dict[str, str]:
    """The paths of prometheus and alertmanager; how to install them if missing."""
    found = {
        "prometheus": shutil.which("prometheus"),
        "alertmanager": shutil.which("prometheus-alertmanager")
        or shutil.which("alertmanager"),
    }
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise ExampleSystemError(
            f"not on PATH: {', '.join(missing)}; on Debian or Ubuntu: "
            "apt-get install -y prometheus prometheus-alertmanager"
        )
    return {name: str(path) for name, path in found.items()}


def prometheus_rules() -> dict[str, Any]:
    """The alert rules: the backend down, and the service itself unscrapable."""
    about = "drills/primary-down/runbook.md"
    backend_down = {
        "alert": ALERT_NAME,
        "expr": "service_backend_up == 0",
        "for": "2s",
        "labels": {"severity": "page", "service": "example"},
        "annotations": {
            "summary": "The example service gets no answer from its backend store.",
            "description": "{{ $labels.instance }}: service_backend_up is 0.",
            "runbook": about,
        },
    }
    service_down = {
        "alert": "ExampleServiceDown",
        "expr": f'up{{job="{SERVICE_JOB}"}} == 0',
        "for": "2s",
        "labels": {"severity": "page", "service": "example"},
        "annotations": {"summary": "Prometheus cannot scrape the example service."},
    }
    group = {"name": "example", "interval": "1s", "rules": [backend_down, service_down]}
    return {"groups": [group]}


def prometheus_config(state: SystemState) -> dict[str, Any]:
    """Scrape and evaluate every second; alerts go to the system's Alertmanager."""
    alertmanager = f"127.0.0.1:{state.components['alertmanager'].port}"
    service = f"127.0.0.1:{state.components['service'].port}"
    return {
        "global": {
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "evaluation_interval": "1s",
        },
        "rule_files": [str(state.rundir / "rules.yml")],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]
        },
        "scrape_configs": [
            {"job_name": SERVICE_JOB, "static_configs": [{"targets": [service]}]}
        ],
    }


def alertmanager_config(state: SystemState, token_file: Path | None) -> dict[str, Any]:
    """Notify the webhook at once (group_wait 0s), again on change and resolution."""
    route = {
        "receiver": "drill",
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }
    receiver: dict[str, Any] = {"name": "drill"}
    if state.webhook_url:
        webhook: dict[str, Any] = {"url": state.webhook_url, "send_resolved": True}
        if token_file is not None:
            authorization = {"type": "Bearer", "credentials_file": str(token_file)}
            webhook["http_config"] = {"authorization": authorization}
        receiver["webhook_configs"] = [webhook]
    return {"route": route, "receivers": [receiver]}


def write_configuration(state: SystemState, webhook_token: str | None) -> None:
    """Write the Prometheus and Alertmanager files (JSON is YAML to both)."""
    token_file = None
    if webhook_token:
        token_file = state.rundir / "webhook-token"
        with suppress(FileNotFoundError):
            token_file.unlink()
        descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(webhook_token)

    files = {
        "rules.yml": prometheus_rules(),
        "prometheus.yml": prometheus_config(state),
        "alertmanager.yml": alertmanager_config(state, token_file),
    }
    for name, content in files.items():
        (state.rundir / name).write_text(json.dumps(content, indent=2) + "\n")


def _plan(
    rundir: Path, webhook_url: str | None, lifetime: float, binaries: dict[str, str]
) -> SystemState:
    """The system's state before anything runs: ports and command lines."""
    state = SystemState(rundir, sys.executable, lifetime, webhook_url)
    for name, port in zip(START_ORDER, free_ports(len(START_ORDER)), strict=True):
        state.components[name] = Component(name, port, [], f"logs/{name}.log")

    primary = state.url("primary")
    alertmanager_port = state.components["alertmanager"].port
    prometheus_port = state.components["prometheus"].port
    state.components["primary"].argv = store_argv(state, "primary", None)
    state.components["replica"].argv = store_argv(state, "replica", primary)
    state.components["service"].argv = service_argv(state, primary)
    state.components["alertmanager"].argv = [
        binaries["alertmanager"],
        f"--config.file={rundir / 'alertmanager.yml'}",
        f"--storage.path={rundir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{alertmanager_port}",
        f"--web.external-url={state.url('alertmanager')}",
        "--cluster.listen-address=",
    ]
    state.components["prometheus"].argv = [
        binaries["prometheus"],
        f"--config.file={rundir / 'prometheus.yml'}",
        f"--storage.tsdb.path={rundir / 'prometheus-data'}",
        "--storage.tsdb.retention.time=1d",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
        f"--web.external-url={state.url('prometheus')}",
    ]
    return state


# --- the system's life -----------------------------------------------------------


def start_system(
    rundir: str | os.PathLike[str] | None = None,
    *,
    webhook_url: str | None = None,
    webhook_token: str | None = None,
    lifetime: float = DEFAULT_LIFETIME,
    timeout: float = 30.0,
) -> SystemState:
    """Start every part, wait until Prometheus scrapes the service, save the state.

    ``lifetime`` bounds how long the stores and the service live if nobody stops
    them. Anything started is stopped again when the start fails.
    """
    where = resolve_rundir(rundir)
    with locked(where):
        _refuse_if_running(where)
        state = _plan(where, webhook_url, lifetime, find_binaries())
        write_configuration(state, webhook_token)
        save_state(state)
        deadline = time.monotonic() + timeout
        try:
            for name in START_ORDER:
                component = state.components[name]
                spawn(state, component, component.argv)
                save_state(state)
                wait_ready(state, name, deadline)
            wait_until(
                lambda: _watching(state),
                max(0.1, deadline - time.monotonic()),
                "Prometheus to scrape the service and find Alertmanager",
            )
        except BaseException:
            _stop_all(state)
            raise
    return state


def stop_system(rundir: str | os.PathLike[str] | None = None) -> list[str]:
    """Stop every part that runs (SIGTERM, then SIGKILL); the names stopped."""
    where = resolve_rundir(rundir)
    with locked(where):
        state = load_state(where)
        return _stop_all(state)


def system_status(rundir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Each part: running or not, its pid and URL, and what it says about itself."""
    state = load_state(rundir)
    parts: dict[str, Any] = {}
    for name, component in state.components.items():
        parts[name] = {
            "running": is_running(component),
            "pid": component.pid,
            "url": component.url,
            "health": _describe(name, component),
        }
    return {"configuration": state.configuration(), "components": parts}


def start_component(
    state: SystemState, name: str, argv: list[str], timeout: float = 15.0
) -> None:
    """Start one part again (after a fault) and wait until it answers."""
    component = state.components[name]
    if is_running(component):
        raise ExampleSystemError(f"{name} already runs (pid {component.pid})")
    spawn(state, component, argv)
    save_state(state)
    wait_ready(state, name, time.monotonic() + timeout)


def wait_ready(state: SystemState, name: str, deadline: float) -> None:
    """Wait until a part answers; fail at once, with its log, if it exits."""
    component = state.components[name]
    path = "/-/ready" if name in ("prometheus", "alertmanager") else "/health"

    def ready() -> bool | None:
        if not is_running(component):
            raise ExampleSystemError(
                f"{name} exited while starting; end of {state.rundir / component.log}:"
                f"\n{_tail(state.rundir / component.log)}"
            )
        answer = get(f"{component.url}{path}", timeout=0.5)
        return True if answer is not None and answer[0] == 200 else None

    wait_until(ready, max(0.1, deadline - time.monotonic()), f"{name} to answer")


def _watching(state: SystemState) -> bool | None:
    """Prometheus has scraped the healthy service and knows its Alertmanager.

    Prometheus hands new targets to its scrapers and notifier every 5 s, so
    both arrive a few seconds after it answers.
    """
    prometheus = state.url("prometheus")
    answer = get(f"{prometheus}/api/v1/query?query=service_backend_up")
    if answer is None or not isinstance(answer[1], dict):
        return None
    results = answer[1].get("data", {}).get("result", [])
    if not any(result.get("value", [0, ""])[1] == "1" for result in results):
        return None

    answer = get(f"{prometheus}/api/v1/alertmanagers")
    if answer is None or not isinstance(answer[1], dict):
        return None
    active = answer[1].get("data", {}).get("activeAlertmanagers", [])
    port = f":{state.components['alertmanager'].port}/"
    return True if any(port in item.get("url", "") for item in active) else None


def _refuse_if_running(rundir: Path) -> None:
    if not (rundir / "state.json").exists():
        return
    running = [c.name for c in load_state(rundir).components.values() if is_running(c)]
    if running:
        raise ExampleSystemError(
            f"{rundir}: already running ({', '.join(running)}); "
            f"stop it first: python3 {SYSTEM_DIR / 'system.py'} down --dir {rundir}"
        )


def _stop_all(state: SystemState) -> list[str]:
    stopped = []
    for name in reversed(START_ORDER):
        component = state.components.get(name)
        if component is None:
            continue
        if terminate(component):
            stopped.append(name)
        component.pid = component.started = None
        save_state(state)
    with suppress(FileNotFoundError):
        (state.rundir / "webhook-token").unlink()
    return stopped


def _describe(name: str, component: Component) -> Any:
    if name in STORES:
        return health(component.url)
    if name == "service":
        answer = get(f"{component.url}/health")
        return None if answer is None else answer[1]
    answer = get(f"{component.url}/-/ready")
    return None if answer is None else {"ready": answer[0] == 200}


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


# --- command line ----------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``system.py up|down|status``; prints JSON, exits 1 with a message on error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument(
        "--dir", help=f"run directory (default: ${ENV_RUNDIR}, else {DEFAULT_RUNDIR})"
    )
    parser.add_argument("--webhook-url", help="where Alertmanager sends (up)")
    parser.add_argument(
        "--webhook-token",
        default=os.environ.get(ENV_WEBHOOK_TOKEN),
        help=f"bearer token for the webhook (up; default: ${ENV_WEBHOOK_TOKEN})",
    )
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (up)")
    options = parser.parse_args(argv)

    try:
        if options.command == "up":
            state = start_system(
                options.dir,
                webhook_url=options.webhook_url,
                webhook_token=options.webhook_token,
                lifetime=options.lifetime,
                timeout=options.timeout,
            )
            result: Any = {
                "configuration": state.configuration(),
                "pids": {n: c.pid for n, c in state.components.items()},
            }
        elif options.command == "down":
            result = {"stopped": stop_system(options.dir)}
        else:
            result = system_status(options.dir)
    except ExampleSystemError as error:
        print(f"system.py {options.command}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
