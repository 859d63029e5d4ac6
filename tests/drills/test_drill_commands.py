"""``drillhall drill …`` as participants and schedulers use it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from drillhall.drills.plan import load_plan
from drillhall.drills.spec import participants_at
from drillhall.drills.timeline import Timeline
from tests.conftest import ROOT

PLAN = ROOT / "drills" / "primary-down" / "plan.yaml"


def drill(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drillhall", "drill", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_dry_run_validates_and_touches_nothing():
    result = drill("run", str(PLAN), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "plan primary-down: valid" in result.stdout
    assert "runbook: 4 steps" in result.stdout
    assert "dry run: nothing was touched" in result.stdout


def test_participants_record_events_from_another_terminal(tmp_path):
    database = f"sqlite:///{tmp_path / 'drills.db'}"
    record = Timeline(database).start_drill("primary-down", {"announced": False})

    result = drill("event", record.id, "step", "2", "done", "--db", database)
    assert result.returncode == 0, result.stderr
    result = drill("event", record.id, "note", "replica", "lags", "--db", database)
    assert result.returncode == 0, result.stderr
    events = Timeline(database).events(record.id)
    assert [(e.kind, e.payload) for e in events[1:]] == [
        ("runbook_step", {"step": 2, "status": "done"}),
        ("note", {"text": "replica lags"}),
    ]
    assert events[1].source.startswith("participant:")

    listed = drill("list", "--db", database)
    assert "(unannounced drill)" in listed.stdout and record.id not in listed.stdout


def test_bad_events_and_unknown_drills_get_one_line(tmp_path):
    database = f"sqlite:///{tmp_path / 'drills.db'}"
    record = Timeline(database).start_drill("primary-down")

    result = drill("event", record.id, "fixed", "it", "--db", database)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "accepted: ack" in result.stderr

    result = drill("event", "no-such-drill", "ack", "--db", database)
    assert result.returncode == 2 and "no-such-drill" in result.stderr
    assert len(Timeline(database).events(record.id)) == 1  # nothing written


def test_due_lists_the_plan_on_its_slot_and_not_in_a_freeze():
    on_slot = drill("due", str(PLAN), "--now", "2027-03-02T14:05:00+01:00")
    assert on_slot.returncode == 0, on_slot.stderr
    assert str(PLAN) in on_slot.stdout
    frozen = drill("due", str(PLAN), "--now", "2027-12-21T14:05:00+01:00")
    assert frozen.stdout == ""


def test_participants_come_from_the_rotation_on_call_at_the_start():
    plan = load_plan(PLAN)
    # The week of 2027-01-04 is ana's in small-team-weekly's primary rotation.
    assert participants_at(plan, datetime(2027, 1, 6, 12, tzinfo=UTC)) == ["ana"]
    assert participants_at(plan, datetime(2027, 1, 13, 12, tzinfo=UTC)) == ["ben"]
