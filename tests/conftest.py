"""Shared fixtures: the real engine (once per session) and gateways started as real processes."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT = 240.0  # the first run of a fresh machine also installs the engine


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
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout}s:\n{''.join(self.output)}"
                ) from None
            if match := compiled.search(line):
                return match

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
        yield url
    finally:
        process.stop()


@dataclass(frozen=True)
class Gateway:
    url: str
    process: Process
    home: Path


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def start_gateway(engine_url: str, tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start `bastion start --backend <session engine>` on a free port; stopped after the test."""
    started: list[Gateway] = []

    def start(*args: str, backend: str | None = None) -> Gateway:
        home = tmp_path / f"gateway-{len(started)}"
        port = free_port()
        process = run_bastion(
            "start",
            "--home",
            str(home),
            "--port",
            str(port),
            "--backend",
            backend or engine_url,
            *args,
        )
        gateway = Gateway(f"http://127.0.0.1:{port}", process, home)
        started.append(gateway)
        process.wait_for(r"Bastion is serving")
        return gateway

    yield start
    for gateway in started:
        gateway.process.stop()


@pytest.fixture
def gateway(start_gateway: GatewayFactory) -> Gateway:
    return start_gateway()
