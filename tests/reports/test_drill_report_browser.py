"""The example drill's report as people see it: opened in headless Chromium."""

from __future__ import annotations

import pytest

from drillhall.drills.timeline import Timeline
from drillhall.reports.drill_facts import drill_facts
from drillhall.reports.drill_report import SECTIONS, write_drill_report
from tests.reports.conftest import images_loaded, open_report, save_screenshot


@pytest.mark.slow
def test_the_example_report_opens_in_chromium_with_its_figures(
    example_drill, browser, tmp_path
):
    with Timeline(example_drill.database) as timeline:
        facts = drill_facts(timeline, example_drill.drill)
    page_file = tmp_path / "drill.html"
    write_drill_report(facts, page_file)

    with open_report(browser, page_file) as page:
        assert page.title() == f"Drill {example_drill.drill}"
        assert page.locator("h1").inner_text() == f"Drill {example_drill.drill}"
        assert page.locator("h2").all_inner_texts() == list(SECTIONS)

        assert images_loaded(page) == 5
        assert facts.score is not None
        assert page.locator(".score").inner_text() == f"{facts.score.points:.1f} / 100"
        rubric = page.locator("#score ~ table").first.locator("tbody tr td:first-child")
        assert rubric.all_inner_texts() == [
            "detection (TTD)", "acknowledgement (TTA)", "mitigation (TTM)",
            "resolution (TTR)", "runbook", "SLO",
        ]  # fmt: skip

        screenshot = save_screenshot(page, "drill-report.png")
    assert screenshot.stat().st_size > 50_000
