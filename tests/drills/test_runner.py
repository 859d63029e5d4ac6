"""Whole drills with robot responders: real chaostoolkit-lib, a real timeline."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from drillhall.drills.runner import (
    DrillSpec,
    Robot,
    RunbookAction,
    recover_drills,
    run_drill,
)
from drillhall.drills.timeline import Timeline
from tests.drills.test_fault import write_experiment


def repair(marker: Path) -> RunbookAction:
    remove = {"type": "process", "path": "rm", "arguments": ["-f", str(marker)]}
    absent = {
        "type": "process",
        "path": "sh",
        "arguments": ["-c", f"test ! -e {marker}"],
    }
    return RunbookAction(
        1,
        "remove the marker",
        action={"type": "action", "name": "remove", "provider": remove},
        check={"type": "probe", "name": "absent", "provider": absent, "tolerance": 0},
    )


def test_a_drill_runs_end_to_end_with_a_robot(tmp_path):
    marker = tmp_path / "fault"
    timeline = Timeline(f"sqlite:///{tmp_path / 'drills.db'}")
    drill_ids: list[str] = []

    def alert_fires() -> None:
        # What the alert receiver does when the real alert arrives.
        drill_ids.append(timeline.drills()[0].id)
        timeline.record(drill_ids[0], "detected", "test", {"alert": "MarkerPresent"})

    spec = DrillSpec(
        name="marker",
        experiment=write_experiment(tmp_path, marker),
        runbook=[repair(marker)],
        robot=Robot(acknowledge_after=0.1, step_pace=0.1),
        expected={"ttd": 60, "tta": 60, "ttm": 120, "ttr": 120},
        max_duration=60,
        start_signal=alert_fires,
    )
    result = run_drill(spec, timeline)

    assert result.status == "finished"
    assert result.injected is not None and result.injected.succeeded
    assert result.rolled_back is not None and result.rolled_back.succeeded
    assert not marker.exists()
    kinds = [event.kind for event in timeline.events(result.drill)]
    assert kinds.index("rollback_intent") < kinds.index("injected")
    assert kinds.index("injected") < kinds.index("acknowledged")
    assert (
        kinds.index("runbook_step")
        < kinds.index("resolved")
        < kinds.index("rolled_back")
    )
    assert result.score is not None and result.score.runbook.done == [1]
    assert result.score.points == result.score.out_of
    assert result.lifecycle is not None and result.lifecycle.ttd >= 0
    assert result.lifecycle.acknowledged_by == "robot"
    assert timeline.open_drills() == []


def test_the_guardrail_of_time_aborts_and_still_rolls_back(tmp_path):
    marker = tmp_path / "fault"
    timeline = Timeline(f"sqlite:///{tmp_path / 'drills.db'}")
    spec = DrillSpec(
        name="nobody-comes",
        experiment=write_experiment(tmp_path, marker),
        max_duration=1,
    )
    result = run_drill(spec, timeline)
    assert result.status == "aborted" and result.tripped is not None
    assert result.tripped.guardrail == "max_duration"
    assert not marker.exists()
    assert timeline.drill(result.drill).status == "aborted"


def run_drill_in_a_child(experiment: Path, database: Path, signal_name: str) -> int:
    """Run a drill in another process that sends itself ``signal_name`` right
    after the injection; return the child's exit code."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from drillhall.drills.runner import DrillSpec, run_drill
        from drillhall.drills.timeline import Timeline

        def hit():
            os.kill(os.getpid(), signal.{signal_name})

        spec = DrillSpec(name="hit", experiment=Path({str(experiment)!r}),
                         start_signal=hit)
        run_drill(spec, Timeline("sqlite:///{database}"))
        """
    )
    child = subprocess.run([sys.executable, "-c", script], timeout=120, check=False)
    return child.returncode


def test_a_drill_killed_after_injection_is_recovered(tmp_path):
    marker = tmp_path / "fault"
    experiment = write_experiment(tmp_path, marker)
    database = tmp_path / "drills.db"
    assert run_drill_in_a_child(experiment, database, "SIGKILL") == -9
    assert marker.exists()  # the fault was left behind

    timeline = Timeline(f"sqlite:///{database}")
    [left_open] = timeline.open_drills()
    assert recover_drills(timeline) == [left_open.id]
    assert not marker.exists()
    assert timeline.drill(left_open.id).status == "recovered"
    assert timeline.open_drills() == []


def test_sigterm_during_a_drill_still_rolls_back(tmp_path):
    marker = tmp_path / "fault"
    experiment = write_experiment(tmp_path, marker)
    database = tmp_path / "drills.db"
    assert run_drill_in_a_child(experiment, database, "SIGTERM") != 0
    assert not marker.exists()
    timeline = Timeline(f"sqlite:///{database}")
    [record] = timeline.drills()
    assert record.status == "interrupted" and not record.rollback_pending
