"""The example system of the drill "primary down": real processes on loopback.

Two stores, the service, Debian's Prometheus and Alertmanager, and a webhook sink
of the test's own. The tests that start the system are skipped when the
prometheus or prometheus-alertmanager binaries are missing.
"""

from __future__ import annotations

import copy
import importlib
import json
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from chaoslib.experiment import ensure_experiment_is_valid, run_experiment
from chaoslib.loader import load_experiment
from chaoslib.types import Strategy

from tests.conftest import ROOT

SYSTEM_DIR = ROOT / "drills" / "primary-down" / "system"
EXPERIMENT = ROOT / "experiments" / "primary-down.json"
TOKEN = "a-drill-token-for-tests"
WEBHOOK_DEADLINE = 20.0

ALERTING_MISSING = not shutil.which("prometheus") or not (
    shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
)
needs_alerting = pytest.mark.skipif(
    ALERTING_MISSING,
    reason="needs prometheus and prometheus-alertmanager on PATH "
    "(apt-get install -y prometheus prometheus-alertmanager)",
)


@dataclass(frozen=True)
class Delivery:
    """One webhook POST as the sink received it."""

    arrived: float
    authorization: str | None
    body: Any


class _SinkHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unreadable": raw.decode(errors="replace")}
        delivery = Delivery(time.monotonic(), self.headers.get("Authorization"), body)
        self.server.deliveries.put(delivery)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reports what matters."""


class WebhookSink:
    """A tiny HTTP receiver on 127.0.0.1 that keeps every POST in a queue."""

    def __init__(self) -> None:
        self.deliveries: queue.Queue[Delivery] = queue.Queue()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
        self.server.deliveries = self.deliveries  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/alertmanager"

    def wait_for(
        self, wanted: Callable[[Delivery], bool], timeout: float
    ) -> Delivery | None:
        """The first delivery from now on that is ``wanted``, within ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                delivery = self.deliveries.get(timeout=left)
            except queue.Empty:
                return None
            if wanted(delivery):
                return delivery
        return None


@pytest.fixture(scope="module")
def example() -> Iterator[tuple[ModuleType, ModuleType]]:
    """system.py and actions.py, imported with their folder on the path."""
    sys.path.insert(0, str(SYSTEM_DIR))
    try:
        yield importlib.import_module("system"), importlib.import_module("actions")
    finally:
        sys.path.remove(str(SYSTEM_DIR))


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    receiver = WebhookSink()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def running(
    tmp_path: Path, example: tuple[ModuleType, ModuleType], sink: WebhookSink
) -> Iterator[Any]:
    """The whole system up in tmp_path; stopped again whatever the test does."""
    system, _ = example
    rundir = tmp_path / "run"
    state = system.start_system(
        rundir, webhook_url=sink.url, webhook_token=TOKEN, lifetime=300, timeout=40
    )
    try:
        yield state
    finally:
        system.stop_system(rundir)


def request(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """One JSON request through the system's own client (loopback, no proxy)."""
    jsonhttp = importlib.import_module("jsonhttp")
    return jsonhttp.call(method, url, body, timeout=3.0)  # type: ignore[no-any-return]


def run_action(*arguments: str) -> dict[str, Any]:
    """actions.py as a Chaos Toolkit process provider runs it."""
    script = str(SYSTEM_DIR / "actions.py")
    done = subprocess.run(
        [sys.executable, script, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def wait_for_replica(actions: ModuleType, rundir: Path) -> dict[str, Any]:
    """The topology once the replica holds the primary's version (up to 5 s)."""
    for _ in range(50):
        now: dict[str, Any] = actions.topology(rundir)
        if now["primary"] and now["replica"]:
            if now["primary"]["version"] == now["replica"]["version"]:
                return now
        time.sleep(0.1)
    raise AssertionError(f"the replica did not catch up: {now}")


def leftovers(system: ModuleType, rundir: Path, seen: list[Any]) -> list[str]:
    """Processes of the system still alive: by recorded pid, or by RUNDIR in argv."""
    alive = [f"{c.name} pid {c.pid}" for c in seen if system.is_running(c)]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(rundir) in argv:
            alive.append(f"pid {cmdline.parent.name}: {argv}")
    return alive


def components(system: ModuleType, rundir: Path) -> list[Any]:
    """Copies of the components state.json records now (pids change on restore)."""
    return [copy.copy(c) for c in system.load_state(rundir).components.values()]


def test_experiment_file_is_valid() -> None:
    experiment = load_experiment(str(EXPERIMENT))
    ensure_experiment_is_valid(experiment)
    assert set(experiment["configuration"]) == {"rundir", "service_url", "system_dir"}
    assert [a["name"] for a in experiment["method"]] == ["kill-primary-store"]
    assert [a["name"] for a in experiment["rollbacks"]] == ["restore-primary-store"]


@needs_alerting
def test_primary_down_alerts_fails_over_and_restores(
    example: tuple[ModuleType, ModuleType],
    running: Any,
    sink: WebhookSink,
    record_property: Callable[[str, object], None],
) -> None:
    system, actions = example
    rundir, service = running.rundir, running.url("service")
    seen = components(system, rundir)

    # Steady state: the service writes through the primary, the replica follows.
    assert request("PUT", f"{service}/item/greeting", {"value": "hello"})[0] == 200
    assert request("GET", f"{service}/item/greeting") == (
        200,
        {"key": "greeting", "value": "hello"},
    )
    assert wait_for_replica(actions, rundir)["replica"]["keys"] == 1
    assert actions.check("original-topology", rundir)

    # The fault, run the way the experiment's process provider runs it.
    killed_at = time.monotonic()
    run_action("kill-primary", "--dir", str(rundir))
    assert request("GET", f"{service}/item/greeting")[0] == 502
    assert actions.check("primary-down", rundir)

    # The real alert reaches the webhook: Alertmanager's payload, version 4.
    firing = sink.wait_for(lambda d: d.body.get("status") == "firing", WEBHOOK_DEADLINE)
    assert firing is not None, f"no firing webhook within {WEBHOOK_DEADLINE} s"
    detected = firing.arrived - killed_at
    record_property("kill_to_webhook_seconds", round(detected, 2))
    print(f"kill to firing webhook: {detected:.2f} s")
    assert firing.authorization == f"Bearer {TOKEN}"
    assert firing.body["version"] == "4"
    assert firing.body["receiver"] == "drill"
    labels = [alert["labels"] for alert in firing.body["alerts"]]
    assert [label["alertname"] for label in labels] == ["ExampleBackendDown"]
    assert firing.body["alerts"][0]["status"] == "firing"

    # The runbook: promote the replica, repoint the service; it recovers.
    actions.promote_replica(rundir)
    assert actions.check("replica-promoted", rundir)
    actions.repoint_service("replica", rundir)
    assert actions.service_healthy(rundir)
    assert actions.check("service-on-replica", rundir)
    assert request("GET", f"{service}/item/greeting")[1]["value"] == "hello"
    assert request("PUT", f"{service}/item/during", {"value": 42})[0] == 200
    resolved = sink.wait_for(
        lambda d: d.body.get("status") == "resolved", WEBHOOK_DEADLINE
    )
    assert resolved is not None, "no resolved webhook after the service recovered"

    # The rollback: the primary, rebuilt from the replica, leads again.
    report = actions.restore_primary(rundir)
    assert "resynced the primary from the replica" in report["steps"]
    seen += components(system, rundir)
    assert actions.check("original-topology", rundir)
    assert request("GET", f"{service}/item/during") == (
        200,
        {"key": "during", "value": 42},
    )
    assert request("PUT", f"{service}/item/after", {"value": "x"})[0] == 200
    assert wait_for_replica(actions, rundir)["replica"]["keys"] == 3

    # Down from the command line: nothing is left running.
    status = json.loads(
        subprocess.run(
            [sys.executable, str(SYSTEM_DIR / "system.py"), "status", "--dir", rundir],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    )
    assert all(part["running"] for part in status["components"].values())
    subprocess.run(
        [sys.executable, str(SYSTEM_DIR / "system.py"), "down", "--dir", rundir],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert leftovers(system, rundir, seen) == []


@needs_alerting
def test_experiment_kills_and_rolls_back_through_chaoslib(
    example: tuple[ModuleType, ModuleType], running: Any
) -> None:
    system, actions = example
    rundir, service = running.rundir, running.url("service")
    seen = components(system, rundir)
    assert request("PUT", f"{service}/item/kept", {"value": [1, 2]})[0] == 200
    wait_for_replica(actions, rundir)

    experiment = load_experiment(str(EXPERIMENT))
    ensure_experiment_is_valid(experiment)
    journal = run_experiment(
        experiment,
        settings={"runtime": {"rollbacks": {"strategy": "always"}}},
        experiment_vars=(running.configuration(), {}),
        strategy=Strategy.BEFORE_METHOD,
    )

    assert journal["status"] == "completed", journal
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    played = journal["run"] + journal["rollbacks"]
    assert [run["activity"]["name"] for run in played] == [
        "kill-primary-store",
        "restore-primary-store",
    ]
    assert [run["output"]["status"] for run in played] == [0, 0]
    killed = json.loads(played[0]["output"]["stdout"])
    assert killed["pid"] == next(c.pid for c in seen if c.name == "primary")

    seen += components(system, rundir)
    assert actions.check("original-topology", rundir)
    assert request("GET", f"{service}/item/kept")[1] == {"key": "kept", "value": [1, 2]}
    assert actions.restore_primary(rundir)["steps"] == []
    system.stop_system(rundir)
    assert leftovers(system, rundir, seen) == []
