"""A small HTTP service that reads and writes items through one backend store.

    python3 service.py --port 8000 --backend http://127.0.0.1:8001

Routes on 127.0.0.1:

- ``GET /item/<key>``, ``PUT /item/<key>`` with ``{"value": ...}``: passed to the
  backend store. 404 for a missing key; 503 when the backend is a read-only
  replica; 502 when it does not answer.
- ``GET /backend``, ``POST /backend`` with ``{"url": ...}``: the store in use, and
  repointing it (the runbook's "repoint the service" step).
- ``GET /health``: 200 when the backend answers and accepts writes, else 503.
- ``GET /metrics``: Prometheus text: ``service_backend_up`` (1 when the backend
  answers its health check, probed at scrape time), ``service_backend_info``,
  ``service_requests_total`` by method and status, and the
  ``service_request_duration_seconds`` histogram of item requests.
"""

from __future__ import annotations

import argparse
import bisect
import sys
import threading
import time
import traceback
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from jsonhttp import BadRequest, JsonHandler, call, make_server, serve

BACKEND_TIMEOUT = 1.0
HEALTH_TIMEOUT = 0.5
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Backend:
    """The URL of the store in use; repointed while requests are in flight."""

    def __init__(self, url: str) -> None:
        self._lock = threading.Lock()
        self._url = check_url(url)

    @property
    def url(self) -> str:
        with self._lock:
            return self._url

    def repoint(self, url: str) -> str:
        checked = check_url(url)
        with self._lock:
            self._url = checked
        return checked

    def health(self) -> dict[str, Any] | None:
        """The backend's own health document, or None when it does not answer."""
        try:
            status, body = call("GET", f"{self.url}/health", timeout=HEALTH_TIMEOUT)
        except OSError:
            return None
        return body if status == 200 and isinstance(body, dict) else None


def check_url(url: Any) -> str:
    """A backend URL as ``http://host:port``; BadRequest for anything else."""
    parts = urlsplit(str(url))
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise BadRequest(f"a backend URL looks like http://127.0.0.1:8001, got {url!r}")
    return f"http://{parts.hostname}:{parts.port}"


class Metrics:
    """Request counters and a latency histogram, rendered as Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = {}
        self._buckets = [0] * (len(BUCKETS) + 1)
        self._sum = 0.0

    def observe(self, method: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, status)
            self._requests[key] = self._requests.get(key, 0) + 1
            self._buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sum += seconds

    def render(self, backend_url: str, backend_up: bool) -> str:
        with self._lock:
            requests = sorted(self._requests.items())
            buckets, total = list(self._buckets), self._sum
        lines = [
            "# HELP service_backend_up 1 when the backend store answers its health.",
            "# TYPE service_backend_up gauge",
            f"service_backend_up {int(backend_up)}",
            "# HELP service_backend_info The backend store in use.",
            "# TYPE service_backend_info gauge",
            f'service_backend_info{{url="{_label(backend_url)}"}} 1',
            "# HELP service_requests_total Item requests answered.",
            "# TYPE service_requests_total counter",
        ]
        lines += [
            f'service_requests_total{{method="{method}",status="{status}"}} {count}'
            for (method, status), count in requests
        ]
        lines += [
            "# HELP service_request_duration_seconds Time to answer an item request.",
            "# TYPE service_request_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip((*BUCKETS, "+Inf"), buckets, strict=True):
            cumulative += count
            name = "service_request_duration_seconds_bucket"
            lines.append(f'{name}{{le="{bound}"}} {cumulative}')
        lines.append(f"service_request_duration_seconds_sum {total}")
        lines.append(f"service_request_duration_seconds_count {cumulative}")
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class ServiceHandler(JsonHandler):
    """The service's HTTP routes; backend and metrics sit on the server."""

    @property
    def backend(self) -> Backend:
        return self.server.backend  # type: ignore[attr-defined, no-any-return]

    @property
    def metrics(self) -> Metrics:
        return self.server.metrics  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/item/"):
            self._item(path)
        elif path == "/health":
            self.answer(self._health)
        elif path == "/metrics":
            self.answer(self._metrics)
        elif path == "/backend":
            self.answer(lambda: self.send_json(200, {"url": self.backend.url}))
        else:
            self.send_json(404, {"error": f"no route GET {path}"})

    def do_PUT(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/item/"):
            self._item(path)
        else:
            self.send_json(404, {"error": f"no route PUT {path}"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/backend":
            self.answer(self._repoint)
        else:
            self.send_json(404, {"error": f"no route POST {path}"})

    def _item(self, path: str) -> None:
        """Pass one item request to the backend, timed and counted."""
        started = time.perf_counter()
        try:
            status, body = self._pass_to_backend(unquote(path[len("/item/") :]))
        except BadRequest as error:
            status, body = 400, {"error": str(error)}
        except Exception as error:  # a bug answers 500 and the service goes on
            traceback.print_exc(file=sys.stderr)
            status, body = 500, {"error": f"internal error: {error!r}"}
        self.metrics.observe(self.command, status, time.perf_counter() - started)
        self.answer(lambda: self.send_json(status, body))

    def _pass_to_backend(self, key: str) -> tuple[int, Any]:
        if not key:
            raise BadRequest("an item needs a key: /item/<key>")
        payload = None
        if self.command == "PUT":
            payload = self.read_json()
            if not isinstance(payload, dict) or "value" not in payload:
                raise BadRequest('the body must be {"value": ...}')

        url = f"{self.backend.url}/kv/{quote(key, safe='')}"
        try:
            status, body = call(self.command, url, payload, timeout=BACKEND_TIMEOUT)
        except OSError as error:
            return 502, {"error": f"backend {self.backend.url} unreachable: {error}"}

        if status in (200, 404, 400):
            return status, body
        if status == 409:
            return 503, {"error": f"backend {self.backend.url} is read-only"}
        return 502, {"error": f"backend {self.backend.url} answered {status}"}

    def _health(self) -> None:
        health = self.backend.health()
        url = self.backend.url
        if health is None:
            self.send_json(503, {"status": "down", "backend": url, "why": "no answer"})
        elif health.get("role") != "primary":
            why = "the backend is a read-only replica"
            self.send_json(503, {"status": "degraded", "backend": url, "why": why})
        else:
            self.send_json(200, {"status": "ok", "backend": url})

    def _metrics(self) -> None:
        url = self.backend.url
        text = self.metrics.render(url, self.backend.health() is not None)
        self.send_body(200, text.encode(), "text/plain; version=0.0.4")

    def _repoint(self) -> None:
        body = self.read_json()
        if not isinstance(body, dict) or "url" not in body:
            raise BadRequest('the body must be {"url": "http://127.0.0.1:PORT"}')
        self.send_json(200, {"url": self.backend.repoint(body["url"])})


def main(argv: list[str] | None = None) -> None:
    """Run the service until SIGTERM, SIGINT or the end of its lifetime."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", required=True, metavar="URL")
    parser.add_argument("--lifetime", type=float, default=86400.0, help="seconds")
    options = parser.parse_args(argv)

    server = make_server(options.port, ServiceHandler)
    server.backend = Backend(options.backend)  # type: ignore[attr-defined]
    server.metrics = Metrics()  # type: ignore[attr-defined]
    print(f"service on 127.0.0.1:{options.port}, backend {options.backend}", flush=True)
    serve(server, options.lifetime, threading.Event())


if __name__ == "__main__":
    main()
