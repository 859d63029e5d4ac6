"""Runbooks: the ordered steps for one failure, each with an optional check.

A runbook is Markdown or YAML. In Markdown the steps are an ordered list
(``1. …``); a step's first line is its title (or its bold lead-in), the rest is
its text. A step declares a *check* (a Chaos Toolkit probe that tells whether the
step was done) and an *action* (what a robot responder runs to do the step) in a
``check:`` or ``action:`` line, or in a fenced ``yaml`` block with those keys::

    1. **Promote the replica.** Make the replica accept writes.
       action: {process: {path: system/promote}}
       check: {http: {url: "http://127.0.0.1:8380/health", status: 200}}

In YAML the same is ``steps: [{title, text, check, action}]``. Checks and actions
name one provider: ``http`` (url, method, status), ``process`` (path, arguments,
exit status) or ``python`` (module, func, arguments, returned value).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from chaoslib.activity import ensure_activity_is_valid
from pydantic import Field, field_validator, model_validator

from drillhall.errors import InputError, InputErrors
from drillhall.simulator.fields import PositiveDuration, StrictModel
from drillhall.simulator.loader import PositionedYaml, format_path, parse_document

logger = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = (".md", ".markdown")
YAML_SUFFIXES = (".yaml", ".yml")

ActivityKind = Literal["probe", "action"]
URL_STARTS = ("http://", "https://", "${")
"""How a URL may start: a scheme, or a Chaos Toolkit ``${key}`` substitution."""
M = TypeVar("M", bound=StrictModel)


class RunbookError(InputError):
    """A runbook file is invalid: no steps, a bad check, a malformed block."""


class RunbookErrors(InputErrors, RunbookError):
    """Several problems in one runbook file."""


class HttpCall(StrictModel):
    """An HTTP request; as a check it passes when the response has ``status``.

    A ``body`` is sent as JSON (as query parameters with ``GET``). Chaos Toolkit
    fills ``${key}`` in the URL and body from the experiment's configuration.
    """

    url: str
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    headers: dict[str, str] = {}
    body: dict[str, Any] | None = None
    status: int = Field(default=200, ge=100, le=599)
    timeout: PositiveDuration = 10.0

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, url: str) -> str:
        if not url.startswith(URL_STARTS):
            raise ValueError(
                f"expected an absolute URL like 'http://127.0.0.1:8080/health' "
                f"or '${{service_url}}/health', got {url!r}"
            )
        return url


class ProcessCall(StrictModel):
    """A program run without a shell; as a check it passes on exit ``status``.

    A ``path`` with a slash is relative to the runbook file; a bare name is looked
    up on ``PATH``.
    """

    path: str = Field(min_length=1)
    arguments: list[str | int | float] = []
    status: int = 0
    timeout: PositiveDuration = 60.0


class PythonCall(StrictModel):
    """A Python function; as a check it passes when it returns ``returns``."""

    module: str = Field(pattern=r"^[A-Za-z_][\w.]*$")
    func: str = Field(pattern=r"^[A-Za-z_]\w*$")
    arguments: dict[str, Any] = {}
    returns: bool | int | float | str = True


class Activity(StrictModel):
    """One Chaos Toolkit provider call: exactly one of http, process or python."""

    http: HttpCall | None = None
    process: ProcessCall | None = None
    python: PythonCall | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Activity:
        given = [name for name in ("http", "process", "python") if getattr(self, name)]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise ValueError(
                f"name exactly one provider (http, process or python); found {found}"
            )
        return self

    def to_chaostoolkit(self, kind: ActivityKind, name: str) -> dict[str, Any]:
        """This call as a Chaos Toolkit probe (with its tolerance) or action."""
        provider, tolerance = self._provider()
        activity: dict[str, Any] = {"type": kind, "name": name, "provider": provider}
        if kind == "probe":
            activity["tolerance"] = tolerance
        return activity

    def _provider(self) -> tuple[dict[str, Any], Any]:
        if self.http is not None:
            return _http_provider(self.http), self.http.status
        if self.process is not None:
            process = self.process
            provider = {
                "type": "process",
                "path": process.path,
                "arguments": [str(argument) for argument in process.arguments],
                "timeout": process.timeout,
            }
            return provider, process.status
        if self.python is None:
            raise ValueError("an activity names no provider")
        python = self.python
        provider = {
            "type": "python",
            "module": python.module,
            "func": python.func,
            "arguments": dict(python.arguments),
        }
        return provider, python.returns


def _http_provider(call: HttpCall) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "type": "http",
        "url": call.url,
        "method": call.method,
        "timeout": call.timeout,
    }
    headers = dict(call.headers)

    # chaoslib sends a body as JSON only when the request says it is JSON.
    if call.body is not None:
        provider["arguments"] = dict(call.body)
        has_type = any(key.lower() == "content-type" for key in headers)
        if call.method != "GET" and not has_type:
            headers["Content-Type"] = "application/json"

    if headers:
        provider["headers"] = headers
    return provider


class StepCalls(StrictModel):
    """What a step declares for machines: the check and the robot's action."""

    check: Activity | None = Field(
        default=None, description="a probe that passes once the step is done"
    )
    action: Activity | None = Field(
        default=None, description="what a robot responder runs to do the step"
    )


class StepEntry(StepCalls):
    """One step as written in a YAML runbook."""

    title: str = Field(min_length=1)
    text: str = ""


class RunbookFile(StrictModel):
    """A runbook written in YAML: a title and its ordered steps."""

    title: str | None = None
    steps: list[StepEntry]


class RunbookStep(StrictModel):
    """One step: its number (from 1), title, text, check and robot action.

    ``line`` is where the step starts in its file.
    """

    number: int = Field(ge=1)
    title: str
    text: str = ""
    check: Activity | None = None
    action: Activity | None = None
    line: int | None = None

    def check_activity(self) -> dict[str, Any] | None:
        """The check as a Chaos Toolkit probe, or ``None``."""
        if self.check is None:
            return None
        return self.check.to_chaostoolkit("probe", self._name("check"))

    def action_activity(self) -> dict[str, Any] | None:
        """The robot's action as a Chaos Toolkit action, or ``None``."""
        if self.action is None:
            return None
        return self.action.to_chaostoolkit("action", self._name("action"))

    def _name(self, role: str) -> str:
        return f"step {self.number} {role}: {self.title}"


class Runbook(StrictModel):
    """The ordered steps for one failure, read from ``source``."""

    title: str
    source: str
    steps: tuple[RunbookStep, ...] = Field(min_length=1)

    def step(self, number: int) -> RunbookStep:
        """The step numbered ``number`` (from 1); ``KeyError`` if there is none."""
        if not 1 <= number <= len(self.steps):
            raise KeyError(f"{self.title} has steps 1 to {len(self.steps)}")
        return self.steps[number - 1]


def load_runbook(file: str | Path) -> Runbook:
    """Read the Markdown or YAML runbook in ``file``.

    Process paths with a slash are made absolute, relative to the runbook's folder.
    """
    path = Path(file)
    source = str(file)
    suffix = path.suffix.lower()
    if suffix not in MARKDOWN_SUFFIXES + YAML_SUFFIXES:
        raise RunbookError(
            f"a runbook is Markdown ({', '.join(MARKDOWN_SUFFIXES)}) or YAML "
            f"({', '.join(YAML_SUFFIXES)}), got {path.name!r}",
            source=source,
        )

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunbookError("no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as error:
        raise RunbookError(f"cannot read the file: {error}", source=source) from None

    if suffix in YAML_SUFFIXES:
        runbook = parse_yaml_runbook(text, source)
    else:
        runbook = parse_markdown_runbook(text, source)
    runbook = _with_paths_from(runbook, path.resolve().parent)
    logger.debug("loaded runbook %s (%d steps)", source, len(runbook.steps))
    return runbook


def validate_activities(runbook: Runbook) -> None:
    """Check every step's check and action as Chaos Toolkit would.

    chaoslib looks up process paths and imports Python modules, so this belongs
    to loading a plan that will run, not to reading a runbook.
    """
    problems: list[InputError] = []
    for index, step in enumerate(runbook.steps):
        declared = (
            ("check", step.check_activity()),
            ("action", step.action_activity()),
        )
        for role, activity in declared:
            if activity is None:
                continue
            try:
                ensure_activity_is_valid(activity)
            # NOTE: chaoslib raises its own errors for what it checks and plain
            # ones (or an imported module's) for the rest; all are the user's.
            except Exception as error:
                message = " ".join(str(error).split()) or type(error).__name__
                problems.append(
                    RunbookError(
                        f"Chaos Toolkit rejects this {role}: {message}",
                        source=runbook.source,
                        line=step.line,
                        column=1,
                        field=f"steps[{index}].{role}",
                    )
                )
    if problems:
        raise RunbookErrors(problems)


# YAML runbooks


def parse_yaml_runbook(text: str, source: str = "<runbook>") -> Runbook:
    """Validate a YAML runbook: ``title`` and ``steps: [{title, check, …}]``."""
    written = _parse(
        text,
        source,
        RunbookFile,
        shape="a YAML runbook is a mapping with 'title' and 'steps'",
    )
    document = PositionedYaml(text, source)
    if not written.steps:
        raise RunbookErrors([_no_steps(source, document.position(("steps",)))])

    steps = tuple(
        RunbookStep(
            number=index + 1,
            title=entry.title,
            text=entry.text.strip(),
            check=entry.check,
            action=entry.action,
            line=_line_of(document, ("steps", index)),
        )
        for index, entry in enumerate(written.steps)
    )
    return Runbook(title=written.title or _stem(source), source=source, steps=steps)


def _line_of(document: PositionedYaml, at: tuple[str | int, ...]) -> int | None:
    position = document.position(at)
    return position[0] if position else None


# Markdown runbooks

_ITEM = re.compile(r"^( {0,3})(\d{1,9})[.)](?:[ \t]+|$)")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^`\s]*)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+|$)(.*?)[ \t#]*$")
_BLOCK_START = re.compile(r"^ {0,3}(?:[-*+](?:[ \t]|$)|>|#|(?:[-*_][ \t]*){3,}$)")
_DECLARATION = re.compile(r"^[ \t]*(check|action)[ \t]*:")
_BOLD_LEAD = re.compile(r"^(\*\*|__)(.+?)\1[ \t]*(.*)$")


@dataclass
class _Item:
    """A top-level ordered-list item: its marker and the lines under it."""

    number: int
    line: int
    indent: int
    first: str
    body: list[tuple[int, str]] = field(default_factory=list)


def parse_markdown_runbook(text: str, source: str = "<runbook>") -> Runbook:
    """Read a Markdown runbook: its first ``#`` heading and its numbered steps."""
    title, items = _scan(text.splitlines())
    if not items:
        raise RunbookErrors([_no_steps(source, (1, 1))])
    _check_numbering(items, source)

    steps = tuple(_step_from(item, index, source) for index, item in enumerate(items))
    return Runbook(title=title or _stem(source), source=source, steps=steps)


def _scan(lines: list[str]) -> tuple[str | None, list[_Item]]:
    title: str | None = None
    items: list[_Item] = []
    current: _Item | None = None
    fence: str | None = None
    previous_blank = True

    for number, raw in enumerate(lines, start=1):
        # Inside a fenced block nothing is a list item or a heading.
        if fence is not None:
            if current is not None:
                current.body.append((number, raw))
            if _closes(raw, fence):
                fence = None
            continue

        item = _ITEM.match(raw)
        opening = _FENCE.match(raw)
        if item and current is not None and _indent(raw) >= current.indent:
            item = None  # a list nested in the step belongs to its text
        if item:
            current = _Item(
                number=int(item.group(2)),
                line=number,
                indent=item.end(),
                first=raw[item.end() :].strip(),
            )
            items.append(current)
        elif current is not None and _continues(raw, previous_blank):
            current.body.append((number, raw))
        else:
            current = None
            heading = _HEADING.match(raw)
            if heading and len(heading.group(1)) == 1 and title is None:
                title = heading.group(2).strip() or None

        if opening and not item:
            fence = opening.group(1)
        previous_blank = not raw.strip()
    return title, items


def _continues(raw: str, previous_blank: bool) -> bool:
    if not raw.strip() or raw.startswith(("  ", "\t")):
        return True
    # A line right after the item's text continues it ("lazy" continuation),
    # unless it starts a block of its own.
    return not previous_blank and not (_BLOCK_START.match(raw) or _FENCE.match(raw))


def _closes(raw: str, fence: str) -> bool:
    stripped = raw.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def _check_numbering(items: list[_Item], source: str) -> None:
    numbers = [item.number for item in items]
    if len(set(numbers)) == 1 and numbers[0] == 1:
        return
    for index, item in enumerate(items):
        if item.number != index + 1:
            raise RunbookErrors(
                [
                    RunbookError(
                        f"step numbers count up from 1 (or are all '1.'); found "
                        f"{item.number} where {index + 1} was expected",
                        source=source,
                        line=item.line,
                        column=1,
                        field=f"steps[{index}]",
                    )
                ]
            )


def _step_from(item: _Item, index: int, source: str) -> RunbookStep:
    title, lead = _title_of(item.first)
    if not title:
        raise RunbookErrors(
            [
                RunbookError(
                    "a step needs a title on its first line, e.g. "
                    "'2. Promote the replica'",
                    source=source,
                    line=item.line,
                    column=1,
                    field=f"steps[{index}]",
                )
            ]
        )

    text, snippets = _split_body(item)
    calls = _calls_from(snippets, index, source)
    body = "\n".join(([lead] if lead else []) + text).strip()
    return RunbookStep(
        number=index + 1,
        title=title,
        text=body,
        check=calls.get("check"),
        action=calls.get("action"),
        line=item.line,
    )


def _title_of(first: str) -> tuple[str, str]:
    bold = _BOLD_LEAD.match(first)
    if bold:
        lead = bold.group(3).lstrip(":").strip()
        return bold.group(2).strip().rstrip(".:"), lead
    return first.strip(), ""


Snippet = list[tuple[int, str]]


def _split_body(item: _Item) -> tuple[list[str], list[Snippet]]:
    """The step's prose, and its declarations (``check:`` lines, yaml blocks)."""
    text: list[str] = []
    snippets: list[Snippet] = []
    body = item.body
    position = 0

    while position < len(body):
        _, raw = body[position]
        opening = _FENCE.match(raw)

        if opening:
            end = _fence_end(body, position, opening.group(1))
            block = body[position + 1 : end]
            is_yaml = opening.group(2).lower() in ("yaml", "yml")
            if is_yaml and _declares(block):
                snippets.append(block)
            else:
                # The fence lines stay in the text: it is shown as written.
                fenced = body[position : end + 1]
                text.extend(_dedent(line, item.indent) for _, line in fenced)
            position = end + 1
            continue

        if _DECLARATION.match(raw):
            end = _declaration_end(body, position)
            snippets.append(body[position:end])
            position = end
            continue

        text.append(_dedent(raw, item.indent))
        position += 1
    return text, snippets


def _fence_end(body: Snippet, opening: int, fence: str) -> int:
    for position in range(opening + 1, len(body)):
        if _closes(body[position][1], fence):
            return position
    return len(body)


def _declares(block: Snippet) -> bool:
    lines = [raw for _, raw in block if raw.strip()]
    if not lines:
        return False
    base = min(_indent(raw) for raw in lines)
    return any(_indent(raw) == base and _DECLARATION.match(raw) for raw in lines)


def _declaration_end(body: Snippet, start: int) -> int:
    # The declaration goes on for as long as lines are indented deeper than it.
    indent = _indent(body[start][1])
    end = start + 1
    while end < len(body):
        raw = body[end][1]
        if not raw.strip() or _indent(raw) <= indent:
            break
        end += 1
    return end


def _indent(raw: str) -> int:
    return len(raw) - len(raw.lstrip(" \t"))


def _dedent(raw: str, indent: int) -> str:
    return raw[min(indent, _indent(raw)) :].rstrip()


def _calls_from(snippets: list[Snippet], index: int, source: str) -> dict[str, Any]:
    calls: dict[str, Any] = {}
    for snippet in snippets:
        # Pad with empty lines so YAML positions are the Markdown file's own.
        first_line = snippet[0][0]
        text = "\n" * (first_line - 1) + "\n".join(raw for _, raw in snippet)
        declared = _parse(
            text,
            source,
            StepCalls,
            shape="a step's declaration is a mapping with 'check' and/or 'action'",
            prefix=("steps", index),
        )
        for role in ("check", "action"):
            value = getattr(declared, role)
            if value is None:
                continue
            if role in calls:
                raise RunbookErrors(
                    [
                        RunbookError(
                            f"the step declares its {role} twice",
                            source=source,
                            line=first_line,
                            column=_indent(snippet[0][1]) + 1,
                            field=format_path(("steps", index, role)),
                        )
                    ]
                )
            calls[role] = value
    return calls


# Shared


def _parse(
    text: str,
    source: str,
    model: type[M],
    *,
    shape: str,
    prefix: tuple[str | int, ...] = (),
) -> M:
    """``parse_document`` with runbook errors; fields get ``prefix`` in front."""
    try:
        return parse_document(text, source, model, errors=RunbookErrors, shape=shape)
    except InputErrors as error:
        problems = error.problems
    except InputError as error:  # YAML that cannot be read
        problems = [error]
    raise RunbookErrors([_relabelled(problem, prefix) for problem in problems])


def _relabelled(problem: InputError, prefix: tuple[str | int, ...]) -> RunbookError:
    where = format_path(prefix)
    if problem.field:
        where = f"{where}.{problem.field}" if where else problem.field
    return RunbookError(
        problem.message,
        source=problem.source,
        line=problem.line,
        column=problem.column,
        field=where or None,
    )


def _no_steps(source: str, position: tuple[int, int] | None) -> RunbookError:
    line, column = position if position else (1, 1)
    return RunbookError(
        "the runbook has no steps; list them in order, e.g. '1. Confirm the "
        "primary is down' (Markdown) or 'steps: [{title: …}]' (YAML)",
        source=source,
        line=line,
        column=column,
        field="steps",
    )


def _stem(source: str) -> str:
    return Path(source).stem or source


def _with_paths_from(runbook: Runbook, base: Path) -> Runbook:
    steps = tuple(
        step.model_copy(
            update={
                "check": _resolved(step.check, base),
                "action": _resolved(step.action, base),
            }
        )
        for step in runbook.steps
    )
    return runbook.model_copy(update={"steps": steps})


def _resolved(activity: Activity | None, base: Path) -> Activity | None:
    if activity is None or activity.process is None:
        return activity
    path = activity.process.path
    if "/" not in path or Path(path).is_absolute() or path.startswith("~"):
        return activity
    process = activity.process.model_copy(update={"path": str(base / path)})
    return activity.model_copy(update={"process": process})
