"""``drillhall postmortem`` as an author uses it: draft, fill in, check, publish."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drillhall.cli import main
from drillhall.drills.timeline import Timeline
from drillhall.postmortem_command import action_items_in
from drillhall.reports.drill_events import utc_text
from drillhall.reports.drill_facts import drill_facts
from drillhall.reports.postmortem import SECTIONS
from drillhall.reports.render import format_share
from drillhall.reports.store import Store
from tests.reports.conftest import images_loaded, open_report, save_screenshot
from tests.reports.test_postmortem import (
    T0,
    acknowledged_first,
    copy_database,
    copy_example_plan,
    first_times,
    troubled_drill,
    write_evidence,
)

OWNER = "ana"
DUE = "2027-04-30"
EXTRA_ITEM = "Alert on replication lag"


def drillhall(*arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments))


def one_error_line(result: Result) -> str:
    """The single line a user error prints, with exit code 2."""
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    return line


def fill_in(text: str) -> str:
    """What an author does: write every placeholder, owners and due dates too,
    and use the spare row for an action item of their own."""
    text = text.replace("_To be written by the author:_ the owner", OWNER)
    text = text.replace("_To be written by the author:_ the due date", DUE)
    text = re.sub(
        r"_To be written by the author:_ another action item, or delete this "
        r"row \| other \| – \|",
        f"{EXTRA_ITEM} | alert | prometheus/rules.yml |",
        text,
    )
    return re.sub(
        r"_To be written by the author:_ [^|\n]*",
        "The replica had no lag alert, so the promotion was a guess.",
        text,
    )


def table_titles(text: str) -> list[str]:
    section = text.split("## Action items", 1)[1]
    rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    return [row.split(" | ")[1] for row in rows]


@pytest.fixture
def troubled(tmp_path: Path) -> tuple[str, str]:
    """A drill that went badly, in a fresh SQLite database: (url, drill id)."""
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    return url, troubled_drill(url)


# Drafting


@pytest.mark.slow
def test_the_example_drill_is_drafted_with_evidence_and_recorded(
    example_drill, tmp_path, browser
):
    url = copy_database(example_drill.database, tmp_path)
    drill = example_drill.drill
    with Store(url) as store:
        assert store.find_incident(drill) is None
    with Timeline(url) as timeline:
        first = first_times(timeline.events(drill))
    logs, metrics = write_evidence(tmp_path, first)

    out = tmp_path / "out"
    result = drillhall(
        "postmortem", drill, "--db", url, "-o", str(out),
        "--logs", str(logs), "--metrics", str(metrics),
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    markdown = out / f"{drill}.md"
    written = [f"{drill}.md", f"{drill}.html", f"{drill}-fishbone.png"]
    for name in [*written, f"{drill}-metrics.png"]:
        assert f"wrote {out / name}" in result.stdout
        assert (out / name).stat().st_size > 0
    assert (out / f"{drill}-fishbone.png").read_bytes().startswith(b"\x89PNG")

    text = markdown.read_text()
    assert re.findall(r"^## (.+)$", text, re.MULTILINE) == list(SECTIONS)
    assert f"![Fishbone diagram of contributing causes]({drill}-fishbone.png)" in text
    positions = [text.index(m) for m in ("store gone", "retrying the", "store ok")]
    assert positions == sorted(positions)

    with Store(url) as store:
        record = store.incident(drill)
        postmortem = store.postmortem_for(drill)
    assert record.kind == "drill" and record.started == first["injected"]
    assert record.mitigated == first["mitigated"]
    assert record.team == "platform"  # the plan's rotation
    assert postmortem is not None and postmortem.path == str(markdown)
    assert postmortem.completed is None

    with open_report(browser, out / f"{drill}.html") as page:
        assert page.locator("h2").all_inner_texts() == list(SECTIONS)
        assert images_loaded(page) == 2
        assert page.locator("tr.log").count() == 3
        save_screenshot(page, "postmortem.png")


@pytest.mark.slow
def test_the_report_and_the_draft_tell_the_example_drill_alike(example_drill, tmp_path):
    url = copy_database(example_drill.database, tmp_path)
    drill = example_drill.drill
    with Timeline(url) as timeline:
        facts = drill_facts(timeline, drill)
    assert facts.score is not None
    report_file, out = tmp_path / "report.md", tmp_path / "out"
    reported = drillhall("report", drill, "--db", url, "-o", str(report_file))
    drafted = drillhall("postmortem", drill, "--db", url, "-o", str(out))
    assert reported.exit_code == drafted.exit_code == 0, reported.output
    report, draft = report_file.read_text(), (out / f"{drill}.md").read_text()

    # One error budget figure, the score's, printed alike everywhere.
    budget = format_share(facts.score.slo.budget_used)
    used = re.findall(
        r"^\| error budget used \(95% availability\) \| (\S+)", report, re.M
    )
    assert used == [budget]
    assert f"| SLO | {budget} of the error budget |" in report
    assert f"| error budget consumed | {budget} |" in draft
    assert f"{budget} of the error budget" in reported.stdout
    assert f"The drill used {budget} of its error budget" in draft

    # The same events in the same words, on the same clock.
    def event_rows(text: str) -> list[str]:
        return [line for line in text.splitlines() if re.match(r"\| \d{4}-", line)]

    events = [
        row for row in event_rows(report) if "| rollback owed: experiment=" not in row
    ]
    assert len(events) > 10
    in_draft = event_rows(draft)
    assert [row for row in in_draft if row in events] == events
    injected = f"| {utc_text(facts.origin)} | T+0:00 | runner | fault injected: "
    assert len([row for row in events if row.startswith(injected)]) == 1
    assert f"score {facts.score.points:.1f} / 100" in reported.stdout
    assert f"with a score of {facts.score.points:.1f} of 100." in draft


def test_drafting_goes_to_postmortems_and_keeps_an_authors_draft(
    troubled, tmp_path, monkeypatch
):
    url, drill = troubled
    monkeypatch.chdir(tmp_path)

    assert drillhall("postmortem", drill, "--db", url).exit_code == 0
    markdown = tmp_path / "postmortems" / f"{drill}.md"
    markdown.write_text("The author's own words.\n")

    again = drillhall("postmortem", drill, "--db", url)
    assert "is already there and may hold the author's work" in one_error_line(again)
    assert markdown.read_text() == "The author's own words.\n"
    assert drillhall("postmortem", drill, "--db", url, "--force").exit_code == 0
    assert markdown.read_text().startswith("# Postmortem: drill primary-down")


def test_the_drafts_runbook_links_work_from_its_folder(tmp_path, monkeypatch):
    plan = copy_example_plan(tmp_path / "ops")
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    drill = troubled_drill(url, plan)
    monkeypatch.chdir(tmp_path / "ops")

    assert drillhall("postmortem", drill, "--db", url).exit_code == 0
    markdown = tmp_path / "ops" / "postmortems" / f"{drill}.md"
    text = markdown.read_text()
    section = text.split("## Action items", 1)[1]
    links = [
        row.split(" | ")[3] for row in section.splitlines() if "| runbook |" in row
    ]
    assert links == ["../drills/primary-down/runbook.md"] * 3
    assert (markdown.parent / links[0]).resolve() == plan.with_name("runbook.md")
    # No path of the machine that drafted it, in either file.
    assert str(tmp_path) not in text
    html = markdown.with_suffix(".html").read_text()
    assert str(tmp_path) not in html and "../drills/primary-down/runbook.md" in html


def test_a_drill_acknowledged_before_its_alert_is_drafted_and_recorded(tmp_path):
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    drill = acknowledged_first(url)

    drafted = drillhall("postmortem", drill, "--db", url, "-o", str(tmp_path / "out"))
    assert drafted.exit_code == 0, drafted.output
    with Store(url) as store:
        record = store.incident(drill)
        postmortem = store.postmortem_for(drill)
    # The store keeps the lifecycle in order: the early acknowledgement is
    # left out of the record (the draft's timeline still shows it).
    assert record.detected == T0.replace(minute=1, second=5)
    assert record.acknowledged is None
    assert record.resolved == T0.replace(minute=2)
    assert postmortem is not None and postmortem.completed is None
    text = (tmp_path / "out" / f"{drill}.md").read_text()
    assert "| acknowledged by ana |" in text


def test_a_folder_that_cannot_be_written_is_one_clear_error(troubled, tmp_path):
    url, drill = troubled
    (tmp_path / "taken").write_text("a file, not a folder\n")

    error = one_error_line(
        drillhall("postmortem", drill, "--db", url, "-o", str(tmp_path / "taken/pm"))
    )
    assert error.startswith(f"drillhall: {tmp_path / 'taken/pm'}: cannot write")
    assert "with --output" in error
    with Store(url) as store:
        assert store.postmortem_for(drill) is None


def test_an_action_item_that_changes_nothing_named_changes_other():
    table = "\n".join(
        [
            "## Action items",
            "",
            "| # | action item | changes | link | owner | due |",
            "| --- | --- | --- | --- | --- | --- |",
            "| 1 | Page the secondary sooner | – | – | ana | – |",
            "| 2 | Alert on replica lag |  | rules.yml | – | 2027-04-30 |",
        ]
    )
    first, second = action_items_in(table, "pm.md")

    assert (first.title, first.changes, first.link, first.owner, first.due) == (
        "Page the secondary sooner", "other", None, "ana", None,
    )  # fmt: skip
    assert (second.changes, second.link, second.line) == ("other", "rules.yml", 6)


# Checking and publishing


def test_publishing_checks_then_stores_the_action_items_once(database_url, tmp_path):
    drill = troubled_drill(database_url)
    out = tmp_path / "out"
    assert (
        drillhall("postmortem", drill, "--db", database_url, "-o", str(out)).exit_code
        == 0
    )
    markdown = out / f"{drill}.md"

    # A draft straight from drillhall is not finished: its placeholders show.
    checked = drillhall("postmortem", "--check", str(markdown))
    assert checked.exit_code == 1
    unfilled = checked.stdout.splitlines()
    assert len(unfilled) > 10
    assert all(
        re.match(rf'{re.escape(str(markdown))}:\d+:\d+: "_To be written by the '
                 r'author:_": replace it with ', line)
        for line in unfilled
    )  # fmt: skip
    refused = drillhall(
        "postmortem", drill, "--db", database_url, "--publish", str(markdown)
    )
    assert refused.exit_code == 1
    with Store(database_url) as store:
        assert store.actions(incident=drill) == []
        assert store.postmortem_for(drill).completed is None

    markdown.write_text(fill_in(markdown.read_text()))
    assert drillhall("postmortem", "--check", str(markdown)).exit_code == 0
    titles = table_titles(markdown.read_text())
    assert len(titles) == 8 and titles[-1] == EXTRA_ITEM

    published = drillhall(
        "postmortem", drill, "--db", database_url, "--publish", str(markdown)
    )
    assert published.exit_code == 0, published.output
    assert "stored 8 action items (0 were already stored)" in published.stdout
    again = drillhall(
        "postmortem", drill, "--db", database_url, "--publish", str(markdown)
    )
    assert "was already published" in again.stdout
    assert "stored 0 action items (8 were already stored)" in again.stdout

    with Store(database_url) as store:
        postmortem = store.postmortem_for(drill)
        items = store.actions(incident=drill)
    assert postmortem is not None and postmortem.completed is not None
    assert [item.title.replace("\\|", "|") for item in items] == titles
    assert {item.postmortem for item in items} == {postmortem.id}
    assert {(item.owner, item.due) for item in items} == {(OWNER, date(2027, 4, 30))}
    assert items[-1].changes == "alert" and items[-1].link == "prometheus/rules.yml"
    assert items[0].changes == "runbook" and items[0].status == "open"


def test_blameful_wording_is_listed_and_blocks_publishing(troubled, tmp_path):
    url, drill = troubled
    out = tmp_path / "out"
    drillhall("postmortem", drill, "--db", url, "-o", str(out))
    markdown = out / f"{drill}.md"
    text = fill_in(markdown.read_text())
    text = text.replace(
        "The replica had no lag alert, so the promotion was a guess.",
        "Root cause: human error. Ana forgot to check the replica.",
        1,
    )
    markdown.write_text(text)
    line = (
        text.splitlines().index(
            "Root cause: human error. Ana forgot to check the replica."
        )
        + 1
    )

    checked = drillhall("postmortem", "--check", str(markdown))
    assert checked.exit_code == 1
    human, forgot = checked.stdout.splitlines()
    assert human.startswith(
        f'{markdown}:{line}:13: "human error": what in the system let this step '
    )
    assert forgot == (
        f'{markdown}:{line}:26: "Ana forgot": say what would have reminded anyone: '
        "a checklist, a runbook step, an automated check"
    )
    refused = drillhall("postmortem", drill, "--db", url, "--publish", str(markdown))
    assert refused.exit_code == 1
    with Store(url) as store:
        assert store.actions(incident=drill) == []


@pytest.mark.parametrize(
    ("row_change", "field", "words"),
    [
        ((f"| {DUE} |", "| next week |"), "due", "'next week' is not a date"),
        (("| alert | prometheus", "| docs | prometheus"), "changes", "'docs' is not"),
    ],
)
def test_a_bad_action_items_row_is_named_by_its_line(
    troubled, tmp_path, row_change, field, words
):
    url, drill = troubled
    out = tmp_path / "out"
    drillhall("postmortem", drill, "--db", url, "-o", str(out))
    markdown = out / f"{drill}.md"
    rows = fill_in(markdown.read_text()).splitlines()
    line = next(n for n, row in enumerate(rows, start=1) if EXTRA_ITEM in row)
    rows[line - 1] = rows[line - 1].replace(*row_change)
    markdown.write_text("\n".join(rows) + "\n")

    error = one_error_line(
        drillhall("postmortem", drill, "--db", url, "--publish", str(markdown))
    )
    assert error.startswith(f"drillhall: {markdown}:{line}: {field}: {words}")
    with Store(url) as store:
        assert store.actions(incident=drill) == []
        assert store.postmortem_for(drill).completed is None


def test_an_incident_in_the_store_is_drafted_and_published(database_url, tmp_path):
    with Store(database_url) as store:
        store.add_incident(
            title="Checkout returns 502",
            service="checkout",
            started=T0,
            mitigated=T0.replace(minute=41),
        )
    out = tmp_path / "out"
    drafted = drillhall("postmortem", "inc-1", "--db", database_url, "-o", str(out))
    assert drafted.exit_code == 0, drafted.output
    markdown = out / "INC-1.md"
    text = markdown.read_text()
    assert "| requests failed | unknown | no load data |" in text
    assert "What the data does not tell:" in text
    assert re.findall(r"^## (.+)$", text, re.MULTILINE) == list(SECTIONS)

    markdown.write_text(fill_in(text))
    published = drillhall(
        "postmortem", "INC-1", "--db", database_url, "--publish", str(markdown)
    )
    assert published.exit_code == 0, published.output
    with Store(database_url) as store:
        [item] = store.actions(incident="INC-1")
        assert store.postmortem_for("INC-1").completed is not None
    assert item.title == EXTRA_ITEM and item.owner == OWNER


# Bad inputs


@pytest.mark.parametrize(
    ("option", "name", "content", "expected"),
    [
        ("--logs", "app.jsonl", '{"ts": 1, "msg": "a"}\nnot json\n',
         "app.jsonl:2: line: this line is not JSON"),
        ("--logs", "app.jsonl", '{"msg": "no time"}\n',
         "app.jsonl:1: time: no timestamp"),
        ("--metrics", "m.json",
         '{"status": "success",\n "data": {\n  "resultType": "vector"}}',
         "m.json:3: data.resultType: 'vector' is an instant query's result"),
        ("--metrics", "m.json", '{"dashboard": {"title": "api"}}',
         "m.json:1: file: this looks like a Grafana export"),
        ("--metrics", "m.json", "[]", "m.json:1: file: this is a JSON list"),
    ],
)  # fmt: skip
def test_bad_evidence_is_one_clear_error_and_nothing_is_written(
    troubled, tmp_path, option, name, content, expected
):
    url, drill = troubled
    evidence = tmp_path / name
    evidence.write_text(content)
    out = tmp_path / "out"

    error = one_error_line(
        drillhall(
            "postmortem", drill, "--db", url, "-o", str(out), option, str(evidence)
        )
    )
    assert error.startswith(f"drillhall: {tmp_path}/{expected}")
    assert not out.exists()
    with Store(url) as store:
        assert store.find_incident(drill) is None
        assert store.postmortem_for(drill) is None


def test_unknown_ids_name_what_is_known(troubled, tmp_path):
    url, drill = troubled
    out = str(tmp_path / "out")

    unknown_drill = one_error_line(
        drillhall("postmortem", "no-such-drill", "--db", url, "-o", out)
    )
    assert "unknown drill 'no-such-drill'" in unknown_drill
    assert drill in unknown_drill and "such as INC-3" in unknown_drill

    unknown_incident = one_error_line(
        drillhall("postmortem", "INC-7", "--db", url, "-o", out)
    )
    assert "unknown incident 'INC-7'" in unknown_incident
    assert not (tmp_path / "out").exists()


def test_check_and_publish_need_what_they_work_on(troubled, tmp_path):
    url, drill = troubled
    assert "give a drill's or an incident's id" in one_error_line(
        drillhall("postmortem")
    )
    missing = one_error_line(drillhall("postmortem", "--check", str(tmp_path / "x.md")))
    assert missing.startswith(f"drillhall: {tmp_path / 'x.md'}: no such file; ")

    never_drafted = tmp_path / "pm.md"
    never_drafted.write_text(f"# Postmortem\n\nDrill `{drill}`\n\nAll written.\n")
    publish = ("postmortem", drill, "--db", url, "--publish", str(never_drafted))
    assert f"unknown incident {drill!r}" in one_error_line(drillhall(*publish))


# A draft is published, and checked, as its own subject's only


@pytest.fixture
def two_drafts(tmp_path: Path) -> tuple[str, list[str], list[Path]]:
    """Two troubled drills in one database, each drafted and filled in."""
    url = f"sqlite:///{tmp_path / 'drills.db'}"
    drills = [troubled_drill(url), troubled_drill(url)]
    out = tmp_path / "out"
    for drill in drills:
        assert (
            drillhall("postmortem", drill, "--db", url, "-o", str(out)).exit_code == 0
        )
    files = [out / f"{drill}.md" for drill in drills]
    for file in files:
        file.write_text(fill_in(file.read_text()))
    return url, drills, files


def test_a_draft_of_another_drill_is_not_published(two_drafts):
    url, (first, second), (first_file, _) = two_drafts
    lines = first_file.read_text().splitlines()
    header = next(n for n, line in enumerate(lines, 1) if line.startswith("Drill `"))
    assert lines[header - 1].startswith(f"Drill `{first}` · draft made by")

    error = one_error_line(
        drillhall("postmortem", second, "--db", url, "--publish", str(first_file))
    )
    assert error == (
        f"drillhall: {first_file}:{header}: subject: this is the postmortem of "
        f"the drill {first}, not of {second}; give {second}'s own draft, or "
        f"{first} as the id with this file"
    )
    with Store(url) as store:
        for drill in (first, second):
            assert store.actions(incident=drill) == []
            assert store.postmortem_for(drill).completed is None

    published = drillhall(
        "postmortem", first, "--db", url, "--publish", str(first_file)
    )
    assert published.exit_code == 0, published.output


def test_the_subject_is_checked_before_the_wording(troubled, tmp_path):
    url, drill = troubled
    other = troubled_drill(url)
    out = tmp_path / "out"
    drillhall("postmortem", drill, "--db", url, "-o", str(out))
    unfinished = out / f"{drill}.md"  # its placeholders would be findings

    error = one_error_line(
        drillhall("postmortem", other, "--db", url, "--publish", str(unfinished))
    )
    assert f"this is the postmortem of the drill {drill}, not of {other}" in error


def test_a_draft_that_names_no_subject_is_not_published(two_drafts):
    url, (drill, _), (file, _) = two_drafts
    lines = file.read_text().splitlines()
    file.write_text("\n".join(line for line in lines if f"`{drill}`" not in line))

    error = one_error_line(
        drillhall("postmortem", drill, "--db", url, "--publish", str(file))
    )
    assert error.startswith(
        f"drillhall: {file}: subject: its header names no drill or incident"
    )
    assert f"Drill `{drill}` · draft made by drillhall" in error
    with Store(url) as store:
        assert store.postmortem_for(drill).completed is None


def test_check_with_an_id_checks_the_subject_too(two_drafts):
    _, (first, second), (first_file, _) = two_drafts

    assert drillhall("postmortem", first, "--check", str(first_file)).exit_code == 0
    wrong = one_error_line(drillhall("postmortem", second, "--check", str(first_file)))
    assert f"this is the postmortem of the drill {first}, not of {second}" in wrong
    # Without an id, only the wording is checked.
    assert drillhall("postmortem", "--check", str(first_file)).exit_code == 0


def test_an_incidents_id_is_read_as_the_store_reads_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with Store(url) as store:
        for title in ("Checkout returns 502", "Search is slow"):
            store.add_incident(title=title, started=T0)
    out = tmp_path / "out"
    assert drillhall("postmortem", "INC-2", "--db", url, "-o", str(out)).exit_code == 0
    markdown = out / "INC-2.md"
    markdown.write_text(fill_in(markdown.read_text()))

    assert drillhall("postmortem", "inc-02", "--check", str(markdown)).exit_code == 0
    wrong = one_error_line(
        drillhall("postmortem", "INC-1", "--db", url, "--publish", str(markdown))
    )
    assert "this is the postmortem of the incident INC-2, not of INC-1" in wrong
    published = drillhall(
        "postmortem", "inc-2", "--db", url, "--publish", str(markdown)
    )
    assert published.exit_code == 0, published.output
