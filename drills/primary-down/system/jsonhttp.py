"""JSON over HTTP on loopback, shared by the example system's processes.

Standard library only, so that the stores and the service run on any Python 3.11
without the project's virtual environment: a request handler that reads and
writes JSON, a server loop that ends on SIGTERM, SIGINT or after a bounded
lifetime, and one small client that never follows proxy settings.
"""

from __future__ import annotations

import http.client
import json
import signal
import sys
import threading
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

MAX_BODY_BYTES = 1 << 20

# Loopback only: an http_proxy variable in the environment must not apply.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BadRequest(Exception):
    """A request that cannot be served as sent; answered with 400 and the reason."""


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler whose answers are JSON documents (or metrics text)."""

    server_version = "drillhall-example/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet per request: a drill's load would flood the log file."""

    def answer(self, respond: Callable[[], None]) -> None:
        """Run one route, turning a bad request or a bug into a clear reply."""
        try:
            respond()
        except BadRequest as error:
            self.send_json(400, {"error": str(error)})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as error:  # a bug answers 500 and the server goes on
            traceback.print_exc(file=sys.stderr)
            self.send_json(500, {"error": f"internal error: {error!r}"})

    def read_json(self) -> Any:
        """The request body decoded from JSON; BadRequest when it is not."""
        header = self.headers.get("Content-Length") or "0"
        try:
            length = int(header)
        except ValueError:
            raise BadRequest(f"Content-Length is not a number: {header!r}") from None

        if length <= 0:
            raise BadRequest("a JSON body is required")
        if length > MAX_BODY_BYTES:
            raise BadRequest(f"the body has {length} bytes, over {MAX_BODY_BYTES}")

        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadRequest(f"the body is not JSON: {error}") from None

    def send_json(self, status: int, body: Any) -> None:
        """Answer with a JSON document."""
        self.send_body(status, json.dumps(body).encode(), "application/json")

    def send_body(self, status: int, data: bytes, content_type: str) -> None:
        """Answer with the given bytes and content type."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def make_server(port: int, handler: type[JsonHandler]) -> ThreadingHTTPServer:
    """A threading server on 127.0.0.1 whose request threads never block exit."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def serve(server: ThreadingHTTPServer, lifetime: float, stop: threading.Event) -> None:
    """Serve until SIGTERM or SIGINT, until ``stop`` is set, or for ``lifetime`` s.

    The lifetime bounds how long a forgotten process can outlive its drill.
    """

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    )
    thread.start()

    stop.wait(lifetime)

    stop.set()
    server.shutdown()
    server.server_close()


def call(
    method: str, url: str, body: Any = None, *, timeout: float = 2.0
) -> tuple[int, Any]:
    """Send one request; return the status and the JSON answer (None if not JSON).

    Raises OSError (a ConnectionError, a timeout, a URLError) when nothing answered.
    """
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, _decode(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, _decode(error.read())
    except http.client.HTTPException as error:
        raise ConnectionError(f"{method} {url}: {error!r}") from error


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
