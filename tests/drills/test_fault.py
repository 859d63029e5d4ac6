"""Real chaostoolkit-lib runs: inject, hold, roll back, whatever happens between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drillhall.drills.fault import Fault
from drillhall.errors import InputError


def write_experiment(folder: Path, marker: Path, *, rollbacks: bool = True) -> Path:
    """An experiment whose fault is a marker file and whose rollback removes it."""
    absent = {
        "type": "probe",
        "name": "marker-absent",
        "tolerance": 0,
        "provider": {
            "type": "process",
            "path": "sh",
            "arguments": ["-c", f"test ! -e {marker}"],
        },
    }
    experiment = {
        "version": "1.0.0",
        "title": "a marker file stands in for a fault",
        "description": "touch to inject, rm to roll back",
        "steady-state-hypothesis": {"title": "no marker", "probes": [absent]},
        "method": [
            {
                "type": "action",
                "name": "inject-marker",
                "provider": {
                    "type": "process",
                    "path": "touch",
                    "arguments": [str(marker)],
                },
            }
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "remove-marker",
                "provider": {
                    "type": "process",
                    "path": "rm",
                    "arguments": ["-f", str(marker)],
                },
            }
        ]
        if rollbacks
        else [],
    }
    path = folder / "experiment.json"
    path.write_text(json.dumps(experiment))
    return path


def test_inject_holds_the_rollbacks_until_asked(tmp_path):
    marker = tmp_path / "fault"
    fault = Fault(write_experiment(tmp_path, marker))

    assert fault.check_steady_state().steady_state_met is True
    injected = fault.inject()
    assert injected.succeeded and marker.exists()
    assert [a["name"] for a in injected.activities] == ["inject-marker"]

    rolled_back = fault.roll_back()
    assert rolled_back.succeeded and not marker.exists()
    assert rolled_back.steady_state_met is True


def test_rollbacks_run_after_an_interruption_between(tmp_path):
    marker = tmp_path / "fault"
    fault = Fault(write_experiment(tmp_path, marker))
    with pytest.raises(KeyboardInterrupt):
        try:
            fault.inject()
            raise KeyboardInterrupt
        finally:
            fault.roll_back()
    assert not marker.exists()


def test_no_injection_when_the_steady_state_is_already_broken(tmp_path):
    marker = tmp_path / "fault"
    marker.touch()  # the system is already "broken"
    fault = Fault(write_experiment(tmp_path, marker))
    outcome = fault.inject()
    assert not outcome.succeeded and outcome.steady_state_met is False
    assert outcome.activities == []


def test_bad_experiment_files_are_named(tmp_path):
    with pytest.raises(InputError, match="no such experiment file"):
        Fault(tmp_path / "missing.json")

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"title": "no method"}))
    with pytest.raises(InputError) as caught:
        Fault(broken)
    assert str(caught.value).startswith(
        f"{broken}: not a valid Chaos Toolkit experiment"
    )
