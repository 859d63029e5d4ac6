"""Simulation and comparison reports, rendered from real simulations."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest

from drillhall.reports.render import duration, format_share
from drillhall.reports.simulation_report import (
    figures_folder,
    write_comparison_report,
    write_simulation_report,
)
from drillhall.simulator.compare import Comparison, compare
from drillhall.simulator.engine import Engine
from drillhall.simulator.lifecycle import PHASES
from drillhall.simulator.loader import load_scenario, load_scenario_with
from drillhall.simulator.montecarlo import RunSettings, run_replications
from drillhall.simulator.replication import summarize
from drillhall.simulator.summary import MonteCarloSummary, Prediction
from tests.conftest import SCENARIOS, build_scenario
from tests.test_cli import drillhall

SMALL_TEAM = SCENARIOS / "small-team-weekly.yaml"
SHORTER_FIRST_LEVEL = "escalation.platform-default.levels[0].delay=5m"
PNG = b"\x89PNG\r\n\x1a\n"
SECTIONS = {
    "scenario": "Scenario",
    "durations": "Lifecycle durations",
    "escalation": "Escalation funnel",
    "load": "On-call load per person",
    "night": "Night pages",
    "slo": "SLO error budget",
}


@dataclass(frozen=True)
class Simulated:
    summary: MonteCarloSummary
    prediction: Prediction


def simulate_small_team(replications: int = 3) -> Simulated:
    """The small-team example, really simulated (a few replications)."""
    settings = RunSettings(replications=replications, workers=1)
    scenario = settings.apply(load_scenario(SMALL_TEAM))
    summary = MonteCarloSummary(scenario)
    for replication in run_replications(scenario, settings):
        summary.add(replication)
    return Simulated(summary, summary.prediction())


def compare_shorter_first_level(replications: int = 4) -> Comparison:
    """The small team against itself with a 5-minute first level."""
    base = load_scenario(SMALL_TEAM)
    candidate = load_scenario_with(SMALL_TEAM, [SHORTER_FIRST_LEVEL])
    candidate = candidate.model_copy(update={"name": "five-minute first level"})
    return compare(base, candidate, RunSettings(replications=replications, workers=1))


@pytest.fixture(scope="module")
def simulated() -> Simulated:
    return simulate_small_team()


@pytest.fixture(scope="module")
def compared() -> Comparison:
    return compare_shorter_first_level()


class Page(HTMLParser):
    """What the tests read of a report page: headings, tables, images, links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.tables: dict[str, list[list[tuple[str, list[list[str]]]]]] = {}
        self.images: list[dict[str, str | None]] = []
        self.references: list[str] = []
        self._section = ""
        self._heading: list[str] | None = None
        self._table: list[tuple[str, list[list[str]]]] = []
        self._row: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.references += [
            value for name, value in attrs if name in ("src", "href") and value
        ]
        if tag == "section":
            self._section = attributes.get("id") or ""
        elif tag == "h2":
            self._heading = []
        elif tag == "table":
            self._table = []
            self.tables.setdefault(self._section, []).append(self._table)
        elif tag == "tr":
            self._row = []
            self._table.append((attributes.get("class") or "", self._row))
        elif tag in ("td", "th"):
            self._cell = []
            self._row.append(self._cell)
        elif tag == "img":
            self.images.append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
        elif tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)
        if self._cell is not None and data.strip():
            self._cell.append(data.strip())

    def table(self, section: str) -> list[tuple[str, list[list[str]]]]:
        return self.tables[section][0]


def row(table: list[tuple[str, list[list[str]]]], *first: str) -> list[list[str]]:
    """The first row whose leading cells read ``first``."""
    for _, cells in table:
        leading = [" ".join(cell) for cell in cells[: len(first)]]
        if leading == list(first):
            return cells
    raise AssertionError(f"no row starts with {first}")


def markdown_row(text: str, first: str) -> list[str]:
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first:
            return cells
    raise AssertionError(f"no Markdown row starts with {first!r}")


def interval(low: str, high: str) -> str:
    return f"{low}–{high}"


# -- the simulation report -----------------------------------------------------


def test_html_report_prints_the_predictions_own_figures(simulated, tmp_path):
    path = write_simulation_report(
        tmp_path / "report.html", simulated.summary, simulated.prediction
    )
    page = Page(path.read_text())
    prediction = simulated.prediction

    assert page.headings == list(SECTIONS.values())
    facts = page.table("scenario")
    assert row(facts, "scenario")[1] == ["small-team-weekly"]
    assert row(facts, "replications")[1] == ["3"]
    assert row(facts, "seed")[1] == [str(prediction.seed)]
    assert row(facts, "incidents simulated")[1][0].startswith(
        f"{prediction.incidents}; "
    )
    assert row(facts, "people")[1][0].startswith("5: ana, ben, chloe, dario, emil")

    metrics = page.table("durations")
    assert [" ".join(cell) for cell in metrics[0][1]] == [
        "phase", "mean", "median", "p90", "p99",
    ]  # fmt: skip
    for phase in (*PHASES, "wait"):
        cells = next(
            cells for _, cells in metrics if cells[0][0].startswith(phase.upper())
        )
        for column, statistic in enumerate(("mean", "median", "p90", "p99"), 1):
            estimate = prediction.durations[phase][statistic]
            assert cells[column] == [
                duration(estimate.value),
                interval(duration(estimate.low), duration(estimate.high)),
            ], (phase, statistic)
    tta = prediction.durations["tta"]["median"].value
    assert row(metrics, "TTA: time to acknowledge")[2][0] == duration(tta)


def test_html_report_shows_escalation_load_night_pages_and_budgets(simulated, tmp_path):
    path = write_simulation_report(tmp_path / "report.html", simulated.summary)
    page = Page(path.read_text())
    prediction = simulated.prediction

    policy = prediction.escalation["platform-default"]
    escalation = page.table("escalation")
    first = row(escalation, "platform-default")
    assert first[1] == [str(policy["incidents"])]
    assert first[3][0] == format_share(policy["levels"][0]["reached"].value)
    second = row(escalation, "", "", "level 2")
    assert second[3][0] == format_share(policy["levels"][1]["reached"].value)
    assert second[4][0] == format_share(policy["levels"][1]["escalated"].value)
    nobody = row(escalation, "", "", "nobody")
    assert nobody[3][0] == format_share(policy["exhausted"].value)

    for person, load in prediction.load.items():
        cells = row(page.table("load"), person)
        assert cells[1] == [str(load.shifts)]
        assert cells[2][0] == f"{load.interruptions_per_week.value:.2f}"
        night = load.by_shift_type["sleep"]
        shown = row(page.table("night"), person)[2]
        assert shown == [
            f"{night.value:.2f}",
            interval(f"{night.low:.2f}", f"{night.high:.2f}"),
        ]

    assert set(prediction.slo) == {"api", "worker"}
    for service, budget in prediction.slo.items():
        cells = row(page.table("slo"), service)
        assert cells[1] == [f"{budget.availability * 100:g}%"]
        assert cells[4][0] == format_share(budget.budget_used_per_window.value)
        assert cells[5][0] == format_share(budget.worst_window.value)
        assert cells[6][0] == format_share(budget.breach_probability.value)


def test_html_report_is_self_contained(simulated, tmp_path):
    path = write_simulation_report(tmp_path / "report.html", simulated.summary)
    text = path.read_text()
    page = Page(text)

    # CDFs, histograms, funnel, heatmap, night pages, budget burn.
    assert len(page.images) == 6
    for image in page.images:
        source = image["src"] or ""
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == PNG
        assert image["alt"]
    assert all(reference.startswith("data:") for reference in page.references)
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text


def test_markdown_report_links_png_files_beside_it(simulated, tmp_path):
    path = write_simulation_report(tmp_path / "report.md", simulated.summary)
    text = path.read_text()
    prediction = simulated.prediction

    for heading in SECTIONS.values():
        assert f"\n## {heading}\n" in text
    links = [
        line.split("](", 1)[1].rstrip(")")
        for line in text.splitlines()
        if line.startswith("![")
    ]
    assert len(links) == 6
    folder = figures_folder(path)
    for link in links:
        assert link.startswith(f"{folder.name}/")
        assert (tmp_path / link).read_bytes()[:8] == PNG
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        link.split("/")[1] for link in links
    )

    tta = prediction.durations["tta"]["median"]
    cells = markdown_row(text, "TTA: time to acknowledge")
    expected = f"{duration(tta.value)} ({duration(tta.low)}–{duration(tta.high)})"
    assert cells[2] == expected
    budget = prediction.slo["api"]
    assert markdown_row(text, "api")[5].startswith(
        format_share(budget.worst_window.value)
    )


def test_a_scenario_without_slos_or_slow_answers_still_reports(tmp_path):
    # The tests' base scenario: nobody takes time to acknowledge, no SLO.
    scenario = build_scenario(replications=1)
    engine = Engine(scenario)
    summary = MonteCarloSummary(scenario, engine)
    summary.add(summarize(engine, engine.run(0)))

    text = write_simulation_report(tmp_path / "r.html", summary).read_text()
    page = Page(text)

    assert page.headings == list(SECTIONS.values())
    assert "slo" not in page.tables and "No service declares an SLO." in text
    assert len(page.images) == 5  # no budget burn to draw
    tta = row(page.table("durations"), "TTA: time to acknowledge")
    assert tta[1:] == [["0.0s", "0.0s–0.0s"]] * 4
    night = row(page.table("night"), "ana")[2]
    assert len(night) == 1  # one replication: no interval to show


# -- the comparison report -----------------------------------------------------


def test_comparison_summaries_are_the_predictions_simulate_makes(compared):
    # compare() feeds every replication of each side into a Monte Carlo summary:
    # its prediction is the one `simulate` gives for that scenario.
    alone = simulate_small_team(replications=4)
    assert compared.base_summary is not None
    assert compared.base_summary.prediction().to_dict() == alone.prediction.to_dict()
    candidate = compared.candidate_summary
    assert candidate is not None
    assert candidate.prediction().scenario == "five-minute first level"


def test_comparison_html_shows_both_and_the_paired_differences(compared, tmp_path):
    path = write_comparison_report(tmp_path / "comparison.html", compared)
    text = path.read_text()
    page = Page(text)

    assert "small-team-weekly" in text and "five-minute first level" in text
    assert page.headings == ["Paired differences", *SECTIONS.values()]
    facts = page.table("scenario")
    assert row(facts, "scenario")[1:] == [
        ["small-team-weekly"],
        ["five-minute first level"],
    ]

    differences = page.table("differences")[1:]
    assert len(differences) == len(compared.differences)
    for (mark, cells), difference in zip(
        differences, compared.differences, strict=True
    ):
        if difference.distinguishable:
            assert mark in ("better", "worse"), difference.metric
        else:
            assert mark == "noise" and cells[4] == ["within noise"]

    escalated = compared["escalated_share"]
    assert escalated.distinguishable
    mark, cells = differences[
        [d.metric for d in compared.differences].index("escalated_share")
    ]
    assert mark == "worse"
    assert cells[1] == [format_share(escalated.base.value)]
    assert cells[2] == [format_share(escalated.candidate.value)]
    assert cells[3][0] == f"{100 * escalated.difference.value:+.1f} pp"
    assert cells[4][0].startswith("higher")
    ttd = differences[[d.metric for d in compared.differences].index("ttd.mean")]
    assert ttd[1][3][0] == "0s"  # the same incidents are detected alike


def test_comparison_sections_hold_both_scenarios(compared, tmp_path):
    path = write_comparison_report(tmp_path / "comparison.html", compared)
    page = Page(path.read_text())
    assert compared.base_summary and compared.candidate_summary
    base = compared.base_summary.prediction()
    candidate = compared.candidate_summary.prediction()

    metrics = page.table("durations")
    assert [" ".join(cell) for cell in metrics[0][1]][:2] == ["phase", "scenario"]
    rows = [cells for _, cells in metrics]
    tta = rows.index(row(metrics, "TTA: time to acknowledge", "base"))
    assert rows[tta][3][0] == duration(base.durations["tta"]["median"].value)
    following = rows[tta + 1]
    assert following[:2] == [[], ["candidate"]]
    assert following[3][0] == duration(candidate.durations["tta"]["median"].value)

    escalation = page.table("escalation")
    level_two = [cells for _, cells in escalation if cells[3] == ["level 2"]]
    assert [cells[1] for cells in level_two] == [["base"], ["candidate"]]
    reached = [
        side.escalation["platform-default"]["levels"][1]["reached"].value
        for side in (base, candidate)
    ]
    assert [cells[4][0] for cells in level_two] == [format_share(v) for v in reached]

    # Overlaid curves: one image per section, both sides in it.
    assert len(page.images) == 6


def test_comparison_markdown_has_the_differences_and_its_figures(compared, tmp_path):
    path = write_comparison_report(tmp_path / "comparison.md", compared)
    text = path.read_text()

    assert text.startswith("# Comparison: small-team-weekly → five-minute first level")
    assert "## Paired differences" in text
    escalated = compared["escalated_share"]
    cells = markdown_row(
        text, "**escalated past the first level (share of incidents)**"
    )
    assert cells[3].startswith(f"{100 * escalated.difference.value:+.1f} pp (")
    assert markdown_row(text, "TTD mean")[4] == "within noise"
    for link in (line for line in text.splitlines() if line.startswith("![")):
        target = link.split("](", 1)[1].rstrip(")")
        assert (tmp_path / target).read_bytes()[:8] == PNG


# -- the command line ----------------------------------------------------------


def test_simulate_writes_the_report_it_is_asked_for(tmp_path):
    report, out = tmp_path / "small team.md", tmp_path / "prediction.json"
    result = drillhall(
        "simulate", str(SMALL_TEAM), "-n", "2", "-w", "1", "-q",
        "--json", str(out), "--report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    prediction = json.loads(out.read_text())
    median = prediction["durations"]["ttr"]["median"]["value"]
    text = report.read_text()
    assert markdown_row(text, "TTR: time to resolve")[2].startswith(duration(median))
    assert "](small%20team-figures/durations-cdf.png)" in text
    assert (tmp_path / "small team-figures" / "durations-cdf.png").exists()


def test_compare_writes_an_html_report(tmp_path):
    report = tmp_path / "comparison.html"
    result = drillhall(
        "compare", str(SMALL_TEAM), f"--set={SHORTER_FIRST_LEVEL}",
        "-n", "3", "-w", "1", "--report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    assert "small-team-weekly with 1 change" in text
    assert "Paired differences" in Page(text).headings


@pytest.mark.parametrize("command", ["simulate", "compare"])
def test_a_report_name_without_a_known_suffix_fails_before_simulating(
    command, tmp_path
):
    report = tmp_path / "report.txt"
    extra = [f"--set={SHORTER_FIRST_LEVEL}"] if command == "compare" else []
    result = drillhall(
        command, str(SMALL_TEAM), *extra, "-n", "2", "--report", str(report)
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "report.txt" in lines[0] and ".html" in lines[0] and ".md" in lines[0]
    assert result.stdout == ""  # nothing was simulated
    assert not report.exists()


def test_a_report_in_a_missing_folder_fails_before_simulating(tmp_path):
    report = tmp_path / "nowhere" / "report.html"
    result = drillhall("simulate", str(SMALL_TEAM), "-n", "2", "--report", str(report))
    assert result.returncode == 2
    folder = str(report.parent)
    expected = (
        f"drillhall: --report: {report}: the folder {folder!r} does not exist; "
        "create it first"
    )
    assert result.stderr.splitlines() == [expected]
    assert result.stdout == ""
