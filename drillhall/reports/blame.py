"""Checking what a postmortem's author wrote: blameful wording, and the
placeholders still left to fill.

A blameless postmortem describes the system a person worked in, not the
person: what made a step easy to miss, what the tools showed, what the
runbook asked. This module finds the sentences that point at someone instead
("Bob forgot to", "human error", "it was her fault") and suggests what to
describe instead.

Some phrases blame whatever their subject is ("human error", "careless").
Others blame only when their subject is a person: "the alert failed to fire"
describes the system, "the on-call engineer failed to" blames someone. A
subject counts as a person when it is a personal pronoun, a role (engineer,
on-call, responder, operator…), an ``@handle``, or a capitalised name that no
article introduces and that is not a known system ("Alice", not "Prometheus").
Code spans, fenced code blocks and HTML comments are not read: quoted logs and
commands are evidence, not wording. A line holding ``SILENCED`` is not read
either, for the rare sentence the check misreads.

A draft marks each part only its author can write with ``PLACEHOLDER``;
``unfilled_placeholders`` finds the ones still there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

logger = logging.getLogger(__name__)


PLACEHOLDER: Final = "_To be written by the author:_"
"""The visible mark of a part of a draft that its author has still to write."""


@dataclass(frozen=True)
class Finding:
    """One blameful phrase: where it is (1-based), what it says, what instead."""

    line: int
    column: int
    phrase: str
    suggestion: str

    def format(self, source: str) -> str:
        return f'{source}:{self.line}:{self.column}: "{self.phrase}": {self.suggestion}'


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    suggestion: str
    needs_person: bool
    """Whether the phrase blames only when its subject (or owner) is a person."""


def _rule(pattern: str, suggestion: str, *, needs_person: bool = False) -> _Rule:
    return _Rule(re.compile(pattern, re.IGNORECASE), suggestion, needs_person)


_SYSTEM_INSTEAD = "describe the conditions in the system that made this likely"

RULES: Final = (
    _rule(
        r"\bhuman[\s-]+error\b",
        "what in the system let this step go wrong? describe the conditions "
        "(tooling, runbook, alert, time of day) instead",
    ),
    _rule(
        r"\b(?:operator|engineer|pilot)[\s-]+error\b",
        "name what the operator saw and what the tools allowed, not the operator",
    ),
    _rule(
        r"\bcareless(?:ly|ness)?\b",
        "describe what made the step easy to get wrong (no check, no "
        "confirmation, a similar-looking command)",
    ),
    _rule(
        r"\bnegligen(?:t|tly|ce)\b",
        "describe which safeguard was missing or did not hold",
    ),
    _rule(
        r"\bsloppy\b|\blazy\b|\bincompeten(?:t|ce)\b",
        "describe the work and its conditions; judgements of people do not "
        "lead to fixes",
    ),
    _rule(
        r"\b(?:did\s+not|didn['’]t|never)\s+bother(?:ed)?\b",
        "say what the step cost at the time (effort, noise, time pressure) "
        "and how the system could make it cheap",
    ),
    _rule(
        r"\b(?:forgot|forgotten|forgets)\b(?!\s+(?:nothing|none)\b)",
        "say what would have reminded anyone: a checklist, a runbook step, "
        "an automated check",
        needs_person=True,
    ),
    _rule(
        r"\b(?:failed|fails|neglected|neglects)\s+to\b",
        "describe what the system did or did not make possible at that "
        "moment, not who failed",
        needs_person=True,
    ),
    _rule(
        r"\b(?:should(?:\s+not|n['’]t)?\s+have|should['’]ve)\b",
        "hindsight: describe what was known and visible at the time, and "
        "what would have made the better choice the easy one",
        needs_person=True,
    ),
    _rule(
        r"\b(?:ignored|overlooked)\b",
        "describe why the signal did not stand out (noise, volume, routing)",
        needs_person=True,
    ),
    _rule(
        r"\b(?:the\s+)?fault\s+of\b",
        _SYSTEM_INSTEAD + ", not whose fault it was",
        needs_person=True,
    ),
    _rule(
        r"\b(?:his|her|their|my|our|your)\s+(?:own\s+)?(?:fault|mistake|blunder)\b",
        _SYSTEM_INSTEAD + " instead of assigning the mistake to someone",
    ),
    _rule(
        r"['’]s?\s+(?:own\s+)?(?:fault|mistake|blunder)\b",
        _SYSTEM_INSTEAD + " instead of assigning the mistake to someone",
        needs_person=True,
    ),
    _rule(
        r"\b(?:made|makes|make)\s+(?:a|an|the)\s+(?:\w+\s+)?mistake\b"
        r"|\bmistake\s+(?:by|of)\b",
        _SYSTEM_INSTEAD + " instead of assigning the mistake to someone",
        needs_person=True,
    ),
)
"""The phrases looked for, each with its suggestion."""

PRONOUNS: Final = frozenset(
    "i me he him she her they them we us you someone somebody nobody everyone "
    "everybody anyone anybody".split()
)
"""Pronouns that stand for people (``they`` too: in a postmortem it nearly
always means the responders; ``it`` is never a person)."""

ROLES: Final = frozenset(
    "engineer operator oncall on-call on-caller responder developer admin "
    "administrator sre manager lead author reviewer person human staff team "
    "intern contractor owner commander trainee colleague teammate".split()
)
"""Roles that name people; plurals are recognised too. Not ``primary`` (a
database is one too) and not ``user`` ("users failed to check out" is impact)."""

SYSTEMS: Final = frozenset(
    "prometheus alertmanager grafana pagerduty opsgenie kubernetes locust "
    "postgres postgresql mysql redis kafka nginx terraform ansible jenkins "
    "github gitlab linux docker systemd cron drillhall slack".split()
)
"""Capitalised words that are systems, not names."""

SILENCED: Final = "<!-- blameless: ok -->"
"""Put on a line to accept its wording when the check misreads it."""

_DETERMINERS: Final = frozenset(
    "the a an this that these those its every each no some any another".split()
)
_SKIPPED: Final = frozenset(
    "just simply also then again probably clearly obviously apparently "
    "completely accidentally initially later still already never had has have "
    "must may might could would will not n't".split()
)
"""Adverbs and auxiliaries between a subject and its verb ("Bob had simply
forgotten"), looked through when finding the subject."""

_COMMON_STARTERS: Final = frozenset(
    "it this that there nothing everything something traffic load latency "
    "failover monitoring alerting detection paging rollback rollout deploy "
    "config configuration storage disk network dns cache database backup "
    "health the our".split()
)
_COMMON_ENDINGS: Final = (
    "s", "ion", "ing", "ment", "ure", "ity", "ness", "ance", "ence", "ery", "ism"
)  # fmt: skip
"""At the start of a sentence every word is capitalised: there, a word that
looks like a common noun ("Requests failed to…") is not taken for a name."""

_WORD = re.compile(r"@?[A-Za-z][\w'’-]*")
_SENTENCE_END = re.compile(r"[.!?;:]\s|[.!?;:]$|\|")
_CODE_SPAN = re.compile(r"`[^`]*`")
_LOOK_AHEAD = 2


@dataclass(frozen=True)
class _Context:
    people: frozenset[str]
    systems: frozenset[str]


def find_blame(
    text: str, *, people: Iterable[str] = (), systems: Iterable[str] = ()
) -> list[Finding]:
    """Every blameful phrase in ``text`` (Markdown), in reading order.

    ``people`` are names known to be people (a drill's participants);
    ``systems`` are names known not to be (a service, a tool), beside the
    built-in ones.
    """
    context = _Context(
        frozenset(name.lower() for name in people),
        SYSTEMS | {name.lower() for name in systems},
    )
    findings: list[Finding] = []
    for number, line in _prose_lines(text):
        for rule in RULES:
            for match in rule.pattern.finditer(line):
                finding = _finding(number, line, match, rule, context)
                if finding is not None:
                    findings.append(finding)
    findings.sort(key=lambda finding: (finding.line, finding.column))
    logger.debug("%d blameful phrases found", len(findings))
    return findings


def _finding(
    number: int, line: str, match: re.Match[str], rule: _Rule, context: _Context
) -> Finding | None:
    start, end = match.span()
    if rule.needs_person:
        person = _person_before(line, start, context) or _person_after(
            line, match, context
        )
        if person is None:
            return None
        start, end = min(start, person[0]), max(end, person[1])
    phrase = " ".join(line[start:end].split())
    return Finding(number, start + 1, phrase, rule.suggestion)


def _person_before(line: str, start: int, context: _Context) -> tuple[int, int] | None:
    """The span of the subject (or owner) of the phrase at ``start``, if a person.

    The subject is the nearest word before the phrase in its sentence, looking
    through adverbs and auxiliaries; "the engineer on call" ends in its role.
    """
    sentence_start = 0
    for end in _SENTENCE_END.finditer(line, 0, start):
        sentence_start = end.end()
    words = [
        word
        for word in _WORD.finditer(line, sentence_start, start)
        if _bare(word.group()).lower() not in _SKIPPED
    ]
    if not words:
        return None

    index = len(words) - 1
    nearest = words[index].group().lower()
    if nearest in {"call", "duty"} and index >= 2 and words[index - 1].group() == "on":
        index -= 2
    before = words[index - 1].group().lower() if index else None
    word = words[index]
    return word.span() if _is_person(word.group(), before, context) else None


def _person_after(
    line: str, match: re.Match[str], context: _Context
) -> tuple[int, int] | None:
    """For "the fault of Bob" and "a mistake by the operator": the person after."""
    phrase = match.group().lower()
    if not phrase.endswith((" of", " by")):
        return None
    stop = _SENTENCE_END.search(line, match.end())
    words = [
        word
        for word in _WORD.finditer(
            line, match.end(), stop.start() if stop else len(line)
        )
        if word.group().lower() not in _DETERMINERS
    ]
    for word in words[:_LOOK_AHEAD]:
        if _is_person(word.group(), "of", context):
            return word.span()
    return None


def _is_person(word: str, before: str | None, context: _Context) -> bool:
    """Whether ``word`` names a person; ``before`` is the word before it in
    its sentence (``None`` at the start of one)."""
    bare = _bare(word)
    lowered = bare.lower()
    if word.startswith("@") or lowered in context.people:
        return True
    if lowered in PRONOUNS or _singular(lowered) in ROLES:
        return True

    # A name: capitalised, not an acronym, not a system, not after an article.
    if not bare[:1].isupper() or bare.isupper() or lowered in context.systems:
        return False
    if before is not None:
        return before not in _DETERMINERS
    return lowered not in _COMMON_STARTERS and not lowered.endswith(_COMMON_ENDINGS)


def _bare(word: str) -> str:
    """A word without a possessive ending: ``Bob's`` → ``Bob``."""
    return re.sub(r"['’]s?$", "", word)


def _singular(word: str) -> str:
    if word.endswith("s") and word[:-1] in ROLES:
        return word[:-1]
    return word


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """Each line's number and its prose, with code and comments blanked out.

    Blanking keeps the columns of what remains as they are in the file. Fenced
    code blocks and lines marked ``SILENCED`` are left out.
    """
    fence: str | None = None
    in_comment = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        silenced = SILENCED in line
        line, in_comment = _without_comments(line, in_comment)
        if not silenced:
            yield number, _CODE_SPAN.sub(lambda code: " " * len(code.group()), line)


def _without_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """The line with HTML comments blanked, and whether one is still open."""
    characters = list(line)
    position = 0
    while position < len(line):
        if not in_comment:
            opening = line.find("<!--", position)
            if opening < 0:
                break
            position, in_comment = opening, True
        closing = line.find("-->", position)
        stop = len(line) if closing < 0 else closing + 3
        characters[position:stop] = " " * (stop - position)
        position, in_comment = stop, closing < 0
    return "".join(characters), in_comment


# The placeholder with or without its Markdown emphasis, in any case.
_PLACEHOLDER = re.compile(f"_?{re.escape(PLACEHOLDER.strip('_'))}_?", re.IGNORECASE)


def unfilled_placeholders(text: str) -> list[Finding]:
    """The placeholders still in a draft (outside comments), each with what it
    asks for."""
    findings = []
    in_comment = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line, in_comment = _without_comments(raw, in_comment)
        for match in _PLACEHOLDER.finditer(line):
            hint = line[match.end() :].split("|")[0].strip() or "your text"
            findings.append(
                Finding(
                    number, match.start() + 1, match.group(), f"replace it with {hint}"
                )
            )
    return findings
