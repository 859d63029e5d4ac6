"""Simulation and comparison reports as people see them: in headless Chromium."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from drillhall.reports.render import duration
from drillhall.reports.simulation_report import (
    write_comparison_report,
    write_simulation_report,
)
from tests.reports.conftest import images_loaded, open_report, save_screenshot
from tests.reports.test_simulation_report import (
    SECTIONS,
    compare_shorter_first_level,
    simulate_small_team,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page


def assert_sections_shown(page: Page) -> None:
    """Every heading and every table of the report is visible."""
    for part in ("h2", "table"):
        found = page.locator(part)
        for index in range(found.count()):
            assert found.nth(index).is_visible(), f"{part} {index} is hidden"


@pytest.mark.slow
def test_the_simulation_report_opens_in_chromium_with_its_figures(browser, tmp_path):
    simulated = simulate_small_team()
    report = write_simulation_report(
        tmp_path / "simulation.html", simulated.summary, simulated.prediction
    )

    with open_report(browser, report) as page:
        assert_sections_shown(page)
        assert page.title() == "small-team-weekly: simulation report"
        assert page.locator("h1").inner_text() == "Simulation of small-team-weekly"
        assert page.locator("h2").all_inner_texts() == list(SECTIONS.values())
        assert images_loaded(page) == 6
        tta_row = page.locator("#durations tbody tr").nth(1)
        tta_median = tta_row.locator("td").nth(2).inner_text()
        screenshot = save_screenshot(page, "simulation-report.png")

    tta = simulated.prediction.durations["tta"]["median"]
    assert tta_median.splitlines() == [
        duration(tta.value),
        f"{duration(tta.low)}–{duration(tta.high)}",
    ]
    assert screenshot.stat().st_size > 100_000


@pytest.mark.slow
def test_the_comparison_report_opens_in_chromium_with_its_figures(browser, tmp_path):
    comparison = compare_shorter_first_level()
    report = write_comparison_report(tmp_path / "comparison.html", comparison)

    with open_report(browser, report) as page:
        assert_sections_shown(page)
        assert page.locator("h1").inner_text() == (
            "Comparison: small-team-weekly → five-minute first level"
        )
        assert page.locator("h2").all_inner_texts() == [
            "Paired differences",
            *SECTIONS.values(),
        ]
        assert images_loaded(page) == 6
        screenshot = save_screenshot(page, "comparison-report.png")

    assert screenshot.stat().st_size > 100_000
