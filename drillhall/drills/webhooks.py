"""Alerting webhooks received during a drill, read as lifecycle signals.

Three senders post to the drill's receiver (``drillhall.drills.receiver``), which
verifies each request first (``drillhall.drills.signatures``):

- **Prometheus Alertmanager** (``webhook_configs``): one alert group per body, payload
  version "4": receiver, status, alerts[] (status, labels, annotations, startsAt,
  endsAt, generatorURL, fingerprint), groupLabels, commonLabels, commonAnnotations,
  externalURL, groupKey, truncatedAlerts.
- **Grafana alerting** (webhook contact point): the same group shape with version
  "1" plus orgId, state, title and message.
- **PagerDuty v3 webhook subscriptions**: one ``event`` per body (id, event_type,
  resource_type, occurred_at, agent, client, data).

Everything here is pure: bytes in, ``Signal`` records or an error out.
A body is only ever decoded as JSON, never evaluated, and is capped at
``MAX_BODY_BYTES``. Every problem raises a ``WebhookError`` whose one-line message
names the source and the field, so a rejected webhook can be answered and logged
without touching the drill's timeline.

NOTE: senders repeat themselves. Alertmanager re-sends a firing alert on every group
change and repeat interval, PagerDuty delivers at least once. The signals carry the
alert fingerprint and the PagerDuty event id in ``details`` so that the timeline can
keep the first of each; they are not de-duplicated here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from drillhall.errors import InputError

__all__ = [
    "ACKNOWLEDGED",
    "ALERTMANAGER",
    "DETECTED",
    "ESCALATED",
    "GRAFANA",
    "MAX_BODY_BYTES",
    "NOTE",
    "PAGED",
    "PAGERDUTY",
    "REASSIGNED",
    "REOPENED",
    "RESOLVED",
    "UNACKNOWLEDGED",
    "Signal",
    "WebhookError",
    "WebhookTooLargeError",
    "parse_alertmanager",
    "parse_grafana",
    "parse_pagerduty",
]

MAX_BODY_BYTES = 1024 * 1024

ALERTMANAGER = "alertmanager"
GRAFANA = "grafana"
PAGERDUTY = "pagerduty"

DETECTED = "detected"
PAGED = "paged"
ACKNOWLEDGED = "acknowledged"
UNACKNOWLEDGED = "unacknowledged"
ESCALATED = "escalated"
REASSIGNED = "reassigned"
REOPENED = "reopened"
NOTE = "note"
RESOLVED = "resolved"

ALERTMANAGER_VERSION = "4"
GRAFANA_VERSION = "1"
_SENDERS = {ALERTMANAGER: "Alertmanager", GRAFANA: "Grafana alerting"}

# PagerDuty event types that mark a step of the incident lifecycle. The others
# (priority_updated, responder.*, service.*, the pagey.ping test) are accepted and
# produce no signal.
PAGERDUTY_KINDS = {
    "incident.triggered": PAGED,
    "incident.acknowledged": ACKNOWLEDGED,
    "incident.unacknowledged": UNACKNOWLEDGED,
    "incident.escalated": ESCALATED,
    "incident.reassigned": REASSIGNED,
    "incident.delegated": REASSIGNED,
    "incident.reopened": REOPENED,
    "incident.annotated": NOTE,
    "incident.status_update_published": NOTE,
    "incident.resolved": RESOLVED,
}

_SUMMARY_LENGTH = 200
_SHOWN_LENGTH = 60
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"([Zz]|[+-]\d{2}:\d{2})"
)
_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    dict: "an object",
    list: "a list",
}

T = TypeVar("T")


@dataclass(frozen=True)
class Signal:
    """One step of an incident's lifecycle, as an alerting tool reported it.

    ``kind`` is one of the module's kind constants (detected, paged, acknowledged,
    resolved, …); ``at`` is an aware UTC time taken from the payload, or the time
    the webhook was received when the payload has none; ``details`` is JSON-ready.
    """

    kind: str
    source: str
    at: datetime
    summary: str
    details: dict[str, Any]


class WebhookError(InputError):
    """A webhook's body or credentials are not acceptable; none of it is used.

    The message reads ``<source> webhook: <field>: <what is wrong>``.
    """

    def __init__(self, source: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message, source=f"{source} webhook", field=field)
        self.webhook_source = source


class WebhookTooLargeError(WebhookError):
    """The body is longer than ``MAX_BODY_BYTES``."""


# --- parsing --------------------------------------------------------------------


def parse_alertmanager(
    body: bytes, *, received_at: datetime | None = None
) -> list[Signal]:
    """Read an Alertmanager webhook (version "4"): one signal per alert.

    A firing alert is ``detected`` at its startsAt, a resolved one ``resolved`` at
    its endsAt. Raises ``WebhookError`` for anything that is not such a payload.
    """
    return _parse_alert_group(
        body, ALERTMANAGER, ALERTMANAGER_VERSION, _received(received_at), None
    )


def parse_grafana(body: bytes, *, received_at: datetime | None = None) -> list[Signal]:
    """Read a Grafana alerting webhook (version "1"): one signal per alert.

    The mapping is Alertmanager's; Grafana's dashboard, panel and silence links and
    the evaluated values join the details. A contact point with a custom payload
    template does not send this shape and is refused.
    """
    return _parse_alert_group(
        body, GRAFANA, GRAFANA_VERSION, _received(received_at), _grafana_details
    )


def parse_pagerduty(
    body: bytes, *, received_at: datetime | None = None
) -> list[Signal]:
    """Read a PagerDuty v3 webhook: at most one signal.

    incident.triggered is ``paged``, incident.acknowledged ``acknowledged`` (the
    agent is who acknowledged), incident.resolved ``resolved``; escalated,
    reassigned/delegated, reopened, unacknowledged and notes are kept too (see
    ``PAGERDUTY_KINDS``). Other event types give no signal. The time is the event's
    occurred_at.
    """
    received = _received(received_at)
    top = _Fields(PAGERDUTY, _load_json(body, PAGERDUTY), "")
    event = top.mapping("event")
    event_type = event.string("event_type")
    kind = PAGERDUTY_KINDS.get(event_type)
    if kind is None:
        return []

    at = event.time("occurred_at", required=False) or received
    data = event.mapping("data")
    agent_fields = event.optional_mapping("agent")
    agent = _reference(agent_fields) if agent_fields else None
    details: dict[str, Any] = {
        "event_id": event.optional("id", str),
        "event_type": event_type,
        "agent": agent,
    }
    if event_type == "incident.annotated":
        details.update(_note_details(data, "content"))
    elif event_type == "incident.status_update_published":
        details.update(_note_details(data, "message"))
    else:
        details.update(_incident_details(data))
    if kind == ACKNOWLEDGED:
        details["acknowledged_by"] = agent["summary"] if agent else None

    summary = _pagerduty_summary(event_type, details, agent)
    return [Signal(kind, PAGERDUTY, at, summary, details)]


# --- alert groups (Alertmanager and Grafana) ------------------------------------


def _parse_alert_group(
    body: bytes,
    source: str,
    version: str,
    received: datetime,
    extra: Callable[[_Fields], dict[str, Any]] | None,
) -> list[Signal]:
    top = _Fields(source, _load_json(body, source), "")

    found = top.string("version")
    if found != version:
        raise WebhookError(
            source,
            f"expected {version!r}, the {_SENDERS[source]} webhook payload version, "
            f"got {_shown(found)}",
            field="version",
        )

    group: dict[str, Any] = {
        "receiver": top.optional("receiver", str),
        "group_key": top.optional("groupKey", str),
        "external_url": top.optional("externalURL", str),
        "truncated_alerts": top.optional("truncatedAlerts", int) or 0,
    }
    if extra is not None:
        group.update(extra(top))

    return [
        _alert_signal(alert, source, group, received, extra)
        for alert in top.objects("alerts")
    ]


def _alert_signal(
    alert: _Fields,
    source: str,
    group: dict[str, Any],
    received: datetime,
    extra: Callable[[_Fields], dict[str, Any]] | None,
) -> Signal:
    status = alert.choice("status", ("firing", "resolved"))
    labels = alert.labels("labels", required=True)
    annotations = alert.labels("annotations", required=False)
    starts_at = alert.time("startsAt", required=True)
    ends_at = alert.time("endsAt", required=False)

    # A firing alert's endsAt is Go's zero time or an estimate; only its start counts.
    if status == "firing":
        kind, at = DETECTED, starts_at or received
    else:
        kind, at = RESOLVED, ends_at or received

    name = labels.get("alertname") or "alert"
    text = annotations.get("summary") or annotations.get("description") or ""
    summary = f"{name} {status}: {text}" if text else f"{name} {status}"

    details: dict[str, Any] = {
        "alertname": labels.get("alertname"),
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "fingerprint": alert.optional("fingerprint", str),
        "starts_at": _iso(starts_at),
        "ends_at": _iso(ends_at),
        "generator_url": alert.optional("generatorURL", str),
        **group,
    }
    if extra is not None:
        details.update(extra(alert))
    return Signal(kind, source, at, _one_line(summary), details)


def _grafana_details(fields: _Fields) -> dict[str, Any]:
    """Grafana's additions, at the top of the body or on one alert."""
    if not fields.path:
        return {
            "org_id": fields.optional("orgId", int),
            "state": fields.optional("state", str),
            "title": fields.optional("title", str),
        }
    return {
        "dashboard_url": fields.optional("dashboardURL", str) or None,
        "panel_url": fields.optional("panelURL", str) or None,
        "silence_url": fields.optional("silenceURL", str) or None,
        "values": fields.numbers("values"),
    }


# --- PagerDuty ------------------------------------------------------------------


def _incident_details(data: _Fields) -> dict[str, Any]:
    assignees = [
        name
        for assignee in data.optional_objects("assignees")
        if (name := assignee.optional("summary", str))
    ]
    return {
        "incident_id": data.string("id"),
        "incident_number": data.optional("number", int),
        "title": data.optional("title", str),
        "status": data.optional("status", str),
        "urgency": data.optional("urgency", str),
        "incident_key": data.optional("incident_key", str),
        "html_url": data.optional("html_url", str),
        "service": _summary_of(data.optional_mapping("service")),
        "escalation_policy": _summary_of(data.optional_mapping("escalation_policy")),
        "assignees": assignees,
    }


def _note_details(data: _Fields, text_key: str) -> dict[str, Any]:
    incident = data.mapping("incident")
    return {
        "incident_id": incident.string("id"),
        "title": incident.optional("summary", str),
        "html_url": incident.optional("html_url", str),
        "text": data.optional(text_key, str),
    }


def _reference(fields: _Fields) -> dict[str, Any]:
    """A PagerDuty reference to a user, service or policy: id, summary, type."""
    return {
        "id": fields.optional("id", str),
        "summary": fields.optional("summary", str),
        "type": fields.optional("type", str),
    }


def _summary_of(fields: _Fields | None) -> str | None:
    return fields.optional("summary", str) if fields else None


def _pagerduty_summary(
    event_type: str, details: dict[str, Any], agent: dict[str, Any] | None
) -> str:
    number = details.get("incident_number")
    title = details.get("title") or details["incident_id"]
    incident = f"#{number} {title}" if number else title
    verb = event_type.removeprefix("incident.").replace("_", " ")
    who = agent["summary"] if agent and agent.get("summary") else None
    text = f"{incident} {verb} by {who}" if who else f"{incident} {verb}"
    if event_type == "incident.triggered" and details.get("assignees"):
        # The agent of a trigger is the integration; who got paged is the news.
        text = f"{incident} triggered, paging {', '.join(details['assignees'])}"
    if details.get("text"):
        text = f"{text}: {details['text']}"
    return _one_line(text)


# --- reading fields -------------------------------------------------------------


@dataclass(frozen=True)
class _Fields:
    """A JSON object of one webhook, with the path that leads to it."""

    source: str
    data: dict[str, Any]
    path: str

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> WebhookError:
        return WebhookError(self.source, message, field=self.at(key))

    def optional(self, key: str, expected: type[T]) -> T | None:
        """The value when present and not null, checked to be of ``expected``."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, expected) or isinstance(value, bool):
            wanted = _TYPE_NAMES[expected]
            raise self.fail(key, f"expected {wanted}, got {_shown(value)}")
        return value

    def required(self, key: str, expected: type[T]) -> T:
        value = self.optional(key, expected)
        if value is None:
            raise self.fail(key, f"missing; expected {_TYPE_NAMES[expected]}")
        return value

    def string(self, key: str) -> str:
        return self.required(key, str)

    def mapping(self, key: str) -> _Fields:
        return _Fields(self.source, self.required(key, dict), self.at(key))

    def optional_mapping(self, key: str) -> _Fields | None:
        found = self.optional(key, dict)
        return None if found is None else _Fields(self.source, found, self.at(key))

    def optional_objects(self, key: str) -> list[_Fields]:
        return self.objects(key) if self.data.get(key) is not None else []

    def objects(self, key: str) -> list[_Fields]:
        items = self.required(key, list)
        found = []
        for index, item in enumerate(items):
            path = f"{self.at(key)}[{index}]"
            if not isinstance(item, dict):
                raise WebhookError(
                    self.source, f"expected an object, got {_shown(item)}", field=path
                )
            found.append(_Fields(self.source, item, path))
        return found

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.string(key)
        if value not in choices:
            listed = " or ".join(repr(choice) for choice in choices)
            raise self.fail(key, f"expected {listed}, got {_shown(value)}")
        return value

    def labels(self, key: str, *, required: bool) -> dict[str, str]:
        """A label or annotation set: an object of strings."""
        found = self.required(key, dict) if required else self.optional(key, dict)
        labels = found or {}
        for name, value in labels.items():
            if not isinstance(value, str):
                raise self.fail(
                    f"{key}.{name}", f"expected a string, got {_shown(value)}"
                )
        return dict(labels)

    def numbers(self, key: str) -> dict[str, float] | None:
        found = self.optional(key, dict)
        if found is None:
            return None
        for name, value in found.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise self.fail(
                    f"{key}.{name}", f"expected a number, got {_shown(value)}"
                )
        return dict(found)

    def time(self, key: str, *, required: bool) -> datetime | None:
        """An RFC 3339 time in UTC; None for Go's zero time or an absent value."""
        text = self.required(key, str) if required else self.optional(key, str)
        if text is None:
            return None
        moment = _parse_rfc3339(text)
        if moment is None:
            raise self.fail(key, f"expected an RFC 3339 time, got {_shown(text)}")
        return None if moment.year == 1 else moment


def _parse_rfc3339(text: str) -> datetime | None:
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "").ljust(6, "0")[:6])
    try:
        zone = UTC if offset in ("Z", "z") else _offset(offset)
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micros,
            tzinfo=zone,
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _offset(text: str) -> timezone:
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


# --- small helpers --------------------------------------------------------------


def _load_json(body: bytes, source: str) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise WebhookTooLargeError(
            source,
            f"the body has {len(body)} bytes, more than the {MAX_BODY_BYTES} accepted",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WebhookError(
            source, f"the body is not UTF-8 (bad byte at offset {error.start})"
        ) from None
    if not text.strip():
        raise WebhookError(source, "the body is empty; expected a JSON object")

    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise WebhookError(
            source,
            f"the body is not JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno}",
        ) from None
    except RecursionError:
        raise WebhookError(source, "the body is nested too deeply") from None
    except ValueError as error:
        raise WebhookError(source, f"the body is not JSON: {error}") from None

    if not isinstance(data, dict):
        raise WebhookError(source, f"expected a JSON object, got {_shown(data)}")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _received(received_at: datetime | None) -> datetime:
    if received_at is None:
        return datetime.now(UTC)
    return received_at.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= _SUMMARY_LENGTH:
        return flat
    return flat[: _SUMMARY_LENGTH - 1] + "…"


def _shown(value: Any) -> str:
    """A short, one-line rendering of a bad value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    if len(text) <= _SHOWN_LENGTH:
        return text
    return text[: _SHOWN_LENGTH - 1] + "…"
