"""The example drill's report as people see it: opened in headless Chromium."""

from __future__ import annotations

import pytest

from drillhall.drills.timeline import Timeline
from drillhall.reports.drill_facts import drill_facts
from drillhall.reports.drill_report import SECTIONS, write_drill_report
from tests.conftest import ARTIFACTS


@pytest.mark.slow
def test_the_example_report_opens_in_chromium_with_its_figures(
    example_drill, browser, tmp_path
):
    with Timeline(example_drill.database) as timeline:
        facts = drill_facts(timeline, example_drill.drill)
    page_file = tmp_path / "drill.html"
    write_drill_report(facts, page_file)

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")

        assert page.title() == f"Drill {example_drill.drill}"
        assert page.locator("h1").inner_text() == f"Drill {example_drill.drill}"
        assert page.locator("h2").all_inner_texts() == list(SECTIONS)

        widths = page.evaluate(
            "Array.from(document.images, image => image.naturalWidth)"
        )
        assert len(widths) == 5 and all(width > 0 for width in widths)
        assert facts.score is not None
        assert page.locator(".score").inner_text() == f"{facts.score.points:.1f} / 100"
        rubric = page.locator("#score ~ table").first.locator("tbody tr td:first-child")
        assert rubric.all_inner_texts() == [
            "detection (TTD)", "acknowledgement (TTA)", "mitigation (TTM)",
            "resolution (TTR)", "runbook", "SLO",
        ]  # fmt: skip

        # Nothing but the page itself and its inline images was fetched.
        fetched = [url for url in requests if not url.startswith(("file:", "data:"))]
        assert fetched == []

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "drill-report.png"), full_page=True)
    finally:
        page.close()
    assert (ARTIFACTS / "drill-report.png").stat().st_size > 50_000
