"""Webhook requests verified to come from the alerting tool they name.

The drill's receiver (``drillhall.drills.receiver``) checks every request here
before it reads the body. Each sender authenticates in its own way:

- **Prometheus Alertmanager**: its ``http_config`` sends
  ``Authorization: <type> <credentials>`` (type "Bearer" unless configured) or
  ``basic_auth``.
- **Grafana alerting**: an Authorization header (scheme "Bearer" unless
  configured) or basic auth, and optionally a signature of the body: hex
  HMAC-SHA256 of the body, or of ``<unix seconds>:<body>`` when a timestamp header
  is configured.
- **PagerDuty v3 webhook subscriptions**:
  ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>``; while a secret
  rotates the header carries several comma-separated signatures.

Everything here is pure: body, headers and the configured secrets in, nothing or a
``WebhookAuthError`` out. Tokens and signatures are compared in constant time, and
a source with no secret configured refuses every request. The body is only signed
bytes here; ``drillhall.drills.webhooks`` reads it once it is verified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from drillhall.drills.webhooks import GRAFANA, PAGERDUTY, WebhookError

__all__ = [
    "GRAFANA_SIGNATURE_HEADERS",
    "Headers",
    "WebhookAuthError",
    "verify_bearer",
    "verify_grafana",
    "verify_grafana_signature",
    "verify_pagerduty",
]

# Grafana's contact point form suggests the first name; its signing code falls back
# to the second when the header field is left empty. Both are looked for by default.
GRAFANA_SIGNATURE_HEADERS = (
    "X-Grafana-Alerting-Signature",
    "X-Grafana-Alert-Signature",
)
GRAFANA_MAX_SKEW = timedelta(minutes=5)
PAGERDUTY_SIGNATURE_HEADER = "X-PagerDuty-Signature"

_SHOWN_LENGTH = 60


class Headers(Protocol):
    """Request headers: a plain mapping or ``http.server``'s message both fit."""

    def items(self) -> Iterable[tuple[str, Any]]: ...


class WebhookAuthError(WebhookError):
    """The request is unsigned, wrongly signed, or its source has no secret set."""


def verify_bearer(headers: Headers, secret: str | None, *, source: str) -> None:
    """Check the Authorization header against the configured token.

    Accepted: ``<scheme> <secret>`` for any scheme but Basic (Alertmanager's
    ``authorization``, default type Bearer; Grafana's authorization header), and
    ``Basic <base64 user:password>`` (``basic_auth``) whose password is the secret,
    or whose whole ``user:password`` is the secret when the secret holds a colon.
    Comparisons take constant time. Raises ``WebhookAuthError``.
    """
    if not secret:
        raise _not_configured(source, "token")

    value = _header(headers, "Authorization")
    if value is None:
        raise WebhookAuthError(
            source,
            "missing; expected 'Bearer <token>' or basic auth",
            field="Authorization",
        )

    scheme, _, credentials = value.strip().partition(" ")
    credentials = credentials.strip()
    if not credentials:
        raise WebhookAuthError(
            source, "expected '<scheme> <credentials>'", field="Authorization"
        )

    presented = credentials
    if scheme.lower() == "basic":
        pair = _decode_basic(credentials, source)
        presented = pair if ":" in secret else pair.partition(":")[2]

    if not _same(presented, secret):
        raise WebhookAuthError(
            source,
            "the credentials do not match the configured token",
            field="Authorization",
        )


def verify_grafana_signature(
    body: bytes,
    headers: Headers,
    secret: str | None,
    *,
    now: datetime,
    header: str | None = None,
    timestamp_header: str | None = None,
    max_skew: timedelta = GRAFANA_MAX_SKEW,
) -> None:
    """Check Grafana's HMAC-SHA256 signature of the body.

    The signature is the hex digest of the body, or of ``<timestamp>:<body>`` when
    ``timestamp_header`` names the header holding Grafana's Unix timestamp; such a
    timestamp more than ``max_skew`` away from ``now`` is refused as a replay.
    ``header`` is the signature header configured in Grafana; by default both of
    ``GRAFANA_SIGNATURE_HEADERS`` are looked for. Raises ``WebhookAuthError``.
    """
    if not secret:
        raise _not_configured(GRAFANA, "signing secret")

    names = (header,) if header else GRAFANA_SIGNATURE_HEADERS
    found = [(name, _header(headers, name)) for name in names]
    present = [(name, value) for name, value in found if value is not None]
    if not present:
        raise WebhookAuthError(GRAFANA, "missing", field=" or ".join(names))
    name, signature = present[0]

    signed = body
    if timestamp_header:
        timestamp = _grafana_timestamp(headers, timestamp_header, now, max_skew)
        signed = timestamp.encode("ascii") + b":" + body

    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    if not _same(str(signature).strip().lower(), expected):
        raise WebhookAuthError(
            GRAFANA, "the signature does not match the body", field=name
        )


def verify_grafana(
    body: bytes,
    headers: Headers,
    *,
    now: datetime,
    token: str | None = None,
    signing_secret: str | None = None,
    signature_header: str | None = None,
    timestamp_header: str | None = None,
) -> None:
    """Check a Grafana request: every configured check must pass.

    ``token`` is checked with ``verify_bearer``, ``signing_secret`` with
    ``verify_grafana_signature``; with neither configured every request is refused.
    """
    if not token and not signing_secret:
        raise _not_configured(GRAFANA, "token or signing secret")
    if token:
        verify_bearer(headers, token, source=GRAFANA)
    if signing_secret:
        verify_grafana_signature(
            body,
            headers,
            signing_secret,
            now=now,
            header=signature_header,
            timestamp_header=timestamp_header,
        )


def verify_pagerduty(body: bytes, headers: Headers, secrets: Sequence[str]) -> None:
    """Check ``X-PagerDuty-Signature`` against the raw body and every secret.

    The header holds one or more comma-separated ``v1=<hex HMAC-SHA256>``
    signatures (several while a secret rotates); entries of other versions are
    ignored. One match with any configured secret is enough. Comparisons take
    constant time. Raises ``WebhookAuthError``.
    """
    usable = [secret for secret in secrets if secret]
    if not usable:
        raise _not_configured(PAGERDUTY, "signing secret")

    value = _header(headers, PAGERDUTY_SIGNATURE_HEADER)
    if value is None:
        raise WebhookAuthError(
            PAGERDUTY, "missing; expected 'v1=<hex>'", field=PAGERDUTY_SIGNATURE_HEADER
        )

    presented = [
        entry.strip()[3:].lower()
        for entry in str(value).split(",")
        if entry.strip().startswith("v1=")
    ]
    if not presented:
        raise WebhookAuthError(
            PAGERDUTY,
            f"no v1 signature in {_shown(str(value))}",
            field=PAGERDUTY_SIGNATURE_HEADER,
        )

    expected = [
        hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        for secret in usable
    ]
    matches = [_same(given, wanted) for given in presented for wanted in expected]
    if not any(matches):
        raise WebhookAuthError(
            PAGERDUTY,
            "no signature matches a configured secret",
            field=PAGERDUTY_SIGNATURE_HEADER,
        )


# --- small helpers --------------------------------------------------------------


def _header(headers: Headers, name: str) -> str | None:
    """The first header of that name, whatever its case."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return None


def _decode_basic(credentials: str, source: str) -> str:
    try:
        raw = base64.b64decode(credentials, validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise WebhookAuthError(
            source,
            "basic credentials are not base64 of 'user:password'",
            field="Authorization",
        ) from None


def _grafana_timestamp(
    headers: Headers, name: str, now: datetime, max_skew: timedelta
) -> str:
    value = _header(headers, name)
    if value is None:
        raise WebhookAuthError(GRAFANA, "missing; expected Unix seconds", field=name)
    value = value.strip()
    if not value.isdigit():
        raise WebhookAuthError(
            GRAFANA, f"expected Unix seconds, got {_shown(value)}", field=name
        )
    skew = abs(now.timestamp() - int(value))
    if skew > max_skew.total_seconds():
        raise WebhookAuthError(
            GRAFANA,
            f"the timestamp is {skew:.0f} s away from now, more than the "
            f"{max_skew.total_seconds():.0f} s allowed: a replay, or clocks apart",
            field=name,
        )
    return value


def _not_configured(source: str, what: str) -> WebhookAuthError:
    return WebhookAuthError(
        source, f"no {what} is configured for this source, so every request is refused"
    )


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _shown(text: str) -> str:
    """A header value as an error message shows it: quoted, on one short line."""
    quoted = repr(text)
    if len(quoted) <= _SHOWN_LENGTH:
        return quoted
    return quoted[: _SHOWN_LENGTH - 1] + "…"
