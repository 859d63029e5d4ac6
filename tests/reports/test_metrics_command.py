"""``drillhall metrics`` as a user runs it, on a history imported from CSV.

The history goes into the real store (SQLite, then PostgreSQL) through
``drillhall incident import``; postmortems and action items through the store,
with a fixed clock for when the items were created. The expected figures are
worked out by hand below; quantiles are linear between order statistics.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from drillhall.drills.timeline import Timeline
from drillhall.reports.store import Store
from tests.conftest import ARTIFACTS, ROOT
from tests.reports.test_trends import parse_exposition, promtool_check, value

MINUTE = 60.0

COLUMNS = (
    "id,title,service,team,severity,started,detected,acknowledged,mitigated,resolved"
)
ROWS = [
    ("PD-1", "db down", "db", "ops", "SEV1", "01-05 10:00", "01-05 10:04",
     "01-05 10:06", "01-05 10:30", "01-05 11:00"),
    ("PD-2", "api slow", "api", "web", "SEV2", "01-31 23:30", "01-31 23:40",
     "", "", "02-01 01:30"),
    ("PD-3", "disk full", "db", "ops", "SEV3", "02-01 00:00", "02-01 00:20",
     "", "", "02-01 02:00"),
    ("PD-4", "cert expired", "api", "ops", "P2", "02-10 09:00", "", "", "",
     "02-10 09:10"),
]  # fmt: skip
HISTORY = "\n".join(
    [COLUMNS]
    + [
        ",".join(f"2026-{cell}" if cell[:2].isdigit() else cell for cell in row)
        for row in ROWS
    ]
)
"""Imported as INC-1 … INC-4. January: INC-1 (TTD 4m, TTR 1h) and INC-2, which
starts 30 minutes before February (TTD 10m, TTR 2h). February: INC-3 (TTD 20m,
TTR 2h) and INC-4 (no detection time, TTR 10m)."""

TODAY = "2026-02-14"
"""INC-1's postmortem was completed in time; INC-2's was due on 6 February and
is missing; INC-4's is due on 15 February, so not yet. INC-3 is a SEV3."""

WINDOW = ("--since", "2026-01", "--until", "2026-03", "--today", TODAY)


def drillhall(*arguments: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drillhall", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def clock(*moment: int):
    return lambda: datetime(*moment, tzinfo=UTC)


@pytest.fixture
def history(database_url: str, tmp_path: Path) -> str:
    """The history above in a fresh store; returns its URL."""
    csv_file = tmp_path / "history.csv"
    csv_file.write_text(HISTORY)
    imported = drillhall("incident", "import", str(csv_file), "--db", database_url)
    assert imported.returncode == 0, imported.stderr
    assert "added 4" in imported.stdout

    with Store(database_url, clock=clock(2026, 1, 8)) as store:
        store.add_postmortem(
            "INC-1", drafted=datetime(2026, 1, 6, tzinfo=UTC), path=None
        )
        store.complete_postmortem("INC-1", completed=datetime(2026, 1, 7, tzinfo=UTC))
        done = store.add_action(title="alert on replication lag", incident="INC-1")
        store.close_action(done.id, at=datetime(2026, 1, 20, tzinfo=UTC))
        store.add_action(title="api timeouts", due=date(2026, 2, 10), incident="INC-2")
        store.record_drill(
            drill="drill-1",
            title="primary down",
            team="ops",
            started=datetime(2026, 2, 3, 9, tzinfo=UTC),
            detected=datetime(2026, 2, 3, 9, 1, tzinfo=UTC),
            resolved=datetime(2026, 2, 3, 9, 30, tzinfo=UTC),
        )
    with Store(database_url, clock=clock(2026, 2, 11)) as store:
        store.add_action(title="renew certs", due=date(2026, 3, 1), incident="INC-4")
    return database_url


def metrics_json(url: str, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "metrics.json"
    result = drillhall("metrics", "--db", url, *WINDOW, "--json", str(out), *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def test_json_figures_per_month_and_team(history, tmp_path):
    document = metrics_json(history, tmp_path)

    everyone = document["all"]
    assert [month["incidents"] for month in everyone["months"]] == [2, 2, 0]
    window = everyone["window"]
    # TTR 1h, 2h, 2h, 10m: median 1h30m; p90 at position 2.7 → 2h; mean 77.5m.
    ttr = window["durations"]["ttr"]
    assert ttr["count"] == 4
    assert ttr["median"] == 90 * MINUTE
    assert ttr["p90"] == 120 * MINUTE
    assert ttr["mean"] == 77.5 * MINUTE
    # TTD 4m, 10m, 20m (INC-4 has none): median 10m, p90 at 1.8 → 18m.
    ttd = window["durations"]["ttd"]
    assert (ttd["count"], ttd["median"], ttd["p90"]) == (3, 600, 18 * MINUTE)
    assert window["durations"]["tta"] == {
        "count": 1,
        "mean": 120.0,
        "median": 120.0,
        "p90": 120.0,
    }
    assert window["postmortems"] == {
        "on_time": 1,
        "late": 0,
        "missing": 1,
        "due": 2,
        "not_yet_due": 1,
        "share": 0.5,
    }
    assert window["actions"] == {"created": 3, "done": 1, "overdue": 1, "share": 1 / 3}
    january = everyone["months"][0]["actions"]
    assert (january["created"], january["overdue"]) == (2, 1)

    teams = {team["team"]: team["window"] for team in document["teams"]}
    assert set(teams) == {"ops", "web"}
    assert teams["ops"]["incidents"] == 3
    assert teams["ops"]["durations"]["ttr"]["median"] == 60 * MINUTE
    assert teams["web"]["actions"]["overdue"] == 1
    assert document["all"]["months"][2]["durations"]["ttr"]["median"] is None


def test_drills_count_only_when_asked_for(history, tmp_path):
    left_out = metrics_json(history, tmp_path)
    counted = metrics_json(history, tmp_path, "--include-drills")

    assert left_out["all"]["months"][1]["incidents"] == 2
    assert counted["all"]["months"][1]["incidents"] == 3
    assert counted["all"]["window"]["durations"]["ttd"]["count"] == 4


def timeline_drill(url: str) -> str:
    """A drill of the example plan (team platform) in its timeline: injected on
    20 February 2026 at 10:01, detected at 10:03, acknowledged at 10:05,
    mitigated at 10:10 and resolved at 10:21."""
    plan = ROOT / "drills" / "primary-down" / "plan.yaml"
    with Timeline(url) as timeline:
        start = datetime(2026, 2, 20, 10, tzinfo=UTC)
        drill = timeline.start_drill("primary-down", {"plan": str(plan)}, at=start)
        for kind, minute in (
            ("injected", 1),
            ("detected", 3),
            ("acknowledged", 5),
            ("mitigated", 10),
            ("resolved", 21),
        ):
            moment = datetime(2026, 2, 20, 10, minute, tzinfo=UTC)
            timeline.record(drill.id, kind, "runner", at=moment)
        timeline.finish(drill.id, "finished", at=datetime(2026, 2, 20, 11, tzinfo=UTC))
    return drill.id


def test_drills_in_the_timeline_count_once_without_a_postmortem(history, tmp_path):
    timeline_drill(history)

    first = metrics_json(history, tmp_path, "--include-drills")
    again = metrics_json(history, tmp_path, "--include-drills")
    left_out = metrics_json(history, tmp_path)

    assert first == again
    # February: INC-3, INC-4, drill-1 from the store and the timeline's drill.
    assert first["all"]["months"][1]["incidents"] == 4
    assert left_out["all"]["months"][1]["incidents"] == 2
    # TTD: INC-1, INC-2, INC-3, drill-1 (1m) and the timeline's drill (2m).
    assert first["all"]["window"]["durations"]["ttd"]["count"] == 5
    teams = {team["team"]: team["window"] for team in first["teams"]}
    assert teams["platform"]["incidents"] == 1
    assert teams["platform"]["durations"]["ttr"]["median"] == 20 * MINUTE
    assert teams["platform"]["durations"]["tta"]["median"] == 2 * MINUTE


def test_one_team_with_a_stricter_policy(history, tmp_path):
    document = metrics_json(
        history, tmp_path, "--team", "ops", "--severity", "SEV1", "--within", "1d"
    )

    assert [team["team"] for team in document["teams"]] == ["ops"]
    window = document["all"]["window"]
    assert window["incidents"] == 3
    # Only INC-1 is a SEV1; its postmortem came two days after resolution.
    assert window["postmortems"]["due"] == 1
    assert window["postmortems"]["late"] == 1
    assert document["postmortem_within_seconds"] == 86400


def test_the_table_leads_with_medians_and_explains_what_is_not_due(history):
    result = drillhall("metrics", "--db", history, *WINDOW)

    assert result.returncode == 0, result.stderr
    assert "Incident trends, all teams, 2026-01 to 2026-03" in result.stdout
    assert "team ops" in result.stdout and "team web" in result.stdout
    note = " ".join(result.stdout.split())
    assert "1h30m" in note  # the window's median TTR
    assert "1 not yet due" in note
    assert "past due on 2026-02-14" in note


def test_prometheus_text_on_standard_output(history):
    result = drillhall("metrics", "--db", history, *WINDOW, "--prometheus", "-")

    assert result.returncode == 0, result.stderr
    assert "Incident trends" not in result.stdout  # no table in the way
    promtool_check(result.stdout)
    samples = parse_exposition(result.stdout)
    assert value(samples, "incidents", team="all") == 4
    assert value(samples, "incidents", team="ops") == 3
    ttr = "time_to_resolve_seconds"
    assert value(samples, ttr, team="all", quantile="0.5") == 90 * MINUTE
    assert value(samples, ttr, team="all", quantile="0.9") == 120 * MINUTE
    assert value(samples, f"{ttr}_count", team="all") == 4
    assert value(samples, f"{ttr}_sum", team="all") == 310 * MINUTE
    assert value(samples, "postmortem_completion_ratio", team="all") == 0.5
    assert value(samples, "postmortems_not_yet_due", team="all") == 1
    assert value(samples, "action_items_overdue", team="web") == 1
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert value(samples, "trend_window_start_timestamp_seconds") == start


def test_prometheus_file_for_the_textfile_collector(history, tmp_path):
    out = tmp_path / "drillhall.prom"
    result = drillhall("metrics", "--db", history, *WINDOW, "--prometheus", str(out))

    assert result.returncode == 0, result.stderr
    promtool_check(out.read_text())
    assert [path.name for path in tmp_path.iterdir() if "prom" in path.name] == [
        "drillhall.prom"
    ]


def test_png_chart(history, tmp_path):
    out = tmp_path / "trends.png"
    result = drillhall("metrics", "--db", history, *WINDOW, "--png", str(out))

    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(out, ARTIFACTS / "metrics-trends.png")


def test_an_empty_store_shows_every_month_of_the_window_as_zero(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    out = tmp_path / "metrics.json"

    result = drillhall(
        "metrics",
        "--db",
        url,
        "--until",
        "2026-03",
        "--months",
        "2",
        "--json",
        str(out),
    )

    assert result.returncode == 0, result.stderr
    months = json.loads(out.read_text())["all"]["months"]
    assert [month["month"] for month in months] == ["2026-02", "2026-03"]
    assert [month["incidents"] for month in months] == [0, 0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--since", "2026-13"), "--since: a month runs from 01 to 12, got '2026-13'"),
        (("--until", "March"), "--until: expected a month like '2026-03'"),
        (("--within", "abc"), "--within: expected a duration like"),
        (("--severity", "SEV9"), "--severity: "),  # the store words it
        (("--today", "2026-02-30"), "--today: expected a day like"),
        (("--since", "2026-05", "--until", "2026-01"), "before it starts"),
        (("--team", "nobody"), "no incident in the history belongs to team"),
        (("--json", "/no/such/folder/m.json"), "does not exist"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(flags, message, tmp_path):
    url = f"sqlite:///{tmp_path / 'drillhall.db'}"

    result = drillhall("metrics", "--db", url, *flags)

    assert result.returncode == 2
    assert result.stderr.startswith("drillhall: ")
    assert message in result.stderr
    assert flags[-1] in result.stderr  # the bad value is named
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
