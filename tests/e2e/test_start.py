"""`bastion start` with its own managed engine, and `bastion engine start --nodes 2`, as a user
runs them: real processes, real signals."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import basic, free_port, run_bastion


def engine_pids(home: Path) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-f", f"BastionEngine {home}"], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in found.stdout.split()]


def get(url: str, password: str | None = None, cafile: Path | None = None) -> tuple[int, Any]:
    headers = {"Authorization": basic("elastic", password)} if password else {}
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=10, context=context
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.mark.slow
def test_managed_engine_survives_a_crash_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    process = run_bastion("start", "--home", str(home), "--port", str(port))
    try:
        process.wait_for(r"Password for the elastic user")
        password = process.wait_for(r"┃\s+(\S{20})\s+┃").group(1)
        ca = home / "config" / "certs" / "http_ca.crt"
        process.wait_for(re.escape(str(ca)))
        process.wait_for(r"Bastion is serving https://")
        url = f"https://127.0.0.1:{port}"
        assert get(f"{url}/", cafile=ca)[0] == 401
        assert get(f"{url}/", password, ca)[0] == 200
        request = urllib.request.Request(
            f"{url}/books/_doc/1?refresh=true",
            data=b'{"title":"x"}',
            method="PUT",
            headers={
                "Content-Type": "application/json",
                "Authorization": basic("elastic", password),
            },
        )
        context = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            assert response.status == 201

        [java] = engine_pids(home)
        os.kill(java, signal.SIGKILL)
        wait_until(lambda: get(f"{url}/books/_doc/1", password, ca)[0] == 503, 15)
        body = get(f"{url}/books/_doc/1", password, ca)[1]
        assert body["error"]["type"] == "engine_unavailable_exception"
        # The supervisor restarts the node; the gateway serves again without a restart.
        wait_until(lambda: get(f"{url}/books/_doc/1", password, ca)[0] == 200, 120)
        assert len(engine_pids(home)) == 1
    finally:
        started = time.monotonic()
        code = process.stop()
    assert code == 0
    assert time.monotonic() - started < 30
    assert engine_pids(home) == []
    assert "Bastion stopped" in "".join(process.output)
    # A second start on the same home keeps the password and prints none.
    again = run_bastion("start", "--home", str(home), "--port", str(port))
    try:
        again.wait_for(r"Bastion is serving")
        assert get(f"https://127.0.0.1:{port}/", password, ca)[0] == 200
    finally:
        again.stop()
    assert "Password for the elastic user" not in "".join(again.output)
    assert "fingerprint" not in "".join(again.output)


@pytest.mark.slow
def test_two_engine_nodes_form_one_cluster(tmp_path: Path) -> None:
    process = run_bastion("engine", "start", "--home", str(tmp_path), "--nodes", "2")
    try:
        first = process.wait_for(r"engine-0: (http://\S+)").group(1)
        second = process.wait_for(r"engine-1: (http://\S+)").group(1)
        for url in (first, second):
            status, health = get(f"{url}/_cluster/health")
            assert status == 200
            assert health["number_of_nodes"] == 2
    finally:
        assert process.stop() == 0
    assert engine_pids(tmp_path) == []


def run_fast(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unknown_setting_stops_start_up_naming_key_and_file(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    settings = tmp_path / "config" / "bastion.yml"
    settings.write_text("http:\n  prot: 9200\n")
    result = run_fast("start", home=tmp_path)
    assert result.returncode == 1
    assert "unknown setting [http.prot]" in result.stderr
    assert str(settings) in result.stderr


def test_bad_value_names_key_and_source(tmp_path: Path) -> None:
    result = run_fast("start", "-E", "http.max_content_length=lots", home=tmp_path)
    assert result.returncode == 1
    assert "[http.max_content_length]" in result.stderr
    assert "the command line" in result.stderr
    insecure = ("-E", "xpack.security.http.ssl.enabled=false")
    result = run_fast("start", "--host", "0.0.0.0", *insecure, home=tmp_path)
    assert result.returncode == 1
    assert "loopback" in result.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_fast(
            "start", "--port", str(port), "--backend", "http://127.0.0.1:1", home=tmp_path
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bastion", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("start", "engine"):
        assert command in result.stdout
