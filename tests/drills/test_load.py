"""Real Locust load against a real server on loopback, from a spawned child."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from drillhall.drills.load import LoadProfile, LoadRun, Request


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 500 if self.path.startswith("/broken") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *arguments: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_declared_load_reports_each_second(server):
    profile = LoadProfile(
        host=server,
        users=4,
        spawn_rate=4,
        requests=[Request("/fine", weight=3), Request("/broken", weight=1)],
        duration=30,
        wait=0.05,
    )
    load = LoadRun(profile)
    load.start()
    seconds = []
    deadline = time.monotonic() + 20
    while len(seconds) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
        seconds += load.poll()
    seconds += load.stop()

    assert len(seconds) >= 3
    requests = sum(second.requests for second in seconds)
    failures = sum(second.failures for second in seconds)
    assert requests > 50
    assert 0.1 < failures / requests < 0.45  # a quarter of the weight is broken
    assert any(second.latency_p95_ms is not None for second in seconds)
    assert not load.running


def test_load_stops_by_itself_after_its_duration(server):
    profile = LoadProfile(host=server, users=1, requests=[Request("/fine")], duration=2)
    load = LoadRun(profile)
    load.start()
    deadline = time.monotonic() + 30
    while load.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not load.running
    load.stop()
