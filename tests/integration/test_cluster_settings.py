"""`PUT`/`GET /_cluster/settings` shared between Bastion's dynamic settings and the engine."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Gateway, http_request

DENY = "xpack.security.http.filter.deny"
ALLOW = "xpack.security.http.filter.allow"
ENABLED = "xpack.security.http.filter.enabled"
ENGINE_KEY = "cluster.routing.allocation.enable"
PASSWORD = "a-good-password"


def call(url: str, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    status, _, raw = http_request(url, method, path, payload, headers, **kwargs)
    return status, json.loads(raw) if raw else None


def reset_all(url: str) -> None:
    for scope in ("persistent", "transient"):
        status, body = call(
            url, "PUT", "/_cluster/settings", {scope: {"xpack.security.*": None, ENGINE_KEY: None}}
        )
        assert status == 200, body


@pytest.fixture(scope="module")
def gateway(module_gateway: Gateway) -> Iterator[Gateway]:
    reset_all(module_gateway.url)
    yield module_gateway
    reset_all(module_gateway.url)


@pytest.fixture(autouse=True)
def clean(gateway: Gateway) -> Iterator[None]:
    yield
    reset_all(gateway.url)


def flat(url: str, **kwargs: Any) -> dict[str, Any]:
    status, body = call(url, "GET", "/_cluster/settings?flat_settings=true", **kwargs)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def test_bastion_key_alone_is_stored_not_forwarded(gateway: Gateway, engine_url: str) -> None:
    status, body = call(
        gateway.url, "PUT", "/_cluster/settings", {"persistent": {DENY: "10.9.9.9"}}
    )
    assert status == 200, body
    assert body == {
        "acknowledged": True,
        "persistent": {"xpack": {"security": {"http": {"filter": {"deny": "10.9.9.9"}}}}},
        "transient": {},
    }
    assert flat(gateway.url)["persistent"][DENY] == "10.9.9.9"
    status, nested = call(gateway.url, "GET", "/_cluster/settings")
    assert nested["persistent"]["xpack"]["security"]["http"]["filter"]["deny"] == "10.9.9.9"
    status, engine = call(engine_url, "GET", "/_cluster/settings?flat_settings=true", auth=None)
    assert status == 200
    assert DENY not in engine["persistent"]


def test_mixed_request_splits_and_merges(gateway: Gateway, engine_url: str) -> None:
    status, body = call(
        gateway.url,
        "PUT",
        "/_cluster/settings?flat_settings=true",
        {
            "persistent": {ENGINE_KEY: "all", ALLOW: ["10.0.0.0/8", "::1"]},
            "transient": {"xpack": {"security": {"http": {"filter": {"enabled": False}}}}},
        },
    )
    assert status == 200, body
    assert body["acknowledged"] is True
    assert body["persistent"] == {ENGINE_KEY: "all", ALLOW: ["10.0.0.0/8", "::1"]}
    assert body["transient"] == {ENABLED: "false"}
    merged = flat(gateway.url)
    assert merged["persistent"][ENGINE_KEY] == "all"
    assert merged["persistent"][ALLOW] == ["10.0.0.0/8", "::1"]
    assert merged["transient"][ENABLED] == "false"
    status, engine = call(engine_url, "GET", "/_cluster/settings?flat_settings=true", auth=None)
    assert engine["persistent"][ENGINE_KEY] == "all"
    assert ALLOW not in engine["persistent"]


def test_null_and_wildcard_resets(gateway: Gateway) -> None:
    call(
        gateway.url, "PUT", "/_cluster/settings", {"persistent": {DENY: "10.1.1.1", ALLOW: "_all"}}
    )
    status, _ = call(gateway.url, "PUT", "/_cluster/settings", {"persistent": {DENY: None}})
    assert status == 200
    persistent = flat(gateway.url)["persistent"]
    assert DENY not in persistent
    assert persistent[ALLOW] == "_all"
    body = {"persistent": {"xpack.security.http.filter.*": None}}
    status, _ = call(gateway.url, "PUT", "/_cluster/settings", body)
    assert status == 200
    assert ALLOW not in flat(gateway.url)["persistent"]


def test_include_defaults_shows_bastion_settings(gateway: Gateway) -> None:
    status, body = call(
        gateway.url, "GET", "/_cluster/settings?flat_settings=true&include_defaults=true"
    )
    assert status == 200, body
    assert body["defaults"][ENABLED] == "true"
    assert body["defaults"][DENY] == []
    assert "cluster.routing.allocation.enable" in body["defaults"]  # the engine's own


@pytest.mark.parametrize(
    ("update", "error_type", "reason"),
    [
        ({DENY: "300.0.0.1"}, "illegal_argument_exception", "illegal value can't update"),
        ({DENY: ["10.0.0.0/40"]}, "illegal_argument_exception", "illegal value can't update"),
        ({ENABLED: "maybe"}, "illegal_argument_exception", "illegal value can't update"),
        ({"http.port": 9999}, "illegal_argument_exception", "not dynamically updateable"),
    ],
)
def test_invalid_values_are_rejected_and_nothing_is_stored(
    gateway: Gateway, engine_url: str, update: dict[str, Any], error_type: str, reason: str
) -> None:
    status, body = call(
        gateway.url, "PUT", "/_cluster/settings", {"persistent": {**update, ENGINE_KEY: "none"}}
    )
    assert status == 400, body
    assert body["error"]["type"] == error_type
    assert reason in body["error"]["reason"]
    assert body["status"] == 400
    merged = flat(gateway.url)
    assert not any(key.startswith("xpack.") for key in merged["persistent"])
    assert ENGINE_KEY not in merged["persistent"]  # the engine's part was not applied either


def test_engine_refusal_stores_nothing(gateway: Gateway) -> None:
    status, body = call(
        gateway.url,
        "PUT",
        "/_cluster/settings",
        {"persistent": {DENY: "10.2.2.2", "cluster.no_such_setting": "x"}},
    )
    assert status == 400, body
    assert body["error"]["type"] == "illegal_argument_exception"
    assert DENY not in flat(gateway.url)["persistent"]


def test_update_needs_manage_reading_needs_monitor(gateway: Gateway) -> None:
    tag = uuid.uuid4().hex[:6]
    role, user = f"monitor-{tag}", f"watcher-{tag}"
    assert call(gateway.url, "PUT", f"/_security/role/{role}", {"cluster": ["monitor"]})[0] == 200
    status, _ = call(
        gateway.url, "PUT", f"/_security/user/{user}", {"password": PASSWORD, "roles": [role]}
    )
    assert status == 200
    status, body = call(
        gateway.url,
        "PUT",
        "/_cluster/settings",
        {"persistent": {DENY: "10.3.3.3"}},
        auth=(user, PASSWORD),
    )
    assert status == 403, body
    assert "cluster:admin/settings/update" in body["error"]["reason"]
    assert DENY not in flat(gateway.url)["persistent"]
    assert "persistent" in flat(gateway.url, auth=(user, PASSWORD))
