"""Alerting webhooks: the receiver over real HTTP, and the parsers alone.

The HTTP tests post to a ``WebhookReceiver`` listening on 127.0.0.1 with
``urllib.request`` (``http.client`` where a request must lie about its length).
Payloads in ``payloads/`` follow Alertmanager's version "4", Grafana's version "1"
and PagerDuty's v3 webhook shapes.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.client
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drillhall.drills.receiver import WebhookReceiver
from drillhall.drills.webhooks import (
    ACKNOWLEDGED,
    DETECTED,
    MAX_BODY_BYTES,
    NOTE,
    PAGED,
    RESOLVED,
    Signal,
    WebhookError,
    WebhookTooLargeError,
    parse_alertmanager,
    parse_grafana,
    parse_pagerduty,
)
from drillhall.errors import InputError

PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
ALERTMANAGER_TOKEN = "am-token-7f3a"
GRAFANA_TOKEN = "grafana-token-91c2"
PAGERDUTY_SECRET = "pd-secret-current"
PAGERDUTY_OLD_SECRET = "pd-secret-previous"

# No proxy from the environment may stand between the tests and 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return data


def encode(data: Any) -> bytes:
    return json.dumps(data).encode("utf-8")


def pagerduty_event(event_type: str, agent: str | None = None) -> dict[str, Any]:
    """The triggered incident of ``payloads/``, moved on to another event."""
    data = payload("pagerduty_triggered")
    event = data["event"]
    event["event_type"] = event_type
    event["id"] = f"01EVENT{event_type.upper()}"
    event["data"]["status"] = event_type.removeprefix("incident.")
    if agent is not None:
        event["agent"] = {
            "html_url": "https://acme.pagerduty.com/users/PANA001",
            "id": "PANA001",
            "self": "https://api.pagerduty.com/users/PANA001",
            "summary": agent,
            "type": "user_reference",
        }
    return data


def sign(body: bytes, *secrets: str) -> str:
    return ",".join(
        "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for secret in secrets
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(
    url: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=body,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with OPENER.open(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


@pytest.fixture
def received() -> list[Signal]:
    return []


@pytest.fixture
def url(received: list[Signal]) -> Iterator[str]:
    receiver = WebhookReceiver(
        received.append,
        alertmanager_token=ALERTMANAGER_TOKEN,
        grafana_token=GRAFANA_TOKEN,
        pagerduty_secrets=[PAGERDUTY_SECRET],
        clock=lambda: NOW,
    )
    with receiver:
        yield receiver.url


# --- the receiver over HTTP -----------------------------------------------------


def test_alertmanager_firing_then_resolved_reach_the_sink(url, received):
    headers = bearer(ALERTMANAGER_TOKEN)

    firing = post(
        f"{url}/alertmanager", encode(payload("alertmanager_firing")), headers
    )
    resolved = post(
        f"{url}/alertmanager", encode(payload("alertmanager_resolved")), headers
    )

    assert firing == (202, "accepted: detected\n")
    assert resolved == (202, "accepted: resolved\n")
    detected, over = received
    assert (detected.kind, detected.source) == (DETECTED, "alertmanager")
    assert detected.at == datetime(2026, 12, 3, 16, 58, 2, 118745, tzinfo=UTC)
    assert detected.summary == (
        "PrimaryDown firing: The primary data store is not answering"
    )
    assert detected.details["fingerprint"] == "5b0d9f3c1a7e2d44"
    assert detected.details["labels"]["severity"] == "page"
    assert over.kind == RESOLVED
    assert over.at == datetime(2026, 12, 3, 17, 4, 32, 500000, tzinfo=UTC)
    assert over.details["fingerprint"] == detected.details["fingerprint"]
    json.dumps([signal.details for signal in received])


def test_alertmanager_basic_auth_is_accepted(url, received):
    pair = base64.b64encode(f"alertmanager:{ALERTMANAGER_TOKEN}".encode()).decode()

    status, _ = post(
        f"{url}/alertmanager",
        encode(payload("alertmanager_firing")),
        {"Authorization": f"Basic {pair}"},
    )

    assert status == 202
    assert [signal.kind for signal in received] == [DETECTED]


def test_grafana_alerts_become_one_signal_each(url, received):
    status, text = post(
        f"{url}/grafana", encode(payload("grafana_firing")), bearer(GRAFANA_TOKEN)
    )

    assert (status, text) == (202, "accepted: detected, resolved\n")
    firing, resolved = received
    assert firing.source == "grafana"
    assert firing.at == datetime(2026, 12, 3, 16, 58, 3, 157076, tzinfo=UTC)
    assert firing.details["values"] == {"B": 0.0731, "C": 1}
    assert firing.details["dashboard_url"] == "http://127.0.0.1:3000/d/shop"
    assert resolved.at == datetime(2026, 12, 3, 16, 55, tzinfo=UTC)


def test_grafana_hmac_signature_with_timestamp(received):
    body = encode(payload("grafana_firing"))
    stamp = str(int(NOW.timestamp()) - 3)
    digest = hmac.new(b"hmac-key", f"{stamp}:".encode() + body, hashlib.sha256)
    signed = {
        "X-Grafana-Alerting-Signature": digest.hexdigest(),
        "X-Grafana-Alerting-Timestamp": stamp,
    }
    receiver = WebhookReceiver(
        received.append,
        alertmanager_token=None,
        grafana_token=None,
        pagerduty_secrets=[],
        grafana_signing_secret="hmac-key",
        grafana_timestamp_header="X-Grafana-Alerting-Timestamp",
        clock=lambda: NOW,
    )

    with receiver:
        accepted = post(f"{receiver.url}/grafana", body, signed, method="PUT")
        tampered = post(f"{receiver.url}/grafana", body + b" ", signed)

    assert accepted[0] == 202
    assert tampered == (
        401,
        (
            "grafana webhook: X-Grafana-Alerting-Signature: "
            "the signature does not match the body\n"
        ),
    )
    assert len(received) == 2


def test_pagerduty_triggered_acknowledged_resolved(url, received):
    events = [
        pagerduty_event("incident.triggered"),
        pagerduty_event("incident.acknowledged", agent="Ana Ortiz"),
        pagerduty_event("incident.resolved", agent="Ana Ortiz"),
    ]
    events[1]["event"]["occurred_at"] = "2026-12-03T17:01:10Z"

    for event in events:
        body = encode(event)
        status, _ = post(
            f"{url}/pagerduty",
            body,
            {"X-PagerDuty-Signature": sign(body, PAGERDUTY_SECRET)},
        )
        assert status == 202

    paged, acknowledged, resolved = received
    assert paged.kind == PAGED
    assert paged.at == datetime(2026, 12, 3, 16, 58, 5, 412000, tzinfo=UTC)
    assert paged.summary == (
        "#1042 PrimaryDown: the primary data store is not answering triggered, "
        "paging Ana Ortiz"
    )
    assert paged.details["incident_id"] == "Q2W9XG7B1K0Z3A"
    assert acknowledged.kind == ACKNOWLEDGED
    assert acknowledged.at == datetime(2026, 12, 3, 17, 1, 10, tzinfo=UTC)
    assert acknowledged.details["acknowledged_by"] == "Ana Ortiz"
    assert resolved.kind == RESOLVED
    assert {signal.source for signal in received} == {"pagerduty"}


def test_pagerduty_secret_rotation_accepts_either_signature(received):
    body = encode(pagerduty_event("incident.triggered"))
    receiver = WebhookReceiver(
        received.append,
        alertmanager_token=None,
        grafana_token=None,
        pagerduty_secrets=[PAGERDUTY_OLD_SECRET],
    )

    with receiver:
        header = {
            "X-PagerDuty-Signature": sign(body, PAGERDUTY_SECRET, PAGERDUTY_OLD_SECRET)
        }
        status, _ = post(f"{receiver.url}/pagerduty", body, header)

    assert status == 202
    assert [signal.kind for signal in received] == [PAGED]


ALERT = encode(payload("alertmanager_firing"))
INCIDENT = encode(pagerduty_event("incident.triggered"))


@pytest.mark.parametrize(
    ("route", "body", "headers", "reason"),
    [
        ("alertmanager", ALERT, {}, "Authorization: missing"),
        ("alertmanager", ALERT, bearer("guess"), "do not match the configured token"),
        ("alertmanager", ALERT, bearer(GRAFANA_TOKEN), "do not match"),
        ("grafana", ALERT, bearer(ALERTMANAGER_TOKEN), "do not match"),
        ("pagerduty", INCIDENT, {}, "X-PagerDuty-Signature: missing"),
        (
            "pagerduty",
            INCIDENT,
            {"X-PagerDuty-Signature": sign(INCIDENT, "wrong")},
            "no signature matches a configured secret",
        ),
        (
            "pagerduty",
            INCIDENT + b"\n",
            {"X-PagerDuty-Signature": sign(INCIDENT, PAGERDUTY_SECRET)},
            "no signature matches",
        ),
        (
            "pagerduty",
            INCIDENT,
            {"X-PagerDuty-Signature": "v0=abc"},
            "no v1 signature in 'v0=abc'",
        ),
    ],
)
def test_unverified_requests_are_refused_and_never_reach_the_sink(
    url, received, route, body, headers, reason
):
    status, text = post(f"{url}/{route}", body, headers)

    assert status == 401
    assert reason in text
    assert received == []


def test_a_source_without_a_secret_refuses_everything(received):
    receiver = WebhookReceiver(
        received.append,
        alertmanager_token=None,
        grafana_token="",
        pagerduty_secrets=[],
    )

    with receiver:
        replies = [
            post(f"{receiver.url}/alertmanager", ALERT, bearer("anything")),
            post(f"{receiver.url}/grafana", ALERT, bearer("")),
            post(
                f"{receiver.url}/pagerduty",
                INCIDENT,
                {"X-PagerDuty-Signature": sign(INCIDENT, "")},
            ),
        ]

    assert [status for status, _ in replies] == [401, 401, 401]
    assert all("every request is refused" in text for _, text in replies)
    assert received == []


def _with(name: str, change: Any) -> bytes:
    data = payload(name)
    change(data)
    return encode(data)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"{not json",
            (
                "alertmanager webhook: the body is not JSON: Expecting property "
                "name enclosed in double quotes at line 1 column 2"
            ),
        ),
        (
            _with("alertmanager_firing", lambda data: data.update(version="3")),
            (
                "alertmanager webhook: version: expected '4', the Alertmanager "
                "webhook payload version, got '3'"
            ),
        ),
        (
            _with(
                "alertmanager_firing",
                lambda data: data["alerts"][0].update(startsAt="yesterday"),
            ),
            (
                "alertmanager webhook: alerts[0].startsAt: expected an RFC 3339 "
                "time, got 'yesterday'"
            ),
        ),
        (
            _with("alertmanager_firing", lambda data: data["alerts"][0].pop("labels")),
            "alertmanager webhook: alerts[0].labels: missing; expected an object",
        ),
        (b"[]", "alertmanager webhook: expected a JSON object, got a list"),
    ],
)
def test_malformed_bodies_get_400_with_the_reason(url, received, body, message):
    status, text = post(f"{url}/alertmanager", body, bearer(ALERTMANAGER_TOKEN))

    assert (status, text) == (400, message + "\n")
    assert received == []


def test_a_body_over_the_cap_gets_413(url, received):
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)

    # Announce a body far over the cap and send none: the reply must not wait for it.
    connection.putrequest("POST", "/alertmanager")
    connection.putheader("Authorization", f"Bearer {ALERTMANAGER_TOKEN}")
    connection.putheader("Content-Length", str(64 * MAX_BODY_BYTES))
    connection.endheaders()
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()

    assert response.status == 413
    assert f"more than the {MAX_BODY_BYTES} accepted" in text
    assert received == []


def test_a_smaller_cap_refuses_a_real_body_with_413(received):
    receiver = WebhookReceiver(
        received.append,
        alertmanager_token=ALERTMANAGER_TOKEN,
        grafana_token=None,
        pagerduty_secrets=[],
        max_body_bytes=256,
    )

    with receiver:
        status, text = post(
            f"{receiver.url}/alertmanager", ALERT, bearer(ALERTMANAGER_TOKEN)
        )

    assert status == 413
    assert "more than the 256 accepted" in text
    assert received == []


def test_unknown_paths_and_methods(url):
    missing = post(f"{url}/opsgenie", ALERT, bearer(ALERTMANAGER_TOKEN))
    request = urllib.request.Request(f"{url}/alertmanager", method="GET")
    with pytest.raises(urllib.error.HTTPError) as caught:
        OPENER.open(request, timeout=5)

    assert missing[0] == 404
    assert "use /alertmanager, /grafana, /pagerduty" in missing[1]
    assert caught.value.code == 405
    assert caught.value.headers["Allow"] == "POST"
    caught.value.close()


def test_a_failing_sink_gets_500_and_the_receiver_carries_on(caplog):
    calls: list[Signal] = []

    def sink(signal: Signal) -> None:
        calls.append(signal)
        if len(calls) == 1:
            raise OSError("database is locked")

    receiver = WebhookReceiver(
        sink,
        alertmanager_token=ALERTMANAGER_TOKEN,
        grafana_token=None,
        pagerduty_secrets=[],
    )

    with receiver, caplog.at_level(logging.INFO, logger="drillhall.drills.receiver"):
        first = post(f"{receiver.url}/alertmanager", ALERT, bearer(ALERTMANAGER_TOKEN))
        second = post(f"{receiver.url}/alertmanager", ALERT, bearer(ALERTMANAGER_TOKEN))

    assert first[0] == 500
    assert second[0] == 202
    assert any(record.exc_info for record in caplog.records)
    assert all(
        ALERTMANAGER_TOKEN not in record.getMessage() for record in caplog.records
    )


def test_fifty_concurrent_posts_all_arrive(url, received):
    bodies = []
    for number in range(50):
        event = pagerduty_event("incident.triggered")
        event["event"]["id"] = f"event-{number}"
        bodies.append(encode(event))
    statuses: list[int] = []

    def deliver(body: bytes) -> None:
        header = {"X-PagerDuty-Signature": sign(body, PAGERDUTY_SECRET)}
        statuses.append(post(f"{url}/pagerduty", body, header)[0])

    threads = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert statuses == [202] * 50
    assert sorted(signal.details["event_id"] for signal in received) == sorted(
        f"event-{number}" for number in range(50)
    )


def test_one_log_line_per_request_without_secrets(url, caplog):
    with caplog.at_level(logging.INFO, logger="drillhall.drills.receiver"):
        post(f"{url}/alertmanager?token=query-secret", ALERT, bearer("wrong-secret"))

    lines = [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("webhook ")
    ]
    assert len(lines) == 1
    assert "POST /alertmanager from 127.0.0.1 (alertmanager): 401" in lines[0]
    assert "secret" not in lines[0]


# --- the parsers alone ----------------------------------------------------------


def test_times_are_read_as_rfc_3339_and_kept_in_utc():
    data = payload("alertmanager_firing")
    data["alerts"][0]["startsAt"] = "2018-08-03T09:52:26.739266876+02:00"

    (signal,) = parse_alertmanager(encode(data), received_at=NOW)

    assert signal.at == datetime(2018, 8, 3, 7, 52, 26, 739266, tzinfo=UTC)
    assert signal.details["starts_at"] == "2018-08-03T07:52:26.739266Z"


@pytest.mark.parametrize(
    "text", ["2026-12-03", "2026-12-03 17:00:00Z", "2026-13-01T00:00:00Z", "1e9"]
)
def test_times_that_are_not_rfc_3339_are_refused(text):
    data = payload("alertmanager_firing")
    data["alerts"][0]["startsAt"] = text

    with pytest.raises(WebhookError, match="expected an RFC 3339 time"):
        parse_alertmanager(encode(data))


def test_a_resolved_alert_without_an_end_is_resolved_when_received():
    data = payload("alertmanager_resolved")
    data["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"

    (signal,) = parse_alertmanager(encode(data), received_at=NOW)

    assert (signal.kind, signal.at, signal.details["ends_at"]) == (RESOLVED, NOW, None)


def test_an_alert_group_without_alerts_gives_no_signal():
    data = payload("alertmanager_firing")
    data["alerts"] = []

    assert parse_alertmanager(encode(data)) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda data: data["alerts"][0]["labels"].update(severity=3),
            "alerts[0].labels.severity: expected a string, got 3",
        ),
        (
            lambda data: data["alerts"][0].update(status="pending"),
            "alerts[0].status: expected 'firing' or 'resolved', got 'pending'",
        ),
        (lambda data: data.update(alerts={}), "alerts: expected a list, got an object"),
        (lambda data: data.pop("version"), "version: missing; expected a string"),
    ],
)
def test_wrong_shapes_name_the_field(change, message):
    data = payload("alertmanager_firing")
    change(data)

    with pytest.raises(WebhookError) as caught:
        parse_alertmanager(encode(data))

    assert str(caught.value) == f"alertmanager webhook: {message}"
    assert isinstance(caught.value, InputError)
    assert caught.value.field == message.split(":")[0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the body is empty"),
        (b"\xff\xfe{}", "the body is not UTF-8"),
        (b'{"version": NaN}', "NaN is not a JSON number"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_bodies_that_are_not_json_objects(body, message):
    with pytest.raises(WebhookError, match=message):
        parse_alertmanager(body)


def test_an_oversized_body_is_refused_before_it_is_read():
    with pytest.raises(WebhookTooLargeError):
        parse_pagerduty(b" " * (MAX_BODY_BYTES + 1))


def test_grafana_refuses_an_alertmanager_payload():
    with pytest.raises(WebhookError, match="expected '1', the Grafana alerting"):
        parse_grafana(encode(payload("alertmanager_firing")))


def test_pagerduty_events_without_a_lifecycle_step_give_no_signal():
    for event_type in ("pagey.ping", "incident.priority_updated", "service.updated"):
        assert parse_pagerduty(encode(pagerduty_event(event_type))) == []


def test_a_pagerduty_note_becomes_a_note():
    data = pagerduty_event("incident.annotated", agent="Ana Ortiz")
    data["event"]["data"] = {
        "incident": {
            "html_url": "https://acme.pagerduty.com/incidents/Q2W9XG7B1K0Z3A",
            "id": "Q2W9XG7B1K0Z3A",
            "self": "https://api.pagerduty.com/incidents/Q2W9XG7B1K0Z3A",
            "summary": "PrimaryDown",
            "type": "incident_reference",
        },
        "id": "PNOTE01",
        "content": "Promoting the replica now",
        "trimmed": False,
        "type": "incident_note",
    }

    (signal,) = parse_pagerduty(encode(data))

    assert signal.kind == NOTE
    assert signal.details["text"] == "Promoting the replica now"
    assert (
        signal.summary
        == "PrimaryDown annotated by Ana Ortiz: Promoting the replica now"
    )


def test_a_pagerduty_acknowledgement_without_an_agent():
    data = pagerduty_event("incident.acknowledged")
    data["event"]["agent"] = None
    del data["event"]["occurred_at"]

    (signal,) = parse_pagerduty(encode(data), received_at=NOW)

    assert (signal.kind, signal.at) == (ACKNOWLEDGED, NOW)
    assert signal.details["acknowledged_by"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda event: event.pop("event_type"), "event.event_type: missing"),
        (
            lambda event: event.update(occurred_at="soon"),
            "event.occurred_at: expected an RFC 3339 time, got 'soon'",
        ),
        (lambda event: event["data"].pop("id"), "event.data.id: missing"),
        (
            lambda event: event["data"].update(assignees=["Ana"]),
            "event.data.assignees[0]: expected an object, got 'Ana'",
        ),
    ],
)
def test_wrong_pagerduty_events_name_the_field(change, message):
    data = pagerduty_event("incident.triggered")
    change(data["event"])

    with pytest.raises(WebhookError, match=r"^pagerduty webhook: ") as caught:
        parse_pagerduty(encode(data))

    assert message in str(caught.value)


def test_signals_are_frozen_records():
    (signal,) = parse_alertmanager(encode(payload("alertmanager_firing")))
    changed = copy.copy(signal)

    with pytest.raises(AttributeError):
        changed.kind = RESOLVED  # type: ignore[misc]
