"""``drillhall report DRILL``: the example drill's report, and one of a drill that
a guardrail stopped, as HTML and Markdown, with the numbers of the timeline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillhall.cli import main
from drillhall.drills.timeline import Timeline
from drillhall.reports.drill_events import offset_text
from drillhall.reports.drill_facts import DrillFacts, drill_facts
from drillhall.reports.drill_report import SECTIONS
from drillhall.reports.render import duration, format_share
from tests.reports.test_drill_facts import PLAN, guardrail_drill

PNG = b"\x89PNG\r\n\x1a\n"


def report(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["report", *arguments])
    return result.exit_code, result.stdout, result.stderr


def facts_of(database: str, drill: str) -> DrillFacts:
    with Timeline(database) as timeline:
        return drill_facts(timeline, drill)


@pytest.fixture(scope="module")
def example_report(example_drill, tmp_path_factory) -> tuple[str, Path]:
    """The example drill's report, written by a real process in a folder of its
    own: the default output, ``DRILL.html`` in the current folder."""
    folder = tmp_path_factory.mktemp("drill-report")
    result = subprocess.run(
        [sys.executable, "-m", "drillhall", "report", example_drill.drill,
         "--db", example_drill.database],
        capture_output=True, text=True, cwd=folder, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout, folder / f"{example_drill.drill}.html"


def headings(text: str, pattern: str) -> list[str]:
    return re.findall(pattern, text, flags=re.MULTILINE)


# The example drill


@pytest.mark.slow
def test_the_example_report_is_written_where_the_user_is(example_drill, example_report):
    stdout, page = example_report
    facts = facts_of(example_drill.database, example_drill.drill)

    assert page.is_file()
    assert f"report: {page}" in stdout
    assert f"drill {example_drill.drill} (primary-down): finished" in stdout
    assert f"score {example_drill.outcome['score']['points']:.1f} / 100" in stdout
    assert f"{facts.impact.failed} of {facts.impact.requests} requests failed" in stdout


@pytest.mark.slow
def test_the_example_report_shows_every_section_with_the_timelines_numbers(
    example_drill, example_report
):
    _, page = example_report
    html = page.read_text()
    facts = facts_of(example_drill.database, example_drill.drill)
    assert facts.score is not None and facts.plan is not None

    assert headings(html, r"<h2[^>]*>([^<]+)</h2>") == list(SECTIONS)
    # The drill
    assert example_drill.drill in html and "finished" in html
    assert ", ".join(facts.record.details["participants"]) in html
    # The score and its rubric: every part, its points, out of
    assert f"{facts.score.points:.1f} / 100" in html
    for part in facts.score.phases.values():
        assert f"<td>{duration(part.seconds)}</td>" in html
        assert f"<td>within {duration(part.expected)}</td>" in html
    assert f"<td>{facts.score.slo.points:g}</td>" in html
    # Runbook adherence: each step of the plan's runbook, by title
    for step in facts.plan.loaded_runbook.steps:
        assert f"<td>{step.title}</td>" in html
    # SLO impact, from the load's seconds
    failed = sum(second.failures for second in facts.load)
    assert f"{failed} ({format_share(facts.impact.error_rate)})" in html
    assert format_share(facts.impact.budget_used) in html
    assert format_share(facts.impact.worst_minute_error_rate) in html
    # The prediction: the fault, and the team's place in it per phase
    assert "api/database-failover in small-team-weekly.yaml" in html
    assert facts.percentiles["tta"] is not None
    assert f"<td>{facts.percentiles['tta']:.0f}</td>" in html
    # Events, timed from the injection on the postmortem's clock
    [detected, *_] = facts.of_kind("detected")
    assert facts.offset(detected.at) == offset_text(facts.phases["ttd"] or 0)
    at = re.escape(facts.offset(detected.at))
    assert re.search(
        rf"<td>{at}</td>\s*<td>alertmanager</td>\s*<td>detected: ExampleBackendDown",
        html,
    )
    assert "<td>detected: ExampleBackendDown firing: " in html


@pytest.mark.slow
def test_the_example_report_is_self_contained(example_report):
    _, page = example_report
    html = page.read_text()

    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 5  # the timeline and four predicted distributions
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "href=" not in html and "http://" not in html.replace("127.0.0.1", "")
    assert "<link" not in html and "<script" not in html


@pytest.mark.slow
def test_the_example_report_in_markdown_has_its_figures_beside_it(
    example_drill, tmp_path
):
    out = tmp_path / "drill.md"
    code, stdout, _ = report(
        example_drill.drill, "--db", example_drill.database, "--output", str(out)
    )
    assert code == 0
    text = out.read_text()

    assert headings(text, r"^## (.+)$") == list(SECTIONS)
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert figures == [f"drill-{name}.png" for name in ("timeline", *PHASES)]
    for name in figures:
        assert (tmp_path / name).read_bytes().startswith(PNG)
    assert "figures: drill-timeline.png" in stdout


PHASES = ("ttd", "tta", "ttm", "ttr")


# Bad input


def test_an_unknown_drill_is_one_line_naming_it_and_exit_2(tmp_path):
    database = f"sqlite:///{tmp_path / 'drills.db'}"
    guardrail_drill(database, PLAN)
    result = subprocess.run(
        [sys.executable, "-m", "drillhall", "report", "no-such-drill",
         "--db", database],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("drillhall: unknown drill 'no-such-drill'")
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.html"))


def test_a_report_named_neither_html_nor_markdown_is_refused(tmp_path):
    database = f"sqlite:///{tmp_path / 'drills.db'}"
    drill = guardrail_drill(database, PLAN)
    code, _, stderr = report(drill, "--db", database, "-o", str(tmp_path / "r.pdf"))

    assert code == 2
    assert "cannot tell the report's format from 'r.pdf'" in stderr


def test_an_unannounced_drill_is_not_reported_while_it_runs(tmp_path):
    database = f"sqlite:///{tmp_path / 'drills.db'}"
    record = Timeline(database).start_drill("primary-down", {"announced": False})
    code, _, stderr = report(record.id, "--db", database, "-o", str(tmp_path / "r.md"))

    assert code == 2
    assert "unannounced and still running" in stderr
    assert not (tmp_path / "r.md").exists()


# A drill that a guardrail stopped


def test_a_drill_stopped_by_a_guardrail_reports_its_missing_phases(tmp_path):
    database = f"sqlite:///{tmp_path / 'drills.db'}"
    drill = guardrail_drill(database, PLAN)
    out = tmp_path / "stopped.html"
    code, stdout, stderr = report(drill, "--db", database, "-o", str(out))
    assert code == 0, stderr
    html = out.read_text()

    assert headings(html, r"<h2[^>]*>([^<]+)</h2>") == list(SECTIONS)
    assert "TTM –  TTR –" in stdout
    assert "aborted" in html and "error_rate at 100.0%" in html
    assert "Guardrails tripped: error_rate" in html
    assert "<td>never mitigated</td>" in html
    # Step 4 of the runbook was never done, step 2 came after step 3
    assert re.search(r"<td>4</td>\s*<td>[^<]+</td>\s*<td>missing</td>", html)
    assert "<td>done, out of order</td>" in html
    assert "<td>failed</td>" in html
    assert "<td>note: the replica | lags behind</td>" in html
    # Steps and events on the fault's clock: step 3 at 70 s, the fault at 5 s
    assert re.search(r"<td>3</td>(\s*<td>[^<]*</td>){4}\s*<td>T\+1:05</td>", html)
    assert "T+ counts from the injection at 2027-03-02 13:00:05 UTC" in html
    assert "<td>T+2:00</td>" in html and "<td>T-0:05</td>" in html
    # Every predicted distribution is drawn; the team never reached two of them.
    assert html.count("data:image/png;base64,") == 1 + 4
    for phase in ("mitigate (TTM)", "resolve (TTR)"):
        assert re.search(rf"<td>{re.escape(phase)}</td>\s*<td>–</td>", html)


def test_a_drill_whose_plan_moved_reports_without_the_plans_parts(tmp_path):
    database = f"sqlite:///{tmp_path / 'drills.db'}"
    moved = tmp_path / "gone" / "plan.yaml"
    drill = guardrail_drill(database, moved)
    out = tmp_path / "moved.md"
    code, stdout, stderr = report(drill, "--db", database, "-o", str(out))
    assert code == 0, stderr
    text = out.read_text()

    assert headings(text, r"^## (.+)$") == list(SECTIONS)
    assert f"the plan file {moved} is no longer there" in text
    assert f"without the plan: the plan file {moved}" in stdout
    assert "No score: it needs the plan's expectations" in text
    assert "No prediction" in text
    assert "| steps in the runbook | unknown |" in text
    assert "the replica \\| lags behind" in text  # a pipe cannot break the table
    assert (
        "| 2027-03-02 13:01:10 | T+1:05 | participant:ana | runbook step 3 done, "
        "check failed |" in text
    )
    assert "| requests failed | 2380 (96.0%) |" in text
    assert (tmp_path / "moved-timeline.png").read_bytes().startswith(PNG)


def test_a_drill_that_injected_no_fault_has_no_score(tmp_path):
    database = f"sqlite:///{tmp_path / 'drills.db'}"
    with Timeline(database) as timeline:
        record = timeline.start_drill("primary-down", {"plan": str(PLAN)})
        timeline.record(record.id, "steady_state_checked", "runner", {"met": False})
        timeline.finish(record.id, "aborted")
    out = tmp_path / "aborted.md"
    code, stdout, stderr = report(record.id, "--db", database, "-o", str(out))
    assert code == 0, stderr
    text = out.read_text()

    assert "score" not in stdout
    assert (
        "No score: the drill injected no fault, so there was nothing to score." in text
    )
    assert "| steps in the runbook | 4 |" in text and "| missing | 1, 2, 3, 4 |" in text
    assert "| steady state checked: not met |" in text
    assert "T+ counts from the drill's start (no fault was injected) at" in text
