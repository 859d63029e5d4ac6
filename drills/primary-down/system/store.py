"""A tiny key-value store, one process, running as a primary or as a replica.

    python3 store.py --name primary --port 8001
    python3 store.py --name replica --port 8002 --follow http://127.0.0.1:8001

JSON over HTTP on 127.0.0.1:

- ``GET /health``: name, role, the followed leader, the data's version.
- ``GET /kv/<key>``, ``PUT /kv/<key>`` with ``{"value": ...}``: a replica refuses
  writes with 409.
- ``GET /snapshot?since=<version>``: the whole data set, or ``{"unchanged": true}``.
- ``POST /promote``: a replica stops following and accepts writes.
- ``POST /demote`` with ``{"follow": URL}`` (or ``null``): the store becomes a
  read-only replica; with a URL it mirrors that leader.

A replica polls its leader's snapshot every tenth of a second and adopts it as a
whole: a follower always mirrors its leader, so two stores must never follow each
other (the rollback fences the old writer before the new one takes over). A
version is ``<history>:<seq>``; every store that starts as or becomes a primary
opens a new history, so two stores with the same version hold the same data.
Data lives in memory only: a killed store loses it and is rebuilt from the other.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from jsonhttp import BadRequest, JsonHandler, call, make_server, serve

FOLLOW_INTERVAL = 0.1
FOLLOW_TIMEOUT = 1.0
MAX_KEY_LENGTH = 256


class ReadOnly(Exception):
    """A write reached a store that is not the primary."""


class Store:
    """The data, the version and the role of one store, behind one lock."""

    def __init__(self, name: str, leader: str | None) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {}
        self.seq = 0
        self.leader = leader
        self.role = "replica" if leader else "primary"
        self.history = "" if leader else _new_history()
        self.leader_reachable: bool | None = None
        self.synced_at: float | None = None

    @property
    def version(self) -> str:
        return f"{self.history}:{self.seq}"

    def health(self) -> dict[str, Any]:
        """What an operator or the rollback needs to know about this store."""
        with self.lock:
            return {
                "status": "ok",
                "name": self.name,
                "role": self.role,
                "following": self.leader,
                "leader_reachable": self.leader_reachable,
                "synced_at": self.synced_at,
                "version": self.version,
                "keys": len(self.data),
            }

    def get(self, key: str) -> tuple[bool, Any]:
        with self.lock:
            return key in self.data, self.data.get(key)

    def put(self, key: str, value: Any) -> int:
        """Write one key; the new sequence number. ReadOnly on a replica."""
        with self.lock:
            if self.role != "primary":
                raise ReadOnly(f"{self.name} is a read-only replica")
            self.data[key] = value
            self.seq += 1
            return self.seq

    def snapshot(self, since: str | None) -> dict[str, Any]:
        """The whole data set, unless the caller already holds this version."""
        with self.lock:
            if since == self.version:
                return {"version": self.version, "unchanged": True}
            return {"version": self.version, "data": dict(self.data)}

    def promote(self) -> None:
        """Stop following and accept writes, in a history of this store's own."""
        with self.lock:
            if self.role == "primary":
                return
            self.role = "primary"
            self.leader = None
            self.leader_reachable = None
            self.history = _new_history()

    def demote(self, leader: str | None) -> None:
        """Refuse writes from now on; mirror ``leader`` when one is given."""
        with self.lock:
            if self.role == "replica" and self.leader == leader:
                return
            self.role = "replica"
            self.leader = leader
            self.leader_reachable = None

    def follow_once(self) -> None:
        """Fetch the leader's snapshot once and adopt it if it is new."""
        with self.lock:
            leader, since = self.leader, self.version
        if leader is None:
            return

        try:
            status, body = call(
                "GET", f"{leader}/snapshot?since={since}", timeout=FOLLOW_TIMEOUT
            )
        except OSError:
            status, body = 0, None
        usable = status == 200 and isinstance(body, dict)

        with self.lock:
            # The leader may have changed while the request was in flight.
            if self.leader != leader or self.role != "replica":
                return
            self.leader_reachable = usable
            if not usable:
                return
            self.synced_at = time.time()
            if body.get("unchanged") or not isinstance(body.get("data"), dict):
                return
            history, _, seq = str(body.get("version", "")).rpartition(":")
            self.data = dict(body["data"])
            self.history = history
            self.seq = int(seq) if seq.isdigit() else 0


def _new_history() -> str:
    return uuid.uuid4().hex[:12]


def _key(path: str) -> str:
    key = unquote(path[len("/kv/") :])
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"a key has 1 to {MAX_KEY_LENGTH} characters, got {key!r}")
    return key


class StoreHandler(JsonHandler):
    """The store's HTTP routes; the store itself sits on the server."""

    @property
    def store(self) -> Store:
        return self.server.store  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        self.answer(self._get)

    def do_PUT(self) -> None:
        self.answer(self._put)

    def do_POST(self) -> None:
        self.answer(self._post)

    def _get(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/health":
            self.send_json(200, self.store.health())
        elif parts.path.startswith("/kv/"):
            key = _key(parts.path)
            found, value = self.store.get(key)
            if found:
                self.send_json(200, {"key": key, "value": value})
            else:
                self.send_json(404, {"error": f"no key {key!r}"})
        elif parts.path == "/snapshot":
            since = parse_qs(parts.query).get("since", [None])[0]
            self.send_json(200, self.store.snapshot(since))
        else:
            self.send_json(404, {"error": f"no route GET {parts.path}"})

    def _put(self) -> None:
        path = urlsplit(self.path).path
        if not path.startswith("/kv/"):
            self.send_json(404, {"error": f"no route PUT {path}"})
            return
        key = _key(path)
        body = self.read_json()
        if not isinstance(body, dict) or "value" not in body:
            raise BadRequest('the body must be {"value": ...}')

        try:
            seq = self.store.put(key, body["value"])
        except ReadOnly as error:
            self.send_json(409, {"error": str(error)})
            return
        self.send_json(200, {"key": key, "value": body["value"], "seq": seq})

    def _post(self) -> None:
        path = urlsplit(self.path).path
        if path == "/promote":
            self.store.promote()
            self.send_json(200, self.store.health())
        elif path == "/demote":
            body = self.read_json()
            if not isinstance(body, dict) or "follow" not in body:
                raise BadRequest('the body must be {"follow": URL or null}')
            leader = body["follow"]
            if leader is not None and not str(leader).startswith("http://"):
                raise BadRequest(f"follow must be an http:// URL or null: {leader!r}")
            self.store.demote(None if leader is None else str(leader).rstrip("/"))
            self.send_json(200, self.store.health())
        else:
            self.send_json(404, {"error": f"no route POST {path}"})


def follow(store: Store, stop: threading.Event) -> None:
    """Poll the leader until the process stops (bounded by the server's lifetime)."""
    while not stop.wait(FOLLOW_INTERVAL):
        store.follow_once()


def main(argv: list[str] | None = None) -> None:
    """Run one store until SIGTERM, SIGINT or the end of its lifetime."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="primary or replica")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--follow", metavar="URL", help="start as its replica")
    parser.add_argument("--lifetime", type=float, default=86400.0, help="seconds")
    options = parser.parse_args(argv)

    store = Store(options.name, options.follow.rstrip("/") if options.follow else None)
    server = make_server(options.port, StoreHandler)
    server.store = store  # type: ignore[attr-defined]
    stop = threading.Event()
    threading.Thread(target=follow, args=(store, stop), daemon=True).start()
    print(f"{options.name}: {store.role} on 127.0.0.1:{options.port}", flush=True)
    serve(server, options.lifetime, stop)


if __name__ == "__main__":
    main()
