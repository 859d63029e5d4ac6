"""Incident history from a CSV file, such as an on-call tool's export.

Each column the user maps (``--map started="Created On"``) fills one field of
an incident; a column named like the field is taken without a mapping. Every
row is read and checked before anything is stored, and every problem is
reported as ``file:line: field: …``, so that a bad file stores nothing and is
fixed in one pass.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drillhall.errors import InputError, InputErrors
from drillhall.reports.history import LIFECYCLE_TIMES
from drillhall.reports.incident_values import check_lifecycle, parse_severity

logger = logging.getLogger(__name__)

IMPORT_FIELDS: Final = ("id", "title", "service", "team", "severity", *LIFECYCLE_TIMES)
"""What a column can fill; ``id`` is the incident's id in the tool it came from."""

TIME_FORMS: Final = (
    "ISO 8601 such as 2027-01-04T09:30:00+01:00, '2027-01-04 09:30[:SS]' or epoch "
    "seconds"
)

_PROBLEMS_SHOWN: Final = 20
_EPOCH = re.compile(r"\d+(?:\.\d+)?")
_LATEST_EPOCH: Final = 1e11
"""Epoch seconds beyond this are past the year 5000: milliseconds, surely."""


def parse_mappings(pairs: Iterable[str]) -> dict[str, str]:
    """``--map FIELD=COLUMN`` options as a mapping from field to column."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, equals, column = pair.partition("=")
        field = field.strip().lower()
        if not equals or not column.strip():
            raise InputError(
                f"expected FIELD=COLUMN, such as started='Created On', got {pair!r}",
                source="--map",
            )
        if field not in IMPORT_FIELDS:
            raise InputError(
                f"unknown field {field!r} in {pair!r}; the fields are "
                f"{', '.join(IMPORT_FIELDS)}",
                source="--map",
            )
        if field in mapping:
            raise InputError(
                f"{field} is mapped twice, to {mapping[field]!r} and {column!r}; "
                "keep one",
                source="--map",
            )
        mapping[field] = column
    return mapping


def load_timezone(name: str, option: str = "--timezone") -> tzinfo:
    """The zone of times written without an offset, by its IANA name."""
    if name.strip().upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {name!r}; give an IANA name such as UTC, "
            "Europe/Berlin or America/Los_Angeles",
            source=option,
        ) from None


def parse_time(text: str, zone: tzinfo, time_format: str | None = None) -> datetime:
    """A time as written in an export, made timezone-aware UTC.

    Without ``time_format``: ISO 8601 (with or without an offset) or epoch
    seconds; with it, only what ``strptime`` reads with that format. Times
    without an offset are in ``zone``.
    """
    value = text.strip()
    if time_format is not None:
        moment = _strptime(value, time_format)
    elif _EPOCH.fullmatch(value):
        return _from_epoch(value)
    else:
        moment = _from_iso(value)

    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def read_incident_csv(
    path: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    zone: tzinfo = UTC,
    time_format: str | None = None,
) -> list[dict[str, Any]]:
    """Every row of the file as ``Store.import_incidents`` takes it.

    ``mapping`` maps fields to column names. Raises ``InputErrors`` naming each
    bad value with its line, after reading the whole file.
    """
    rows = _rows(path)
    header_line, header = next(rows, (1, []))
    if not any(cell.strip() for cell in header):
        raise InputError(
            "the file is empty; an incident CSV starts with a header row naming "
            "its columns",
            source=str(path),
            line=header_line,
        )
    columns = _columns(path, header, mapping or {})
    logger.debug("importing %s with columns %s", path, columns)

    incidents: list[dict[str, Any]] = []
    problems: list[InputError] = []
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        try:
            incidents.append(_incident(cells, columns, zone, time_format))
        except InputErrors as errors:
            problems += _located(errors.problems, path, line)
        except InputError as error:
            problems += _located([error], path, line)

    if problems:
        raise InputErrors(_shown(problems, path))
    return incidents


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on; decoding errors name the line."""
    line = 1
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            first = file.readline()
            file.seek(0)
            reader = csv.reader(file, delimiter=_delimiter(first), strict=True)
            for cells in reader:
                yield line, cells
                line = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise InputError(
            f"the file is not UTF-8 text ({error.reason} at byte {error.start}); "
            "export it again as UTF-8 (CSV UTF-8 in spreadsheets)",
            source=str(path),
            line=line,
        ) from None
    except csv.Error as error:
        raise InputError(
            f"the file is not CSV: {error}", source=str(path), line=line
        ) from None
    except OSError as error:
        raise InputError(
            f"cannot read the file: {error.strerror}", source=str(path)
        ) from None


def _delimiter(header: str) -> str:
    """A comma, unless the header row only has semicolons or tabs."""
    if "," in header:
        return ","
    for other in (";", "\t"):
        if other in header:
            return other
    return ","


def _columns(
    path: Path, header: list[str], mapping: Mapping[str, str]
) -> dict[str, int]:
    """Each field's column index: mapped ones, else a column named like it."""
    columns: dict[str, int] = {}
    for field, column in mapping.items():
        columns[field] = _column_named(path, header, column, field)
    for field in IMPORT_FIELDS:
        if field not in columns:
            found = _column_like(path, header, field)
            if found is not None:
                columns[field] = found

    if "started" not in columns:
        raise InputError(
            f"no column for started, the time each incident began; its columns "
            f"are {_listed(header)}; name one with --map started=COLUMN",
            source=str(path),
            field="started",
        )
    return columns


def _column_named(path: Path, header: list[str], column: str, field: str) -> int:
    if column in header:
        return header.index(column)
    alike = [n for n, name in enumerate(header) if _same(name, column)]
    if len(alike) == 1:
        return alike[0]
    raise InputError(
        f"--map {field}={column} names a column the file lacks; its columns are "
        f"{_listed(header)}",
        source=str(path),
        field=field,
    )


def _column_like(path: Path, header: list[str], field: str) -> int | None:
    alike = [n for n, name in enumerate(header) if _same(name, field)]
    if len(alike) > 1:
        raise InputError(
            f"columns {_listed([header[n] for n in alike])} could each be {field}; "
            f"choose one with --map {field}=COLUMN",
            source=str(path),
            field=field,
        )
    return alike[0] if alike else None


def _same(name: str, other: str) -> bool:
    return name.strip().casefold() == other.strip().casefold()


def _listed(header: list[str]) -> str:
    return ", ".join(repr(name) for name in header)


def _incident(
    cells: list[str],
    columns: Mapping[str, int],
    zone: tzinfo,
    time_format: str | None,
) -> dict[str, Any]:
    """One row's incident; every bad value in it becomes one problem."""
    texts = {
        field: cells[index].strip() if index < len(cells) else ""
        for field, index in columns.items()
    }
    values: dict[str, Any] = {}
    problems: list[InputError] = []
    for field, text in texts.items():
        if text:
            try:
                values[field] = _value(field, text, zone, time_format)
            except InputError as error:
                problems.append(
                    InputError(error.message + _hint(field, time_format), field=field)
                )

    if not texts["started"]:
        problems.append(
            InputError(
                "no value; every incident needs the time it began", field="started"
            )
        )
    if problems:
        raise InputErrors(problems)

    check_lifecycle(values)
    external_id = values.pop("id", None)
    values.setdefault("title", f"incident {external_id}" if external_id else "untitled")
    return {**values, "external_id": external_id}


def _value(field: str, text: str, zone: tzinfo, time_format: str | None) -> Any:
    if field == "severity":
        return parse_severity(text)
    if field in LIFECYCLE_TIMES:
        return parse_time(text, zone, time_format)
    return text


def _hint(field: str, time_format: str | None) -> str:
    if field in LIFECYCLE_TIMES and time_format is None:
        return ", or describe the file's times with --time-format"
    return ""


def _from_iso(value: str) -> datetime:
    # NOTE: fromisoformat takes any character between the date and the time;
    # only T and a space are meant, anything else is a wrong value.
    separator = value[10:11]
    try:
        if separator not in ("", "T", "t", " "):
            raise ValueError(separator)
        return datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value!r} is not a time; write {TIME_FORMS}") from None


def _strptime(value: str, time_format: str) -> datetime:
    try:
        return datetime.strptime(value, time_format)
    except ValueError:
        raise InputError(
            f"{value!r} does not match --time-format {time_format!r}; correct the "
            "value, or the format (strptime codes such as %Y-%m-%d %H:%M:%S %z)"
        ) from None


def _from_epoch(value: str) -> datetime:
    seconds = float(value)
    if seconds >= _LATEST_EPOCH:
        raise InputError(
            f"{value!r} is too large for epoch seconds: epoch milliseconds? Export "
            f"the times in seconds or as {TIME_FORMS}"
        )
    return datetime.fromtimestamp(seconds, UTC)


def _located(problems: list[InputError], path: Path, line: int) -> list[InputError]:
    return [
        InputError(problem.message, source=str(path), line=line, field=problem.field)
        for problem in problems
    ]


def _shown(problems: list[InputError], path: Path) -> list[InputError]:
    """The first problems, and how many more there are."""
    if len(problems) <= _PROBLEMS_SHOWN:
        return problems
    hidden = len(problems) - _PROBLEMS_SHOWN
    more = InputError(
        f"{hidden} more problems like these; fix the ones above and import again "
        "(nothing was stored)",
        source=str(path),
    )
    return [*problems[:_PROBLEMS_SHOWN], more]
