"""Goal-seek: goals as planners write them, judged with confidence."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drillhall.errors import InputError
from drillhall.simulator.montecarlo import RunSettings
from drillhall.simulator.seek import (
    FIGURES,
    Goal,
    parse_goal,
    parse_values,
    roster_overrides,
    seek,
    seek_json,
)
from drillhall.simulator.statistics import Estimate
from tests.conftest import escalating_data

ROTATION = "teams.ops.rotations.primary.layers[0].members"


@pytest.fixture
def escalating(tmp_path: Path) -> Path:
    """Acknowledgements take 10 minutes on average, a tenth are missed."""
    data = escalating_data(
        horizon="60d",
        replications=8,
        seed=12,
        people={name: {} for name in ("ana", "ben", "cai", "dan", "eve")},
    )
    file = tmp_path / "escalating.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    return file


@pytest.mark.parametrize(
    ("text", "figure", "operator", "threshold"),
    [
        ("p90(tta) <= 15m", "tta.p90", "<=", 900.0),
        ("mean(ttr) < 4h", "ttr.mean", "<", 14400.0),
        ("median(ttm)<=45m", "ttm.median", "<=", 2700.0),
        ("MTTR < 1h30m", "ttr.mean", "<", 5400.0),
        (
            "night_interruptions_per_person_week <= 1",
            "night_interruptions_per_person_week",
            "<=",
            1.0,
        ),
        (
            "night_pages_per_person_week <= 0.5",
            "night_interruptions_per_person_week",
            "<=",
            0.5,
        ),
        ("escalated_share < 5%", "escalated_share", "<", 0.05),
        (
            "acknowledged_during_sleep_share >= 0.1",
            "acknowledged_during_sleep_share",
            ">=",
            0.1,
        ),
    ],
)
def test_parse_goal(text, figure, operator, threshold):
    goal = parse_goal(text)
    assert (goal.figure, goal.operator) == (figure, operator)
    assert goal.threshold == pytest.approx(threshold)
    assert goal.text == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("p95(tta) <= 15m", "unknown figure 'p95(tta)'"),
        ("p90(tta) = 15m", "FIGURE OPERATOR VALUE"),
        ("p90(tta) <= 15", "not a duration"),
        ("escalated_share < lots", "not a share"),
        ("pages <= 1", "unknown figure 'pages'"),
    ],
)
def test_a_malformed_goal_names_itself_and_the_figures(text, why):
    with pytest.raises(InputError) as error:
        parse_goal(text)
    message = str(error.value)
    assert message.startswith("--goal: ")
    assert repr(text) in message and why in message
    assert all(figure in message for figure in FIGURES)


def test_a_goal_is_met_only_with_confidence():
    below = parse_goal("p90(tta) <= 15m")
    above = parse_goal("escalated_share > 5%")

    def judged(goal: Goal, low: float, high: float) -> bool:
        return goal.met({goal.figure: Estimate((low + high) / 2, low, high)})

    assert judged(below, 600.0, 900.0)
    assert not judged(below, 600.0, 901.0)  # the mean passes, the bound does not
    assert judged(above, 0.06, 0.2)
    assert not judged(above, 0.05, 0.2)
    assert not below.met({below.figure: Estimate(600.0, float("nan"), float("nan"))})
    assert not below.met({})


def test_parse_values():
    assert parse_values("3..6") == [3, 4, 5, 6]
    assert parse_values("5m, 10m,15m") == ["5m", "10m", "15m"]
    assert parse_values("1,2.5") == [1, 2.5]
    for text in ("9..3", "", "1,,2"):
        with pytest.raises(InputError, match="--vary"):
            parse_values(text)


def test_roster_overrides_take_the_first_people():
    build = roster_overrides(ROTATION, ["ana", "ben", "cai"])
    assert build(2) == [f"{ROTATION}=[ana, ben]"]
    with pytest.raises(InputError, match="between 1 and 3"):
        build(4)


def test_seek_stops_at_the_first_delay_that_meets_the_goal(escalating):
    path = "escalation.main.levels[0].delay"
    result = seek(
        escalating,
        path,
        "30m,20m,10m,5m,1m",
        ["p90(tta) <= 20m"],
        RunSettings(workers=1),
    )

    assert result.value == "5m"
    assert [point.value for point in result.points] == ["30m", "20m", "10m", "5m"]
    assert [point.met for point in result.points] == [False, False, False, True]
    assert result.points[-1].overrides == [f"{path}=5m"]

    # The evidence: a shorter first level cuts the time to acknowledge.
    p90s = [point.estimates["tta.p90"] for point in result.points]
    assert [p90.value for p90 in p90s] == sorted(
        (p90.value for p90 in p90s), reverse=True
    )
    assert p90s[-1].high <= 20 * 60

    # At 10m the mean over replications is under 20 minutes, but its interval
    # is not: the goal is not met with confidence.
    assert p90s[2].value < 20 * 60 < p90s[2].high
    assert seek_json(result)["value"] == "5m"


def test_seek_varies_a_rotation_size_with_the_same_seed(escalating):
    names = ["ana", "ben", "cai", "dan", "eve"]
    goals = [parse_goal("escalated_share < 100%"), "mean(ttr) < 1d"]
    settings = RunSettings(workers=1, replications=3)

    def run() -> object:
        return seek(
            escalating,
            ROTATION,
            range(2, 5),
            goals,
            settings,
            overrides=roster_overrides(ROTATION, names),
        )

    first = run()
    assert first.value == 2
    assert first.points[0].passed == {
        "escalated_share < 100%": True,
        "mean(ttr) < 1d": True,
    }
    assert run() == first


def test_seek_reports_no_value_when_none_meets_the_goals(escalating):
    result = seek(
        escalating,
        "escalation.main.levels[0].delay",
        ["5m", "1m"],
        ["p90(tta) <= 1s"],
        RunSettings(workers=1, replications=3),
    )
    assert result.value is None
    assert len(result.points) == 2


def test_seek_names_a_wrong_path(escalating):
    with pytest.raises(InputError, match="levels"):
        seek(
            escalating,
            "escalation.main.levels[7].delay",
            [1],
            ["p90(tta) <= 15m"],
            RunSettings(workers=1, replications=2),
        )


@pytest.mark.slow
def test_seek_is_the_same_with_two_workers_and_dask(escalating):
    def run(workers: int, dask: str | None = None) -> object:
        return seek(
            escalating,
            "escalation.main.levels[0].delay",
            "30m,10m",
            ["p90(tta) <= 22m"],
            RunSettings(workers=workers, replications=4, dask=dask),
        )

    assert run(1) == run(2)
    pytest.importorskip("distributed", reason="Dask is an optional extra")
    assert run(2, "local") == run(1)
