"""Simulation and comparison reports as people see them: in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drillhall.reports.render import duration
from drillhall.reports.simulation_report import (
    write_comparison_report,
    write_simulation_report,
)
from tests.conftest import ARTIFACTS
from tests.reports.test_simulation_report import (
    SECTIONS,
    compare_shorter_first_level,
    simulate_small_team,
)


def look_at(browser: Any, report: Path, screenshot: str) -> dict[str, Any]:
    """Open ``report``, check what every report shows, save a screenshot."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(report.as_uri())
        page.wait_for_load_state("load")

        headings = page.locator("h2")
        for index in range(headings.count()):
            assert headings.nth(index).is_visible()
        tables = page.locator("table")
        for index in range(tables.count()):
            assert tables.nth(index).is_visible()
        images = page.evaluate(
            "Array.from(document.images, image => "
            "({width: image.naturalWidth, shown: image.getBoundingClientRect().width,"
            "  complete: image.complete}))"
        )

        # Nothing but the page itself and its inline images was fetched.
        fetched = [url for url in requests if not url.startswith(("file:", "data:"))]
        assert fetched == []

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
        return {
            "title": page.title(),
            "h1": page.locator("h1").inner_text(),
            "headings": headings.all_inner_texts(),
            "images": images,
            "tta median": page.locator("#durations tbody tr")
            .nth(1)
            .locator("td")
            .nth(2)
            .inner_text(),
        }
    finally:
        page.close()


@pytest.mark.slow
def test_the_simulation_report_opens_in_chromium_with_its_figures(browser, tmp_path):
    simulated = simulate_small_team()
    report = write_simulation_report(
        tmp_path / "simulation.html", simulated.summary, simulated.prediction
    )

    seen = look_at(browser, report, "simulation-report.png")

    assert seen["title"] == "small-team-weekly: simulation report"
    assert seen["h1"] == "Simulation of small-team-weekly"
    assert seen["headings"] == list(SECTIONS.values())
    assert len(seen["images"]) == 6
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 0 and image["shown"] > 0
    tta = simulated.prediction.durations["tta"]["median"]
    assert seen["tta median"].splitlines() == [
        duration(tta.value),
        f"{duration(tta.low)}–{duration(tta.high)}",
    ]
    assert (ARTIFACTS / "simulation-report.png").stat().st_size > 100_000


@pytest.mark.slow
def test_the_comparison_report_opens_in_chromium_with_its_figures(browser, tmp_path):
    comparison = compare_shorter_first_level()
    report = write_comparison_report(tmp_path / "comparison.html", comparison)

    seen = look_at(browser, report, "comparison-report.png")

    assert seen["h1"] == "Comparison: small-team-weekly → five-minute first level"
    assert seen["headings"] == ["Paired differences", *SECTIONS.values()]
    assert len(seen["images"]) == 6
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 0 and image["shown"] > 0
    assert (ARTIFACTS / "comparison-report.png").stat().st_size > 100_000
