"""The learning loop through the command line, as a team would walk it.

History comes in from a CSV export, a postmortem is drafted, written up by its
author, checked and published; its action items land in the store, get done,
and the monthly trends show the postmortem and the items completed. The same
loop for the example drill ends with its action items linked to the drill.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drillhall.cli import main
from drillhall.reports.store import Store
from tests.reports.test_postmortem import copy_database

HISTORY = """\
Incident Number,Title,Service Name,Urgency,Created On,Acknowledged On,Resolved On,Team
101,Checkout 502s,checkout,P1,2026-09-02 14:05,2026-09-02 14:12,2026-09-02 15:40,pay
102,Search slow,search,P3,2026-09-20 09:00,2026-09-20 09:30,2026-09-20 13:00,find
"""
COLUMNS = [
    "--map", "id=Incident Number", "--map", "started=Created On",
    "--map", "acknowledged=Acknowledged On", "--map", "resolved=Resolved On",
    "--map", "service=Service Name", "--map", "severity=Urgency",
]  # fmt: skip
PLACEHOLDER = re.compile(r"_To be written by the author:_ ([^|\n]*)")


def drillhall(*arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments), catch_exceptions=False)


def write_up(draft: Path) -> None:
    """Do the author's part: every placeholder gets words, every item an owner."""

    def answer(match: re.Match[str]) -> str:
        asked = match.group(1).strip()
        if asked == "the owner":
            return "dana "
        if asked == "the due date":
            return "2026-09-30 "
        if asked.startswith("another action item"):
            return "Page on the 5xx ratio of checkout, not on host checks "
        return (
            "The load balancer kept sending traffic to a host that had lost its pool. "
        )

    draft.write_text(PLACEHOLDER.sub(answer, draft.read_text()))


def test_an_incident_goes_from_history_to_trends(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'history.db'}"
    (tmp_path / "history.csv").write_text(HISTORY)
    imported = drillhall("incident", "import", "history.csv", *COLUMNS, "--db", db)
    assert "added 2" in imported.output

    drafted = drillhall("postmortem", "INC-1", "--db", db)
    assert drafted.exit_code == 0, drafted.output
    draft = tmp_path / "postmortems" / "INC-1.md"
    unfinished = drillhall("postmortem", "INC-1", "--check", str(draft))
    assert unfinished.exit_code == 1

    write_up(draft)
    with draft.open("a") as text:
        text.write("\nIn hindsight, the on-call engineer forgot the runbook.\n")
    blaming = drillhall("postmortem", "INC-1", "--publish", str(draft), "--db", db)
    assert blaming.exit_code == 1 and "engineer forgot" in blaming.output
    with Store(db) as store:
        refused = store.postmortem_for("INC-1")
    assert refused is not None and refused.completed is None

    blameless = draft.read_text().replace("the on-call engineer forgot", "no step")
    draft.write_text(blameless)
    published = drillhall("postmortem", "INC-1", "--publish", str(draft), "--db", db)
    assert published.exit_code == 0, published.output

    listed = json.loads(drillhall("actions", "list", "--json", "--db", db).output)
    assert {item["incident"] for item in listed} == {"INC-1"}
    assert "Page on the 5xx ratio of checkout, not on host checks" in {
        item["title"] for item in listed
    }
    overdue = drillhall("actions", "overdue", "--today", "2026-10-01", "--fail",
                        "--db", db)  # fmt: skip
    assert overdue.exit_code == 1

    ids = [str(item["id"]) for item in listed]
    assert drillhall("actions", "done", *ids, "--db", db).exit_code == 0
    out = tmp_path / "trends.json"
    trends = drillhall("metrics", "--db", db, "--since", "2026-09", "--json", str(out))
    assert trends.exit_code == 0, trends.output
    window = json.loads(out.read_text())["all"]["window"]
    assert window["incidents"] == 2
    # Only INC-1 is SEV2 or worse; its postmortem came months after the 5 days.
    assert window["postmortems"] | {"share": None} == {
        "on_time": 0, "late": 1, "missing": 0, "due": 1, "not_yet_due": 0,
        "share": None,
    }  # fmt: skip
    assert window["actions"] == {
        "created": len(ids),
        "done": len(ids),
        "overdue": 0,
        "share": 1.0,
    }

    with Store(db) as store:
        postmortem = store.postmortem_for("INC-1")
    assert postmortem is not None and postmortem.completed is not None


@pytest.mark.slow
def test_the_example_drill_ends_with_action_items_linked_to_it(
    example_drill, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    db = copy_database(example_drill.database, tmp_path)
    drill = example_drill.drill

    assert drillhall("report", drill, "--db", db).exit_code == 0
    assert (tmp_path / f"{drill}.html").stat().st_size > 0
    assert drillhall("postmortem", drill, "--db", db).exit_code == 0
    draft = tmp_path / "postmortems" / f"{drill}.md"
    write_up(draft)
    published = drillhall("postmortem", drill, "--publish", str(draft), "--db", db)
    assert published.exit_code == 0, published.output

    listed = drillhall("actions", "list", "--incident", drill, "--json", "--db", db)
    items = json.loads(listed.output)
    assert items and all(item["incident"] == drill for item in items)
    drills = json.loads(
        drillhall("incident", "list", "--kind", "drill", "--json", "--db", db).output
    )
    assert [record["id"] for record in drills] == [drill]
