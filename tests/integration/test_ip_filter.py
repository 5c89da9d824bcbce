"""IP filtering at accept time: 127.0.0.1 (the bound address) against 127.0.0.2, static and
dynamic rules, several gateways on one engine, persistence across restarts."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from tests.conftest import ELASTIC, Gateway, GatewayFactory, basic, http_request

DENY = "xpack.security.http.filter.deny"
OTHER = "127.0.0.2"  # loopback /8: a second source address on Linux


def served_from(gateway: Gateway, source: str) -> bool:
    """Whether a request from `source` gets an answer; False when the gateway closes the
    connection without one (over HTTPS: without completing the TLS handshake)."""
    parts = urlsplit(gateway.url)
    request = (
        f"GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: {basic(*ELASTIC)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    raw = socket.create_connection(
        (parts.hostname or "", parts.port or 0), timeout=10, source_address=(source, 0)
    )
    answer = b""
    try:
        connection = raw
        if parts.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the gate is under test here, not the chain
            connection = context.wrap_socket(raw)
        connection.sendall(request)
        while b"\r\n" not in answer and (chunk := connection.recv(256)):
            answer += chunk
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return False
    finally:
        raw.close()
    if not answer:
        return False
    assert answer.startswith(b"HTTP/1.1 200"), answer
    return True


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def put_settings(gateway: Gateway, body: object) -> None:
    status, _, raw = http_request(
        gateway.url,
        "PUT",
        "/_cluster/settings",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, raw


@pytest.fixture
def reset(start_gateway: GatewayFactory) -> Iterator[list[Gateway]]:
    """Gateways registered here reset the stored filter rules after the test (the engine is
    shared by the whole session)."""
    gateways: list[Gateway] = []
    yield gateways
    for gateway in gateways:
        if gateway.process.popen.poll() is None:
            for scope in ("persistent", "transient"):
                put_settings(gateway, {scope: {"xpack.security.http.filter.*": None}})
            return


def test_static_deny_closes_the_connection(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway("-E", f"{DENY}={OTHER}")
    assert served_from(gateway, "127.0.0.1")
    assert not served_from(gateway, OTHER)
    assert served_from(gateway, "127.0.0.3")  # matches no rule: accepted


def test_denied_before_the_tls_handshake(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway("-E", f"{DENY}={OTHER}", tls=True)
    assert served_from(gateway, "127.0.0.1")
    assert not served_from(gateway, OTHER)


def test_deny_all_still_lets_the_bound_address_in(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway("-E", f"{DENY}=_all")
    assert served_from(gateway, "127.0.0.1")
    assert not served_from(gateway, OTHER)


def test_allow_wins_over_deny(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        "-E", "xpack.security.http.filter.allow=127.0.0.2", "-E", f"{DENY}=127.0.0.0/8"
    )
    assert served_from(gateway, OTHER)
    assert not served_from(gateway, "127.0.0.3")


def test_dynamic_update_reaches_every_gateway_and_survives_restart(
    start_gateway: GatewayFactory, reset: list[Gateway]
) -> None:
    first, second = start_gateway(), start_gateway()
    reset.extend([first, second])
    assert served_from(second, OTHER)
    put_settings(first, {"persistent": {DENY: [OTHER]}})
    assert not served_from(first, OTHER)  # the worker that took the update: at once
    elapsed = wait_until(lambda: not served_from(second, OTHER), timeout=5)
    assert elapsed < 1.5, f"second gateway applied the rule after {elapsed:.2f}s"
    assert served_from(second, "127.0.0.1")

    second.process.stop()
    restarted = start_gateway()
    reset.append(restarted)
    assert not served_from(restarted, OTHER)  # read from the store before the first accept

    put_settings(first, {"transient": {"xpack.security.http.filter.enabled": False}})
    wait_until(lambda: served_from(restarted, OTHER), timeout=5)  # transient overrides
    put_settings(first, {"transient": {"xpack.security.http.filter.enabled": None}})
    put_settings(first, {"persistent": {DENY: None}})
    wait_until(lambda: served_from(restarted, OTHER), timeout=5)
    assert served_from(first, OTHER)
