"""Audit filters through a gateway: default events, an ignore policy, run-time updates through
`PUT /_cluster/settings`, and tampered scroll ids."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable

import orjson

from tests.conftest import Gateway, GatewayFactory, http_request
from tests.integration.test_audit_events import events, of_request, wait_events

AUDIT = "xpack.security.audit."
EXCLUDE = AUDIT + "logfile.events.exclude"


def call(gateway: Gateway, method: str, path: str, opaque_id: str, body: object = None) -> int:
    headers = {"X-Opaque-Id": opaque_id, "Content-Type": "application/json"}
    raw = orjson.dumps(body) if body is not None else None
    return http_request(gateway.url, method, path, raw, headers)[0]


def actions_of(gateway: Gateway, opaque_id: str) -> list[str]:
    return [e["event.action"] for e in events(gateway) if e.get("opaque_id") == opaque_id]


def settled(gateway: Gateway, marker: str) -> Callable[[list[dict[str, object]]], bool]:
    """Events are written in order per worker: once `marker` is there, earlier ones are too."""
    call(gateway, "PUT", "/_security/role/audit_marker", marker, {"cluster": []})
    return lambda found: any(
        e.get("opaque_id") == marker and e["event.type"] == "security_config_change" for e in found
    )


def test_defaults_policy_and_dynamic_updates(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        "-E",
        AUDIT + "enabled=true",
        "-E",
        AUDIT + "logfile.events.ignore_filters.health.users=elastic",
        "-E",
        AUDIT + "logfile.events.ignore_filters.health.actions=cluster:monitor/*",
    )
    assert call(gateway, "GET", "/_cluster/health", "f-ignored") == 200
    assert call(gateway, "GET", "/_security/_authenticate", "f-default") == 200
    wait_events(gateway, settled(gateway, "f-marker-1"))
    # The policy covers elastic's monitoring; authentication_success is not a default event.
    assert actions_of(gateway, "f-ignored") == []
    assert actions_of(gateway, "f-default") == ["access_granted"]
    # Internal users' access is not written unless system_access_granted is included.
    assert not any(e.get("authentication.type") == "INTERNAL" for e in events(gateway))
    # security_config_change is never ignored, whatever the policies say.
    assert "put_role" in actions_of(gateway, "f-marker-1")

    try:
        assert (
            call(
                gateway,
                "PUT",
                "/_cluster/settings",
                "f-put",
                {"persistent": {EXCLUDE: ["access_granted"]}},
            )
            == 200
        )
        assert call(gateway, "GET", "/_security/_authenticate", "f-excluded") == 200
        status, _, _ = http_request(
            gateway.url, "GET", "/", headers={"X-Opaque-Id": "f-bad"}, auth=("elastic", "nope")
        )
        assert status == 401
        of_request(gateway, "f-bad", 1, until="authentication_failed")
        wait_events(gateway, settled(gateway, "f-marker-2"))
        assert actions_of(gateway, "f-excluded") == []
    finally:
        assert (
            call(gateway, "PUT", "/_cluster/settings", "f-reset", {"persistent": {EXCLUDE: None}})
            == 200
        )
    assert call(gateway, "GET", "/_security/_authenticate", "f-back") == 200
    assert of_request(gateway, "f-back", 1)[0]["event.action"] == "access_granted"


def test_connection_denied(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        "-E", AUDIT + "enabled=true", "-E", "xpack.security.http.filter.deny=127.0.0.2"
    )
    port = int(gateway.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), 10, ("127.0.0.2", 0)) as denied:
        denied.settimeout(10)
        with contextlib.suppress(ConnectionError):
            assert denied.recv(1) == b""  # closed before a byte is read
    found = wait_events(
        gateway, lambda all_events: any(e["event.type"] == "ip_filter" for e in all_events)
    )
    [event] = [e for e in found if e["event.type"] == "ip_filter"]
    assert event["event.action"] == "connection_denied"
    assert event["origin.type"] == "rest"
    assert event["origin.address"] == "127.0.0.2"
    assert event["transport.profile"] == ".http"
    assert event["rule"] == "deny 127.0.0.2"
    assert "request.id" not in event


def test_tampered_scroll_id(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway("-E", AUDIT + "enabled=true")
    assert call(gateway, "PUT", "/audit-scroll/_doc/1?refresh=true", "s-doc", {"a": 1}) in (
        200,
        201,
    )
    status, _, raw = http_request(
        gateway.url,
        "POST",
        "/audit-scroll/_search?scroll=1m",
        b'{"size":1}',
        {"Content-Type": "application/json"},
    )
    assert status == 200
    sealed = orjson.loads(raw)["_scroll_id"]
    forged = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    body = {"scroll_id": forged, "scroll": "1m"}
    assert call(gateway, "POST", "/_search/scroll", "s-tampered", body) == 404
    [event] = [
        e
        for e in of_request(gateway, "s-tampered", 2, until="tampered_request")
        if e["event.action"] == "tampered_request"
    ]
    assert event["event.type"] == "transport"
    assert event["user.name"] == "elastic"
    assert event["action"] == "indices:data/read/scroll"
    assert event["url.path"] == "/_search/scroll"


def stats(gateway: Gateway) -> dict[str, object]:
    status, _, raw = http_request(gateway.url, "GET", "/_bastion/stats")
    assert status == 200
    audit: dict[str, object] = orjson.loads(raw)["audit"]
    return audit


def test_lost_events_are_counted(start_gateway: GatewayFactory) -> None:
    """A write that fails (here: the lock file is a directory; a full disk fails the same way)
    loses the batch, and `GET /_bastion/stats` counts it; writing resumes once it can."""
    gateway = start_gateway("-E", AUDIT + "enabled=true")
    wait_events(gateway, settled(gateway, "l-first"))
    before = stats(gateway)
    assert before["enabled"] is True
    assert before["lost"] == 0
    assert before["workers"] == 1
    assert isinstance(before["written"], int)
    assert before["written"] >= 1

    lock = gateway.home / "logs" / ".bastion_audit.json.lock"
    lock.unlink()
    lock.mkdir()
    try:
        call(gateway, "GET", "/_security/_authenticate", "l-lost")
        deadline = time.monotonic() + 10
        while (after := stats(gateway))["lost"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert isinstance(after["lost"], int)
        assert after["lost"] >= 1
    finally:
        lock.rmdir()
    wait_events(gateway, settled(gateway, "l-again"))
    assert actions_of(gateway, "l-lost") == []


def test_stats_without_audit(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway()
    assert stats(gateway) == {"enabled": False}


def test_host_fields_and_no_node_id_when_asked(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        "-E",
        AUDIT + "enabled=true",
        "-E",
        AUDIT + "logfile.emit_node_host_name=true",
        "-E",
        AUDIT + "logfile.emit_node_host_address=true",
        "-E",
        AUDIT + "logfile.emit_node_id=false",
    )
    assert call(gateway, "GET", "/_security/_authenticate", "h-host") == 200
    [event] = of_request(gateway, "h-host", 1)
    assert event["host.name"]
    assert event["host.ip"]
    assert "node.id" not in event
    assert list(event)[:4] == ["type", "timestamp", "host.name", "host.ip"]
