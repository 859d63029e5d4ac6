"""``drillhall incident …`` and ``drillhall actions …`` as people run them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from drillhall.cli import main
from drillhall.drills.score import first_times
from drillhall.drills.timeline import Timeline
from drillhall.reports.store import Store
from tests.conftest import ROOT
from tests.reports.test_incident_import import PAGERDUTY
from tests.reports.test_store import LIFECYCLE, write_drill

PAGERDUTY_OPTIONS = [
    "--map", "id=Incident Number",
    "--map", "severity=Urgency",
    "--map", "service=Service Name",
    "--map", "started=Created On",
    "--map", "acknowledged=Acknowledged On",
    "--map", "resolved=Resolved On",
]  # fmt: skip

BAD_TIME_ON_LINE_3 = """\
id,service,started,resolved
101,checkout,2027-01-05 09:30,2027-01-05 10:00
102,search,2027-01-06 25:61,2027-01-06 11:00
103,search,2027-01-07 09:00,
"""


class Drillhall:
    """The ``drillhall`` command on one database."""

    def __init__(self, database_url: str) -> None:
        self.database = database_url

    def __call__(self, *arguments: str) -> Result:
        # A wide terminal, so that tables show every cell whole.
        return CliRunner().invoke(
            main, [*arguments, "--db", self.database], env={"COLUMNS": "200"}
        )

    def json(self, *arguments: str) -> Any:
        result = self(*arguments, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def drillhall(database_url: str) -> Drillhall:
    return Drillhall(database_url)


def csv_file(folder: Path, text: str, name: str = "history.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def one_error_line(result: Result) -> str:
    """The single line a user error prints, with exit code 2."""
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    return line


# drillhall incident


def test_incident_add_prints_the_new_id_and_list_shows_it(drillhall: Drillhall) -> None:
    first = drillhall(
        "incident", "add",
        "--title", "checkout returns 500s",
        "--started", "2027-01-04 10:30",
        "--detected", "2027-01-04T09:34:00Z",
        "--resolved", "1799060520",
        "--service", "checkout",
        "--team", "payments",
        "--severity", "SEV2",
        "--timezone", "Europe/Berlin",
    )  # fmt: skip
    second = drillhall("incident", "add", "--title", "dns", "--started", "2027-02-01")

    assert (first.exit_code, first.stdout) == (0, "INC-1\n")
    assert second.stdout == "INC-2\n"
    [listed, _] = drillhall.json("incident", "list")
    assert listed == {
        "id": "INC-1",
        "kind": "incident",
        "title": "checkout returns 500s",
        "service": "checkout",
        "team": "payments",
        "severity": 2,
        "started": "2027-01-04T09:30:00+00:00",
        "detected": "2027-01-04T09:34:00+00:00",
        "acknowledged": None,
        "mitigated": None,
        "resolved": "2027-01-04T11:02:00+00:00",
        "source": "cli",
        "external_id": None,
    }
    table = drillhall("incident", "list").stdout
    assert "INC-1" in table and "SEV2" in table and "1h32m" in table


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--started", "soon"], "drillhall: --started: 'soon' is not a time"),
        (["--started", "2027-01-04", "--detected", "2027-01-03"],
         "drillhall: detected: 2027-01-03T00:00:00+00:00 is before started"),
        (["--started", "2027-01-04", "--severity", "P9"],
         "drillhall: --severity: 'P9' is outside 1 to 5"),
        (["--started", "2027-01-04", "--timezone", "CET+1"],
         "drillhall: --timezone: unknown time zone 'CET+1'"),
    ],
)  # fmt: skip
def test_incident_add_refuses_bad_values_in_one_line(
    drillhall: Drillhall, options: list[str], problem: str
) -> None:
    result = drillhall("incident", "add", "--title", "x", *options)

    assert one_error_line(result).startswith(problem)
    assert drillhall.json("incident", "list") == []


def test_importing_the_same_history_twice_adds_nothing_the_second_time(
    drillhall: Drillhall, tmp_path: Path
) -> None:
    export = csv_file(tmp_path, PAGERDUTY, "pagerduty.csv")

    first = drillhall("incident", "import", str(export), *PAGERDUTY_OPTIONS)
    again = drillhall("incident", "import", str(export), *PAGERDUTY_OPTIONS)

    assert first.stdout == f"{export}: added 3, skipped 0 already recorded\n"
    assert again.stdout == f"{export}: added 0, skipped 3 already recorded\n"
    listed = drillhall.json("incident", "list")
    assert [(i["id"], i["external_id"], i["severity"]) for i in listed] == [
        ("INC-1", "1041", 2),
        ("INC-2", "1042", 4),
        ("INC-3", "1043", 2),
    ]
    assert listed[0]["started"] == "2027-01-05T18:12:09+00:00"
    assert {i["source"] for i in listed} == {"import:pagerduty.csv"}


def test_a_history_without_ids_is_recognised_by_service_and_start(
    drillhall: Drillhall, tmp_path: Path
) -> None:
    export = csv_file(
        tmp_path, "Service,Opened\napi,05/01/2027 09:30\napi,06/01/2027 09:30\n"
    )
    options = ["--map", "started=Opened", "--time-format", "%d/%m/%Y %H:%M"]

    drillhall("incident", "import", str(export), *options)
    again = drillhall("incident", "import", str(export), *options)

    assert again.stdout.endswith("added 0, skipped 2 already recorded\n")
    assert len(drillhall.json("incident", "list")) == 2


def test_a_bad_time_on_line_3_is_named_and_nothing_is_stored(
    drillhall: Drillhall, tmp_path: Path
) -> None:
    export = csv_file(tmp_path, BAD_TIME_ON_LINE_3)

    result = drillhall("incident", "import", str(export))

    line = one_error_line(result)
    assert line.startswith(f"drillhall: {export}:3: started: '2027-01-06 25:61' ")
    assert "is not a time" in line and "--time-format" in line
    assert result.stdout == ""
    assert drillhall.json("incident", "list") == []


def test_incident_list_shows_only_the_durations_some_incident_has(
    drillhall: Drillhall,
) -> None:
    drillhall("incident", "add", "--title", "dns", "--started", "2027-02-01 10:00",
              "--resolved", "2027-02-01 11:30")  # fmt: skip

    table = drillhall("incident", "list").stdout

    header = next(line for line in table.splitlines() if "started" in line)
    assert "TTR" in header and "TTD" not in header and "TTA" not in header
    assert "1h30m" in table


def test_a_map_to_a_missing_column_lists_the_files_columns(
    drillhall: Drillhall, tmp_path: Path
) -> None:
    export = csv_file(tmp_path, PAGERDUTY, "pagerduty.csv")

    result = drillhall("incident", "import", str(export), "--map", "started=Opened")

    line = one_error_line(result)
    assert line.startswith(f"drillhall: {export}: started: --map started=Opened ")
    assert "its columns are 'Incident ID', 'Incident Number', 'Title'" in line
    assert drillhall.json("incident", "list") == []


def test_a_map_to_an_unknown_field_names_the_fields(
    drillhall: Drillhall, tmp_path: Path
) -> None:
    export = csv_file(tmp_path, PAGERDUTY)

    result = drillhall("incident", "import", str(export), "--map", "urgency=Urgency")

    assert one_error_line(result) == (
        "drillhall: --map: unknown field 'urgency' in 'urgency=Urgency'; the fields "
        "are id, title, service, team, severity, started, detected, acknowledged, "
        "mitigated, resolved"
    )


def test_incident_list_filters_by_kind_start_and_team(
    drillhall: Drillhall, database_url: str
) -> None:
    with Store(database_url) as store:
        for day, team in ((4, "payments"), (5, "search"), (6, "payments")):
            store.add_incident(
                title=f"day {day}",
                started=datetime(2027, 1, day, 9, tzinfo=UTC),
                team=team,
            )
        store.record_drill(
            drill="20270105-1200-primary-down-3f9a",
            title="primary-down",
            started=datetime(2027, 1, 5, 12, tzinfo=UTC),
        )

    def ids(*options: str) -> list[str]:
        return [i["id"] for i in drillhall.json("incident", "list", *options)]

    assert ids() == ["INC-1", "INC-2", "INC-3"]
    assert ids("--kind", "drill") == ["20270105-1200-primary-down-3f9a"]
    assert ids("--kind", "all", "--since", "2027-01-05") == [
        "INC-2",
        "20270105-1200-primary-down-3f9a",
        "INC-3",
    ]
    assert ids("--since", "2027-01-05", "--until", "2027-01-06") == ["INC-2"]
    assert ids("--team", "payments") == ["INC-1", "INC-3"]
    table = drillhall("incident", "list", "--kind", "all").stdout
    assert "20270105-1200-primary-down-3f9a" in table and "primary-down" in table


def test_incident_list_shows_each_ended_drill_of_the_timeline_once(
    drillhall: Drillhall, database_url: str
) -> None:
    drill = write_drill(database_url, 0, LIFECYCLE)
    write_drill(database_url, 100, LIFECYCLE, status="running")
    drillhall("incident", "add", "--title", "dns", "--started", "2027-01-04 09:00")

    first = drillhall.json("incident", "list", "--kind", "drill")
    again = drillhall.json("incident", "list", "--kind", "drill")
    both = drillhall.json("incident", "list", "--kind", "all")

    assert first == again
    assert [(i["id"], i["kind"], i["team"], i["source"]) for i in first] == [
        (drill, "drill", "platform", "drill")
    ]
    # T0 is 09:30:15.25; the fault went in a minute later, resolved at +15.
    assert first[0]["started"] == "2027-01-04T09:31:15.250000+00:00"
    assert first[0]["resolved"] == "2027-01-04T09:45:15.250000+00:00"
    assert [i["id"] for i in both] == ["INC-1", drill]
    assert [i["id"] for i in drillhall.json("incident", "list")] == ["INC-1"]


@pytest.mark.slow
def test_the_example_drill_is_listed_with_its_timelines_times(
    example_drill: Any, tmp_path: Path
) -> None:
    # A copy: the example drill's database is shared and read-only for reports.
    copy = tmp_path / "drills.db"
    source = sqlite3.connect(example_drill.database.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    url = f"sqlite:///{copy}"
    with Timeline(url) as timeline:
        first = first_times(timeline.events(example_drill.drill))

    [listed] = Drillhall(url).json("incident", "list", "--kind", "drill")

    assert (listed["id"], listed["team"]) == (example_drill.drill, "platform")
    assert listed["title"].startswith("drill primary-down: ")
    assert listed["started"] == first["injected"].isoformat()
    for step in ("detected", "acknowledged", "mitigated", "resolved"):
        assert listed[step] == first[step].isoformat(), step


# drillhall actions


def test_actions_add_prints_the_id_and_list_shows_the_item(
    drillhall: Drillhall,
) -> None:
    drillhall("incident", "add", "--title", "db down", "--started", "2027-01-04")

    result = drillhall(
        "actions", "add", "Alert on replica lag",
        "--owner", "ana",
        "--due", "2027-01-20",
        "--changes", "alert",
        "--link", "alerts/db.yaml",
        "--incident", "inc-1",
    )  # fmt: skip

    assert (result.exit_code, result.stdout) == (0, "1\n")
    [item] = drillhall.json("actions", "list", "--incident", "INC-1")
    assert {k: v for k, v in item.items() if k != "created"} == {
        "id": 1,
        "title": "Alert on replica lag",
        "owner": "ana",
        "due": "2027-01-20",
        "status": "open",
        "changes": "alert",
        "link": "alerts/db.yaml",
        "incident": "INC-1",
        "postmortem": None,
        "closed": None,
    }
    assert "Alert on replica lag" in drillhall("actions", "list").stdout


def test_an_action_for_an_unknown_incident_is_refused(drillhall: Drillhall) -> None:
    drillhall("incident", "add", "--title", "db down", "--started", "2027-01-04")

    result = drillhall("actions", "add", "Fix it", "--incident", "INC-9")

    line = one_error_line(result)
    assert "unknown incident 'INC-9'" in line
    assert "the latest are INC-1;" in line
    assert drillhall.json("actions", "list", "--status", "all") == []


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--due", "next week"], "drillhall: --due: expected a date like 2027-03-31"),
        (["--changes", "dashboard"], "'dashboard' is not one of 'runbook', 'alert'"),
    ],
)
def test_actions_add_refuses_bad_options(
    drillhall: Drillhall, options: list[str], problem: str
) -> None:
    result = drillhall("actions", "add", "Fix it", *options)

    assert problem in one_error_line(result)


def test_actions_done_closes_items_as_done_or_dropped(drillhall: Drillhall) -> None:
    for title in ("one", "two", "three"):
        drillhall("actions", "add", title)

    done = drillhall("actions", "done", "1", "3")
    dropped = drillhall("actions", "done", "2", "--dropped")
    again = drillhall("actions", "done", "2")

    assert done.stdout == "action item 1 done: one\naction item 3 done: three\n"
    assert dropped.stdout == "action item 2 dropped: two\n"
    assert "action item 2 is already dropped" in one_error_line(again)
    statuses = [
        i["status"] for i in drillhall.json("actions", "list", "--status", "all")
    ]
    assert statuses == ["done", "dropped", "done"]
    assert drillhall.json("actions", "list") == []


def test_actions_done_with_an_unknown_id_closes_nothing(drillhall: Drillhall) -> None:
    drillhall("actions", "add", "one")

    result = drillhall("actions", "done", "1", "7")

    assert "unknown action item 7" in one_error_line(result)
    assert [i["status"] for i in drillhall.json("actions", "list")] == ["open"]


def test_overdue_lists_open_items_past_due_and_fails_ci_on_request(
    drillhall: Drillhall,
) -> None:
    drillhall("actions", "add", "late", "--due", "2027-01-10")
    drillhall("actions", "add", "on time", "--due", "2027-01-20")
    drillhall("actions", "add", "undated")
    drillhall("actions", "add", "closed", "--due", "2027-01-01")
    drillhall("actions", "done", "4")

    listed = drillhall("actions", "overdue", "--today", "2027-01-20")
    failed = drillhall("actions", "overdue", "--today", "2027-01-20", "--fail")
    drillhall("actions", "done", "1")
    passed = drillhall("actions", "overdue", "--today", "2027-01-20", "--fail")

    assert listed.exit_code == 0
    assert "late" in listed.stdout and "10 d late" in listed.stdout
    assert "on time" not in listed.stdout and "undated" not in listed.stdout
    assert "closed" not in listed.stdout
    assert failed.exit_code == 1
    assert failed.stderr == "1 action item is overdue\n"
    assert passed.exit_code == 0
    assert passed.stdout == "no open action item is past its due date on 2027-01-20\n"


# As a user runs it


def test_a_bad_file_gets_one_line_and_exit_code_2_from_a_real_process(
    tmp_path: Path,
) -> None:
    export = csv_file(tmp_path, BAD_TIME_ON_LINE_3, "incidents.csv")
    database = f"sqlite:///{tmp_path / 'drillhall.db'}"

    result = subprocess.run(
        [sys.executable, "-m", "drillhall", "incident", "import", str(export),
         "--db", database],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )  # fmt: skip

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"drillhall: {export}:3: started: ")
    with Store(database) as store:
        assert store.incidents() == []
