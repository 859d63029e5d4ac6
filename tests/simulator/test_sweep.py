"""Sweeps: grid texts, every combination in order, the CSV table and the heatmap."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from drillhall.errors import InputError
from drillhall.reports.heatmap import render_heatmap
from drillhall.simulator.montecarlo import RunSettings
from drillhall.simulator.sweep import SweepResult, parse_grid, run_sweep
from tests.conftest import escalating_data

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DELAY = "escalation.main.levels[0].delay"
MISS = "behaviours.default.miss.working"


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    """Two escalation levels and slow first answers: the delay decides escalation."""
    data = escalating_data(
        horizon="60d",
        replications=6,
        seed=5,
        detection={"user_report": {"exponential": {"mean": "5m"}}},
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def sweep(scenario_file: Path) -> SweepResult:
    axes = [parse_grid(f"{DELAY}=2m,30m"), parse_grid(f"{MISS}=0,0.5")]
    return run_sweep(scenario_file, axes, RunSettings(workers=1))


# Grid texts


def test_a_list_keeps_its_values_as_yaml_reads_them():
    axis = parse_grid("teams.ops.note=a, 2 ,true")
    assert axis.path == "teams.ops.note"
    assert axis.texts == ("a", "2", "true")
    assert axis.values == ("a", 2, True)
    assert axis.override(1) == "teams.ops.note=2"


def test_an_integer_range_is_inclusive():
    assert parse_grid("x=3..7").values == (3, 4, 5, 6, 7)
    assert parse_grid("x=1..10:3").values == (1, 4, 7, 10)
    assert parse_grid("x=4..4").values == (4,)


def test_a_duration_range_gives_duration_texts():
    axis = parse_grid(f"{DELAY}=5m..30m:5m")
    assert axis.path == DELAY
    assert axis.texts == ("5m", "10m", "15m", "20m", "25m", "30m")
    assert parse_grid("x=30m..2h:30m").texts == ("30m", "1h", "1h30m", "2h")
    assert parse_grid("x=5m..33m:5m").texts[-1] == "30m"


def test_a_quoted_value_with_two_dots_is_not_a_range():
    assert parse_grid("x='a..b'").values == ("a..b",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nopath", "expected PATH=v1,v2"),
        ("x=", "no values"),
        ("=1,2", "path before '=' is empty"),
        ("a..b=1", "cannot read the path"),
        ("x+=1,2", "cannot add or remove"),
        ("x=1,,2", "an empty value"),
        ("x=1,1", "'1' is listed twice"),
        ("x=[1,2]", "not valid YAML"),
        ("x=5..1", "the range is empty"),
        ("x=1..5:0", "step must be positive"),
        ("x=1..5:x", "must be an integer"),
        ("x=5m..30m", "needs a step"),
        ("x=30m..5m:5m", "the range is empty"),
        ("x=a..b", "from an integer or a duration"),
        ("x=1..100000", "more than 1000 values"),
    ],
)
def test_a_bad_grid_names_the_text_and_the_problem(text: str, message: str):
    with pytest.raises(InputError) as caught:
        parse_grid(text)
    assert caught.value.source == "--grid"
    assert caught.value.field == text
    assert message in caught.value.message
    assert str(caught.value).startswith(f"--grid: {text}: ")


def test_a_wrong_path_fails_before_anything_runs(scenario_file: Path):
    axes = [parse_grid("escalation.main.levels[5].delay=5m,10m")]
    with pytest.raises(InputError, match=r"levels\[5\]"):
        run_sweep(scenario_file, axes, RunSettings(workers=1))


def test_a_path_on_two_axes_is_refused(scenario_file: Path):
    axes = [parse_grid(f"{DELAY}=5m,10m"), parse_grid(f"{DELAY}=20m")]
    with pytest.raises(InputError, match="more than one axis"):
        run_sweep(scenario_file, axes, RunSettings(workers=1))


# Running


def test_every_combination_runs_in_order(sweep: SweepResult):
    rows = sweep.rows
    assert [(row[DELAY], row[MISS]) for row in rows] == [
        ("2m", 0),
        ("2m", 0.5),
        ("30m", 0),
        ("30m", 0.5),
    ]
    assert sweep.replications == 6
    assert sweep.seed == 5
    for row in rows:
        value = row["escalated_share"]
        assert isinstance(value, float)
        assert row["escalated_share.low"] <= value <= row["escalated_share.high"]


def test_a_shorter_delay_and_more_misses_escalate_more(sweep: SweepResult):
    share = {(row[DELAY], row[MISS]): row["escalated_share"] for row in sweep.rows}
    assert share[("2m", 0)] > share[("30m", 0)]
    assert share[("2m", 0.5)] > share[("30m", 0.5)]
    assert share[("30m", 0.5)] > share[("30m", 0)]


def test_the_points_share_their_random_numbers(scenario_file: Path):
    # The delay changes who answers, not which incidents happen: with common
    # random numbers every point sees exactly the same incidents.
    axes = [parse_grid(f"{DELAY}=5m,15m,30m")]
    result = run_sweep(scenario_file, axes, RunSettings(workers=1, replications=3))
    detection = {row["ttd.mean"] for row in result.rows}
    assert len(detection) == 1


def test_the_csv_has_the_axes_then_each_figure_with_its_interval(
    sweep: SweepResult, tmp_path: Path
):
    path = tmp_path / "sweep.csv"
    sweep.to_csv(path)
    with path.open(newline="", encoding="utf-8") as stream:
        table = list(csv.reader(stream))

    header, body = table[0], table[1:]
    assert header[:2] == [DELAY, MISS]
    assert header[2:5] == ["ttd.mean", "ttd.mean.low", "ttd.mean.high"]
    for metric in ("tta.p90", "escalated_share", "interruptions_per_person_week"):
        assert {metric, f"{metric}.low", f"{metric}.high"} <= set(header)
    assert len(body) == 4
    assert [row[:2] for row in body] == [
        ["2m", "0"],
        ["2m", "0.5"],
        ["30m", "0"],
        ["30m", "0.5"],
    ]
    column = header.index("escalated_share")
    assert [float(row[column]) for row in body] == [
        row["escalated_share"] for row in sweep.rows
    ]


# Rendering


def test_a_two_axis_sweep_renders_a_png(sweep: SweepResult, tmp_path: Path):
    path = tmp_path / "heatmap.png"
    render_heatmap(sweep, "escalated_share", path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_a_one_axis_sweep_renders_a_line(scenario_file: Path, tmp_path: Path):
    axes = [parse_grid(f"{DELAY}=5m,30m")]
    result = run_sweep(scenario_file, axes, RunSettings(workers=1, replications=2))
    path = tmp_path / "line.png"
    render_heatmap(result, "tta.p90", path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_an_unknown_metric_lists_the_known_ones(sweep: SweepResult, tmp_path: Path):
    with pytest.raises(InputError, match="escalated_share"):
        render_heatmap(sweep, "p90(tta)", tmp_path / "never.png")
    assert not (tmp_path / "never.png").exists()


def test_a_heatmap_of_three_axes_is_refused(scenario_file: Path, tmp_path: Path):
    axes = [
        parse_grid(f"{DELAY}=5m"),
        parse_grid(f"{MISS}=0"),
        parse_grid("horizon=7d"),
    ]
    result = run_sweep(scenario_file, axes, RunSettings(workers=1, replications=2))
    with pytest.raises(InputError, match="one or two axes"):
        render_heatmap(result, "tta.p90", tmp_path / "never.png")


@pytest.mark.slow
def test_the_sweep_is_the_same_on_one_and_two_workers_and_dask(scenario_file: Path):
    axes = [parse_grid(f"{DELAY}=5m,30m")]
    one = run_sweep(scenario_file, axes, RunSettings(workers=1, replications=4))
    two = run_sweep(scenario_file, axes, RunSettings(workers=2, replications=4))
    assert one.points == two.points

    pytest.importorskip("distributed", reason="Dask is an optional extra")
    cluster = RunSettings(workers=2, replications=4, dask="local")
    assert run_sweep(scenario_file, axes, cluster).points == one.points
