"""The index output: events wait in the log while the engine is unreachable and are shipped,
in full and without duplicates, when it is back and after a gateway restart."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest

from tests.conftest import ELASTIC, Gateway, free_port, http_request, launch_gateway

AUDIT = "xpack.security.audit."


class Switch:
    """A TCP forwarder to the engine that can be cut (new connections refused, open ones
    dropped) and restored on the same port: the engine as the gateway sees it."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def switch(engine_url: str) -> Iterator[Switch]:
    forwarder = Switch(engine_url)
    yield forwarder
    forwarder.down()


def logged_events(home: Path) -> int:
    path = home / "logs" / "bastion_audit.json"
    lines = path.read_bytes().splitlines() if path.exists() else []
    return sum(b'"event.type":"bastion_checkpoint"' not in line for line in lines)


def indexed_events(engine_url: str) -> int:
    http_request(engine_url, "POST", "/.bastion-audit-*/_refresh", auth=None)
    status, _, raw = http_request(engine_url, "GET", "/.bastion-audit-*/_count", auth=None)
    return int(orjson.loads(raw)["count"]) if status == 200 else 0


def poll(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def anonymous(gateway: Gateway, count: int) -> None:
    for _ in range(count):
        assert http_request(gateway.url, "GET", "/_search", auth=None)[0] == 401


def test_spool_replay(engine_url: str, switch: Switch, tmp_path: Path) -> None:
    http_request(engine_url, "DELETE", "/.bastion-audit-*", auth=None)
    settings = [
        *("-E", AUDIT + "enabled=true"),
        *("-E", "bastion.audit.index.enabled=true"),
        *("-E", "bastion.audit.index.flush_interval=200ms"),
    ]
    home = tmp_path / "gateway"
    gateway = launch_gateway(switch.url, home, *settings)
    try:
        anonymous(gateway, 5)
        assert http_request(gateway.url, "GET", "/_cluster/health", auth=ELASTIC)[0] == 200
        poll(lambda: logged_events(home) == 6, "6 events in the log")
        poll(lambda: indexed_events(engine_url) == 6, "6 events in the engine")

        switch.down()
        anonymous(gateway, 7)
        poll(lambda: logged_events(home) == 13, "13 events in the log")
        assert indexed_events(engine_url) == 6  # they wait on disk

        switch.up()
        poll(lambda: indexed_events(engine_url) == 13, "13 events in the engine")
    finally:
        gateway.process.stop()

    # A new gateway on the same home ships only what is new.
    gateway = launch_gateway(switch.url, home, *settings)
    try:
        anonymous(gateway, 2)
        poll(lambda: logged_events(home) == 15, "15 events in the log")
        poll(lambda: indexed_events(engine_url) >= 15, "15 events in the engine")
        assert indexed_events(engine_url) == logged_events(home) == 15
        # The index output's counters since this start: the 2 new events, none refused.
        status, _, raw = http_request(gateway.url, "GET", "/_bastion/stats", auth=ELASTIC)
        assert status == 200
        assert json.loads(raw)["audit"]["index"] == {"shipped": 2, "failed": 0}
    finally:
        gateway.process.stop()
        http_request(engine_url, "DELETE", "/.bastion-audit-*", auth=None)
