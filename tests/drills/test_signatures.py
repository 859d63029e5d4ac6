"""Webhook requests verified alone: tokens, basic auth and HMAC signatures.

The receiver over HTTP, with these checks in front of the parsers, is tested in
``test_webhooks.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from drillhall.drills.signatures import (
    WebhookAuthError,
    verify_bearer,
    verify_grafana_signature,
    verify_pagerduty,
)

NOW = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)


def sign(body: bytes, *secrets: str) -> str:
    return ",".join(
        "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for secret in secrets
    )


@pytest.mark.parametrize(
    ("authorization", "secret"),
    [
        ("Bearer s3cret", "s3cret"),
        ("bearer   s3cret ", "s3cret"),
        ("Token s3cret", "s3cret"),
        ("Basic " + base64.b64encode(b"alertmanager:s3cret").decode(), "s3cret"),
        ("Basic " + base64.b64encode(b"am:s3cret").decode(), "am:s3cret"),
    ],
)
def test_verify_bearer_accepts(authorization, secret):
    verify_bearer({"authorization": authorization}, secret, source="alertmanager")


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer", "expected '<scheme> <credentials>'"),
        ("Basic not-base64!", "not base64"),
        ("Basic " + base64.b64encode(b"s3cret:other").decode(), "do not match"),
        ("Basic " + base64.b64encode(b"other:s3cret").decode(), "do not match"),
    ],
)
def test_verify_bearer_refuses(authorization, reason):
    with pytest.raises(WebhookAuthError, match=reason):
        verify_bearer(
            {"Authorization": authorization}, "am:s3cret", source="alertmanager"
        )


def test_verify_pagerduty_ignores_other_versions_and_unset_secrets():
    body = b'{"event": {}}'
    header = "v2=0000," + sign(body, "second")

    verify_pagerduty(body, {"x-pagerduty-signature": header}, ["", "first", "second"])


def test_verify_grafana_signature_default_and_fallback_header_names():
    body = b'{"version": "1"}'
    digest = hmac.new(b"key", body, hashlib.sha256).hexdigest()

    for name in ("X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature"):
        verify_grafana_signature(body, {name: digest.upper()}, "key", now=NOW)
    verify_grafana_signature(body, {"X-Sig": digest}, "key", now=NOW, header="X-Sig")
    with pytest.raises(WebhookAuthError, match="X-Sig: missing"):
        verify_grafana_signature(body, {}, "key", now=NOW, header="X-Sig")


def test_verify_grafana_signature_refuses_an_old_timestamp():
    body = b"{}"
    stamp = str(int((NOW - timedelta(minutes=6)).timestamp()))
    digest = hmac.new(b"key", f"{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Grafana-Alerting-Signature": digest, "X-Stamp": stamp}

    with pytest.raises(WebhookAuthError, match="360 s away from now"):
        verify_grafana_signature(
            body, headers, "key", now=NOW, timestamp_header="X-Stamp"
        )


def test_verify_pagerduty_shows_a_long_header_cut_short():
    header = "v0=" + "a" * 100

    with pytest.raises(WebhookAuthError) as caught:
        verify_pagerduty(b"{}", {"X-PagerDuty-Signature": header}, ["secret"])

    assert str(caught.value) == (
        "pagerduty webhook: X-PagerDuty-Signature: no v1 signature in "
        "'v0=" + "a" * 55 + "…"
    )
