"""Audit events provoked through a real gateway, checked field by field in the log file."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bastion.audit.redact import REDACTED
from bastion.audit.verify import verify
from tests.conftest import ELASTIC, Gateway, http_request, launch_gateway

PASSWORD = "audit-user-password"
SECRET = "n3w-s3cret-passw0rd"
AUDIT = "xpack.security.audit."
Event = dict[str, Any]


@pytest.fixture(scope="module")
def audited(engine_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = launch_gateway(
        engine_url,
        tmp_path_factory.mktemp("audit-gateway"),
        "-E",
        AUDIT + "enabled=true",
        "-E",
        AUDIT + "logfile.events.include=_all",
        "-E",
        AUDIT + "logfile.events.emit_request_body=true",
        "-E",
        AUDIT + "logfile.emit_node_name=true",
        "-E",
        "node.name=audit-node",
    )
    yield gateway
    gateway.process.stop()


def log_path(gateway: Gateway) -> Path:
    return gateway.home / "logs" / "bastion_audit.json"


def events(gateway: Gateway) -> list[Event]:
    path = log_path(gateway)
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.endswith(b"}")]


def wait_events(
    gateway: Gateway, predicate: Callable[[list[Event]], bool], timeout: float = 10.0
) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        found = events(gateway)
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            mine = [e for e in found if e.get("origin.type") != "local_node"]
            raise AssertionError(f"audit log never matched; it holds {mine[-6:]}")
        time.sleep(0.05)


def of_request(
    gateway: Gateway, opaque_id: str, count: int, until: str | None = None
) -> list[Event]:
    """The events of the request sent with `X-Opaque-Id: opaque_id`, once there are `count`
    of them and (if given) one whose `event.action` is `until`."""

    def ready(all_events: list[Event]) -> bool:
        mine = [e for e in all_events if e.get("opaque_id") == opaque_id]
        return len(mine) >= count and (
            until is None or any(e["event.action"] == until for e in mine)
        )

    return [e for e in wait_events(gateway, ready) if e.get("opaque_id") == opaque_id]


def call(
    gateway: Gateway,
    method: str,
    path: str,
    opaque_id: str,
    body: Any = None,
    auth: tuple[str, str] | None = ELASTIC,
    headers: dict[str, str] | None = None,
) -> int:
    sent = {"X-Opaque-Id": opaque_id, "Content-Type": "application/json", **(headers or {})}
    raw = body if isinstance(body, bytes) else (orjson.dumps(body) if body is not None else None)
    status, _, _ = http_request(gateway.url, method, path, raw, sent, auth)
    return status


def common(event: Event, action: str, event_type: str) -> None:
    assert event["type"] == "audit"
    assert event["event.action"] == action
    assert event["event.type"] == event_type
    assert event["node.name"] == "audit-node"
    assert len(event["node.id"]) >= 20
    assert "host.ip" not in event
    assert event["origin.type"] == "rest"
    assert event["origin.address"].startswith("127.0.0.1:")
    assert len(event["request.id"]) == 20
    assert list(event)[:2] == ["type", "timestamp"]
    assert list(event)[-2:] == ["event.sequence", "event.hash"]


def test_authentication_success_and_access_granted(audited: Gateway) -> None:
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert (
        call(
            audited,
            "GET",
            "/_cluster/health?pretty=true",
            "t-success",
            headers={"traceparent": trace, "X-Forwarded-For": "10.1.2.3"},
        )
        == 200
    )
    success, granted = of_request(audited, "t-success", 2)
    common(success, "authentication_success", "rest")
    assert success["authentication.type"] == "REALM"
    assert success["user.name"] == "elastic"
    assert success["user.realm"] == success["realm"] == "reserved"
    assert success["url.path"] == "/_cluster/health"
    assert success["url.query"] == "pretty=true"
    assert success["request.method"] == "GET"
    assert success["trace.id"] == "0af7651916cd43dd8448eb211c80319c"
    assert success["x_forwarded_for"] == "10.1.2.3"
    common(granted, "access_granted", "transport")
    assert granted["user.roles"] == ["superuser"]
    assert granted["action"] == "cluster:monitor/health"
    assert granted["request.name"] == "ClusterHealthRequest"
    assert granted["request.id"] == success["request.id"]
    assert "url.path" not in granted
    connection = next(e for e in events(audited) if e["event.action"] == "connection_granted")
    assert connection["event.type"] == "ip_filter"
    assert connection["origin.address"] == "127.0.0.1"
    assert connection["transport.profile"] == ".http"
    assert connection["rule"]


def test_authentication_failed_per_realm(audited: Gateway) -> None:
    assert call(audited, "GET", "/", "t-failed", auth=("nobody", "wrong-password")) == 401
    found = of_request(audited, "t-failed", 4)
    realms = [e for e in found if e["event.action"] == "realm_authentication_failed"]
    assert [e["realm"] for e in realms] == ["reserved", "default_file", "default_native"]
    assert all(e["user.name"] == "nobody" for e in realms)
    [failed] = [e for e in found if e["event.action"] == "authentication_failed"]
    common(failed, "authentication_failed", "rest")
    assert failed["user.name"] == "nobody"
    assert failed["url.path"] == "/"
    assert {e["request.id"] for e in found} == {failed["request.id"]}


def test_anonymous_access_denied(audited: Gateway) -> None:
    assert call(audited, "GET", "/_search", "t-anonymous", auth=None) == 401
    [denied] = of_request(audited, "t-anonymous", 1)
    common(denied, "anonymous_access_denied", "rest")
    assert "user.name" not in denied
    assert denied["url.path"] == "/_search"


def _user(audited: Gateway, name: str, roles: list[str], opaque_id: str) -> None:
    body = {"password": PASSWORD, "roles": roles}
    assert call(audited, "PUT", f"/_security/user/{name}", opaque_id, body) == 200


def test_user_changes_are_audited_without_secrets(audited: Gateway) -> None:
    _user(audited, "auditee", ["viewer"], "t-put-user")
    found = of_request(audited, "t-put-user", 3)
    granted = next(e for e in found if e["event.action"] == "access_granted")
    assert granted["action"] == "cluster:admin/xpack/security/user/put"
    body = orjson.loads(
        next(e for e in found if e["event.action"] == "authentication_success")["request.body"]
    )
    assert body == {"password": REDACTED, "roles": ["viewer"]}
    [change] = [e for e in found if e["event.type"] == "security_config_change"]
    assert change["event.action"] == "put_user"
    assert change["user.name"] == "elastic"
    assert change["request.id"] == granted["request.id"]
    assert change["put"] == {
        "user": {
            "name": "auditee",
            "enabled": True,
            "roles": ["viewer"],
            "full_name": None,
            "email": None,
            "has_password": True,
            "metadata": {},
        }
    }
    assert PASSWORD not in log_path(audited).read_text()

    path = "/_security/user/auditee/_password"
    assert call(audited, "POST", path, "t-password", {"password": SECRET}) == 200
    found = of_request(audited, "t-password", 3)
    [change] = [e for e in found if e["event.type"] == "security_config_change"]
    assert change["event.action"] == "change_password"
    assert change["change"] == {"password": {"user": {"name": "auditee"}}}
    assert SECRET not in log_path(audited).read_text()

    assert call(audited, "PUT", "/_security/user/auditee/_disable", "t-disable") == 200
    [change] = [
        e
        for e in of_request(audited, "t-disable", 3)
        if e["event.type"] == "security_config_change"
    ]
    assert change["event.action"] == "change_disable_user"
    assert change["change"] == {"disable": {"user": {"name": "auditee"}}}
    assert call(audited, "PUT", "/_security/user/auditee/_enable", "t-enable") == 200
    [change] = [
        e for e in of_request(audited, "t-enable", 3) if e["event.type"] == "security_config_change"
    ]
    assert change["event.action"] == "change_enable_user"


def test_role_and_mapping_changes(audited: Gateway) -> None:
    role = {"indices": [{"names": ["audit-ok*"], "privileges": ["all"]}]}
    assert call(audited, "PUT", "/_security/role/audit_writer", "t-role", role) == 200
    [change] = [
        e for e in of_request(audited, "t-role", 3) if e["event.type"] == "security_config_change"
    ]
    assert change["event.action"] == "put_role"
    assert change["put"] == {"role": {"name": "audit_writer", "role_descriptor": role}}
    mapping = {"roles": ["viewer"], "rules": {"field": {"username": "x"}}, "enabled": True}
    assert call(audited, "PUT", "/_security/role_mapping/m1", "t-mapping", mapping) == 200
    [change] = [
        e
        for e in of_request(audited, "t-mapping", 3)
        if e["event.type"] == "security_config_change"
    ]
    assert change["event.action"] == "put_role_mapping"
    assert change["put"] == {"role_mapping": {"name": "m1", **mapping}}
    assert call(audited, "DELETE", "/_security/role_mapping/m1", "t-del-mapping") == 200
    [change] = [
        e
        for e in of_request(audited, "t-del-mapping", 3)
        if e["event.type"] == "security_config_change"
    ]
    assert change["delete"] == {"role_mapping": {"name": "m1"}}


def test_access_denied_and_bulk_items(audited: Gateway) -> None:
    role = {"indices": [{"names": ["audit-ok*"], "privileges": ["all"]}]}
    assert call(audited, "PUT", "/_security/role/audit_writer", "t-role-2", role) == 200
    _user(audited, "writer", ["audit_writer"], "t-writer")
    writer = ("writer", PASSWORD)
    assert call(audited, "GET", "/audit-secret/_search", "t-denied", auth=writer) == 403
    denied = [
        e
        for e in of_request(audited, "t-denied", 1, until="access_denied")
        if e["event.action"] == "access_denied"
    ]
    [event] = denied
    common(event, "access_denied", "transport")
    assert event["user.name"] == "writer"
    assert event["user.realm"] == "default_native"
    assert event["user.roles"] == ["audit_writer"]
    assert event["action"] == "indices:data/read/search"
    assert event["indices"] == ["audit-secret"]

    bulk = (
        b'{"index":{"_index":"audit-ok-1","_id":"1"}}\n{"a":1}\n'
        b'{"index":{"_index":"audit-secret","_id":"2"}}\n{"password":"' + SECRET.encode() + b'"}\n'
        b'{"delete":{"_index":"audit-ok-1","_id":"3"}}\n'
    )
    headers = {"Content-Type": "application/x-ndjson"}
    assert call(audited, "POST", "/_bulk", "t-bulk", bulk, auth=writer, headers=headers) == 200
    found = of_request(audited, "t-bulk", 5, until="access_denied")
    decisions = [
        (e["event.action"], e["action"], e["request.name"], e.get("indices"))
        for e in found
        if e["event.action"] in ("access_granted", "access_denied")
    ]
    item = "BulkItemRequest"
    assert decisions == [
        ("access_granted", "indices:data/write/bulk", "BulkRequest", None),
        ("access_granted", "indices:data/write/index:op_type/index", item, ["audit-ok-1"]),
        ("access_denied", "indices:data/write/index:op_type/index", item, ["audit-secret"]),
        ("access_granted", "indices:data/write/delete", item, ["audit-ok-1"]),
    ]
    assert len({e["request.id"] for e in found}) == 1
    assert SECRET not in log_path(audited).read_text()

    # A wildcard is audited as the names it was narrowed to, as Elasticsearch lists them.
    assert call(audited, "POST", "/audit-ok-1/_refresh", "t-refresh", auth=writer) == 200
    assert call(audited, "GET", "/audit-*/_search", "t-wildcard", auth=writer) == 200
    [granted] = [
        e
        for e in of_request(audited, "t-wildcard", 1, until="access_granted")
        if e["event.action"] == "access_granted"
    ]
    assert granted["indices"] == ["audit-ok-1"]
    assert granted["request.name"] == "SearchRequest"


def test_system_access(audited: Gateway) -> None:
    """Bastion's own engine requests (here: storing a user) are access_granted events of an
    internal user, written because `_all` includes system_access_granted."""
    _user(audited, "stored", ["viewer"], "t-stored")

    def internal_write(found: list[Event]) -> bool:
        return any(
            e.get("user.name") == "_xpack_security"
            and e["action"].startswith("indices:data/write/")
            for e in found
        )

    event = next(e for e in wait_events(audited, internal_write) if internal_write([e]))
    assert event["event.type"] == "transport"
    assert event["event.action"] == "access_granted"
    assert event["authentication.type"] == "INTERNAL"
    assert event["user.realm"] == "__attach"
    assert event["origin.type"] == "local_node"
    assert event["indices"][0].startswith(".bastion-security")
    assert event["request.name"] in ("IndexRequest", "UpdateRequest")
    assert len(event["request.id"]) == 20


def test_run_as(audited: Gateway) -> None:
    _user(audited, "target", ["viewer"], "t-target")
    headers = {"es-security-runas-user": "target"}
    assert call(audited, "GET", "/_security/_authenticate", "t-run-as", headers=headers) == 200
    found = of_request(audited, "t-run-as", 3)
    [granted_run_as] = [e for e in found if e["event.action"] == "run_as_granted"]
    common(granted_run_as, "run_as_granted", "transport")
    assert granted_run_as["user.name"] == "elastic"
    assert granted_run_as["user.run_as.name"] == "target"
    assert granted_run_as["user.realm"] == "reserved"
    assert granted_run_as["user.run_as.realm"] == "default_native"
    [access] = [e for e in found if e["event.action"] == "access_granted"]
    assert access["user.name"] == "target"
    assert access["user.run_by.name"] == "elastic"
    assert access["user.realm"] == "default_native"
    assert access["user.run_by.realm"] == "reserved"

    _user(audited, "plain", ["viewer"], "t-plain")
    plain = ("plain", PASSWORD)
    assert call(audited, "GET", "/", "t-run-as-no", auth=plain, headers=headers) == 403
    found = of_request(audited, "t-run-as-no", 2, until="run_as_denied")
    [denied] = [e for e in found if e["event.action"] == "run_as_denied"]
    assert denied["user.name"] == "plain"
    assert denied["user.run_as.name"] == "target"


def test_delete_user_and_log_integrity(audited: Gateway) -> None:
    assert call(audited, "DELETE", "/_security/user/target", "t-delete") == 200
    [change] = [
        e for e in of_request(audited, "t-delete", 3) if e["event.type"] == "security_config_change"
    ]
    assert change["event.action"] == "delete_user"
    assert change["delete"] == {"user": {"name": "target"}}
    key = (audited.home / "config" / "audit_signing.key").read_text().strip()
    assert verify([log_path(audited)], bytes.fromhex(key)).problem is None
    assert oct(log_path(audited).stat().st_mode & 0o777) == "0o600"


def _config_changes(gateway: Gateway, opaque_id: str, count: int) -> list[Event]:
    found = of_request(gateway, opaque_id, count)
    return [e for e in found if e["event.type"] == "security_config_change"]


def _send(gateway: Gateway, method: str, path: str, opaque_id: str, body: Any) -> Any:
    headers = {"X-Opaque-Id": opaque_id, "Content-Type": "application/json"}
    status, _, raw = http_request(gateway.url, method, path, orjson.dumps(body), headers)
    assert status == 200, raw
    return orjson.loads(raw)


def test_api_key_changes_and_use(audited: Gateway) -> None:
    body = {
        "name": "audited-key",
        "expiration": "1d",
        "role_descriptors": {
            "r1": {"cluster": ["monitor"], "indices": [{"names": ["a*"], "privileges": ["read"]}]}
        },
        "metadata": {"m": 1},
    }
    key = _send(audited, "POST", "/_security/api_key", "t-key", body)
    [change] = _config_changes(audited, "t-key", 3)
    common(change, "create_apikey", "security_config_change")
    descriptor = {
        "cluster": ["monitor"],
        "indices": [{"names": ["a*"], "privileges": ["read"]}],
        "applications": [],
        "run_as": [],
    }
    assert change["create"] == {
        "apikey": {
            "id": key["id"],
            "name": "audited-key",
            "type": "rest",
            "expiration": "1d",
            "role_descriptors": [descriptor],
            "metadata": {"m": 1},
        }
    }

    # Requests authenticated with the key name it and its type.
    headers = {"X-Opaque-Id": "t-key-use", "Authorization": "ApiKey " + key["encoded"]}
    status, _, _ = http_request(audited.url, "GET", "/_cluster/health", None, headers, None)
    assert status == 200
    success = of_request(audited, "t-key-use", 2)[0]
    assert success["event.action"] == "authentication_success"
    assert success["authentication.type"] == "API_KEY"
    assert (success["apikey.id"], success["apikey.name"]) == (key["id"], "audited-key")
    assert success["user.name"] == ELASTIC[0]

    path = f"/_security/api_key/{key['id']}"
    _send(audited, "PUT", path, "t-key-update", {"metadata": {"m": 2}})
    [change] = _config_changes(audited, "t-key-update", 3)
    assert change["event.action"] == "change_apikey"
    assert change["change"] == {
        "apikey": {"id": key["id"], "type": "rest", "metadata": {"m": 2}, "expiration": None}
    }
    bulk = {"ids": [key["id"]], "metadata": {}}
    _send(audited, "POST", "/_security/api_key/_bulk_update", "t-key-bulk", bulk)
    [change] = _config_changes(audited, "t-key-bulk", 3)
    assert change["event.action"] == "change_apikeys"
    assert change["change"] == {
        "apikeys": {"ids": [key["id"]], "type": "rest", "metadata": {}, "expiration": None}
    }
    _send(audited, "DELETE", "/_security/api_key", "t-key-invalidate", {"ids": [key["id"]]})
    [change] = _config_changes(audited, "t-key-invalidate", 3)
    assert change["event.action"] == "invalidate_apikeys"
    assert change["invalidate"] == {
        "apikeys": {"ids": [key["id"]], "owned_by_authenticated_user": False}
    }

    grant = {
        "grant_type": "password",
        "username": ELASTIC[0],
        "password": ELASTIC[1],
        "api_key": {"name": "granted-key"},
    }
    granted = _send(audited, "POST", "/_security/api_key/grant", "t-key-grant", grant)
    [change] = _config_changes(audited, "t-key-grant", 3)
    assert change["event.action"] == "create_apikey"
    assert change["create"]["apikey"]["id"] == granted["id"]
    assert change["create"]["grant"] == {
        "type": "password",
        "user": {"name": ELASTIC[0], "has_password": True},
    }
    text = log_path(audited).read_text()
    assert key["api_key"] not in text
    assert granted["api_key"] not in text
    assert ELASTIC[1] not in text


def test_service_token_changes_and_use(audited: Gateway) -> None:
    path = "/_security/service/elastic/fleet-server/credential/token/audited-token"
    token = _send(audited, "POST", path, "t-token", None)["token"]
    [change] = _config_changes(audited, "t-token", 3)
    common(change, "create_service_token", "security_config_change")
    service_token = {"namespace": "elastic", "service": "fleet-server", "name": "audited-token"}
    assert change["create"] == {"service_token": service_token}

    headers = {"X-Opaque-Id": "t-token-use", "Authorization": "Bearer " + token["value"]}
    status, _, _ = http_request(audited.url, "GET", "/_security/_authenticate", None, headers, None)
    assert status == 200
    success = of_request(audited, "t-token-use", 2)[0]
    assert success["event.action"] == "authentication_success"
    assert success["authentication.type"] == "TOKEN"
    assert success["user.name"] == "elastic/fleet-server"
    assert success["authentication.token.name"] == "audited-token"
    assert success["authentication.token.type"] == "_service_account_index"

    _send(audited, "DELETE", path, "t-token-delete", None)
    [change] = _config_changes(audited, "t-token-delete", 3)
    assert change["event.action"] == "delete_service_token"
    assert change["delete"] == {"service_token": service_token}
    assert token["value"] not in log_path(audited).read_text()


def test_privilege_and_role_deletions(audited: Gateway) -> None:
    privileges = {"audit-app": {"read": {"actions": ["data:read/*"]}}}
    _send(audited, "PUT", "/_security/privilege", "t-privileges", privileges)
    [change] = _config_changes(audited, "t-privileges", 3)
    assert change["event.action"] == "put_privileges"
    assert change["put"]["privileges"]["application"] == "audit-app"
    _send(audited, "DELETE", "/_security/privilege/audit-app/read", "t-del-privileges", None)
    [change] = _config_changes(audited, "t-del-privileges", 3)
    assert change["event.action"] == "delete_privileges"
    assert change["delete"] == {"privileges": {"application": "audit-app", "privileges": ["read"]}}
    _send(audited, "PUT", "/_security/role/audit_gone", "t-role-gone", {"cluster": ["monitor"]})
    _send(audited, "DELETE", "/_security/role/audit_gone", "t-del-role", None)
    [change] = _config_changes(audited, "t-del-role", 3)
    assert change["event.action"] == "delete_role"
    assert change["delete"] == {"role": {"name": "audit_gone"}}
