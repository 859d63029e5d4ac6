"""Chaos Toolkit actions and probes on the example system of "primary down".

Every action finds the system through RUNDIR/state.json, written by
``system.py up``. RUNDIR is the ``rundir`` argument (``--dir`` on the command
line), else $DRILLHALL_EXAMPLE_RUNDIR, else /tmp/drillhall-primary-down.

As Chaos Toolkit ``process`` providers (``path: python3``), as the experiment
experiments/primary-down.json does::

    python3 actions.py kill-primary --dir RUNDIR       # the fault: SIGKILL
    python3 actions.py promote-replica --dir RUNDIR
    python3 actions.py repoint-service replica --dir RUNDIR   # or primary, a URL
    python3 actions.py restore-primary --dir RUNDIR    # the rollback
    python3 actions.py service-healthy --dir RUNDIR    # probe: exit 0 when healthy
    python3 actions.py check CONDITION --dir RUNDIR    # probe for runbook steps
    python3 actions.py topology --dir RUNDIR

Each prints one JSON document and exits 0 on success, 1 on failure (a probe:
1 when its condition does not hold). CONDITION is one of ``primary-down``,
``replica-promoted``, ``service-on-replica``, ``original-topology``.

As ``python`` providers, this folder must be on the import path (for instance
``PYTHONPATH=drills/primary-down/system``): module ``actions``, the functions
below, arguments ``{"rundir": "${rundir}"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

from jsonhttp import call
from system import (
    STORES,
    ExampleSystemError,
    SystemState,
    health,
    is_running,
    load_state,
    locked,
    resolve_rundir,
    service_argv,
    start_component,
    store_argv,
    terminate,
    wait_until,
)

Rundir = str | os.PathLike[str] | None

CONDITIONS = (
    "primary-down",
    "replica-promoted",
    "service-on-replica",
    "original-topology",
)


def kill_primary(rundir: Rundir = None) -> dict[str, Any]:
    """The fault: SIGKILL the primary store and wait until it is gone."""
    where = resolve_rundir(rundir)
    with locked(where):
        state = load_state(where)
        primary = state.components["primary"]
        pid, at = primary.pid, time.time()
        if not terminate(primary, signal.SIGKILL, timeout=5.0):
            raise ExampleSystemError("the primary store is not running; nothing killed")
    return {"killed": "primary", "pid": pid, "at": at}


def promote_replica(rundir: Rundir = None) -> dict[str, Any]:
    """Runbook step: the replica stops following and accepts writes."""
    state = load_state(rundir)
    answer = _post(f"{state.url('replica')}/promote", {})
    return {"promoted": "replica", "replica": answer}


def repoint_service(to: str, rundir: Rundir = None) -> dict[str, Any]:
    """Runbook step: the service uses store ``to`` (primary, replica or a URL)."""
    state = load_state(rundir)
    url = state.url(to) if to in STORES else to
    answer = _post(f"{state.url('service')}/backend", {"url": url})
    return {"service_backend": answer.get("url")}


def service_healthy(rundir: Rundir = None) -> bool:
    """Probe: the service answers /health with 200 (its store takes writes)."""
    state = load_state(rundir)
    return health(state.url("service")) is not None


def topology(rundir: Rundir = None) -> dict[str, Any]:
    """Each store's role and leader, and the store the service uses, by name."""
    state = load_state(rundir)
    names = {state.url(name): name for name in (*STORES, "service")}
    result: dict[str, Any] = {}
    for name in STORES:
        store = health(state.url(name))
        leader = store.get("following") if store else None
        result[name] = store and {
            "role": store.get("role"),
            "following": names.get(leader or "", leader),
            "version": store.get("version"),
            "keys": store.get("keys"),
        }
    answer = _get(f"{state.url('service')}/backend")
    backend = answer.get("url") if answer else None
    result["service"] = {
        "backend": names.get(backend or "", backend),
        "healthy": health(state.url("service")) is not None,
    }
    return result


def check(condition: str, rundir: Rundir = None) -> bool:
    """Probe for a runbook step or for the end state; see CONDITIONS."""
    now = topology(rundir)
    primary, replica, service = now["primary"], now["replica"], now["service"]
    if condition == "primary-down":
        return primary is None
    if condition == "replica-promoted":
        return bool(replica) and replica["role"] == "primary"
    if condition == "service-on-replica":
        return bool(service["backend"] == "replica" and service["healthy"])
    if condition == "original-topology":
        return is_original(now)
    raise ExampleSystemError(
        f"no condition {condition!r}; use one of {', '.join(CONDITIONS)}"
    )


def is_original(now: dict[str, Any]) -> bool:
    """The topology ``system.py up`` built: primary leads, replica follows it."""
    primary, replica, service = now["primary"], now["replica"], now["service"]
    return bool(
        primary
        and replica
        and primary["role"] == "primary"
        and replica["role"] == "replica"
        and replica["following"] == "primary"
        and service["backend"] == "primary"
        and service["healthy"]
    )


def restore_primary(rundir: Rundir = None, timeout: float = 30.0) -> dict[str, Any]:
    """The rollback: the original topology again, without losing the data.

    The primary is rebuilt from the replica when the replica holds the data (it
    was promoted, or the primary is gone): the primary follows the replica, the
    replica is fenced (read-only, following nobody, so the two never follow each
    other), the primary catches up and is promoted, the replica follows it, and
    the service is repointed to it. Any part that is not running is started
    again. Running it on the original topology changes nothing.
    """
    where = resolve_rundir(rundir)
    deadline = time.monotonic() + timeout
    steps: list[str] = []
    with locked(where):
        state = load_state(where)
        _rebuild_primary(state, steps, deadline)
        _follow_primary(state, steps, deadline)
        _use_primary(state, steps, deadline)
        _restart_monitoring(state, steps, deadline)
    now = topology(where)
    if not is_original(now):
        raise ExampleSystemError(f"the topology is not the original one: {now}")
    return {"restored": True, "steps": steps, "topology": now}


def _rebuild_primary(state: SystemState, steps: list[str], deadline: float) -> None:
    primary_url, replica_url = state.url("primary"), state.url("replica")
    primary, replica = health(primary_url), health(replica_url)
    replica_leads = replica is not None and replica.get("role") == "primary"
    if primary and primary["role"] == "primary" and not replica_leads:
        return

    if replica is None:
        if primary is None:
            start_component(state, "primary", store_argv(state, "primary", None))
            steps.append("started the primary empty: no replica holds the data")
        else:
            _post(f"{primary_url}/promote", {})
            steps.append("promoted the primary: the replica does not answer")
        return

    # A follower mirrors its leader whole: the replica must stop following the
    # (new, empty) primary before the primary follows the replica.
    if not replica_leads and replica.get("following"):
        _post(f"{replica_url}/demote", {"follow": None})
        steps.append("stopped the replica following")
    if primary is None:
        argv = store_argv(state, "primary", replica_url)
        start_component(state, "primary", argv, _left(deadline))
        steps.append("started the primary as a follower of the replica")
    else:
        _post(f"{primary_url}/demote", {"follow": replica_url})
        steps.append("made the primary a follower of the replica")
    _wait_synced(primary_url, replica_url, deadline, exactly=False)
    steps.append("resynced the primary from the replica")

    if replica_leads:
        _post(f"{replica_url}/demote", {"follow": None})
        steps.append("fenced the replica: read-only")
    _wait_synced(primary_url, replica_url, deadline, exactly=True)
    _post(f"{primary_url}/promote", {})
    steps.append("promoted the primary")


def _follow_primary(state: SystemState, steps: list[str], deadline: float) -> None:
    primary_url, replica_url = state.url("primary"), state.url("replica")
    replica = health(replica_url)
    if replica is None:
        argv = store_argv(state, "replica", primary_url)
        start_component(state, "replica", argv, _left(deadline))
        steps.append("started the replica following the primary")
    elif replica["role"] != "replica" or replica.get("following") != primary_url:
        _post(f"{replica_url}/demote", {"follow": primary_url})
        steps.append("the replica follows the primary")
    _wait_synced(replica_url, primary_url, deadline, exactly=False)


def _use_primary(state: SystemState, steps: list[str], deadline: float) -> None:
    primary_url, service_url = state.url("primary"), state.url("service")
    if not is_running(state.components["service"]):
        argv = service_argv(state, primary_url)
        start_component(state, "service", argv, _left(deadline))
        steps.append("started the service on the primary")
    elif (_get(f"{service_url}/backend") or {}).get("url") != primary_url:
        _post(f"{service_url}/backend", {"url": primary_url})
        steps.append("repointed the service to the primary")
    wait_until(lambda: _healthy(service_url), _left(deadline), "a healthy service")


def _restart_monitoring(state: SystemState, steps: list[str], deadline: float) -> None:
    for name in ("alertmanager", "prometheus"):
        component = state.components[name]
        if not is_running(component):
            start_component(state, name, component.argv, _left(deadline))
            steps.append(f"started {name} again")


def _wait_synced(follower: str, leader: str, deadline: float, *, exactly: bool) -> None:
    """Wait until the follower holds the leader's history (or its exact version).

    Under load the leader's version moves on every write, so only a leader that
    takes no writes can be waited for ``exactly``.
    """

    def synced() -> bool | None:
        mine, theirs = health(follower), health(leader)
        if not mine or not theirs:
            return None
        if exactly:
            return True if mine["version"] == theirs["version"] else None
        same = mine["version"].split(":")[0] == theirs["version"].split(":")[0]
        return True if same else None

    what = f"{follower} to catch up with {leader}"
    wait_until(synced, _left(deadline), what, interval=0.05)


def _healthy(url: str) -> bool | None:
    return True if health(url) is not None else None


def _left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())


def _get(url: str) -> dict[str, Any] | None:
    try:
        status, body = call("GET", url, timeout=2.0)
    except OSError:
        return None
    return body if status == 200 and isinstance(body, dict) else None


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        status, answer = call("POST", url, body, timeout=2.0)
    except OSError as error:
        raise ExampleSystemError(f"POST {url}: no answer: {error}") from None
    if status != 200 or not isinstance(answer, dict):
        raise ExampleSystemError(f"POST {url}: answered {status}: {answer}")
    return answer


def main(argv: list[str] | None = None) -> int:
    """Run one action or probe; print its result as JSON; exit 0, or 1 if failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = (
        "kill-primary",
        "promote-replica",
        "repoint-service",
        "restore-primary",
        "service-healthy",
        "check",
        "topology",
    )
    parser.add_argument("command", choices=commands)
    parser.add_argument("target", nargs="?", help="repoint-service TO, check NAME")
    parser.add_argument("--dir", help="run directory of system.py up")
    parser.add_argument("--timeout", type=float, default=30.0, help="restore, s")
    options = parser.parse_args(argv)
    if options.command in ("repoint-service", "check") and not options.target:
        parser.error(f"{options.command} needs a target")

    try:
        ok, result = _run(options)
    except ExampleSystemError as error:
        ok, result = False, {"error": str(error)}
    print(json.dumps(result, indent=2))
    return 0 if ok else 1


def _run(options: argparse.Namespace) -> tuple[bool, Any]:
    rundir = options.dir
    if options.command == "kill-primary":
        return True, kill_primary(rundir)
    if options.command == "promote-replica":
        return True, promote_replica(rundir)
    if options.command == "repoint-service":
        return True, repoint_service(options.target, rundir)
    if options.command == "restore-primary":
        return True, restore_primary(rundir, options.timeout)
    if options.command == "service-healthy":
        healthy = service_healthy(rundir)
        return healthy, {"healthy": healthy}
    if options.command == "check":
        holds = check(options.target, rundir)
        return holds, {"check": options.target, "holds": holds}
    return True, topology(rundir)


if __name__ == "__main__":
    sys.exit(main())
