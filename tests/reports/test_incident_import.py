"""Incident history from CSV files, as on-call tools export it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from drillhall.errors import InputError, InputErrors
from drillhall.reports.incident_import import (
    load_timezone,
    parse_mappings,
    parse_time,
    read_incident_csv,
)
from drillhall.reports.store import Store

BERLIN = ZoneInfo("Europe/Berlin")

# Columns as PagerDuty's incident CSV export names them; times with offsets.
PAGERDUTY = """\
Incident ID,Incident Number,Title,Status,Urgency,Service Name,Team,Created On,\
Acknowledged On,Resolved On,Escalation Policy
Q1ABCDEF,1041,Checkout latency above SLO,resolved,high,checkout,payments,\
2027-01-05T10:12:09-08:00,2027-01-05T10:19:40-08:00,2027-01-05T11:02:00-08:00,Default
Q2BCDEFG,1042,"Search index stale, rebuilt",resolved,low,search,discovery,\
2027-01-06T02:00:00-08:00,,2027-01-06T06:30:00-08:00,Default
Q3CDEFGH,1043,Payments webhook retries,resolved,high,payments-api,payments,\
2027-01-07T23:45:00-08:00,2027-01-07T23:51:02-08:00,2027-01-08T01:15:30-08:00,Night
"""
PAGERDUTY_MAP = {
    "id": "Incident Number",
    "severity": "Urgency",
    "service": "Service Name",
    "started": "Created On",
    "acknowledged": "Acknowledged On",
    "resolved": "Resolved On",
}

# Opsgenie's alert export: priorities P1-P5, local times without an offset.
OPSGENIE = """\
TinyId;Message;Priority;Teams;Created At;Acknowledged At;Closed At
77;Disk full on db-2;P2;storage;05/01/2027 09:30;05/01/2027 09:41;05/01/2027 10:05
78;Certificate expires in 7 days;P5;platform;06/01/2027 14:00;;06/01/2027 16:20
"""
OPSGENIE_MAP = {
    "id": "TinyId",
    "title": "Message",
    "severity": "Priority",
    "team": "Teams",
    "started": "Created At",
    "acknowledged": "Acknowledged At",
    "resolved": "Closed At",
}


def write(folder: Path, text: str, name: str = "history.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(error: InputError) -> list[str]:
    return str(error).splitlines()


# Times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-05T10:12:09-08:00", datetime(2027, 1, 5, 18, 12, 9, tzinfo=UTC)),
        ("2027-01-05T18:12:09Z", datetime(2027, 1, 5, 18, 12, 9, tzinfo=UTC)),
        ("2027-01-05 18:12", datetime(2027, 1, 5, 18, 12, tzinfo=UTC)),
        ("2027-01-05 18:12:09.5", datetime(2027, 1, 5, 18, 12, 9, 500000, UTC)),
        ("1799172729", datetime(2027, 1, 5, 18, 12, 9, tzinfo=UTC)),
        ("1799172729.25", datetime(2027, 1, 5, 18, 12, 9, 250000, tzinfo=UTC)),
    ],
)
def test_times_are_read_in_the_usual_forms(text: str, expected: datetime) -> None:
    moment = parse_time(text, UTC)

    assert moment == expected
    assert moment.tzinfo is UTC


def test_times_without_an_offset_are_in_the_given_zone() -> None:
    winter = parse_time("2027-01-05 09:30", BERLIN)
    summer = parse_time("2027-07-05 09:30", BERLIN)
    with_offset = parse_time("2027-07-05T09:30+00:00", BERLIN)

    assert winter == datetime(2027, 1, 5, 8, 30, tzinfo=UTC)
    assert summer == datetime(2027, 7, 5, 7, 30, tzinfo=UTC)
    assert with_offset == datetime(2027, 7, 5, 9, 30, tzinfo=UTC)


def test_a_time_format_reads_anything_else() -> None:
    local = parse_time("05/01/2027 09:30", BERLIN, "%d/%m/%Y %H:%M")
    offset = parse_time("Jan 5 2027 09:30 -0800", BERLIN, "%b %d %Y %H:%M %z")

    assert local == datetime(2027, 1, 5, 8, 30, tzinfo=UTC)
    assert offset == datetime(2027, 1, 5, 17, 30, tzinfo=UTC)
    with pytest.raises(InputError, match="does not match --time-format '%d/%m/%Y'"):
        parse_time("2027-01-05", UTC, "%d/%m/%Y")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("yesterday", "'yesterday' is not a time; write ISO 8601"),
        ("05/01/2027", "'05/01/2027' is not a time"),
        ("1799172729000", "epoch milliseconds?"),
    ],
)
def test_other_times_are_refused_saying_what_is_accepted(
    text: str, problem: str
) -> None:
    with pytest.raises(InputError, match=problem):
        parse_time(text, UTC)


def test_time_zones_are_iana_names() -> None:
    assert load_timezone("utc") is UTC
    assert load_timezone("Europe/Berlin") == BERLIN
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'") as caught:
        load_timezone("Mars/Olympus")
    assert caught.value.source == "--timezone"


# Columns


def test_columns_named_like_the_fields_need_no_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeffID,Title,SERVICE,started,Resolved,notes\n"
        "7,db failover, db ,2027-01-05 09:30,2027-01-05 10:00,ignored\n",
    )

    [incident] = read_incident_csv(path)

    assert incident == {
        "external_id": "7",
        "title": "db failover",
        "service": "db",
        "started": datetime(2027, 1, 5, 9, 30, tzinfo=UTC),
        "resolved": datetime(2027, 1, 5, 10, tzinfo=UTC),
    }


def test_a_pagerduty_export_imports_with_its_columns_mapped(
    tmp_path: Path, database_url: str
) -> None:
    path = write(tmp_path, PAGERDUTY, "pagerduty.csv")

    rows = read_incident_csv(path, mapping=PAGERDUTY_MAP)
    with Store(database_url) as store:
        result = store.import_incidents(rows, source="import:pagerduty.csv")
        stored = store.incidents()

    assert (result.added, result.skipped) == (3, 0)
    assert [(r.id, r.external_id, r.severity, r.service, r.team) for r in stored] == [
        ("INC-1", "1041", 2, "checkout", "payments"),
        ("INC-2", "1042", 4, "search", "discovery"),
        ("INC-3", "1043", 2, "payments-api", "payments"),
    ]
    first = stored[0]
    assert first.title == "Checkout latency above SLO"
    assert first.started == datetime(2027, 1, 5, 18, 12, 9, tzinfo=UTC)
    assert first.acknowledged - first.started == timedelta(minutes=7, seconds=31)
    assert first.resolved - first.started == timedelta(minutes=49, seconds=51)
    assert stored[1].title == "Search index stale, rebuilt"
    assert stored[1].acknowledged is None
    assert stored[2].resolved == datetime(2027, 1, 8, 9, 15, 30, tzinfo=UTC)


def test_an_opsgenie_export_imports_with_its_format_and_zone(tmp_path: Path) -> None:
    path = write(tmp_path, OPSGENIE, "opsgenie.csv")

    rows = read_incident_csv(
        path, mapping=OPSGENIE_MAP, zone=BERLIN, time_format="%d/%m/%Y %H:%M"
    )

    assert [(r["external_id"], r["severity"], r["team"]) for r in rows] == [
        ("77", 2, "storage"),
        ("78", 5, "platform"),
    ]
    assert rows[0]["started"] == datetime(2027, 1, 5, 8, 30, tzinfo=UTC)
    assert rows[0]["resolved"] == datetime(2027, 1, 5, 9, 5, tzinfo=UTC)
    assert "acknowledged" not in rows[1]


def test_mappings_are_field_equals_column() -> None:
    assert parse_mappings(["started=Created On", "Service = Service Name"]) == {
        "started": "Created On",
        "service": " Service Name",
    }
    for pairs, problem in [
        (["started"], "expected FIELD=COLUMN"),
        (["started="], "expected FIELD=COLUMN"),
        (["urgency=Urgency"], "unknown field 'urgency'"),
        (["id=A", "id=B"], "id is mapped twice, to 'A' and 'B'"),
    ]:
        with pytest.raises(InputError, match=problem) as caught:
            parse_mappings(pairs)
        assert caught.value.source == "--map"


def test_a_mapping_to_a_missing_column_lists_the_files_columns(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, PAGERDUTY, "pagerduty.csv")

    with pytest.raises(InputError) as caught:
        read_incident_csv(path, mapping={"started": "Created"})

    message = str(caught.value)
    assert message.startswith(f"{path}: started: --map started=Created names a ")
    assert "'Incident Number', 'Title', 'Status', 'Urgency'" in message


def test_mapped_columns_match_in_any_case(tmp_path: Path) -> None:
    path = write(tmp_path, PAGERDUTY)

    rows = read_incident_csv(path, mapping={"started": "created on"})

    assert rows[0]["started"] == datetime(2027, 1, 5, 18, 12, 9, tzinfo=UTC)


def test_a_file_without_a_start_column_says_how_to_name_one(tmp_path: Path) -> None:
    path = write(tmp_path, "Title,Opened\ndb,2027-01-05 09:30\n")

    with pytest.raises(InputError, match="--map started=COLUMN") as caught:
        read_incident_csv(path)
    assert "its columns are 'Title', 'Opened'" in str(caught.value)


def test_two_columns_alike_must_be_chosen_between(tmp_path: Path) -> None:
    path = write(tmp_path, "started,Started\n2027-01-05,2027-01-06\n")

    with pytest.raises(InputError, match="could each be started"):
        read_incident_csv(path)
    [row] = read_incident_csv(path, mapping={"started": "Started"})
    assert row["started"] == datetime(2027, 1, 6, tzinfo=UTC)


# Bad rows


def test_every_bad_value_is_named_with_its_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "id,started,detected,resolved,severity\n"
        "1,2027-01-05 09:30,2027-01-05 09:31,2027-01-05 10:00,SEV2\n"
        '2,"2027-01-05\n09:30",,,\n'  # a quoted value over two lines
        "3,2027-01-05 09:30,2027-01-05 09:20,,\n"
        "\n"
        "4,,,,SEV7\n",
    )

    with pytest.raises(InputErrors) as caught:
        read_incident_csv(path)

    times = (
        "write ISO 8601 such as 2027-01-04T09:30:00+01:00, '2027-01-04 09:30[:SS]' "
        "or epoch seconds, or describe the file's times with --time-format"
    )
    order = (
        "the times go started, detected, acknowledged, mitigated, resolved, so "
        "correct one of the two or leave detected empty"
    )
    early, start = "2027-01-05T09:20:00+00:00", "2027-01-05T09:30:00+00:00"
    severe = "1 is the most severe (a SEV0 is a 1 here)"
    assert problems(caught.value) == [
        f"{path}:3: started: '2027-01-05\\n09:30' is not a time; {times}",
        f"{path}:5: detected: {early} is before started {start}; {order}",
        f"{path}:7: severity: 'SEV7' is outside 1 to 5; {severe}",
        f"{path}:7: started: no value; every incident needs the time it began",
    ]


def test_many_bad_rows_show_the_first_twenty_and_a_count(tmp_path: Path) -> None:
    bad = "".join(f"{n},soon\n" for n in range(25))
    path = write(tmp_path, "id,started\n" + bad)

    with pytest.raises(InputErrors) as caught:
        read_incident_csv(path)

    lines = problems(caught.value)
    assert len(lines) == 21
    assert lines[19].startswith(f"{path}:21: started: 'soon' is not a time")
    assert lines[20] == (
        f"{path}: 5 more problems like these; fix the ones above and import again "
        "(nothing was stored)"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"started\n2027-01-05 09:30 \xe9t\xe9\n", "is not UTF-8 text"),
        (b'started\n"2027-01-05\n', "is not CSV: unexpected end of data"),
    ],
)
def test_files_that_are_not_csv_text_are_named(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "history.csv"
    path.write_bytes(content)

    with pytest.raises(InputError, match=problem) as caught:
        read_incident_csv(path)
    assert caught.value.source == str(path)


def test_semicolons_and_tabs_separate_columns_too(tmp_path: Path) -> None:
    for separator in (";", "\t"):
        path = write(tmp_path, f"title{separator}started\ndb{separator}2027-01-05\n")
        [row] = read_incident_csv(path)
        assert (row["title"], row["started"]) == (
            "db",
            datetime(2027, 1, 5, tzinfo=UTC),
        )


def test_rows_without_a_title_are_named_after_their_id(tmp_path: Path) -> None:
    path = write(tmp_path, "id,started\n1041,2027-01-05\n,2027-01-06\n")

    rows = read_incident_csv(path)

    assert [row["title"] for row in rows] == ["incident 1041", "untitled"]
