"""The author's evidence: JSON-lines logs and Prometheus range-query metrics."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drillhall.errors import InputError
from drillhall.reports.evidence import (
    MetricSeries,
    load_logs,
    load_metrics,
    metrics_figure,
    parse_time,
    series_name,
    summarise,
)
from drillhall.reports.render import png_bytes

T0 = datetime(2027, 3, 2, 13, 0, tzinfo=UTC)
EPOCH = int(T0.timestamp())


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def matrix(*series: tuple[dict[str, str], list[tuple[float, str]]]) -> str:
    result = [
        {"metric": labels, "values": [list(point) for point in points]}
        for labels, points in series
    ]
    document = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    return json.dumps(document, indent=2)


# Logs


def test_log_lines_of_every_timestamp_kind_are_put_in_time_order(tmp_path):
    logs = write(
        tmp_path / "app.jsonl",
        "\n".join(
            [
                '{"time": "2027-03-02T13:00:30Z", "msg": "third", "level": "error"}',
                "",
                f'{{"ts": {EPOCH + 10}, "message": "second"}}',
                f'{{"@timestamp": {(EPOCH + 5) * 1000}, "msg": "first"}}',
                '{"timestamp": "2027-03-02T14:00:40+01:00", "msg": "fourth"}',
            ]
        ),
    )
    lines = load_logs(logs)

    assert [line.message for line in lines] == ["first", "second", "third", "fourth"]
    assert [line.at for line in lines] == [
        T0 + timedelta(seconds=seconds) for seconds in (5, 10, 30, 40)
    ]
    assert [line.line for line in lines] == [4, 3, 1, 5]
    assert lines[2].level == "error" and lines[0].level is None
    assert {line.source for line in lines} == {"app.jsonl"}


@pytest.mark.parametrize(
    ("line", "field", "what", "fix"),
    [
        ("not json at", "line", "this line is not JSON", "one JSON object per line"),
        ('["a", "b"]', "line", "got a JSON list", "one object per line"),
        ('{"msg": "x"}', "time", "no timestamp: expected one of time", "add one"),
        ('{"time": "now", "msg": "x"}', "time", "'now' is not ISO 8601", "write ISO"),
        ('{"time": "2027-03-02T13:00", "msg": "x"}', "time", "no time zone", "add Z"),
        ('{"ts": true, "msg": "x"}', "ts", "True is not a time", "epoch seconds"),
        ('{"time": "2027-03-02T13:00Z"}', "msg", "no message", "add the log line"),
    ],
)
def test_a_bad_log_line_is_named_with_its_file_line_and_field(
    tmp_path, line, field, what, fix
):
    logs = write(tmp_path / "app.jsonl", '{"ts": 1, "msg": "fine"}\n' + line + "\n")

    with pytest.raises(InputError) as raised:
        load_logs(logs)

    error = raised.value
    assert (error.source, error.line, error.field) == (str(logs), 2, field)
    assert str(error).startswith(f"{logs}:2: {field}: ")
    assert what in error.message
    assert fix in error.message.split(";", 1)[1]


def test_times_are_iso_or_epoch_seconds_or_milliseconds():
    assert parse_time("2027-03-02T14:00:00+01:00") == T0
    assert parse_time(EPOCH) == T0
    assert parse_time(EPOCH * 1000) == T0
    assert parse_time(str(EPOCH + 0.5)) == T0 + timedelta(milliseconds=500)


# Metrics


def test_a_range_query_gives_each_series_in_time_order(tmp_path):
    file = write(
        tmp_path / "errors.json",
        matrix(
            (
                {"__name__": "http_errors_total", "job": "svc", "code": "500"},
                [(EPOCH + 10, "3"), (EPOCH, "1.5")],
            ),
            ({"job": "svc"}, [(EPOCH, "NaN")]),
        ),
    )
    first, second = load_metrics(file)

    assert first.name == 'http_errors_total{code="500", job="svc"}'
    assert first.points == [(T0, 1.5), (T0 + timedelta(seconds=10), 3.0)]
    assert first.source == "errors.json"
    assert second.name == '{job="svc"}'


@pytest.mark.parametrize(
    ("document", "line", "field", "words"),
    [
        ("[1, 2]", 1, "file", "a JSON list, not a Prometheus response"),
        (
            '{"dashboard": {"panels": []}}',
            1,
            "file",
            "looks like a Grafana export",
        ),
        (
            '{"status": "error",\n "error": "bad query"}',
            1,
            "status",
            "expected 'success', got 'error' (bad query)",
        ),
        (
            (
                '{"status": "success",\n "data": {\n  "resultType": "vector",\n'
                '  "result": []}}'
            ),
            3,
            "data.resultType",
            "an instant query's result",
        ),
        (
            (
                '{"status": "success",\n "data": {"resultType": "matrix",\n'
                '  "result": [{"metric": {},\n   "value": [1, "2"]}]}}'
            ),
            3,
            "data.result[0].values",
            "('value': an instant query)",
        ),
        (
            (
                '{"status": "success", "data": {"resultType": "matrix", "result": [\n'
                ' {"metric": {}, "values": [[1, "2"],\n  [2, "many"]]}]}}'
            ),
            3,
            "data.result[0].values[1]",
            "expected a number as text, got 'many'",
        ),
        ('{"status": "success",\n "data": ', 2, "file", "not JSON"),
    ],
)
def test_a_metrics_file_of_another_shape_is_refused_with_its_line(
    tmp_path, document, line, field, words
):
    file = write(tmp_path / "m.json", document)

    with pytest.raises(InputError) as raised:
        load_metrics(file)

    error = raised.value
    assert (error.line, error.field) == (line, field)
    assert words in error.message
    assert "/api/v1/query_range" in error.message


def test_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_logs(tmp_path / "absent.jsonl")


# Summaries


def series(values: list[float], start: int = -5) -> MetricSeries:
    points = [
        (T0 + timedelta(seconds=10 * (start + index)), value)
        for index, value in enumerate(values)
    ]
    return MetricSeries("errors", points, "m.json")


def test_a_series_departs_peaks_and_recovers_against_its_baseline():
    # Five points before the fault (at index 5), then a rise and a fall.
    summary = summarise(series([1, 1.05, 0.95, 1, 1, 1, 4, 9, 5, 1.02, 1]), T0)

    assert summary.baseline == 1
    assert summary.departed == (T0 + timedelta(seconds=10), 4)
    assert summary.peak == (T0 + timedelta(seconds=20), 9)
    assert summary.recovered == (T0 + timedelta(seconds=40), 1.02)


def test_a_falling_series_peaks_at_its_lowest_and_may_not_recover():
    summary = summarise(series([100, 100, 100, 100, 100, 20, 0, 10]), T0)

    assert summary.baseline == 100
    assert summary.departed == (T0, 20)
    assert summary.peak == (T0 + timedelta(seconds=10), 0)
    assert summary.recovered is None


def test_a_quiet_series_and_one_without_a_before_have_no_departure():
    quiet = summarise(series([5, 5, 5, 5.2, 5, 5.1]), T0)
    assert quiet.baseline == 5 and quiet.departed is None and quiet.peak is None

    late = summarise(series([2, 2, 8, 2], start=0), T0)
    assert late.baseline == 2  # its first value
    assert late.departed == late.peak == (T0 + timedelta(seconds=20), 8)


def test_series_names_read_as_promql():
    assert series_name({"__name__": "up"}) == "up"
    assert series_name({}) == "{}"


def test_the_metrics_figure_draws_one_panel_per_series():
    summaries = [summarise(series([1, 1, 1, 5, 1], start=-3), T0)] * 2
    figure = metrics_figure(summaries, T0, {"injected": T0})

    assert len(figure.axes) == 2
    assert figure.axes[0].get_title(loc="left") == "errors"
    assert png_bytes(figure).startswith(b"\x89PNG")


# Input that used to end in a traceback


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ("[" * 100_000, "line", "this line is not JSON (nested too deeply)"),
        (
            '{"time": "0001-01-01T00:30:00+01:00", "msg": "x"}',
            "time",
            "'0001-01-01T00:30:00+01:00' is out of range in UTC",
        ),
    ],
)
def test_extreme_log_lines_are_input_errors(tmp_path, line, field, words):
    logs = write(tmp_path / "app.jsonl", line + "\n")

    with pytest.raises(InputError) as raised:
        load_logs(logs)

    assert (raised.value.line, raised.value.field) == (1, field)
    assert raised.value.message.startswith(words)


@pytest.mark.parametrize("moment", ["1e20", "Infinity", "-1e20"])
def test_a_metric_time_out_of_range_is_refused_with_its_line(tmp_path, moment):
    document = (
        '{"status": "success", "data": {"resultType": "matrix", "result": [\n'
        f' {{"metric": {{}}, "values": [[1, "2"],\n  [{moment}, "3"]]}}]}}}}'
    )
    file = write(tmp_path / "m.json", document)

    with pytest.raises(InputError) as raised:
        load_metrics(file)

    error = raised.value
    assert (error.line, error.field) == (3, "data.result[0].values[1]")
    assert "is out of range for epoch seconds" in error.message


@pytest.mark.parametrize("nested", ['{"a": ' * 900 + "1" + "}" * 900, "[" * 100_000])
def test_a_deeply_nested_metrics_file_is_refused(tmp_path, nested):
    with pytest.raises(InputError) as raised:
        load_metrics(write(tmp_path / "m.json", nested))

    assert raised.value.field in {"file", "status"}
    assert "/api/v1/query_range" in raised.value.message


def test_values_that_are_not_numbers_are_no_measurement():
    # Prometheus writes NaN for a rate over nothing and +Inf for some quantiles.
    values = [1, math.nan, 1, 1, 1, math.inf, 4, 9, math.nan, 1]
    summary = summarise(series(values), T0)

    assert summary.baseline == 1
    assert summary.departed == (T0 + timedelta(seconds=10), 4)
    assert summary.peak == (T0 + timedelta(seconds=20), 9)
    assert summary.recovered == (T0 + timedelta(seconds=40), 1)
