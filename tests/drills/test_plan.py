"""Drill plans: valid ones load with their files; each mistake is one clear line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from drillhall.drills.plan import DrillPlan, PlanError, load_plan
from tests.conftest import ROOT

SCENARIO = ROOT / "scenarios" / "small-team-weekly.yaml"
EXAMPLE = ROOT / "drills" / "primary-down" / "plan.yaml"

RUNBOOK = """\
# Test failure

1. **Look.** Check the dashboard.
2. **Fix it.**
   check: {process: {path: "true"}}
"""


def experiment(**changes: Any) -> dict[str, Any]:
    """A small valid experiment: ``true`` stands in for the fault and its undoing."""
    document: dict[str, Any] = {
        "version": "1.0.0",
        "title": "a stand-in fault",
        "description": "runs true, rolls back with true",
        "steady-state-hypothesis": {
            "title": "always",
            "probes": [
                {
                    "type": "probe",
                    "name": "true-succeeds",
                    "tolerance": 0,
                    "provider": {"type": "process", "path": "true"},
                }
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "inject",
                "provider": {"type": "process", "path": "true"},
            }
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "undo",
                "provider": {"type": "process", "path": "true"},
            }
        ],
    }
    document.update(changes)
    return {key: value for key, value in document.items() if value is not None}


NO_STEPS = (
    "the runbook has no steps; list them in order, e.g. '1. Confirm the primary is "
    "down' (Markdown) or 'steps: [{title: …}]' (YAML)"
)

MINIMAL = """\
name: test-drill
target: {name: test system}
fault: {experiment: experiment.json}
runbook: runbook.md
participants: {names: [ana]}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A drill folder with a valid experiment and runbook, and no plan yet."""
    (tmp_path / "experiment.json").write_text(json.dumps(experiment()))
    (tmp_path / "runbook.md").write_text(RUNBOOK)
    return tmp_path


def write_plan(folder: Path, text: str) -> Path:
    plan = folder / "plan.yaml"
    plan.write_text(textwrap.dedent(text))
    return plan


def problems_of(folder: Path, text: str) -> list[str]:
    """The error lines for the plan ``text``, with the folder left out."""
    plan = write_plan(folder, text)
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    return str(caught.value).replace(f"{folder}/", "").splitlines()


# Valid plans


def test_minimal_plan_loads_with_absolute_paths_and_its_files(folder: Path):
    plan = load_plan(write_plan(folder, MINIMAL))

    assert plan.name == "test-drill"
    assert plan.fault.experiment == folder.resolve() / "experiment.json"
    assert plan.runbook == folder.resolve() / "runbook.md"
    assert plan.source == folder.resolve() / "plan.yaml"
    assert plan.loaded_experiment["title"] == "a stand-in fault"
    assert [step.title for step in plan.loaded_runbook.steps] == ["Look", "Fix it"]
    assert plan.guardrails.max_duration == 30 * 60
    assert plan.participants.announced is True
    assert plan.load is None and plan.schedule is None


FULL = f"""\
name: full-drill
description: every section
target:
  name: test system
  steady_state:
    title: the plan's own hypothesis
    probes:
      - type: probe
        name: plan-probe
        tolerance: 0
        provider: {{type: process, path: "true"}}
fault:
  experiment: experiment.json
  configuration: {{service_url: "http://127.0.0.1:9"}}
  secrets: {{store: {{token: abc}}}}
load:
  host: http://127.0.0.1:9
  users: 3
  spawn_rate: 1.5
  requests:
    - {{path: /item/a, weight: 3}}
    - {{path: /item/a, method: PUT, body: {{value: 1}}}}
  duration: 5m
runbook: runbook.md
slos:
  availability: 99%
  latency: {{percentile: 95, below: 300ms}}
guardrails:
  error_rate: {{above: 20%, for: 30s}}
  budget_burn: {{above: 50%}}
  max_duration: 15m
expectations:
  detect: 1m
  acknowledge:
    scenario: {SCENARIO}
    fault: api/database-failover
    percentile: 90
  mitigate: {{within: 10m}}
participants:
  scenario: {SCENARIO}
  rotation: platform/primary
  announced: false
  robots: {{acknowledge_after: 30s, role: secondary, step_pace: 10s}}
schedule:
  cron: "0 14 * * 2"
  timezone: Europe/Berlin
  windows: [{{days: mon-fri, from: "10:00", to: "16:00"}}]
  freezes: [{{from: 2027-12-20, to: 2028-01-03, reason: year end}}]
"""


def test_full_plan_converts_what_humans_write(folder: Path):
    plan = load_plan(write_plan(folder, FULL))

    assert plan.load is not None and plan.load.requests is not None
    assert plan.load.duration == 300
    assert plan.load.requests[1].body == {"value": 1}
    assert plan.slos is not None and plan.slos.availability == pytest.approx(0.99)
    assert plan.slos.latency is not None and plan.slos.latency.below == 0.3
    assert plan.guardrails.error_rate is not None
    assert plan.guardrails.error_rate.above == 0.2
    assert plan.guardrails.error_rate.for_ == 30
    assert plan.guardrails.max_duration == 900

    expectations = plan.expectations
    assert expectations.detect is not None and expectations.detect.within == 60
    assert expectations.acknowledge is not None
    assert expectations.acknowledge.scenario == SCENARIO
    assert expectations.acknowledge.fault == "api/database-failover"
    assert expectations.resolve is None

    assert plan.participants.robots is not None
    assert plan.participants.robots.role == "secondary"
    assert list(plan.scenarios) == [SCENARIO]
    assert plan.scenarios[SCENARIO].name == "small-team-weekly"
    assert plan.schedule is not None and plan.schedule.timezone == "Europe/Berlin"


def test_plan_steady_state_replaces_the_experiments(folder: Path):
    plan = load_plan(write_plan(folder, FULL))

    hypothesis = plan.loaded_experiment["steady-state-hypothesis"]
    assert hypothesis["title"] == "the plan's own hypothesis"
    assert hypothesis["probes"][0]["name"] == "plan-probe"
    configuration, secrets = plan.experiment_vars
    assert configuration == {"service_url": "http://127.0.0.1:9"}
    assert secrets == {"store": {"token": "abc"}}


def test_without_steady_state_the_experiments_own_is_kept(folder: Path):
    plan = load_plan(write_plan(folder, MINIMAL))
    hypothesis = plan.loaded_experiment["steady-state-hypothesis"]
    assert hypothesis["title"] == "always"


def test_yaml_experiment_and_yaml_runbook(folder: Path):
    (folder / "experiment.yaml").write_text(json.dumps(experiment(title="in yaml")))
    (folder / "runbook.yaml").write_text("steps: [{title: Only step}]\n")
    text = MINIMAL.replace("experiment.json", "experiment.yaml").replace(
        "runbook.md", "runbook.yaml"
    )
    plan = load_plan(write_plan(folder, text))
    assert plan.loaded_experiment["title"] == "in yaml"
    assert plan.loaded_runbook.steps[0].title == "Only step"


def test_locustfile_load(folder: Path):
    (folder / "load.py").write_text("# a locustfile\n")
    plan = load_plan(write_plan(folder, MINIMAL + "load: {locustfile: load.py}\n"))
    assert plan.load is not None
    assert plan.load.locustfile == folder.resolve() / "load.py"
    assert plan.load.duration is None  # the whole drill


def test_robots_alone_may_respond(folder: Path):
    text = MINIMAL.replace("{names: [ana]}", "{robots: {acknowledge_after: 5s}}")
    plan = load_plan(write_plan(folder, text))
    assert plan.participants.robots is not None
    assert plan.participants.robots.acknowledge_after == 5


def test_unloaded_plan_says_how_to_load_it():
    plan = DrillPlan.model_validate(
        {
            "name": "x",
            "target": {"name": "t"},
            "fault": {"experiment": "e.json"},
            "runbook": "r.md",
            "participants": {"names": ["ana"]},
        }
    )
    with pytest.raises(PlanError, match="load_plan"):
        plan.loaded_experiment  # noqa: B018


def test_json_schema_comes_from_the_model():
    schema = DrillPlan.model_json_schema()
    assert set(schema["required"]) == {
        "name",
        "target",
        "fault",
        "runbook",
        "participants",
    }
    assert schema["additionalProperties"] is False
    definitions = schema["$defs"]
    guardrail = definitions["ErrorRateGuardrail"]["properties"]
    assert "for" in guardrail
    assert guardrail["for"]["pattern"].startswith("^(")
    assert "Schedule" in definitions and "Freeze" in definitions
    json.dumps(schema)


def test_example_plan_loads():
    plan = load_plan(EXAMPLE)

    assert plan.name == "primary-down"
    assert plan.fault.experiment == ROOT / "experiments" / "primary-down.json"
    assert plan.loaded_experiment["rollbacks"]
    steps = plan.loaded_runbook.steps
    assert [step.number for step in steps] == [1, 2, 3, 4]
    assert "Promote the replica" in steps[1].title
    assert steps[1].action is not None and steps[1].check is not None
    assert plan.participants.rotation == "platform/primary"
    assert plan.schedule is not None and plan.schedule.cron == "0 14 * * 2"


# Bad plans: one line each, file:line:column: field: message


def test_unknown_key(folder: Path):
    text = MINIMAL + "guardrails:\n  max_durration: 15m\n"
    assert problems_of(folder, text) == [
        (
            "plan.yaml:7:3: guardrails.max_durration: unknown field 'max_durration'; "
            "check its spelling (`drillhall schema` lists the fields)"
        )
    ]


def test_bad_duration(folder: Path):
    text = MINIMAL + "guardrails: {max_duration: 15 minutes}\n"
    assert problems_of(folder, text) == [
        (
            "plan.yaml:6:28: guardrails.max_duration: expected a duration like '90s', "
            "'15m' or '1h30m', got '15 minutes'"
        )
    ]


def test_missing_experiment_file(folder: Path):
    text = MINIMAL.replace("experiment.json", "experiments/gone.json")
    assert problems_of(folder, text) == [
        (
            "plan.yaml:3:21: fault.experiment: no such file 'experiments/gone.json' "
            "(paths are relative to the plan file)"
        )
    ]


def test_experiment_chaoslib_rejects(folder: Path):
    (folder / "experiment.json").write_text(json.dumps(experiment(description=None)))
    assert problems_of(folder, MINIMAL) == [
        (
            "plan.yaml:3:21: fault.experiment: experiment.json is not a valid Chaos "
            "Toolkit experiment: experiment requires a description"
        )
    ]


def test_experiment_with_a_bad_activity(folder: Path):
    bad = {"type": "action", "name": "x", "provider": {"type": "telepathy"}}
    (folder / "experiment.json").write_text(json.dumps(experiment(method=[bad])))
    [line] = problems_of(folder, MINIMAL)
    assert line.startswith("plan.yaml:3:21: fault.experiment: experiment.json is not")
    assert line.endswith("unknown provider type 'telepathy'")


def test_experiment_of_the_wrong_shape_is_rejected_not_crashed(folder: Path):
    (folder / "experiment.json").write_text(json.dumps(experiment(method={"a": 1})))
    [line] = problems_of(folder, MINIMAL)
    assert line.startswith("plan.yaml:3:21: fault.experiment: experiment.json is not")


def test_experiment_that_is_not_json(folder: Path):
    (folder / "experiment.json").write_text('{"title": "x",\n')
    [line] = problems_of(folder, MINIMAL)
    assert line.startswith(
        "plan.yaml:3:21: fault.experiment: experiment.json is not valid JSON or YAML"
    )


def test_experiment_without_rollbacks(folder: Path):
    (folder / "experiment.json").write_text(json.dumps(experiment(rollbacks=None)))
    [line] = problems_of(folder, MINIMAL)
    assert "experiment.json declares no rollbacks" in line
    assert line.startswith("plan.yaml:3:21: fault.experiment: ")


def test_bad_cron(folder: Path):
    text = MINIMAL + 'schedule: {cron: "0 25 * * 2"}\n'
    assert problems_of(folder, text) == [
        (
            "plan.yaml:6:18: schedule.cron: invalid cron expression '0 25 * * 2'; "
            "e.g. '0 14 * * 2' is Tuesdays at 14:00"
        )
    ]


def test_cron_with_a_seconds_field(folder: Path):
    [line] = problems_of(folder, MINIMAL + 'schedule: {cron: "0 0 14 * * 2"}\n')
    assert "schedule.cron: expected five cron fields" in line


def test_runbook_without_steps(folder: Path):
    (folder / "runbook.md").write_text("# Nothing to do\n\nJust prose.\n")
    assert problems_of(folder, MINIMAL) == [f"runbook.md:1:1: steps: {NO_STEPS}"]


def test_runbook_of_another_kind(folder: Path):
    [line] = problems_of(folder, MINIMAL.replace("runbook.md", "runbook.txt"))
    assert line.startswith("plan.yaml:4:10: runbook: expected a .md or .markdown")


def test_runbook_check_chaoslib_rejects(folder: Path):
    text = "1. Restart it\n   action: {process: {path: no-such-program-here}}\n"
    (folder / "runbook.md").write_text(text)
    [line] = problems_of(folder, MINIMAL)
    assert line.startswith("runbook.md:1:1: steps[0].action: Chaos Toolkit rejects")
    assert "no-such-program-here" in line


def test_all_problems_are_listed_together(folder: Path):
    (folder / "runbook.md").write_text("no steps\n")
    text = MINIMAL.replace("experiment.json", "gone.json")
    lines = problems_of(folder, text)
    assert [line.split(":")[0] for line in lines] == ["plan.yaml", "runbook.md"]


def test_invalid_yaml_is_one_plan_error(folder: Path):
    [line] = problems_of(folder, MINIMAL + "slos: {availability: [\n")
    assert line.startswith("plan.yaml:")
    assert "invalid YAML" in line


def test_missing_plan_file(tmp_path: Path):
    with pytest.raises(PlanError, match="no such file"):
        load_plan(tmp_path / "absent.yaml")


def test_drill_name_is_a_slug(folder: Path):
    [line] = problems_of(folder, MINIMAL.replace("test-drill", "Test Drill"))
    assert line.startswith("plan.yaml:1:7: name: a drill name is lowercase letters")


@pytest.mark.parametrize(
    ("addition", "expected"),
    [
        (
            "slos: {availability: 99%}\n",
            (
                "plan.yaml:6:7: slos: the SLO is measured from the load; add a 'load' "
                "section"
            ),
        ),
        (
            (
                "load: {host: 'http://127.0.0.1:9', requests: [{path: /}]}\n"
                "guardrails: {budget_burn: {above: 50%}}\n"
            ),
            (
                "plan.yaml:7:27: guardrails.budget_burn: the error budget comes from "
                "the availability SLO; add 'slos: {availability: 99%}'"
            ),
        ),
        (
            "load: {locustfile: load.py, requests: [{path: /}]}\n",
            (
                "plan.yaml:6:7: load: give either 'locustfile' or 'requests' (with "
                "'host'), not both and not neither"
            ),
        ),
        (
            "load: {requests: [{path: /}]}\n",
            "plan.yaml:6:7: load: declared 'requests' need a 'host' to send them to",
        ),
        (
            "load: {host: 'http://127.0.0.1:9', requests: [{path: items}]}\n",
            (
                "plan.yaml:6:54: load.requests[0].path: a request path starts with "
                "'/', like '/item/a'; got 'items'"
            ),
        ),
        (
            "expectations: {detect: {within: 1m, scenario: s.yaml, fault: a/b}}\n",
            (
                "plan.yaml:6:24: expectations.detect: give either a duration ('5m') or "
                "a prediction ({scenario: FILE, fault: service/fault, percentile: 90})"
            ),
        ),
        (
            "guardrails: {error_rate: {above: 120%}}\n",
            (
                "plan.yaml:6:34: guardrails.error_rate.above: a probability lies "
                "between 0 and 1, got 1.2"
            ),
        ),
    ],
)
def test_sections_that_do_not_fit(folder: Path, addition: str, expected: str):
    assert problems_of(folder, MINIMAL + addition) == [expected]


def test_unknown_fault_in_the_scenario(folder: Path):
    text = MINIMAL + (
        f"expectations:\n  detect: {{scenario: {SCENARIO}, fault: api/meteor}}\n"
    )
    [line] = problems_of(folder, text)
    assert line.startswith("plan.yaml:7:")
    assert "expectations.detect.fault: service 'api' has no fault 'meteor'" in line
    assert "database-failover" in line


def test_unknown_rotation_in_the_scenario(folder: Path):
    text = MINIMAL.replace(
        "{names: [ana]}", f"{{scenario: {SCENARIO}, rotation: platform/tertiary}}"
    )
    [line] = problems_of(folder, text)
    assert "participants.rotation: unknown rotation 'platform/tertiary'" in line
    assert "platform/primary" in line


def test_nobody_responds(folder: Path):
    [line] = problems_of(folder, MINIMAL.replace("{names: [ana]}", "{}"))
    assert line.startswith("plan.yaml:5:15: participants: nobody responds")


def test_bad_steady_state_probe(folder: Path):
    text = MINIMAL.replace(
        "target: {name: test system}",
        "target:\n  name: t\n  steady_state:\n    title: x\n"
        "    probes: [{type: probe, name: p, provider: {type: http, url: u}}]",
    )
    [line] = problems_of(folder, text)
    assert line.startswith("plan.yaml:6:14: target.steady_state.probes[0]: ")
    assert line.endswith("hypothesis probe must have a tolerance entry")
