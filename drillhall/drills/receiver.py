"""The drill's webhook receiver: real alerting tools post here while a drill runs.

A ``WebhookReceiver`` serves three routes on loopback from a background thread:

| route | sender | check |
| --- | --- | --- |
| ``POST /alertmanager`` | Prometheus Alertmanager | Authorization token or basic auth |
| ``POST /grafana`` (or PUT) | Grafana alerting | token and/or HMAC signature |
| ``POST /pagerduty`` | PagerDuty v3 webhooks | ``X-PagerDuty-Signature`` |

Each request is verified (``drillhall.drills.signatures``), then parsed
(``drillhall.drills.webhooks``), and only then are its signals handed to the sink,
which appends them to the drill's timeline.
Replies: 202 accepted; 400 malformed body (with the one-line reason); 401 missing
or wrong credentials; 404 unknown path; 405 wrong method; 411 no Content-Length;
413 body over the cap; 500 when the sink failed. Alertmanager and PagerDuty retry
a 5xx and drop a 4xx, so a sink failure is retried and a bad body is not.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

from drillhall.drills.signatures import (
    Headers,
    WebhookAuthError,
    verify_bearer,
    verify_grafana,
    verify_pagerduty,
)
from drillhall.drills.webhooks import (
    ALERTMANAGER,
    GRAFANA,
    MAX_BODY_BYTES,
    PAGERDUTY,
    Signal,
    WebhookError,
    WebhookTooLargeError,
    parse_alertmanager,
    parse_grafana,
    parse_pagerduty,
)

__all__ = ["ROUTES", "WebhookReceiver", "WebhookReply"]

logger = logging.getLogger(__name__)

Sink = Callable[[Signal], None]
Clock = Callable[[], datetime]

# A refused body this small is read and dropped, so the connection stays usable and
# the sender reads the reply; a larger one is not read and the connection closes.
DRAIN_LIMIT = 16 * 1024 * 1024
READ_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class _Route:
    source: str
    methods: frozenset[str]


ROUTES = {
    "/alertmanager": _Route(ALERTMANAGER, frozenset({"POST"})),
    "/grafana": _Route(GRAFANA, frozenset({"POST", "PUT"})),
    "/pagerduty": _Route(PAGERDUTY, frozenset({"POST"})),
}


@dataclass(frozen=True)
class WebhookReply:
    """How to answer one webhook: the HTTP status and a one-line message."""

    status: HTTPStatus
    message: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WebhookReceiver:
    """Receive Alertmanager, Grafana and PagerDuty webhooks for one drill.

    ``sink`` gets every signal of every accepted request, in order, one call at a
    time (calls come from the server's worker threads, never at once). A request
    that fails verification or parsing never reaches it.

    A source whose secret is not configured refuses every request with 401:
    ``alertmanager_token`` for ``/alertmanager``; ``grafana_token`` and/or
    ``grafana_signing_secret`` (Grafana's HMAC, with its optional signature and
    timestamp header names) for ``/grafana``, every configured one being required;
    ``pagerduty_secrets`` (one or more during a rotation) for ``/pagerduty``.

    ``max_body_bytes`` can lower the 1 MiB cap on a body, not raise it. ``clock``
    gives the receipt time used when a payload has none and to judge Grafana's
    signed timestamps. Secrets are never logged, nor is a URL's query string.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        alertmanager_token: str | None,
        grafana_token: str | None,
        pagerduty_secrets: Sequence[str],
        host: str = "127.0.0.1",
        port: int = 0,
        grafana_signing_secret: str | None = None,
        grafana_signature_header: str | None = None,
        grafana_timestamp_header: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Clock = _utc_now,
    ) -> None:
        self._sink = sink
        self._alertmanager_token = alertmanager_token
        self._grafana_token = grafana_token
        self._grafana_signing_secret = grafana_signing_secret
        self._grafana_signature_header = grafana_signature_header
        self._grafana_timestamp_header = grafana_timestamp_header
        self._pagerduty_secrets = list(pagerduty_secrets)
        self._host = host
        self._port = port
        self.max_body_bytes = min(max_body_bytes, MAX_BODY_BYTES)
        self._clock = clock
        self._sink_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The base URL the receiver listens on; routes are appended to it."""
        if self._url is None:
            raise RuntimeError("the webhook receiver is not running; call start()")
        return self._url

    def start(self) -> str:
        """Bind, serve from a background thread, and return the base URL."""
        if self._server is not None:
            raise RuntimeError("the webhook receiver is already running")

        server_class = _Server6 if ":" in self._host else _Server
        server = server_class((self._host, self._port), _Handler)
        server.receiver = self
        port = server.server_port
        shown = f"[{self._host}]" if ":" in self._host else self._host
        self._url = f"http://{shown}:{port}"
        self._warn_unless_loopback()

        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="drillhall-webhooks",
            daemon=True,
        )
        self._thread.start()
        logger.info("receiving alerting webhooks at %s", self._url)
        return self._url

    def stop(self) -> None:
        """Stop serving and close the socket; calling it twice is harmless."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=READ_TIMEOUT_SECONDS)
        self._server = self._thread = None
        logger.info("stopped receiving webhooks at %s", self._url)

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def receive(self, source: str, body: bytes, headers: Headers) -> WebhookReply:
        """Verify, parse and deliver one request's body; say how to answer it."""
        received_at = self._clock()
        try:
            self._verify(source, body, headers, received_at)
            signals = _PARSERS[source](body, received_at=received_at)
        except WebhookAuthError as error:
            return WebhookReply(HTTPStatus.UNAUTHORIZED, str(error))
        except WebhookTooLargeError as error:
            return WebhookReply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(error))
        except WebhookError as error:
            return WebhookReply(HTTPStatus.BAD_REQUEST, str(error))

        try:
            with self._sink_lock:
                for signal in signals:
                    self._sink(signal)
        except Exception:
            logger.exception("the drill did not take the %s webhook's signals", source)
            return WebhookReply(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "the drill could not record this webhook; retry later",
            )

        kinds = ", ".join(signal.kind for signal in signals) or "nothing to record"
        return WebhookReply(HTTPStatus.ACCEPTED, f"accepted: {kinds}")

    def _verify(
        self, source: str, body: bytes, headers: Headers, now: datetime
    ) -> None:
        if source == ALERTMANAGER:
            verify_bearer(headers, self._alertmanager_token, source=ALERTMANAGER)
        elif source == GRAFANA:
            verify_grafana(
                body,
                headers,
                now=now,
                token=self._grafana_token,
                signing_secret=self._grafana_signing_secret,
                signature_header=self._grafana_signature_header,
                timestamp_header=self._grafana_timestamp_header,
            )
        else:
            verify_pagerduty(body, headers, self._pagerduty_secrets)

    def _warn_unless_loopback(self) -> None:
        if self._host == "localhost":
            return
        try:
            loopback = ipaddress.ip_address(self._host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            logger.warning(
                "the webhook receiver listens on %s, beyond loopback: webhooks "
                "arrive over plain HTTP, so put a TLS proxy in front of it",
                self._host,
            )


_PARSERS = {
    ALERTMANAGER: parse_alertmanager,
    GRAFANA: parse_grafana,
    PAGERDUTY: parse_pagerduty,
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's backlog of 5 resets connections when a group of alerts, or a
    # sender's retry queue, arrives at once.
    request_queue_size = 128
    receiver: WebhookReceiver


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """One HTTP exchange: route, read the body within its cap, answer in one line."""

    protocol_version = "HTTP/1.1"
    server_version = "drillhall-webhooks"
    sys_version = ""
    timeout = READ_TIMEOUT_SECONDS

    def do_POST(self) -> None:
        self._exchange()

    def do_PUT(self) -> None:
        self._exchange()

    def do_GET(self) -> None:
        self._exchange()

    def do_DELETE(self) -> None:
        self._exchange()

    def do_PATCH(self) -> None:
        self._exchange()

    def log_message(self, format: str, *args: object) -> None:
        # http.server's own access and error lines; ours is logged in _exchange.
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s", self.address_string(), format % args)

    def _exchange(self) -> None:
        path = urlsplit(self.path).path
        source = "-"
        reply = WebhookReply(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
        try:
            reply, source = self._answer(path)
        except Exception:
            logger.exception("the webhook receiver failed on %s %s", self.command, path)
            self.close_connection = True

        # Logged before the reply, so the log never lags what the sender saw. The
        # query string is left out: some senders are configured with tokens in it.
        logger.info(
            "webhook %s %s from %s (%s): %d %s",
            self.command,
            path,
            self.client_address[0],
            source,
            reply.status.value,
            reply.message,
        )
        self._send(reply)

    def _answer(self, path: str) -> tuple[WebhookReply, str]:
        route = ROUTES.get(path.rstrip("/") or "/")
        receiver = cast(_Server, self.server).receiver

        if route is None:
            self._discard_body()
            known = ", ".join(sorted(ROUTES))
            return WebhookReply(
                HTTPStatus.NOT_FOUND, f"no route {path}; use {known}"
            ), "-"

        if self.command not in route.methods:
            self._discard_body()
            allowed = " or ".join(sorted(route.methods))
            message = f"{path} takes {allowed}, not {self.command}"
            return WebhookReply(HTTPStatus.METHOD_NOT_ALLOWED, message), route.source

        body_or_reply = self._read_body(receiver.max_body_bytes)
        if isinstance(body_or_reply, WebhookReply):
            return body_or_reply, route.source
        return receiver.receive(route.source, body_or_reply, self.headers), route.source

    def _read_body(self, limit: int) -> bytes | WebhookReply:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return WebhookReply(
                HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length"
            )

        declared = self.headers.get("Content-Length", "0").strip()
        if not declared.isdigit():
            self.close_connection = True
            return WebhookReply(
                HTTPStatus.BAD_REQUEST, f"Content-Length: not a length: {declared!r}"
            )

        length = int(declared)
        if length > limit:
            self._discard_body()
            return WebhookReply(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the body has {length} bytes, more than the {limit} accepted",
            )

        try:
            body = self.rfile.read(length)
        except OSError:
            body = b""
        if len(body) < length:
            self.close_connection = True
            return WebhookReply(
                HTTPStatus.BAD_REQUEST,
                f"the body ended after {len(body)} of {length} bytes",
            )
        return body

    def _discard_body(self) -> None:
        """Read and drop a body that will not be used, or close when it is huge."""
        declared = self.headers.get("Content-Length", "0").strip()
        length = int(declared) if declared.isdigit() else DRAIN_LIMIT + 1
        if self.headers.get("Transfer-Encoding") or length > DRAIN_LIMIT:
            self.close_connection = True
            return
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 64 * 1024))
                if not chunk:
                    break
                length -= len(chunk)
        except OSError:
            self.close_connection = True

    def _send(self, reply: WebhookReply) -> None:
        payload = (reply.message + "\n").encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            if reply.status == HTTPStatus.METHOD_NOT_ALLOWED:
                route = ROUTES.get(urlsplit(self.path).path.rstrip("/"))
                if route is not None:
                    self.send_header("Allow", ", ".join(sorted(route.methods)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            # The sender hung up before the reply; nothing is left to tell it.
            self.close_connection = True
