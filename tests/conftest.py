"""Shared fixtures: the real engine (once per session) and gateways started as real processes."""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

START_TIMEOUT = 240.0  # the first run of a fresh machine also installs the engine
ELASTIC_PASSWORD = "elastic-test-password"
ELASTIC = ("elastic", ELASTIC_PASSWORD)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def http_request(
    url: str,
    method: str,
    path: str,
    body: bytes | Iterator[bytes] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = ELASTIC,
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request (for edge cases the official client would not send)."""
    parts = urlsplit(url)
    sent = dict(headers or {})
    if auth is not None:
        sent.setdefault("Authorization", basic(*auth))
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


async def _set_elastic_password(engine_url: str) -> None:
    from bastion.authc.native_users import NativeUsers
    from bastion.authc.password_hashing import resolve_hasher
    from bastion.backend.client import EngineClient
    from bastion.store.security_index import SecurityIndex

    client = EngineClient([engine_url], max_connections=2, timeout=60)
    try:
        users = NativeUsers(SecurityIndex(client))
        password_hash = resolve_hasher("bcrypt4").hash(ELASTIC_PASSWORD)
        await users.put_reserved("elastic", password_hash=password_hash, enabled=True, expect=True)
    finally:
        await client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Process:
    """A `bastion` command running in the background, its output collected line by line."""

    popen: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.popen.stdout is not None
        stream = self.popen.stdout

        def pump() -> None:
            for line in stream:
                self.output.append(line)
                self.lines.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    break  # exited: no more lines will come
                continue
            if match := compiled.search(line):
                return match
        raise AssertionError(
            f"no line matching {pattern!r} (exit code {self.popen.poll()}):\n"
            + "".join(self.output)
        )

    def stop(self, timeout: float = 40.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise


def run_bastion(*args: str, env: dict[str, str] | None = None) -> Process:
    popen = subprocess.Popen(
        [sys.executable, "-m", "bastion", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return Process(popen)


@pytest.fixture(scope="session")
def engine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real OpenSearch node for the whole session, started by `bastion engine start`."""
    home = tmp_path_factory.mktemp("engine-home")
    process = run_bastion("engine", "start", "--home", str(home))
    try:
        url = process.wait_for(r"engine-0: (http://\S+)").group(1)
        # A known elastic password, so that gateways on this engine print none.
        asyncio.run(_set_elastic_password(url))
        yield url
    finally:
        process.stop()


@dataclass(frozen=True)
class Gateway:
    url: str
    process: Process
    home: Path


GatewayFactory = Callable[..., Gateway]


def launch_gateway(engine_url: str, home: Path, *args: str, tls: bool = False) -> Gateway:
    """`bastion start --backend <engine>` on a free port, serving when this returns; plain HTTP
    unless `tls` (then HTTPS as auto-configured on first start, CA in config/certs/)."""
    port = free_port()
    plain = () if tls else ("-E", "xpack.security.http.ssl.enabled=false")
    process = run_bastion(
        "start",
        "--home",
        str(home),
        "--port",
        str(port),
        "--backend",
        engine_url,
        # Every test client comes from 127.0.0.1; tests of the protection turn it back on.
        "-E",
        "bastion.security.authc.brute_force.enabled=false",
        *plain,
        *args,
    )
    gateway = Gateway(f"{'https' if tls else 'http'}://127.0.0.1:{port}", process, home)
    try:
        process.wait_for(r"Bastion is serving")
    except AssertionError:
        process.stop()
        raise
    return gateway


@pytest.fixture
def start_gateway(engine_url: str, tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start gateways on the session engine (or `backend`); stopped after the test."""
    started: list[Gateway] = []

    def start(*args: str, backend: str | None = None, tls: bool = False) -> Gateway:
        home = tmp_path / f"gateway-{len(started)}"
        gateway = launch_gateway(backend or engine_url, home, *args, tls=tls)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.process.stop()


@pytest.fixture(scope="module")
def module_gateway(engine_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for a whole test module (for modules that build shared fixtures)."""
    gateway = launch_gateway(engine_url, tmp_path_factory.mktemp("module-gateway"))
    yield gateway
    gateway.process.stop()


@pytest.fixture
def gateway(start_gateway: GatewayFactory) -> Gateway:
    return start_gateway()
