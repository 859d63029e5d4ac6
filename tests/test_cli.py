"""The command line as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT, SCENARIOS


def drillhall(*arguments: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drillhall", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_each_example_simulates(example, tmp_path):
    out = tmp_path / "prediction.json"
    result = drillhall(
        "simulate", f"scenarios/{example}", "-n", "4", "-w", "2", "--json", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "Lifecycle durations" in result.stdout
    prediction = json.loads(out.read_text())
    assert prediction["replications"] == 4
    for phase in ("ttd", "tta", "ttm", "ttr"):
        estimate = prediction["durations"][phase]["median"]
        assert estimate["low"] <= estimate["value"] <= estimate["high"]
    assert prediction["load"] and prediction["slo"] and prediction["escalation"]


def test_same_seed_same_numbers_for_any_worker_count(tmp_path):
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.json"
        result = drillhall(
            "simulate",
            "scenarios/small-team-weekly.yaml",
            "-n",
            "3",
            "-s",
            "11",
            "-w",
            workers,
            "--json",
            str(out),
            "-q",
        )
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(out.read_text()))
    assert outputs[0] == outputs[1]

    other = tmp_path / "other.json"
    drillhall(
        "simulate",
        "scenarios/small-team-weekly.yaml",
        "-n",
        "3",
        "-s",
        "12",
        "-q",
        "--json",
        str(other),
    )
    assert json.loads(other.read_text())["durations"] != outputs[0]["durations"]


def test_records_as_csv_and_parquet(tmp_path):
    csv_file, parquet_file = tmp_path / "r.csv", tmp_path / "r.parquet"
    for file in (csv_file, parquet_file):
        result = drillhall(
            "simulate",
            "scenarios/small-team-weekly.yaml",
            "-n",
            "2",
            "-q",
            "--records",
            str(file),
        )
        assert result.returncode == 0, result.stderr

    with csv_file.open() as handle:
        rows = list(csv.DictReader(handle))
    table = pq.read_table(parquet_file)
    assert len(rows) == table.num_rows > 50
    assert {row["replication"] for row in rows} == {"0", "1"}
    first = rows[0]
    assert first["started"].endswith("Z") and first["started"] <= first["resolved"]
    assert str(table.schema.field("detected").type) == "timestamp[us, tz=UTC]"
    assert set(table.column("replication").to_pylist()) == {0, 1}


def test_bad_scenario_exits_2_with_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (SCENARIOS / "small-team-weekly.yaml")
        .read_text()
        .replace("delay: 15m}", "delay: soon}", 1)
    )
    for command in ("simulate", "validate"):
        result = drillhall(command, str(bad))
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert f"{bad}:" in result.stderr
        assert "escalation.platform-default.levels[0].delay" in result.stderr
        assert "expected a duration like" in result.stderr


def test_bad_flags_and_files(tmp_path):
    result = drillhall("simulate", "scenarios/small-team-weekly.yaml", "-n", "0")
    assert result.returncode == 2
    expected = (
        "drillhall: Invalid value for '--replications' / '-n': 0 is not in the "
        "range x>=1. (see `drillhall simulate --help`)"
    )
    assert result.stderr.splitlines() == [expected]

    result = drillhall("simulate", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "missing.yaml: no such file" in result.stderr

    result = drillhall(
        "simulate",
        "scenarios/small-team-weekly.yaml",
        "-n",
        "1",
        "--records",
        str(tmp_path / "r.xlsx"),
    )
    assert result.returncode == 2
    assert "--records" in result.stderr and "*.csv or *.parquet" in result.stderr


def test_validate_and_schema():
    result = drillhall("validate", *[str(p) for p in sorted(SCENARIOS.glob("*.yaml"))])
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok (") == len(list(SCENARIOS.glob("*.yaml")))

    result = drillhall("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert {"people", "teams", "escalation", "services"} <= set(schema["required"])
    level = schema["$defs"]["Level"]["properties"]["delay"]
    assert level["type"] == "string" and "pattern" in level
