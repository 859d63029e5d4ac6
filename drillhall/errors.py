"""The exception tree shared by every drillhall package.

``DrillhallError`` is the root; the command line turns any of them into a one-line
message and exit code 2, so nothing below needs to print or exit.
"""

from __future__ import annotations


class DrillhallError(Exception):
    """Base of every error drillhall raises on purpose."""


class InputError(DrillhallError):
    """A user's file, flag or payload is wrong.

    ``source`` is the file (or flag) name, ``line`` and ``column`` are 1-based when
    known, ``field`` is the dotted path of the offending value.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        self.field = field

    def __str__(self) -> str:
        where = [part for part in (self.source, self.line, self.column) if part]
        prefix = ":".join(str(part) for part in where)
        field = f"{self.field}: " if self.field else ""
        return (
            f"{prefix}: {field}{self.message}" if prefix else f"{field}{self.message}"
        )


class ScenarioError(InputError):
    """A scenario file is invalid: bad YAML, a wrong type, a dangling reference."""


class InputErrors(InputError):
    """Several problems in one input, each an ``InputError`` on a line of its own."""

    def __init__(self, problems: list[InputError]) -> None:
        first = problems[0]
        super().__init__(
            first.message,
            source=first.source,
            line=first.line,
            column=first.column,
            field=first.field,
        )
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(InputError.__str__(problem) for problem in self.problems)


class ScenarioErrors(InputErrors, ScenarioError):
    """Several problems in one scenario file."""
