"""Runbooks in Markdown and YAML: steps, checks, robot actions, clear errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from drillhall.drills.runbook import (
    Activity,
    RunbookError,
    load_runbook,
    parse_markdown_runbook,
    parse_yaml_runbook,
    validate_activities,
)

MARKDOWN = """\
# Primary down

Some context before the steps.

1. **Confirm the primary is down.** Open the alert
   and the dashboard.
   check: {http: {url: "http://127.0.0.1:9/health", status: 503}}

2. Promote the replica
   Run this by hand:

   ```sh
   promote --now
   ```

   ```yaml
   action:
     process: {path: bin/promote, arguments: [--port, 6381]}
   check:
     python: {module: os.path, func: exists, arguments: {path: /}}
   ```

3. **Repoint the service**: send it to the replica.
   action:
     http:
       url: ${service_url}/backend
       method: POST
       body: {url: "${replica_url}"}
   - a nested bullet stays in the text

## Afterwards

Not a step.

4. **Write the note.**
"""


NO_STEPS = (
    "the runbook has no steps; list them in order, e.g. '1. Confirm the primary is "
    "down' (Markdown) or 'steps: [{title: …}]' (YAML)"
)


def parse(text: str, source: str = "rb.md"):
    return parse_markdown_runbook(textwrap.dedent(text), source)


def problems_of(text: str, *, markdown: bool = True) -> list[str]:
    with pytest.raises(RunbookError) as caught:
        if markdown:
            parse(text)
        else:
            parse_yaml_runbook(textwrap.dedent(text), "rb.yaml")
    return str(caught.value).splitlines()


# Markdown


def test_markdown_steps_titles_and_text():
    runbook = parse(MARKDOWN)

    assert runbook.title == "Primary down"
    assert runbook.source == "rb.md"
    assert [step.number for step in runbook.steps] == [1, 2, 3, 4]
    assert [step.title for step in runbook.steps] == [
        "Confirm the primary is down",
        "Promote the replica",
        "Repoint the service",
        "Write the note",
    ]
    assert [step.line for step in runbook.steps] == [5, 9, 23, 35]
    assert runbook.steps[0].text == "Open the alert\nand the dashboard."
    assert runbook.steps[1].text == "Run this by hand:\n\n```sh\npromote --now\n```"
    assert runbook.steps[2].text == (
        "send it to the replica.\n- a nested bullet stays in the text"
    )
    assert runbook.step(4).text == ""


def test_markdown_check_line():
    check = parse(MARKDOWN).steps[0].check
    assert check is not None and check.http is not None
    assert check.http.url == "http://127.0.0.1:9/health"
    assert check.http.status == 503


def test_markdown_yaml_block_with_action_and_check():
    step = parse(MARKDOWN).steps[1]
    assert step.action is not None and step.action.process is not None
    assert step.action.process.path == "bin/promote"
    assert step.action.process.arguments == ["--port", 6381]
    assert step.check is not None and step.check.python is not None
    assert step.check.python.func == "exists"


def test_markdown_multi_line_action():
    step = parse(MARKDOWN).steps[2]
    assert step.check is None
    assert step.action is not None and step.action.http is not None
    assert step.action.http.method == "POST"
    assert step.action.http.body == {"url": "${replica_url}"}


def test_steps_become_chaostoolkit_activities():
    steps = parse(MARKDOWN).steps

    assert steps[0].check_activity() == {
        "type": "probe",
        "name": "step 1 check: Confirm the primary is down",
        "provider": {
            "type": "http",
            "url": "http://127.0.0.1:9/health",
            "method": "GET",
            "timeout": 10.0,
        },
        "tolerance": 503,
    }
    assert steps[0].action_activity() is None

    action = steps[1].action_activity()
    assert action is not None and "tolerance" not in action
    assert action["provider"] == {
        "type": "process",
        "path": "bin/promote",
        "arguments": ["--port", "6381"],
        "timeout": 60.0,
    }
    check = steps[1].check_activity()
    assert check is not None and check["tolerance"] is True
    assert check["provider"]["module"] == "os.path"

    repoint = steps[2].action_activity()
    assert repoint is not None
    assert repoint["provider"]["headers"] == {"Content-Type": "application/json"}
    assert repoint["provider"]["arguments"] == {"url": "${replica_url}"}


def test_lazy_numbering_and_lazy_continuation():
    runbook = parse(
        """\
        1. First
        still the first step
        1. Second
        1. Third
        """
    )
    assert [step.number for step in runbook.steps] == [1, 2, 3]
    assert runbook.steps[0].text == "still the first step"
    assert runbook.title == "rb"  # no heading: the file's name


def test_lists_inside_fences_are_not_steps():
    runbook = parse(
        """\
        ```text
        1. not a step
        ```

        1. The only step
        """
    )
    assert [step.title for step in runbook.steps] == ["The only step"]


def test_yaml_block_without_check_or_action_is_text():
    runbook = parse(
        """\
        1. Apply the manifest
           ```yaml
           kind: Deployment
           ```
        """
    )
    step = runbook.steps[0]
    assert step.check is None and step.action is None
    assert "kind: Deployment" in step.text


def test_no_steps():
    assert problems_of("# Title\n\nOnly prose, - and a [link](x).\n") == [
        f"rb.md:1:1: steps: {NO_STEPS}"
    ]


def test_numbers_out_of_order():
    assert problems_of("1. One\n2. Two\n4. Four\n") == [
        (
            "rb.md:3:1: steps[2]: step numbers count up from 1 (or are all '1.'); "
            "found 4 where 3 was expected"
        )
    ]


def test_step_without_title():
    [line] = problems_of("1. One\n2.\n")
    assert line.startswith("rb.md:2:1: steps[1]: a step needs a title")


def test_check_with_an_unknown_field_names_the_markdown_line():
    text = """\
    # T

    1. One
       check: {http: {url: "http://x", statis: 200}}
    """
    assert problems_of(text) == [
        (
            "rb.md:4:36: steps[0].check.http.statis: unknown field 'statis'; check its "
            "spelling (`drillhall schema` lists the fields)"
        )
    ]


def test_check_with_two_providers():
    text = """\
    1. One
       ```yaml
       check:
         http: {url: "http://x"}
         process: {path: "true"}
       ```
    """
    assert problems_of(text) == [
        (
            "rb.md:4:6: steps[0].check: name exactly one provider (http, process or "
            "python); found http, process"
        )
    ]


def test_check_with_a_relative_url():
    [line] = problems_of("1. One\n   check: {http: {url: /health}}\n")
    assert line.startswith("rb.md:2:24: steps[0].check.http.url: expected an absolute")


def test_broken_yaml_in_a_block_names_the_markdown_line():
    text = """\
    1. One

    2. Two
       ```yaml
       check: {http: {url: "http://x"}
       ```
    """
    [line] = problems_of(text)
    assert line.startswith("rb.md:5:35: steps[1]: invalid YAML: expected ',' or '}'")


def test_check_declared_twice():
    text = """\
    1. One
       check: {process: {path: "true"}}
       check: {process: {path: "false"}}
    """
    assert problems_of(text) == [
        "rb.md:3:4: steps[0].check: the step declares its check twice"
    ]


# YAML


def test_yaml_runbook():
    runbook = parse_yaml_runbook(
        textwrap.dedent(
            """\
            title: Primary down
            steps:
              - title: Confirm
                text: Look at the alert.
              - title: Promote
                action: {process: {path: promote}}
                check: {http: {url: "http://127.0.0.1:9/health"}}
            """
        ),
        "rb.yaml",
    )
    assert runbook.title == "Primary down"
    assert [step.number for step in runbook.steps] == [1, 2]
    assert [step.line for step in runbook.steps] == [3, 5]
    assert runbook.steps[0].text == "Look at the alert."
    check = runbook.steps[1].check
    assert check is not None and check.http is not None
    assert check.http.status == 200


def test_yaml_runbook_without_steps():
    assert problems_of("title: x\nsteps: []\n", markdown=False) == [
        f"rb.yaml:2:8: steps: {NO_STEPS}"
    ]


def test_yaml_runbook_unknown_key():
    [line] = problems_of("steps:\n  - {title: a, chek: {}}\n", markdown=False)
    assert line.startswith("rb.yaml:2:16: steps[0].chek: unknown field 'chek'")


def test_yaml_runbook_missing_title():
    [line] = problems_of("steps:\n  - text: what\n", markdown=False)
    assert line == "rb.yaml:2:5: steps[0].title: missing required field 'title'"


# Files


def test_load_runbook_makes_process_paths_relative_to_the_runbook(tmp_path: Path):
    (tmp_path / "rb.md").write_text(
        "1. One\n   action: {process: {path: bin/promote}}\n"
        "2. Two\n   action: {process: {path: sh}}\n"
    )
    runbook = load_runbook(tmp_path / "rb.md")
    first, second = (step.action for step in runbook.steps)
    assert first is not None and first.process is not None
    assert first.process.path == str(tmp_path.resolve() / "bin" / "promote")
    assert second is not None and second.process is not None
    assert second.process.path == "sh"  # looked up on PATH


def test_load_runbook_refuses_other_kinds(tmp_path: Path):
    (tmp_path / "rb.txt").write_text("1. One\n")
    with pytest.raises(RunbookError, match="a runbook is Markdown"):
        load_runbook(tmp_path / "rb.txt")


def test_load_runbook_missing_file(tmp_path: Path):
    with pytest.raises(RunbookError, match="no such file"):
        load_runbook(tmp_path / "rb.md")


def test_validate_activities_uses_chaoslib():
    runbook = parse(
        """\
        1. One
           check: {python: {module: os.path, func: exists, arguments: {path: /}}}
        2. Two
           action: {python: {module: no_such_module_here, func: f}}
        """
    )
    with pytest.raises(RunbookError) as caught:
        validate_activities(runbook)
    [line] = str(caught.value).splitlines()
    assert line.startswith("rb.md:3:1: steps[1].action: Chaos Toolkit rejects")
    assert "no_such_module_here" in line


def test_activity_names_exactly_one_provider():
    with pytest.raises(ValueError, match="found none"):
        Activity.model_validate({})


def test_nested_ordered_lists_stay_in_their_step():
    runbook = parse(
        """\
        1. Drain the node
           1. cordon it
           2. evict the pods
        2. Replace it
        """
    )
    assert [step.title for step in runbook.steps] == ["Drain the node", "Replace it"]
    assert runbook.steps[0].text == "1. cordon it\n2. evict the pods"
