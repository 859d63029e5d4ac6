"""Blameful wording and unfilled placeholders, on sentences chosen one by one."""

from __future__ import annotations

import pytest

from drillhall.reports.blame import (
    PLACEHOLDER,
    SILENCED,
    find_blame,
    unfilled_placeholders,
)

BLAMEFUL = [
    ("Bob forgot to restart the replica.", "Bob forgot"),
    ("Then Alice simply forgot to check the lag.", "Alice simply forgot"),
    ("This outage was human error.", "human error"),
    ("It was operator error on a Friday night.", "operator error"),
    ("The on-call engineer failed to acknowledge the page.", "engineer failed to"),
    (
        "The engineer on call should have checked the dashboard.",
        "engineer on call should have",
    ),
    ("We should have had a second replica.", "We should have"),
    ("It was the fault of the on-call engineer.", "the fault of the on-call"),
    ("It was Bob's mistake.", "Bob's mistake"),
    ("Frankly, it was his fault.", "his fault"),
    ("She didn't bother to read the runbook.", "didn't bother"),
    ("Alice made a mistake in the config.", "Alice made a mistake"),
    ("A mistake by the operator took the primary down.", "mistake by the operator"),
    ("The rollout was careless.", "careless"),
    ("Leaving the flag on was negligent.", "negligent"),
    ("@carol ignored the page.", "@carol ignored"),
    ("Dave overlooked the second alert.", "Dave overlooked"),
    ("Users saw errors because the team failed to fail over.", "team failed to"),
    ("They neglected to update the runbook.", "They neglected to"),
]
BLAMELESS = [
    "The alert failed to fire.",
    "The deploy forgot nothing.",
    "The alert should have fired after 30 seconds.",
    "Requests failed to reach the primary for 33 seconds.",
    "Prometheus failed to scrape the target twice.",
    "The primary failed to answer its health check.",
    "The users failed to check out for 30 minutes.",
    "Detection failed to trigger before the load balancer gave up.",
    "The fault of type primary-down was injected at T+0:00.",
    "The fault of the primary store was injected by the experiment.",
    "The service's error rate rose to 40%.",
    "Latency stayed within the SLO; errors did not.",
    "The runbook's step 2 failed its check.",
    "Nobody was paged: the escalation policy had no level for this service.",
]


@pytest.mark.parametrize(("sentence", "phrase"), BLAMEFUL)
def test_blameful_sentences_are_found_with_the_phrase(sentence, phrase):
    [finding] = find_blame(sentence)

    assert finding.phrase == phrase
    assert finding.line == 1
    assert finding.column == sentence.index(phrase) + 1
    assert finding.suggestion


@pytest.mark.parametrize("sentence", BLAMELESS)
def test_sentences_about_the_system_are_not_flagged(sentence):
    assert find_blame(sentence) == []


def test_human_error_asks_about_the_system():
    [finding] = find_blame("Root cause: human error.")
    assert "what in the system let this step go wrong" in finding.suggestion


def test_findings_carry_line_and_column_in_a_document():
    text = "# Summary\n\nThe alert fired.\n  - Then Bob forgot to promote it.\n"
    [finding] = find_blame(text)

    assert (finding.line, finding.column) == (4, 10)
    assert finding.format("pm.md").startswith('pm.md:4:10: "Bob forgot": ')


def test_code_comments_and_silenced_lines_are_not_read():
    text = "\n".join(
        [
            "The log said `bob forgot the lock` at T+0:03.",
            "```",
            "ERROR: operator error while promoting",
            "```",
            "<!-- author: do not write that Bob forgot -->",
            "<!-- a comment over",
            "     lines: human error -->",
            f"Ops ignored it for a while. {SILENCED}",
        ]
    )
    assert find_blame(text) == []


def test_names_given_as_people_or_systems_decide_the_subject():
    sentence = "Agnes failed to promote the replica."
    assert find_blame(sentence) == []  # looks like a plural noun
    assert [f.phrase for f in find_blame(sentence, people=["agnes"])] == [
        "Agnes failed to"
    ]
    assert find_blame("Then Atlas failed to start.", systems=["atlas"]) == []


def test_placeholders_are_found_outside_comments():
    row = "| 1 | Fix it | runbook | – | _To be written by the author:_ the owner |"
    text = "\n".join(
        [
            (
                "<!-- author: the summary; a line marked _To be written by the "
                "author:_ is unfilled -->"
            ),
            f"{PLACEHOLDER} what happened, in one paragraph",
            row,
            "The summary the author wrote.",
        ]
    )
    found = unfilled_placeholders(text)

    assert [(f.line, f.column) for f in found] == [(2, 1), (3, row.index("_To") + 1)]
    assert found[0].suggestion == "replace it with what happened, in one paragraph"
    assert found[1].suggestion == "replace it with the owner"
    assert unfilled_placeholders("All written.\n") == []
