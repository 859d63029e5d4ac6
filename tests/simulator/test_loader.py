"""Bad scenario files get one clear line each: file:line:column: field: what."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from drillhall.errors import ScenarioError
from drillhall.simulator.loader import format_path, load_scenario, parse_scenario
from tests.conftest import scenario_data


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(textwrap.dedent(text), "x.yaml")
    return str(caught.value).splitlines()


def as_yaml(**changes) -> str:
    return yaml.safe_dump(scenario_data(**changes), sort_keys=False)


def test_examples_load(examples):
    assert len(examples) >= 2
    for example in examples:
        assert load_scenario(example).services


def test_negative_delay_names_line_column_and_field():
    text = """\
    name: x
    start: 2027-01-04
    horizon: 30d
    people: {ana: {}}
    teams: {ops: {rotations: {primary: {layers: [{members: [ana]}]}}}}
    escalation:
      checkout:
        levels:
          - targets: [ops/primary]
            delay: 15m
          - targets: [ana]
            delay: -15m
    services:
      api: {team: ops, escalation: checkout}
    """
    assert problems_of(text) == [
        (
            "x.yaml:12:16: escalation.checkout.levels[1].delay: a duration cannot "
            "be negative, got '-15m'"
        )
    ]


def test_wrong_type_and_unknown_key_are_both_reported():
    lines = problems_of(as_yaml(replications="many", colour="blue"))
    assert any("replications:" in line and "integer" in line for line in lines)
    assert any(
        line.startswith("x.yaml:") and "colour: unknown field 'colour'" in line
        for line in lines
    )


def test_malformed_duration_says_how_to_write_one():
    data = scenario_data()
    data["escalation"]["main"]["levels"][0]["delay"] = "fifteen minutes"
    [line] = problems_of(yaml.safe_dump(data, sort_keys=False))
    assert "escalation.main.levels[0].delay" in line
    assert "expected a duration like '90s', '15m' or '1h30m'" in line


def test_rotation_with_no_members():
    data = scenario_data()
    data["teams"]["ops"]["rotations"]["primary"]["layers"][0]["members"] = []
    [line] = problems_of(yaml.safe_dump(data, sort_keys=False))
    assert "teams.ops.rotations.primary.layers[0].members" in line
    assert "at least 1" in line


def test_escalation_target_that_does_not_exist():
    data = scenario_data()
    data["escalation"]["main"]["levels"][0]["targets"] = ["ops/primray"]
    [line] = problems_of(yaml.safe_dump(data, sort_keys=False))
    assert "escalation.main.levels[0].targets[0]: unknown target 'ops/primray'" in line
    assert "declared: ana, ben, cai, ops/primary" in line
    assert line.startswith("x.yaml:")


def test_unknown_person_in_rotation_and_unknown_channel():
    data = scenario_data(notify=[{"channel": "pager"}])
    data["teams"]["ops"]["rotations"]["primary"]["layers"][0]["members"].append("zed")
    lines = problems_of(yaml.safe_dump(data, sort_keys=False))
    assert any("members[3]: unknown person 'zed'" in line for line in lines)
    assert any("notify[0].channel: unknown channel 'pager'" in line for line in lines)


def test_invalid_yaml_points_at_the_problem():
    [line] = problems_of("name: x\nstart: [2027-01-04\nhorizon: 30d\n")
    assert line.startswith("x.yaml:")
    assert "invalid YAML" in line


def test_duplicate_keys_are_errors():
    [line] = problems_of("name: x\nname: y\n")
    assert line == "x.yaml:2:1: duplicate key 'name'"


def test_top_level_must_be_a_mapping():
    [line] = problems_of("- just\n- a list\n")
    assert line.startswith("x.yaml:1:1: a scenario is a mapping")


def test_distribution_needs_exactly_one_family():
    data = scenario_data()
    data["services"]["api"]["faults"][0]["diagnose"] = {
        "exponential": {"mean": "5m"},
        "fixed": "3m",
    }
    [line] = problems_of(yaml.safe_dump(data, sort_keys=False))
    assert "services.api.faults[0].diagnose" in line
    assert "exactly one distribution" in line


def test_unknown_time_zone():
    data = scenario_data(
        people={"ana": {"timezone": "Mars/Olympus"}, "ben": {}, "cai": {}}
    )
    [line] = problems_of(yaml.safe_dump(data, sort_keys=False))
    assert "people.ana.timezone: unknown time zone 'Mars/Olympus'" in line


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ScenarioError, match=r"nope\.yaml: no such file"):
        load_scenario(tmp_path / "nope.yaml")


def test_format_path():
    assert format_path(("escalation", "p", "levels", 1, "delay")) == (
        "escalation.p.levels[1].delay"
    )


def test_a_bad_shorthand_names_the_field_as_written():
    data = scenario_data()
    data["services"]["api"]["faults"][0]["mitigate"] = "10x"
    [line] = problems_of(yaml.safe_dump(data, sort_keys=False))
    assert "services.api.faults[0].mitigate: expected a duration" in line
