"""Trends over records built here, checked against numbers worked out by hand.

Quantiles are linear between order statistics (numpy's default): of n sorted
values the q quantile sits at position q·(n − 1), so of 10m, 20m and 90m the
median is 20m and the p90 is 20m + 0.8 · (90m − 20m) = 76m.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from rich.console import Console

from drillhall.errors import InputError
from drillhall.reports.history import ActionItem, IncidentRecord, PostmortemRecord
from drillhall.reports.trend_outputs import (
    prometheus_text,
    render_trends_table,
    trends_figure,
    trends_json,
)
from drillhall.reports.trends import (
    Month,
    Trends,
    TrendSettings,
    Window,
    compute_trends,
)
from tests.servers import missing

MINUTE = 60.0
JANUARY = Month(2026, 1)
FEBRUARY = Month(2026, 2)
MARCH = Month(2026, 3)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def incident(
    id: str,
    started: datetime,
    *,
    team: str | None = "ops",
    severity: int | None = 2,
    kind: str = "incident",
    detect: float | None = 5,
    acknowledge: float | None = None,
    mitigate: float | None = None,
    resolve: float | None = 60,
) -> IncidentRecord:
    """An incident whose lifecycle times are minutes after it started."""

    def after(minutes: float | None) -> datetime | None:
        return None if minutes is None else started + timedelta(minutes=minutes)

    return IncidentRecord(
        id=id,
        kind=kind,
        title=id,
        service="api",
        team=team,
        severity=severity,
        started=started,
        detected=after(detect),
        acknowledged=after(acknowledge),
        mitigated=after(mitigate),
        resolved=after(resolve),
        source="test",
        external_id=None,
    )


def postmortem(id: int, incident: str, completed: datetime | None) -> PostmortemRecord:
    drafted = completed or at(1)
    return PostmortemRecord(id, incident, drafted, completed, None)


def action(
    id: int,
    created: datetime,
    *,
    status: str = "open",
    due: date | None = None,
    incident: str | None = None,
    postmortem: int | None = None,
) -> ActionItem:
    return ActionItem(
        id=id,
        title=f"item {id}",
        owner=None,
        due=due,
        status=status,
        changes="runbook",
        link=None,
        incident=incident,
        postmortem=postmortem,
        created=created,
        closed=None,
    )


def settings(
    first: Month = JANUARY,
    last: Month = MARCH,
    as_of: datetime = datetime(2026, 4, 1, tzinfo=UTC),
    **changes: object,
) -> TrendSettings:
    return TrendSettings(window=Window(first, last), as_of=as_of, **changes)


def trends_of(
    incidents: list[IncidentRecord],
    postmortems: list[PostmortemRecord] | None = None,
    actions: list[ActionItem] | None = None,
    **changes: object,
) -> Trends:
    return compute_trends(
        incidents, postmortems or [], actions or [], settings(**changes)
    )


# Months and windows


def test_incidents_fall_in_the_utc_month_they_started():
    berlin = timezone(timedelta(hours=2))
    records = [
        incident(
            "last-second-of-january", datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
        ),
        incident("first-second-of-february", datetime(2026, 2, 1, tzinfo=UTC)),
        # 01:00 on March 1st in UTC+2 is still February in UTC.
        incident("february-in-utc", datetime(2026, 3, 1, 1, 0, tzinfo=berlin)),
        incident("before-the-window", datetime(2025, 12, 31, 23, 59, tzinfo=UTC)),
        incident("after-the-window", datetime(2026, 4, 1, tzinfo=UTC)),
    ]

    trend = trends_of(records).everyone

    counts = {str(month): figures.incidents for month, figures in trend.months.items()}
    assert counts == {"2026-01": 1, "2026-02": 2, "2026-03": 0}
    assert trend.window.incidents == 3


def test_a_month_without_incidents_is_zero_with_empty_durations():
    trend = trends_of([incident("a", at(10, month=2))]).everyone

    march = trend.months[MARCH]
    assert march.incidents == 0
    assert march.durations["ttr"].count == 0
    assert march.durations["ttr"].median is None
    assert march.durations["ttr"].mean is None
    assert list(trend.months) == [JANUARY, FEBRUARY, MARCH]


def test_months_shift_across_years_and_parse_strictly():
    assert Window.last_months(12, MARCH).first == Month(2025, 4)
    assert Month(2025, 12).shift(1) == JANUARY
    assert JANUARY.shift(-13) == Month(2024, 12)
    assert Month.parse("2026-03") == MARCH
    assert str(Month.of(datetime(2026, 3, 9, tzinfo=UTC))) == "2026-03"
    for bad in ("2026-13", "2026-00", "26-03", "March", "2026/03"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            Month.parse(bad)


def test_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(InputError, match="before it starts"):
        Window(MARCH, JANUARY)


# Durations


def test_median_p90_and_mean_of_three_known_durations():
    records = [
        incident("a", at(3), resolve=10),
        incident("b", at(4), resolve=90),
        incident("c", at(5), resolve=20),
    ]

    ttr = trends_of(records).everyone.months[JANUARY].durations["ttr"]

    assert ttr.count == 3
    assert ttr.median == pytest.approx(20 * MINUTE)
    assert ttr.p90 == pytest.approx(76 * MINUTE)
    assert ttr.mean == pytest.approx(40 * MINUTE)


def test_an_incident_missing_a_time_is_left_out_not_counted_as_zero():
    records = [
        incident("a", at(3), detect=4, acknowledge=10, resolve=30),
        incident("b", at(4), detect=None, resolve=50),
        incident("c", at(5), detect=8, acknowledge=None, mitigate=20, resolve=None),
    ]

    figures = trends_of(records).everyone.months[JANUARY]

    assert figures.incidents == 3
    ttd = figures.durations["ttd"]
    assert (ttd.count, ttd.mean) == (2, pytest.approx(6 * MINUTE))
    # TTA runs from detection to acknowledgement, not from the start.
    tta = figures.durations["tta"]
    assert (tta.count, tta.median) == (1, pytest.approx(6 * MINUTE))
    ttm = figures.durations["ttm"]
    assert (ttm.count, ttm.p90) == (1, pytest.approx(20 * MINUTE))
    ttr = figures.durations["ttr"]
    assert (ttr.count, ttr.median) == (2, pytest.approx(40 * MINUTE))


def test_the_window_pools_durations_instead_of_averaging_months():
    records = [
        incident("a", at(3), resolve=10),
        incident("b", at(4), resolve=20),
        incident("c", at(5, month=2), resolve=90),
    ]

    trend = trends_of(records).everyone

    assert trend.months[JANUARY].durations["ttr"].median == pytest.approx(15 * MINUTE)
    assert trend.months[FEBRUARY].durations["ttr"].median == pytest.approx(90 * MINUTE)
    # Pooled: the median of 10m, 20m and 90m, not the mean of 15m and 90m.
    assert trend.window.durations["ttr"].median == pytest.approx(20 * MINUTE)


# Teams and drills


def test_each_team_and_all_teams_together():
    records = [
        incident("a", at(3), team="web", resolve=10),
        incident("b", at(4), team="ops", resolve=20),
        incident("c", at(5), team="ops", resolve=40),
        incident("d", at(6), team=None, resolve=80),
    ]

    trends = trends_of(records)

    assert list(trends.teams) == ["ops", "web", None]
    assert trends.everyone.window.incidents == 4
    ops = trends.teams["ops"].window
    assert (ops.incidents, ops.durations["ttr"].median) == (2, pytest.approx(1800))
    assert trends.teams["web"].window.durations["ttr"].median == pytest.approx(600)
    assert trends.teams[None].window.incidents == 1


def test_one_team_only_and_a_team_nobody_belongs_to():
    records = [incident("a", at(3), team="web"), incident("b", at(4), team="ops")]

    trends = trends_of(records, team="ops")

    assert list(trends.teams) == ["ops"]
    assert trends.everyone.window.incidents == 1
    with pytest.raises(InputError, match=r"'opss'.*known teams: ops, web"):
        trends_of(records, team="opss")


def test_drills_are_left_out_unless_asked_for():
    records = [
        incident("INC-1", at(3)),
        incident("drill-1", at(4), kind="drill", resolve=30),
    ]

    assert trends_of(records).everyone.window.incidents == 1
    counted = trends_of(records, include_drills=True).everyone.window
    assert counted.incidents == 2
    assert counted.durations["ttr"].median == pytest.approx(45 * MINUTE)


# Postmortems


def test_severity_threshold_and_unknown_severity():
    records = [
        incident(f"sev{severity}", at(3), severity=severity)
        for severity in (1, 2, 3, None)
    ]

    def due(**changes: object) -> int:
        return trends_of(records, **changes).everyone.window.postmortems.due

    assert due() == 2
    assert due(severity=1) == 1
    assert due(severity=3) == 3
    assert due(severity=5) == 3  # the unknown severity never qualifies


def test_postmortems_on_time_late_missing_and_not_yet_due():
    # Resolved an hour after starting; due five days after that.
    records = [
        incident("on-time", at(10, 11)),  # resolved 10 Jan 12:00
        incident("late", at(10, 11)),
        incident("missing", at(10, 11)),
        incident("draft-only", at(10, 11)),
        incident("early", at(30, 11)),  # due 4 Feb 12:00
        incident("not-yet-due", at(30, 11)),
        incident("unresolved", at(30, 11), resolve=None),
        incident("minor", at(10, 11), severity=3),
    ]
    postmortems = [
        postmortem(1, "on-time", at(15, 12)),  # exactly at the deadline
        postmortem(2, "late", at(15, 12, 1)),
        postmortem(3, "draft-only", None),
        postmortem(4, "early", at(31)),
        postmortem(5, "minor", None),
    ]

    result = trends_of(
        records, postmortems, as_of=datetime(2026, 2, 1, tzinfo=UTC)
    ).everyone.window.postmortems

    assert (result.on_time, result.late, result.missing) == (2, 1, 2)
    assert result.not_yet_due == 2
    assert result.due == 5
    assert result.share == pytest.approx(2 / 5)


def test_a_deadline_passes_with_time():
    records = [incident("a", at(30, 11))]  # due 4 Feb 12:00

    def state(as_of: datetime) -> tuple[int, int]:
        figures = trends_of(records, as_of=as_of).everyone.window.postmortems
        return figures.not_yet_due, figures.missing

    assert state(datetime(2026, 2, 4, 11, 59, tzinfo=UTC)) == (1, 0)
    assert state(datetime(2026, 2, 4, 12, 0, tzinfo=UTC)) == (0, 1)


def test_no_qualifying_incident_gives_no_share_rather_than_zero():
    figures = trends_of([incident("a", at(3), severity=4)]).everyone.window
    assert figures.postmortems.due == 0
    assert figures.postmortems.share is None


# Action items


def test_action_items_completion_and_overdue_as_of_today():
    records = [incident("INC-1", at(2), team="ops")]
    actions = [
        action(1, at(5), status="done", due=date(2026, 1, 20), incident="INC-1"),
        action(2, at(6), due=date(2026, 1, 31), incident="INC-1"),  # overdue
        action(3, at(7), due=date(2026, 2, 1), incident="INC-1"),  # due today
        action(4, at(8), status="dropped", due=date(2026, 1, 9), incident="INC-1"),
        action(5, at(9), incident="INC-1"),  # no due date
        action(6, at(3, month=2), status="done", incident="INC-1"),
    ]

    trend = trends_of(
        records, actions=actions, as_of=datetime(2026, 2, 1, tzinfo=UTC)
    ).everyone

    january = trend.months[JANUARY].actions
    assert (january.created, january.done, january.overdue) == (5, 1, 1)
    assert january.share == pytest.approx(1 / 5)
    february = trend.months[FEBRUARY].actions
    assert (february.created, february.done, february.share) == (1, 1, 1.0)
    assert trend.months[MARCH].actions.share is None
    assert trend.window.actions.created == 6


def test_action_items_belong_to_their_incidents_team():
    records = [
        incident("INC-1", at(2), team="ops"),
        incident("INC-2", datetime(2025, 6, 1, tzinfo=UTC), team="web"),
        incident("drill-1", at(3), team="db", kind="drill"),
    ]
    postmortems = [postmortem(7, "INC-2", None)]
    actions = [
        action(1, at(5), incident="INC-1"),
        action(2, at(5), postmortem=7),  # via the postmortem's incident
        action(3, at(5), incident="drill-1"),  # drills' items count too
        action(4, at(5)),  # linked to nothing
    ]

    trends = trends_of(records, postmortems, actions)

    created = {
        team: trend.window.actions.created for team, trend in trends.teams.items()
    }
    assert created == {"db": 1, "ops": 1, "web": 1, None: 1}
    assert trends.everyone.window.actions.created == 4
    only_web = trends_of(records, postmortems, actions, team="web")
    assert only_web.everyone.window.actions.created == 1


# Outputs


def example_trends() -> Trends:
    records = [
        incident("INC-1", at(3), team="ops", severity=1, detect=2, resolve=10),
        incident("INC-2", at(4), team="ops", severity=2, detect=4, resolve=90),
        incident("INC-3", at(5), team="web", severity=3, detect=6, resolve=20),
        incident("INC-4", at(2, month=3), team='a "quoted" \\ team', resolve=30),
    ]
    postmortems = [postmortem(1, "INC-1", at(4))]
    actions = [action(1, at(6), status="done", incident="INC-1")]
    return trends_of(
        records,
        postmortems,
        actions,
        as_of=datetime(2026, 3, 3, tzinfo=UTC),
    )


def promtool_check(text: str) -> None:
    if shutil.which("promtool") is None:
        missing("promtool", "apt-get install prometheus")
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> dict[tuple[str, frozenset], float]:
    """Samples by name and labels (unescaped), for reading values back."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = {
            key: re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), value)
            for key, value in LABEL.findall(match[2] or "")
        }
        samples[(match[1], frozenset(labels.items()))] = float(match[3])
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(f"drillhall_{name}", frozenset(labels.items()))]


def test_prometheus_text_is_valid_and_holds_the_windows_figures():
    text = prometheus_text(example_trends())

    promtool_check(text)
    samples = parse_exposition(text)
    assert value(samples, "incidents", team="all") == 4
    assert value(samples, "incidents", team="ops") == 2
    assert value(samples, "incidents", team='a "quoted" \\ team') == 1
    ttr = "time_to_resolve_seconds"
    assert value(samples, ttr, team="all", quantile="0.5") == 25 * MINUTE
    # ops: 10m and 90m; p90 at position 0.9 → 10m + 0.9 · 80m = 82m.
    assert value(samples, ttr, team="ops", quantile="0.9") == 82 * MINUTE
    assert value(samples, f"{ttr}_sum", team="ops") == 100 * MINUTE
    assert value(samples, f"{ttr}_count", team="ops") == 2
    assert value(samples, "postmortems_on_time", team="ops") == 1
    assert value(samples, "postmortems_due", team="ops") == 2
    assert value(samples, "postmortem_completion_ratio", team="ops") == 0.5
    assert value(samples, "action_items_done", team="all") == 1
    assert (
        value(samples, "trend_window_start_timestamp_seconds")
        == JANUARY.start.timestamp()
    )
    assert not any("month" in str(labels) for _, labels in samples)


def test_prometheus_text_says_nan_where_there_is_nothing_to_measure():
    samples = parse_exposition(prometheus_text(example_trends()))

    # web's only incident is a SEV3: no postmortem is due.
    share = value(samples, "postmortem_completion_ratio", team="web")
    assert share != share
    assert value(samples, "time_to_acknowledge_seconds_count", team="all") == 0


def test_json_has_every_month_and_every_duration():
    document = json.loads(json.dumps(trends_json(example_trends())))

    assert [month["month"] for month in document["all"]["months"]] == [
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    february = document["all"]["months"][1]
    assert february["incidents"] == 0
    assert february["durations"]["ttr"] == {
        "count": 0,
        "mean": None,
        "median": None,
        "p90": None,
    }
    assert set(document["all"]["window"]["durations"]) == {"ttd", "tta", "ttm", "ttr"}
    ops = next(team for team in document["teams"] if team["team"] == "ops")
    assert ops["window"]["durations"]["ttd"]["mean"] == pytest.approx(3 * MINUTE)
    assert ops["window"]["postmortems"]["share"] == 0.5


def test_the_table_shows_medians_and_the_not_yet_due_note():
    console = Console(record=True, width=160)

    render_trends_table(example_trends(), console)

    text = console.export_text()
    assert "Incident trends, all teams, 2026-01 to 2026-03" in text
    assert "team ops" in text and "team web" in text
    # all teams in January: TTR 10m, 90m, 20m → median 20m, p90 76m, mean 40m.
    assert "20m" in text and "1h16m" in text and "40m (3)" in text
    assert "+1 not due" in text  # INC-4: resolved 2 March, due 7 March
    note = " ".join(text.split())
    assert "1 not yet due (deadline after 2026-03-03 00:00 UTC" in note
    assert "of the SEV1–SEV2 incidents" in note


def test_the_chart_is_one_figure_with_bars_and_four_lines():
    figure = trends_figure(example_trends())

    lines_axes, bars_axes = figure.axes
    assert len(lines_axes.get_lines()) == 4
    assert [bar.get_height() for bar in bars_axes.patches] == [3, 0, 1]
    assert lines_axes.get_yscale() == "log"


def test_team_names_are_shown_as_written_not_read_as_markup():
    console = Console(record=True, width=160)
    trends = trends_of([incident("a", at(3), team="[bold]sre")])

    render_trends_table(trends, console)

    assert "team [bold]sre" in console.export_text()
