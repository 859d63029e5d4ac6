"""The example drill, end to end: a real system, real alerts, real load, robots.

The system (two stores and a service) runs on loopback; Prometheus and
Alertmanager from Debian's packages watch it and post to the drill's receiver.
Skipped only where those two programs are missing (``./run tests`` installs them).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from drillhall.drills.timeline import Timeline
from tests.conftest import ROOT
from tests.drills.test_example_system import SYSTEM_DIR, TOKEN, needs_alerting

PLAN = ROOT / "drills" / "primary-down" / "plan.yaml"
pytestmark = [needs_alerting, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def system_module() -> ModuleType:
    if str(SYSTEM_DIR) not in sys.path:
        sys.path.insert(0, str(SYSTEM_DIR))
    return importlib.import_module("system")


class Example:
    """The example system, up for one test, with the drill's command line."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.database = f"sqlite:///{folder / 'drills.db'}"
        self.system = system_module()
        self.rundir = folder / "system"
        state = self.system.start_system(
            self.rundir,
            webhook_url=f"http://127.0.0.1:{self.port}/alertmanager",
            webhook_token=TOKEN,
            lifetime=300,
        )
        self.configuration = state.configuration()

    def command(self, *arguments: str, plan: Path = PLAN) -> list[str]:
        variables = [
            f"--var={key}={self.configuration[key]}"
            for key in ("rundir", "service_url", "system_dir")
        ]
        return [
            sys.executable, "-m", "drillhall", "drill", "run", str(plan),
            "--db", self.database, "--receiver-port", str(self.port),
            *variables, *arguments,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        return {**os.environ, "DRILLHALL_ALERTMANAGER_TOKEN": TOKEN}

    def run(self, *arguments: str, plan: Path = PLAN) -> subprocess.CompletedProcess:
        """``drillhall drill run`` on the plan, to the end (at most 10 minutes)."""
        return subprocess.run(
            self.command(*arguments, plan=plan),
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=600,
        )

    def original_topology(self) -> bool:
        check = subprocess.run(
            [
                sys.executable, str(SYSTEM_DIR / "actions.py"), "check",
                "original-topology", "--dir", str(self.rundir),
            ],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        return check.returncode == 0

    def events(self, drill: str) -> list[Any]:
        return Timeline(self.database).events(drill)


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Example]:
    running = Example(tmp_path)
    try:
        yield running
    finally:
        running.system.stop_system(running.rundir)


def test_the_example_drill_runs_unattended_with_robots(example, tmp_path):
    out = tmp_path / "result.json"
    result = example.run("--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(out.read_text())
    assert outcome["status"] == "finished" and outcome["rolled_back"]
    assert f"drillhall postmortem {outcome['drill']} --db" in result.stdout

    events = example.events(outcome["drill"])
    by_kind: dict[str, list[Any]] = {}
    for event in events:
        by_kind.setdefault(event.kind, []).append(event)
    [detected] = [e for e in by_kind["detected"] if e.source == "alertmanager"]
    assert detected.payload["alertname"] in {"ExampleBackendDown", "ExampleServiceDown"}
    assert by_kind["acknowledged"][0].source == "robot"
    steps = [e.payload for e in by_kind["runbook_step"]]
    assert [step["step"] for step in steps] == [1, 2, 3, 4]
    assert all(step.get("check", True) for step in steps)
    assert by_kind["mitigated"] and by_kind["resolved"]
    assert by_kind["rolled_back"][0].payload["succeeded"] is True
    failed = sum(e.payload["failures"] for e in by_kind["load_stats"])
    assert failed > 0  # users saw the outage under load

    score = outcome["score"]
    assert score["runbook_done"] == [1, 2, 3, 4]
    assert 0 < score["phases"]["ttd"]["seconds"] < 60  # the real alert's delay
    assert example.original_topology()
    assert Timeline(example.database).open_drills() == []


def test_a_drill_killed_after_injection_is_recovered(example):
    drill = subprocess.Popen(
        example.command(), env=example.environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        injected = None
        while injected is None and time.monotonic() < deadline:
            time.sleep(0.5)
            timeline = Timeline(example.database)
            for record in timeline.drills():
                if any(e.kind == "injected" for e in timeline.events(record.id)):
                    injected = record.id
        assert injected is not None
        # Kill the drill once the fault has landed (the primary is gone).
        while example.original_topology() and time.monotonic() < deadline:
            time.sleep(0.5)
        drill.send_signal(signal.SIGKILL)
        drill.wait(30)
    finally:
        if drill.poll() is None:
            drill.kill()

    assert not example.original_topology()
    command = [sys.executable, "-m", "drillhall", "drill", "recover"]
    recover = subprocess.run(
        [*command, "--db", example.database],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert recover.returncode == 0, recover.stderr
    assert f"rolled back {injected}" in recover.stdout
    assert example.original_topology()
    assert Timeline(example.database).drill(injected).status == "recovered"


def test_a_guardrail_aborts_a_drill_whose_error_rate_stays_high(example, tmp_path):
    plan = yaml.safe_load(PLAN.read_text())
    plan["fault"]["experiment"] = str(ROOT / "experiments" / "primary-down.json")
    plan["runbook"] = str(PLAN.parent / "runbook.md")
    plan["participants"].pop("robots")  # nobody comes to help
    plan["participants"]["scenario"] = str(ROOT / "scenarios/small-team-weekly.yaml")
    plan["expectations"] = {"detect": "30s"}
    plan["guardrails"] = {
        "error_rate": {"above": "50%", "for": "5s"},
        "max_duration": "3m",
    }
    plan.pop("schedule")
    variant = tmp_path / "plan.yaml"
    variant.write_text(yaml.safe_dump(plan))

    out = tmp_path / "result.json"
    result = example.run("--json", str(out), plan=variant)
    assert result.returncode == 1, result.stdout + result.stderr
    outcome = json.loads(out.read_text())
    assert outcome["status"] == "aborted" and outcome["rolled_back"]
    assert "error_rate" in outcome["guardrail"]
    assert example.original_topology()
