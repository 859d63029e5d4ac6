"""A real drill for the reports to work on, and a browser to look at them.

The example drill runs once: the example system runs on loopback under Locust
load, Prometheus and Alertmanager raise the alert, robots acknowledge and follow
the runbook. The reports' tests read the timeline it leaves; none of them writes
to it. ``open_report``, ``images_loaded`` and ``save_screenshot`` are the steps
every browser test of a report takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import ARTIFACTS
from tests.drills.test_example_drill import Example
from tests.drills.test_example_system import ALERTING_MISSING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


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
        result = example.run("--json", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        outcome = json.loads(out.read_text())
    finally:
        example.system.stop_system(example.rundir)
    yield ExampleDrill(example.database, outcome["drill"], outcome, folder)


@contextmanager
def open_report(browser: Browser, report: Path) -> Iterator[Page]:
    """The report in a new page of Chromium, loaded; closed afterwards.

    A report must open without a network: once the block ends, the test fails
    if the page fetched anything but its own file and inline (data:) images.
    """
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        yield page
    finally:
        page.close()

    fetched = [url for url in requests if not url.startswith(("file:", "data:"))]
    assert fetched == [], f"{report.name} fetched {fetched}"


def images_loaded(page: Page) -> int:
    """How many images the page has, after checking that each one was
    decoded and takes room on the page."""
    images = page.evaluate(
        "Array.from(document.images, image => ({alt: image.alt,"
        "  loaded: image.complete && image.naturalWidth > 0,"
        "  shown: image.getBoundingClientRect().width > 0}))"
    )
    broken = [image["alt"] for image in images if not image["loaded"]]
    hidden = [image["alt"] for image in images if not image["shown"]]
    assert (broken, hidden) == ([], []), f"not loaded: {broken}; not shown: {hidden}"
    return len(images)


def save_screenshot(page: Page, name: str) -> Path:
    """A screenshot of the whole page in ``ARTIFACTS``, for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
