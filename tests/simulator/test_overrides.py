"""``--set PATH=VALUE`` overrides: read, applied to scenario data, validated."""

from __future__ import annotations

import copy
from pathlib import Path as FilePath
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from drillhall.errors import InputError, ScenarioError
from drillhall.simulator.loader import load_scenario_with
from drillhall.simulator.overrides import (
    OverriddenData,
    Override,
    apply_overrides,
    format_override_path,
    parse_override,
)
from drillhall.simulator.scenario import Path
from tests.conftest import SCENARIOS, scenario_data

EXAMPLE = SCENARIOS / "small-team-weekly.yaml"
LEVELS = "escalation.platform-default.levels"
MEMBERS = "teams.platform.rotations.primary.layers[0].members"


def applied(data: dict[str, Any], *texts: str) -> dict[str, Any]:
    """``data`` with the overrides written as ``texts``."""
    return apply_overrides(data, [parse_override(text) for text in texts])


def failure(data: dict[str, Any], text: str) -> str:
    """The one-line error that applying ``text`` to ``data`` gives."""
    with pytest.raises(InputError) as caught:
        applied(data, text)
    assert caught.value.source == "--set"
    assert caught.value.field == text
    return str(caught.value)


def problems(*texts: str, file: str | FilePath = EXAMPLE) -> list[str]:
    """The lines of the error that loading ``file`` with ``texts`` gives."""
    with pytest.raises(InputError) as caught:
        load_scenario_with(file, texts)
    return str(caught.value).splitlines()


# Reading overrides.


@pytest.mark.parametrize(
    ("text", "path", "operator", "value"),
    [
        ("escalation.checkout.levels[0].delay=10m", "", "=", "10m"),
        (f"{MEMBERS}+=dana", MEMBERS, "+=", "dana"),
        (f"{MEMBERS}-=ana", MEMBERS, "-=", "ana"),
        ("replications+=3", "replications", "+=", 3),
        ("seed-=1", "seed", "-=", 1),
        ("a-b-=2", "a-b", "-=", 2),
        ("teams.sre.rotations.follow-the-sun.timezone=UTC", "", "=", "UTC"),
        ("services.payments-api.faults[0].rate=2/week", "", "=", "2/week"),
        ("teams.platform/primary=x", "", "=", "x"),
        ("levels[-1].delay = 5m", "", "=", "5m"),
    ],
)
def test_operators_and_keys_are_read(
    text: str, path: str, operator: str, value: Any
) -> None:
    override = parse_override(text)
    assert override.operator == operator
    assert override.value == value
    assert override.text == str(override) == text
    if path:
        assert format_override_path(override.path) == path


def test_paths_are_split_into_keys_and_indices() -> None:
    assert parse_override("escalation.checkout.levels[0].delay=10m").path == (
        "escalation",
        "checkout",
        "levels",
        0,
        "delay",
    )
    assert parse_override("levels[-1][ 2 ]=1").path == ("levels", -1, 2)
    assert parse_override("teams.sre.rotations.follow-the-sun=1").path == (
        "teams",
        "sre",
        "rotations",
        "follow-the-sun",
    )


def test_quoted_keys_may_hold_dots_quotes_and_brackets() -> None:
    assert parse_override('labels["a.b"].c=1').path == ("labels", "a.b", "c")
    assert parse_override("labels['x=y[0]'].c=1").path == ("labels", "x=y[0]", "c")
    assert parse_override('["a\\"b"]=1').path == ('a"b',)
    assert parse_override("['it''s']=1").path == ("it's",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10m", "10m"),
        ("3", 3),
        ("2.5", 2.5),
        ("true", True),
        ("'3'", "3"),
        ("[a, b]", ["a", "b"]),
        ("{fixed: 5m}", {"fixed": "5m"}),
        ("{exponential: {mean: 2m}}", {"exponential": {"mean": "2m"}}),
        ("", None),
        ("a=b", "a=b"),
    ],
)
def test_values_are_yaml(value: str, expected: Any) -> None:
    assert parse_override(f"x={value}").value == expected


def test_an_override_without_text_writes_its_own() -> None:
    override = Override(("a.b", 0, "c-d"), "+=", {"fixed": "5m", "n": [1, None]})
    assert override.text == '["a.b"][0].c-d+={fixed: 5m, n: [1, null]}'
    assert str(Override(("seed",), "=", "yes")) == "seed='yes'"
    assert parse_override(override.text) == override


plain_keys = st.from_regex(r"[a-z][a-z0-9_/-]{0,12}", fullmatch=True).filter(
    lambda key: not key.endswith("-")
)
keys = st.one_of(plain_keys, st.text(max_size=8))
paths = st.lists(
    st.one_of(keys, st.integers(min_value=-99, max_value=99)), min_size=1, max_size=5
).filter(lambda path: isinstance(path[0], str))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=6), inner, max_size=3),
    ),
    max_leaves=8,
)


@given(paths, st.sampled_from(["=", "+=", "-="]), values)
def test_a_written_override_reads_back_the_same(
    path: list[str | int], operator: Any, value: Any
) -> None:
    """Any path and YAML value survive being written as text and read again."""
    override = Override(tuple(path), operator, value)
    again = parse_override(override.text)
    assert again == override
    assert again.text == override.text


@given(paths)
def test_a_formatted_path_reads_back_the_same(path: list[str | int]) -> None:
    """Keys that need quotes get them; indices stay indices."""
    text = format_override_path(tuple(path))
    assert parse_override(f"{text}=1").path == tuple(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("replications", "expected PATH=VALUE, PATH+=VALUE or PATH-=VALUE"),
        (
            "=3",
            (
                "the path before '=' is empty; expected PATH=VALUE, PATH+=VALUE or "
                "PATH-=VALUE"
            ),
        ),
        (
            "a..b=1",
            (
                "cannot read the path at '..b=1': a path is keys joined by '.', with "
                '[N] for a list item and ["a.b"] for a key with dots'
            ),
        ),
        (
            "a[x]=1",
            (
                "cannot read the path at '[x]=1': a path is keys joined by '.', with "
                '[N] for a list item and ["a.b"] for a key with dots'
            ),
        ),
        (
            "a[0]b=1",
            (
                "cannot read the path at 'b=1': a path is keys joined by '.', with "
                '[N] for a list item and ["a.b"] for a key with dots'
            ),
        ),
        (
            "a b=1",
            (
                "cannot read the path at ' b=1': a path is keys joined by '.', with "
                '[N] for a list item and ["a.b"] for a key with dots'
            ),
        ),
        (
            '["a\\q"]=1',
            (
                "cannot read the path at '[\"a\\\\q\"]=1': a path is keys joined by "
                "'.', with [N] for a list item and [\"a.b\"] for a key with dots"
            ),
        ),
        (
            "x=[1,",
            (
                "the value '[1,' is not valid YAML (expected the node content, but "
                "found '<stream end>'); put quotes around text that YAML would misread"
            ),
        ),
        (
            "x=!!python/object/apply:os.system [true]",
            (
                "the value '!!python/object/apply:os.system [true]' is not valid YAML "
                "(could not determine a constructor for the tag "
                "'tag:yaml.org,2002:python/object/apply:os.system'); put quotes around "
                "text that YAML would misread"
            ),
        ),
    ],
)
def test_unreadable_overrides_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_override(text)
    assert caught.value.source == "--set"
    assert caught.value.field == text
    assert str(caught.value) == f"--set: {text}: {message}"


# Applying overrides.


@pytest.fixture
def data() -> dict[str, Any]:
    """The example scenario's data as the loader reads it."""
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def test_nested_values_and_list_items_are_set(data: dict[str, Any]) -> None:
    result = applied(
        data,
        f"{LEVELS}[0].delay=10m",
        f"{LEVELS}[-1].targets=[ana]",
        "services.api.slo={availability: 99.95%}",
    )
    levels = result["escalation"]["platform-default"]["levels"]
    assert levels[0] == {"targets": ["platform/primary"], "delay": "10m"}
    assert levels[1] == {"targets": ["ana"], "delay": "15m"}
    assert result["services"]["api"]["slo"] == {"availability": "99.95%"}


def test_a_list_item_is_replaced_and_a_new_key_is_added(data: dict[str, Any]) -> None:
    result = applied(
        data, f"{MEMBERS}[1]=fay", "people.fay={timezone: UTC}", "colour=blue"
    )
    layer = result["teams"]["platform"]["rotations"]["primary"]["layers"][0]
    assert layer["members"] == ["ana", "fay", "chloe", "dario", "emil"]
    assert result["people"]["fay"] == {"timezone": "UTC"}
    assert result["colour"] == "blue"


def test_append_and_remove_list_items(data: dict[str, Any]) -> None:
    result = applied(
        data,
        f"{MEMBERS}+=fay",
        f"{MEMBERS}+=[gus, hal]",
        f"{MEMBERS}-=ben",
        f"{MEMBERS}-=[ana, gus]",
        f"{LEVELS}+={{targets: [ana], delay: 5m}}",
    )
    layer = result["teams"]["platform"]["rotations"]["primary"]["layers"][0]
    assert layer["members"] == ["chloe", "dario", "emil", "fay", "hal"]
    levels = result["escalation"]["platform-default"]["levels"]
    assert levels[-1] == {"targets": ["ana"], "delay": "5m"}


def test_numbers_are_added_and_subtracted(data: dict[str, Any]) -> None:
    result = applied(
        data,
        "replications+=50",
        "seed-=4",
        "behaviours.default.runbook_factor+=0.1",
    )
    assert result["replications"] == 250
    assert result["seed"] == 20270100
    assert result["behaviours"]["default"]["runbook_factor"] == pytest.approx(0.7)


def test_the_input_is_never_changed(data: dict[str, Any]) -> None:
    before = copy.deepcopy(data)
    override = parse_override("people.fay={timezone: UTC, notify: [{channel: sms}]}")
    result = applied(
        data, f"{MEMBERS}+=fay", f"{MEMBERS}[0]=ben", f"{LEVELS}[0].delay=1m"
    )
    first = apply_overrides(result, [override])
    second = apply_overrides(result, [override])
    first["people"]["fay"]["notify"].append({"channel": "phone"})

    assert data == before
    assert second["people"]["fay"]["notify"] == [{"channel": "sms"}]
    assert override.value == {"timezone": "UTC", "notify": [{"channel": "sms"}]}
    assert "fay" not in result["people"]


def test_each_override_is_traced_to_the_place_it_changed(
    data: dict[str, Any],
) -> None:
    changes = [
        parse_override(f"{LEVELS}[-1].delay=5m"),
        parse_override(f"{MEMBERS}+=fay"),
        parse_override("people.fay={}"),
        parse_override("people.fay.speed=2"),
    ]
    overridden = OverriddenData.apply(data, changes)
    members: Path = ("teams", "platform", "rotations", "primary", "layers", 0)
    assert [place for place, _ in overridden.changed] == [
        ("escalation", "platform-default", "levels", 1, "delay"),
        (*members, "members"),
        ("people", "fay"),
        ("people", "fay", "speed"),
    ]
    assert overridden.override_at((*members, "members", 5)) is changes[1]
    assert overridden.override_at(("people", "fay", "speed")) is changes[3]
    assert overridden.override_at(("people", "fay", "timezone")) is changes[2]
    assert overridden.override_at(("people", "ana")) is None
    assert ("people", "fay", "speed") in overridden
    assert (*members, "members", -1) in overridden
    assert ("people", "fay", "timezone") not in overridden


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{LEVELS}[3].delay=10m",
            "levels has 2 items (indices 0-1)",
        ),
        (
            f"{LEVELS}[-3].delay=10m",
            "levels has 2 items (indices 0-1)",
        ),
        (
            f"{LEVELS}[2]={{targets: [ana]}}",
            (
                "levels has 2 items (indices 0-1); to add an item, write "
                f"{LEVELS}+={{targets: [ana]}}"
            ),
        ),
        (
            "services.api.faults[2].alerts[1]=x",
            (
                "alerts has 1 item (index 0); to add an item, write "
                "services.api.faults[2].alerts+=x"
            ),
        ),
        (
            "escalaton.checkout.levels[0].delay=10m",
            "no key 'escalaton' at the top level; did you mean 'escalation'?",
        ),
        (
            "escalation.checkout.levels[0].delay=10m",
            "no key 'checkout' in escalation; it has 'platform-default'",
        ),
        (
            "services.api.faults[0].hour_of_weak[0].factor=2",
            "no key 'hour_of_weak' in faults[0]; did you mean 'hour_of_week'?",
        ),
        (
            "nmae+=x",
            "no key 'nmae' at the top level; did you mean 'name'?",
        ),
        (
            "zzz.a=1",
            (
                "no key 'zzz' at the top level; it has 'name', 'description', 'start', "
                "'horizon', 'replications', 'seed', 'channels', 'notify', … (14 in all)"
            ),
        ),
        (
            "escalation[0].delay=10m",
            (
                "escalation is a mapping, not a list; name one of its keys, e.g. "
                "escalation.platform-default"
            ),
        ),
        (
            f"{LEVELS}.delay=10m",
            (
                "levels is a list, not a mapping; pick an item first, e.g. "
                f"{LEVELS}[0].delay"
            ),
        ),
        (
            f"{LEVELS}[0].delay.fixed=10m",
            (
                "delay is '15m', not a mapping or a list; there is nothing inside it "
                f"(set {LEVELS}[0].delay itself instead)"
            ),
        ),
        (
            f"{LEVELS}[0].delay+=5m",
            (
                "delay is '15m', not a list or a number; += works on lists and numbers "
                "(use = to replace the value)"
            ),
        ),
        (
            "escalation.platform-default-=1",
            (
                "platform-default is a mapping, not a list or a number; -= works on "
                "lists and numbers (use = to replace the value)"
            ),
        ),
        (
            "replications+=ten",
            "replications is the number 200, so += needs a number, not 'ten'",
        ),
        (
            "replications-=true",
            "replications is the number 200, so -= needs a number, not true",
        ),
        (
            f"{MEMBERS}-=zed",
            "'zed' is not in members: it holds 'ana', 'ben', 'chloe', 'dario', 'emil'",
        ),
        (
            f"{MEMBERS}-=[ana, ana]",
            "'ana' is not in members: it holds 'ana', 'ben', 'chloe', 'dario', 'emil'",
        ),
    ],
)
def test_paths_that_do_not_apply_name_the_part_that_failed(
    data: dict[str, Any], text: str, message: str
) -> None:
    assert failure(data, text) == f"--set: {text}: {message}"


def test_an_empty_list_and_an_empty_mapping_say_so() -> None:
    data = {"faults": [], "people": {}}
    assert failure(data, "faults[0].rate=1/day") == (
        "--set: faults[0].rate=1/day: faults has no items"
    )
    assert failure(data, "people.ana.speed=2") == (
        "--set: people.ana.speed=2: no key 'ana' in people, which is empty"
    )
    assert failure(data, "[0]=1") == (
        "--set: [0]=1: the top level is a mapping, not a list; name one of its "
        "keys, e.g. faults"
    )


def test_an_empty_override_is_not_read() -> None:
    with pytest.raises(InputError) as caught:
        parse_override("")
    assert str(caught.value) == "--set: expected PATH=VALUE, PATH+=VALUE or PATH-=VALUE"


def test_an_override_built_in_code_needs_a_path() -> None:
    with pytest.raises(InputError, match="the path is empty"):
        apply_overrides({}, [Override((), "=", 1)])


# Loading a scenario with overrides.


def test_a_shorter_delay_reaches_the_validated_scenario() -> None:
    scenario = load_scenario_with(EXAMPLE, [f"{LEVELS}[0].delay=10m"])
    assert scenario.escalation["platform-default"].levels[0].delay == 600.0
    assert scenario.escalation["platform-default"].levels[1].delay == 900.0


def test_a_new_person_joins_the_rotation() -> None:
    scenario = load_scenario_with(
        EXAMPLE, ["people.fay={timezone: Europe/Lisbon}", f"{MEMBERS}+=fay"]
    )
    layer = scenario.teams["platform"].rotations["primary"].layers[0]
    assert layer.members == ["ana", "ben", "chloe", "dario", "emil", "fay"]
    assert scenario.people["fay"].timezone == "Europe/Lisbon"


def test_no_overrides_load_the_file_as_it_is() -> None:
    scenario = load_scenario_with(str(EXAMPLE), [])
    assert scenario.escalation["platform-default"].levels[0].delay == 900.0


def test_a_wrong_path_names_the_override() -> None:
    text = "escalaton.platform-default.levels[0].delay=10m"
    assert problems(text) == [
        (
            f"--set: {text}: no key 'escalaton' at the top level; did you mean "
            "'escalation'?"
        )
    ]


def test_a_wrong_value_names_the_override_and_the_field() -> None:
    text = f"{LEVELS}[0].delay=soon"
    assert problems(text) == [
        (
            f"--set: {text}: {LEVELS}[0].delay: expected a duration like '90s', '15m' "
            "or '1h30m', got 'soon'"
        )
    ]


def test_an_unknown_person_is_traced_to_the_override_that_added_it() -> None:
    text = f"{MEMBERS}+=dana"
    assert problems(text) == [
        (
            f"--set: {text}: {MEMBERS}[5]: unknown person 'dana'; declared: ana, ben, "
            "chloe, dario, emil"
        )
    ]


def test_problems_inside_new_keys_name_the_field_that_was_set() -> None:
    person = "people.fay={timezone: Mars/Olympus, colour: red}"
    level = f"{LEVELS}[1]={{delay: 5m}}"
    assert sorted(problems(person, level, "colour=blue")) == [
        (
            "--set: colour=blue: colour: unknown field 'colour'; check its spelling "
            "(`drillhall schema` lists the fields)"
        ),
        f"--set: {level}: {LEVELS}[1].targets: missing required field 'targets'",
        (
            f"--set: {person}: people.fay.colour: unknown field 'colour'; check its "
            "spelling (`drillhall schema` lists the fields)"
        ),
        (
            f"--set: {person}: people.fay.timezone: unknown time zone 'Mars/Olympus'; "
            "use an IANA name like 'America/New_York'"
        ),
    ]


def test_a_later_override_of_the_same_place_is_the_one_named() -> None:
    late = f"{LEVELS}[-1].delay=-5m"
    assert problems(f"{LEVELS}[1].delay=1m", late) == [
        f"--set: {late}: {LEVELS}[1].delay: a duration cannot be negative, got '-5m'"
    ]


def test_problems_outside_the_overrides_keep_their_place_in_the_file(
    tmp_path: FilePath,
) -> None:
    data = scenario_data(replications="many")
    file = tmp_path / "x.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    text = "escalation.main.levels[0].delay=soon"

    lines = problems(text, file=file)

    assert len(lines) == 2
    assert lines[0].startswith(f"{file}:4:15: replications: ")
    assert lines[1].startswith(f"--set: {text}: escalation.main.levels[0].delay: ")


def test_override_errors_come_before_reading_the_file(tmp_path: FilePath) -> None:
    assert problems("oops", file=tmp_path / "nope.yaml") == [
        "--set: oops: expected PATH=VALUE, PATH+=VALUE or PATH-=VALUE"
    ]
    with pytest.raises(ScenarioError, match=r"nope\.yaml: no such file"):
        load_scenario_with(tmp_path / "nope.yaml", ["seed=1"])
