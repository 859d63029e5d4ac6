"""Servers the tests start for themselves: PostgreSQL, and Chromium via Playwright.

Both come from Debian's packages, which ``./run tests`` installs. Where one is
missing the tests that need it are skipped, except under CI (``CI`` set), where a
missing server is an error: CI must not pass by skipping what it should test.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing(what: str, install: str) -> None:
    """Skip a test whose server is not installed, or fail under CI."""
    message = f"{what} is not installed ({install}; `./run tests` does it as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on 127.0.0.1; yields its SQLAlchemy URL."""
    binaries = _postgres_binaries()
    if binaries is None:
        missing("PostgreSQL", "apt-get install postgresql")
        raise AssertionError("unreachable")

    # PostgreSQL refuses to run as root: as root, run it as Debian's postgres user.
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="drillhall-pg-"))
    data = folder / "data"
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run(
            [*as_user, *command], check=True, capture_output=True, timeout=120
        )

    run(str(binaries / "initdb"), "-D", str(data), "-U", "drillhall",
        "--auth=trust", "--encoding=UTF8", "--no-sync")  # fmt: skip
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
    run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options,
        "-l", str(folder / "server.log"), "-w", "-t", "60", "start")  # fmt: skip
    try:
        url = f"postgresql+psycopg://drillhall@127.0.0.1:{port}/postgres"
        _wait_for_port(port)
        yield url
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; returns its URL."""
    import sqlalchemy as sa

    name = f"test_{os.getpid()}_{time.monotonic_ns()}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def chromium_browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright; yields the browser."""
    if not Path(CHROMIUM).exists():
        missing("Chromium", "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()
