"""``drillhall compare`` as a planner runs it."""

from __future__ import annotations

import json

from tests.test_cli import drillhall

BASE = "scenarios/small-team-weekly.yaml"
SHORTER = "--set=escalation.platform-default.levels[0].delay=5m"


def test_a_shorter_first_level_escalates_more(tmp_path):
    out = tmp_path / "comparison.json"
    result = drillhall(
        "compare", BASE, SHORTER, "-n", "6", "-w", "2", "--json", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "within noise" in result.stdout  # detection did not change

    figures = json.loads(out.read_text())["figures"]
    escalated = figures["escalated_share"]
    assert escalated["distinguishable"] and escalated["difference"]["value"] > 0
    assert figures["ttd.mean"]["difference"]["value"] == 0  # detection is untouched


def test_compare_needs_something_to_compare():
    result = drillhall("compare", BASE)
    assert result.returncode == 2
    expected = (
        "drillhall: compare: nothing to compare: give a CANDIDATE_FILE or "
        "--set PATH=VALUE changes"
    )
    assert result.stderr.splitlines() == [expected]


def test_a_wrong_override_path_is_named():
    result = drillhall("compare", BASE, "--set=escalaton.x.levels[0].delay=5m")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "escalaton" in result.stderr and "escalation" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_sweep_writes_a_table_and_a_heatmap(tmp_path):
    csv_file, png = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    result = drillhall(
        "sweep", BASE,
        "--grid", "escalation.platform-default.levels[0].delay=5m,15m",
        "--grid", "escalation.platform-default.repeat=0..1",
        "--metric", "escalated_share", "-n", "3", "-w", "1",
        "--csv", str(csv_file), "--heatmap", str(png),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(csv_file.read_text().splitlines()) == 5  # a header and four points
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bad = drillhall("sweep", BASE, "--grid", "escalation.platform-default.repeat=5..1")
    assert bad.returncode == 2 and "--grid" in bad.stderr


def test_seek_reports_each_value_and_the_smallest_that_meets_the_goals():
    result = drillhall(
        "seek", BASE, "--vary", "escalation.platform-default.levels[0].delay",
        "--values", "5m,15m", "--goal", "escalated_share <= 5%", "-n", "4", "-w", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "levels[0].delay=5m: escalated_share <= 5% missed" in result.stdout
    assert "smallest value meeting every goal: " in result.stdout
    assert result.stdout.rstrip().endswith("levels[0].delay=15m")

    bad = drillhall("seek", BASE, "--vary", "x", "--values", "1", "--goal", "fast")
    assert bad.returncode == 2 and "--goal" in bad.stderr


def test_power_says_how_many_incidents_a_change_needs():
    result = drillhall("power", BASE, "--metric", "mttr", "--change", "-10%", "-n", "5")
    assert result.returncode == 0, result.stderr
    assert "incidents per side detect a real -10% change in mttr" in result.stdout


def test_simulate_on_a_local_dask_cluster_gives_the_same_numbers(tmp_path):
    outputs = []
    for executor in (["-w", "1"], ["--dask", "local", "-w", "2"]):
        out = tmp_path / f"{len(outputs)}.json"
        result = drillhall(
            "simulate", BASE, "-n", "3", "-q", "--json", str(out), *executor
        )
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(out.read_text()))
    assert outputs[0] == outputs[1]
