"""Reading scenario files: YAML to a validated ``Scenario``, errors with positions.

Every value's line and column are kept while the YAML is read, so that a schema
error or a dangling reference is reported as ``file:line:column: field: message``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Sequence
from pathlib import Path as FilePath
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from drillhall.errors import InputError, InputErrors, ScenarioError, ScenarioErrors
from drillhall.simulator.overrides import OverriddenData, Override, parse_override
from drillhall.simulator.scenario import Path, Scenario, check_references

logger = logging.getLogger(__name__)

Position = tuple[int, int]
M = TypeVar("M", bound=BaseModel)


class PositionedYaml:
    """YAML data with the position of every mapping key and value."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            self.data = {} if node is None else self._build(loader, node, ())
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
            problem = error.problem or error.context or "cannot be read"
            raise ScenarioError(
                f"invalid YAML: {problem}", source=source, line=line, column=column
            ) from None
        finally:
            loader.dispose()

    def _build(self, loader: yaml.SafeLoader, node: yaml.Node, path: Path) -> Any:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)

        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool):
                    raise self._error(key_node, path, "mapping keys must be plain text")
                if key in mapping:
                    raise self._error(key_node, path, f"duplicate key {key!r}")
                position = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                step = key if isinstance(key, str | int) else str(key)
                self.keys[(*path, step)] = position
                mapping[key] = self._build(loader, value_node, (*path, step))
            return mapping

        if isinstance(node, yaml.SequenceNode):
            return [
                self._build(loader, item, (*path, index))
                for index, item in enumerate(node.value)
            ]

        return loader.construct_object(node, deep=True)

    def _error(self, node: yaml.Node, path: Path, message: str) -> ScenarioError:
        return ScenarioError(
            message,
            source=self.source,
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
            field=format_path(path) or None,
        )

    def position(self, path: Path, *, of_key: bool = False) -> Position | None:
        """The position of ``path``, or of its nearest ancestor that exists."""
        if of_key and path in self.keys:
            return self.keys[path]
        for length in range(len(path), -1, -1):
            prefix = path[:length]
            if prefix in self.values:
                if (
                    length < len(path)
                    and prefix + path[length : length + 1] in self.keys
                ):
                    return self.keys[prefix + path[length : length + 1]]
                return self.values[prefix]
        return None


def format_path(path: Path) -> str:
    """A path as users read it: ``escalation.p.levels[1].delay``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def load_scenario(file: str | FilePath) -> Scenario:
    """Read, validate and cross-check the scenario in ``file``."""
    return load_scenario_with(file, ())


def load_scenario_with(file: str | FilePath, overrides: Sequence[str]) -> Scenario:
    """``load_scenario`` with ``--set PATH=VALUE`` overrides applied first.

    The overrides change the file's data before validation; a problem in what an
    override set is reported as ``--set: PATH=VALUE: field: message``, any other
    problem with its place in the file.
    """
    changes = [parse_override(text) for text in overrides]
    source = str(file)
    try:
        text = FilePath(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(f"cannot read the file: {error}", source=source) from None
    return parse_scenario(text, source, overrides=changes)


def parse_scenario(
    text: str, source: str = "<scenario>", *, overrides: Sequence[Override] = ()
) -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in error messages.

    ``overrides`` change the data before it is validated.
    """
    scenario = parse_document(
        text,
        source,
        Scenario,
        errors=ScenarioErrors,
        shape="a scenario is a mapping with keys like name, start, horizon, "
        "people, teams, escalation and services",
        references=check_references,
        overrides=overrides,
    )
    logger.debug("loaded scenario %s from %s", scenario.name, source)
    return scenario


def parse_document(
    text: str,
    source: str,
    model: type[M],
    *,
    errors: type[InputErrors] = InputErrors,
    shape: str = "expected a mapping of keys to values",
    references: Callable[[M], Iterable[tuple[Path, str]]] | None = None,
    overrides: Sequence[Override] = (),
) -> M:
    """Validate YAML ``text`` against ``model``; every problem names its place.

    ``references`` finds names that point at nothing, after the schema passed.
    ``overrides`` change the data before validation; problems in what they set
    name the override instead of a place in ``text``.
    Raises ``errors`` (a list of problems, one per line) or, for YAML that
    cannot be read, a single ``ScenarioError``-style ``InputError``; for an
    override whose path does not apply, an ``InputError`` from ``--set``.
    """
    document = PositionedYaml(text, source)
    if not isinstance(document.data, dict):
        raise errors([InputError(shape, source=source, line=1, column=1)])

    overridden = OverriddenData.apply(document.data, overrides) if overrides else None
    data = document.data if overridden is None else overridden.data
    try:
        validated = model.model_validate(data)
    except ValidationError as error:
        raise errors(
            [_problem(document, detail, overridden) for detail in error.errors()]
        ) from None

    if references is not None:
        problems = [
            _located(document, path, message, overridden=overridden)
            for path, message in references(validated)
        ]
        if problems:
            raise errors(problems)
    return validated


def _problem(
    document: PositionedYaml, detail: Any, overridden: OverriddenData | None = None
) -> InputError:
    path = _data_path(detail["loc"])
    written: Container[Path] = document.values if overridden is None else overridden
    message = str(detail["msg"]).removeprefix("Value error, ")
    kind = detail["type"]

    if kind not in ("missing", "extra_forbidden"):
        # A shorthand ('5m' for {fixed: 5m}) puts keys in the path that the user
        # did not write; name what they wrote.
        while len(path) > 1 and path not in written:
            path = path[:-1]

    if kind == "extra_forbidden":
        message = (
            f"unknown field {path[-1]!r}; check its spelling "
            "(`drillhall schema` lists the fields)"
        )
    elif kind == "missing":
        message = f"missing required field {path[-1]!r}"

    of_key = kind == "extra_forbidden"
    return _located(document, path, message, of_key=of_key, overridden=overridden)


def _located(
    document: PositionedYaml,
    path: Path,
    message: str,
    *,
    of_key: bool = False,
    overridden: OverriddenData | None = None,
) -> InputError:
    override = None if overridden is None else overridden.override_at(path)
    if override is not None:
        return override.error(f"{format_path(path)}: {message}")

    position = document.position(path, of_key=of_key)
    line, column = position if position else (None, None)
    return InputError(
        message,
        source=document.source,
        line=line,
        column=column,
        field=format_path(path) or None,
    )


def _data_path(loc: tuple[Any, ...]) -> Path:
    # pydantic puts validator and union-branch names in ``loc``; users know only
    # the keys they wrote. Those names contain brackets or are model class names.
    return tuple(
        part
        for part in loc
        if isinstance(part, int) or ("[" not in part and not part[:1].isupper())
    )
