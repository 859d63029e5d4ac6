"""A real drill for the reports to work on: the example drill, run once.

The example system runs on loopback under Locust load, Prometheus and
Alertmanager raise the alert, robots acknowledge and follow the runbook. The
reports' tests read the timeline it leaves; none of them writes to it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.drills.test_example_drill import Example
from tests.drills.test_example_system import ALERTING_MISSING


@dataclass(frozen=True)
class ExampleDrill:
    database: str
    """The SQLAlchemy URL of the timeline (SQLite) the drill wrote."""
    drill: str
    outcome: dict[str, Any]
    """What ``drill run --json`` printed."""
    folder: Path


@pytest.fixture(scope="session")
def example_drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleDrill]:
    """The example drill, run unattended once per test session."""
    if ALERTING_MISSING:
        from tests.servers import missing

        missing("Prometheus and Alertmanager", "apt-get install prometheus "
                "prometheus-alertmanager")  # fmt: skip
    folder = tmp_path_factory.mktemp("example-drill")
    example = Example(folder)
    try:
        out = folder / "result.json"
        result = subprocess.run(
            example.command("--json", str(out)),
            env=example.environment(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        outcome = json.loads(out.read_text())
    finally:
        example.system.stop_system(example.rundir)
    yield ExampleDrill(example.database, outcome["drill"], outcome, folder)
