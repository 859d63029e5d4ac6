"""Shared fixtures: small scenarios built in code, and the example files."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillhall.simulator.scenario import Scenario
from tests.servers import chromium_browser, fresh_database, postgres_server

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"

BASE: dict[str, Any] = {
    "name": "test",
    "start": "2027-01-04T00:00:00Z",
    "horizon": "30d",
    "replications": 2,
    "seed": 1,
    "channels": {"push": {}},
    "people": {"ana": {}, "ben": {}, "cai": {}},
    "behaviours": {
        "default": {
            "acknowledge": {"working": "0s"},
            "miss": {"working": 0},
        }
    },
    "teams": {
        "ops": {
            "rotations": {
                "primary": {
                    "layers": [{"type": "weekly", "members": ["ana", "ben", "cai"]}]
                }
            }
        }
    },
    "escalation": {"main": {"levels": [{"targets": ["ops/primary"], "delay": "15m"}]}},
    "detection": {"user_report": "0s"},
    "services": {
        "api": {
            "team": "ops",
            "escalation": "main",
            "faults": [
                {
                    "name": "crash",
                    "rate": "1/day",
                    "diagnose": {"exponential": {"mean": "30m"}},
                    "mitigate": "0s",
                }
            ],
        }
    },
}


def scenario_data(**changes: Any) -> dict[str, Any]:
    """A copy of the base scenario with top-level keys replaced."""
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(changes))
    return data


def escalating_data(delay: str = "15m", **changes: Any) -> dict[str, Any]:
    """Slow first answers and two levels: the first level's delay decides
    how often pages escalate."""
    escalating = {
        "behaviours": {
            "default": {
                "acknowledge": {"working": {"exponential": {"mean": "10m"}}},
                "miss": {"working": 0.1},
            }
        },
        "escalation": {
            "main": {
                "levels": [
                    {"targets": ["ana"], "delay": delay},
                    {"targets": ["ben"], "delay": "15m"},
                ]
            }
        },
    }
    return scenario_data(**{**escalating, **changes})


def build_scenario(**changes: Any) -> Scenario:
    return Scenario.model_validate(scenario_data(**changes))


@pytest.fixture
def examples() -> list[Path]:
    return sorted(SCENARIOS.glob("*.yaml"))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server started for this test session (Debian's package)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'drillhall.db'}"
    server = request.getfixturevalue("postgres_server_url")
    return fresh_database(server)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's) under Playwright, for the HTML reports."""
    with chromium_browser() as running:
        yield running


ARTIFACTS = Path(os.environ.get("DRILLHALL_ARTIFACTS", ROOT / "artifacts"))
"""Where tests leave files for people to look at (screenshots of reports)."""
