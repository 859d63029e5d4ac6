"""Evidence a postmortem's author brings: log lines and metric series.

Logs come as JSON lines (one object a line, as most log shippers write them):
a timestamp under ``time``, ``timestamp``, ``ts`` or ``@timestamp`` (ISO 8601
with a time zone, or epoch seconds or milliseconds), a message under ``msg``
or ``message``, and optionally a ``level``. Metrics come as the response of
Prometheus's range query (``/api/v1/query_range``): a matrix of series, each a
label set and ``[epoch, "value"]`` pairs.

Both are untrusted files: anything else is an ``InputError`` naming the file,
the line, the field and how to fix it, before anything is drawn or written.
Each metric series is summarised against its baseline (the values before the
fault began): where it departs, its peak, and where it is back.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from drillhall.errors import InputError
from drillhall.reports.drill_events import offset_tick
from drillhall.simulator.loader import PositionedYaml

logger = logging.getLogger(__name__)

TIME_FIELDS: Final = ("time", "timestamp", "ts", "@timestamp")
MESSAGE_FIELDS: Final = ("msg", "message")
LEVEL_FIELDS: Final = ("level", "severity", "lvl")

EPOCH_MILLISECONDS_FROM: Final = 1e11
"""Epoch numbers above this are milliseconds (1e11 seconds is the year 5138)."""

DEPARTURE_SHARE: Final = 0.1
"""A value departs from its baseline when it differs by more than this share
of the baseline (or by three median absolute deviations, if that is more)."""

_PANELS_SHOWN: Final = 6
_POSITIONS_UP_TO: Final = 5_000_000
"""Metrics files up to this size are re-read for the line of an error."""

_TIME_FIX: Final = (
    "write ISO 8601 with a time zone (2027-03-02T14:05:00Z) or epoch seconds "
    "or milliseconds (1796220300, 1796220300000)"
)
_RANGE_QUERY_FIX: Final = (
    "export the series with Prometheus's range query, /api/v1/query_range "
    '(a response {"status": "success", "data": {"resultType": "matrix", '
    '"result": [{"metric": {…}, "values": [[epoch, "value"], …]}]}})'
)


@dataclass(frozen=True)
class LogLine:
    at: datetime
    message: str
    level: str | None
    source: str
    """The file's name, to show where the line came from."""
    line: int


@dataclass(frozen=True)
class MetricSeries:
    name: str
    """The series as PromQL writes it: ``name{label="value"}``."""
    points: list[tuple[datetime, float]]
    source: str


@dataclass(frozen=True)
class SeriesSummary:
    """How a series moved during an incident, against its baseline."""

    series: MetricSeries
    baseline: float | None
    """The median before the fault began; ``None`` when nothing came before."""
    departed: tuple[datetime, float] | None
    peak: tuple[datetime, float] | None
    """The value furthest from the baseline after it departed."""
    recovered: tuple[datetime, float] | None
    """The first value back within the baseline after the peak."""


def load_logs(path: Path) -> list[LogLine]:
    """Every log line of a JSON-lines file, in time order."""
    source = str(path)
    lines = []
    for number, text in enumerate(_read(path).splitlines(), start=1):
        if not text.strip():
            continue
        lines.append(_log_line(text, source, number))
    lines.sort(key=lambda line: (line.at, line.line))
    logger.info("read %d log lines from %s", len(lines), path)
    return lines


def _log_line(text: str, source: str, number: int) -> LogLine:
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        why = (
            f"{error.msg} at column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else "nested too deeply"
        )
        raise InputError(
            f"this line is not JSON ({why}): "
            f"{text.strip()[:60]!r}; write one JSON object per line, such as "
            '{"time": "2027-03-02T14:05:00Z", "msg": "…"}',
            source=source,
            line=number,
            field="line",
        ) from None
    if not isinstance(record, dict):
        raise InputError(
            f"expected a JSON object, got a JSON {_json_kind(record)}; write one "
            'object per line, such as {"time": "2027-03-02T14:05:00Z", "msg": "…"}',
            source=source,
            line=number,
            field="line",
        )

    at = _log_time(record, source, number)
    message = _first(record, MESSAGE_FIELDS)
    if message is None or not str(message).strip():
        raise InputError(
            f"no message: expected one of {', '.join(MESSAGE_FIELDS)} with text; "
            "add the log line's text under 'msg'",
            source=source,
            line=number,
            field="msg",
        )
    level = _first(record, LEVEL_FIELDS)
    return LogLine(
        at,
        " ".join(str(message).split()),
        None if level is None else str(level),
        Path(source).name,
        number,
    )


def _log_time(record: dict[str, Any], source: str, number: int) -> datetime:
    name = next((name for name in TIME_FIELDS if name in record), None)
    if name is None:
        raise InputError(
            f"no timestamp: expected one of {', '.join(TIME_FIELDS)}; add one, "
            "in ISO 8601 with a time zone (2027-03-02T14:05:00Z) or epoch "
            "seconds or milliseconds",
            source=source,
            line=number,
            field="time",
        )
    try:
        return parse_time(record[name])
    except ValueError as error:
        raise InputError(
            str(error),
            source=source,
            line=number,
            field=name,
        ) from None


def parse_time(value: Any) -> datetime:
    """An aware UTC time from ISO 8601 text or epoch seconds or milliseconds.

    A time without a zone is refused rather than guessed: a guess would put the
    line on another clock than the drill's, hours away.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a time; {_TIME_FIX}")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return _iso_time(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a time; {_TIME_FIX}")
    seconds = value / 1000 if abs(value) >= EPOCH_MILLISECONDS_FROM else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(
            f"{value!r} is out of range for an epoch time; {_TIME_FIX}"
        ) from None


def _iso_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not ISO 8601 nor an epoch number; {_TIME_FIX}"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{text!r} has no time zone, so it cannot be put on the drill's UTC "
            "clock; add Z or an offset such as +01:00"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # such as 0001-01-01T00:00:00+01:00
        raise ValueError(f"{text!r} is out of range in UTC; {_TIME_FIX}") from None


def load_metrics(path: Path) -> list[MetricSeries]:
    """The series of a Prometheus range-query response, each in time order."""
    text = _read(path)
    source = str(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"not JSON: {error.msg}; {_RANGE_QUERY_FIX}",
            source=source,
            line=error.lineno,
            field="file",
        ) from None
    except RecursionError:
        raise InputError(
            f"JSON nested too deeply to be a Prometheus response; {_RANGE_QUERY_FIX}",
            source=source,
            field="file",
        ) from None

    checker = _MetricsChecker(text, source)
    result = checker.matrix(document)
    series = [checker.series(entry, index) for index, entry in enumerate(result)]
    logger.info("read %d metric series from %s", len(series), path)
    return series


class _MetricsChecker:
    """The shape checks of a range-query response, one per paragraph, with the
    line of what is wrong."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._positions: PositionedYaml | None = None

    def matrix(self, document: Any) -> list[Any]:
        if isinstance(document, list):
            raise self.error(
                (), "file", "this is a JSON list, not a Prometheus response"
            )
        if not isinstance(document, dict):
            raise self.error(
                (), "file", f"this is a JSON {_json_kind(document)}, not an object"
            )
        if "dashboard" in document or "panels" in document or "results" in document:
            raise self.error(
                (),
                "file",
                "this looks like a Grafana export, not a Prometheus response",
            )

        status = document.get("status")
        if status != "success":
            said = f" ({document['error']})" if document.get("error") else ""
            raise self.error(
                ("status",), "status", f"expected 'success', got {status!r}{said}"
            )
        data = document.get("data")
        if not isinstance(data, dict):
            raise self.error(("data",), "data", "expected an object with the result")

        kind = data.get("resultType")
        if kind in {"vector", "scalar", "string"}:
            raise self.error(
                ("data", "resultType"),
                "data.resultType",
                f"{kind!r} is an instant query's result: it has one value per "
                "series, not a range over the incident",
            )
        if kind != "matrix":
            raise self.error(
                ("data", "resultType"),
                "data.resultType",
                f"expected 'matrix', got {kind!r}",
            )
        result = data.get("result")
        if not isinstance(result, list):
            raise self.error(
                ("data", "result"), "data.result", "expected a list of series"
            )
        return result

    def series(self, entry: Any, index: int) -> MetricSeries:
        at: tuple[str | int, ...] = ("data", "result", index)
        field = f"data.result[{index}]"
        if not isinstance(entry, dict):
            raise self.error(at, field, "expected an object with metric and values")
        labels = entry.get("metric")
        if not isinstance(labels, dict):
            raise self.error(
                (*at, "metric"), f"{field}.metric", "expected the series' labels"
            )
        values = entry.get("values")
        if not isinstance(values, list):
            hint = " ('value': an instant query)" if "value" in entry else ""
            raise self.error(
                (*at, "values"),
                f"{field}.values",
                f'expected a list of [epoch, "value"] pairs{hint}',
            )

        points = [
            self.point(pair, (*at, "values", number), f"{field}.values[{number}]")
            for number, pair in enumerate(values)
        ]
        points.sort()
        return MetricSeries(series_name(labels), points, Path(self.source).name)

    def point(
        self, pair: Any, at: tuple[str | int, ...], field: str
    ) -> tuple[datetime, float]:
        if not isinstance(pair, list) or len(pair) != 2:
            raise self.error(at, field, f'expected [epoch, "value"], got {pair!r:.60}')
        moment, value = pair
        if isinstance(moment, bool) or not isinstance(moment, int | float):
            raise self.error(at, field, f"expected epoch seconds, got {moment!r:.40}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.error(
                at, field, f"expected a number as text, got {value!r:.40}"
            ) from None
        try:
            return datetime.fromtimestamp(moment, UTC), number
        except (OverflowError, OSError, ValueError):
            raise self.error(
                at, field, f"{moment!r:.40} is out of range for epoch seconds"
            ) from None

    def error(self, at: tuple[str | int, ...], field: str, problem: str) -> InputError:
        return InputError(
            f"{problem}; {_RANGE_QUERY_FIX}",
            source=self.source,
            line=self.line(at),
            field=field,
        )

    def line(self, at: tuple[str | int, ...]) -> int:
        """The line of ``at`` in the file (JSON is YAML, which keeps positions);
        line 1 for a file too big to read twice or that YAML cannot read (or
        nests too deeply for it)."""
        if self._positions is None and len(self.text) <= _POSITIONS_UP_TO:
            try:
                self._positions = PositionedYaml(self.text, self.source)
            except (InputError, RecursionError):
                logger.debug("no positions for %s", self.source)
        if self._positions is None:
            return 1
        position = self._positions.position(at, of_key=True)
        return position[0] if position else 1


def series_name(labels: dict[str, Any]) -> str:
    """``name{label="value", …}`` from a series' labels, as PromQL shows it."""
    name = str(labels.get("__name__", ""))
    rest = [f'{key}="{value}"' for key, value in sorted(labels.items())]
    rest = [item for item in rest if not item.startswith("__name__=")]
    if not rest:
        return name or "{}"
    return f"{name}{{{', '.join(rest)}}}"


def summarise(series: MetricSeries, fault_started: datetime) -> SeriesSummary:
    """Where a series departs from its baseline, peaks and is back.

    The baseline is the median of the values before the fault began (the first
    value when none came before); a value departs when it differs from it by
    more than ``DEPARTURE_SHARE`` of it or three median absolute deviations.
    Values that are not finite (Prometheus's ``NaN`` of a rate over nothing,
    ``+Inf``) are no measurement and are left out.
    """
    points = [(at, value) for at, value in series.points if math.isfinite(value)]
    before = [value for at, value in points if at < fault_started]
    after = [(at, value) for at, value in points if at >= fault_started]
    if not after:
        return SeriesSummary(series, _median(before), None, None, None)
    baseline = statistics.median(before) if before else after[0][1]
    tolerance = _tolerance(baseline, before)

    outside = [point for point in after if abs(point[1] - baseline) > tolerance]
    if not outside:
        return SeriesSummary(series, baseline, None, None, None)
    departed = outside[0]
    peak = max(outside, key=lambda point: (abs(point[1] - baseline), -_stamp(point)))
    recovered = next(
        (
            point
            for point in after
            if point[0] > peak[0] and abs(point[1] - baseline) <= tolerance
        ),
        None,
    )
    return SeriesSummary(series, baseline, departed, peak, recovered)


def _tolerance(baseline: float, before: Sequence[float]) -> float:
    spread = 0.0
    if len(before) >= 3:
        spread = 3 * statistics.median(abs(value - baseline) for value in before)
    return max(DEPARTURE_SHARE * abs(baseline), spread, 1e-9)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _stamp(point: tuple[datetime, float]) -> float:
    return point[0].timestamp()


def _first(record: dict[str, Any], names: Sequence[str]) -> Any:
    return next((record[name] for name in names if name in record), None)


def _json_kind(value: Any) -> str:
    kinds = {list: "list", dict: "object", str: "string", bool: "boolean"}
    if value is None:
        return "null"
    return kinds.get(type(value), "number")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            "no such file; give the path of an existing file", source=str(path)
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"cannot be read: {error}; give a readable UTF-8 text file",
            source=str(path),
        ) from None


def metrics_figure(
    summaries: Sequence[SeriesSummary],
    origin: datetime,
    marks: Mapping[str, datetime],
) -> Figure:
    """Each series on the fault's clock (seconds from ``origin``), one panel
    each, with its baseline dashed and ``marks`` (injected, detected …) as
    vertical lines."""
    shown = list(summaries[:_PANELS_SHOWN])
    figure = Figure(figsize=(10, 1.9 * max(len(shown), 1) + 0.6), layout="constrained")
    panels = figure.subplots(max(len(shown), 1), 1, sharex=True, squeeze=False)
    for axes, summary in zip(panels[:, 0], shown, strict=False):
        _draw_series(axes, summary, origin, marks)
    panels[-1, 0].xaxis.set_major_formatter(FuncFormatter(offset_tick))
    panels[-1, 0].set_xlabel("time from the fault's start (T+minutes:seconds)")
    if len(summaries) > _PANELS_SHOWN:
        figure.suptitle(
            f"the first {_PANELS_SHOWN} of {len(summaries)} series", fontsize=9
        )
    return figure


def _draw_series(
    axes: Axes,
    summary: SeriesSummary,
    origin: datetime,
    marks: Mapping[str, datetime],
) -> None:
    points = summary.series.points
    seconds = [(at - origin).total_seconds() for at, _ in points]
    axes.plot(seconds, [value for _, value in points], color="#2d5fa8", linewidth=1.4)
    if summary.baseline is not None:
        axes.axhline(summary.baseline, color="#8a92a3", linestyle="--", linewidth=1)
    for name, moment in marks.items():
        mark = (moment - origin).total_seconds()
        axes.axvline(mark, color="#b3261e", linewidth=0.8, alpha=0.6)
        axes.annotate(
            name,
            (mark, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            rotation=90,
            va="top",
            ha="right",
            color="#b3261e",
        )
    if summary.peak is not None:
        at, value = summary.peak
        axes.plot([(at - origin).total_seconds()], [value], "o", color="#b3261e")
    axes.set_title(summary.series.name, fontsize=9, loc="left")
    axes.grid(alpha=0.3)
