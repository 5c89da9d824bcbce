"""Authentication through the gateway: realms, the user APIs, caches, run_as, anonymous."""

from __future__ import annotations

import base64
import http.client
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
from elasticsearch import ApiError, AuthenticationException, Elasticsearch

from tests.conftest import ELASTIC, Gateway, GatewayFactory, http_request

CHALLENGE = 'Basic realm="security", charset="UTF-8"'


def client_for(gateway: Gateway, username: str, password: str) -> Elasticsearch:
    return Elasticsearch(gateway.url, basic_auth=(username, password), request_timeout=30)


@pytest.fixture
def admin(gateway: Gateway) -> Elasticsearch:
    return client_for(gateway, *ELASTIC)


def new_name() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def error_of(error: ApiError) -> dict[str, Any]:
    body = error.body
    assert isinstance(body, dict)
    return body


def test_missing_credentials_is_401_with_challenge(gateway: Gateway) -> None:
    status, _, body = http_request(gateway.url, "GET", "/_search?q=x", auth=None)
    assert status == 401
    challenges = [CHALLENGE, 'Bearer realm="security"', "ApiKey"]
    connection = http.client.HTTPConnection("127.0.0.1", urlsplit(gateway.url).port, timeout=30)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.headers.get_all("WWW-Authenticate") == challenges
    finally:
        connection.close()
    error = json.loads(body)
    assert error["status"] == 401
    assert error["error"]["type"] == "security_exception"
    assert error["error"]["reason"] == (
        "missing authentication credentials for REST request [/_search?q=x]"
    )
    assert error["error"]["header"] == {"WWW-Authenticate": challenges}
    assert error["error"]["root_cause"][0]["type"] == "security_exception"


def test_unknown_user_and_wrong_password_fail_alike(gateway: Gateway, admin: Elasticsearch) -> None:
    name = new_name()
    admin.security.put_user(username=name, password="right-password", roles=["viewer"])
    answers = []
    for user in (name, "nobody-" + name):
        status, _, body = http_request(
            gateway.url, "GET", "/_security/_authenticate", auth=(user, "wrong-password")
        )
        assert status == 401
        answers.append(json.loads(body)["error"]["reason"].replace(user, "<user>"))
    assert (
        answers[0]
        == answers[1]
        == ("unable to authenticate user [<user>] for REST request [/_security/_authenticate]")
    )


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:password").decode(),
        "Basic " + base64.b64encode(b"elastic:" + b"x" * 9000).decode(),
    ],
    ids=["bad-base64", "no-colon", "non-utf8-user", "oversize"],
)
def test_malformed_credentials_are_401(gateway: Gateway, header: str) -> None:
    status, headers, body = http_request(
        gateway.url, "GET", "/", headers={"Authorization": header}, auth=None
    )
    assert status == 401
    assert "www-authenticate" in headers
    assert json.loads(body)["error"]["type"] == "security_exception"


def test_authenticate_elastic_shape(admin: Elasticsearch) -> None:
    assert admin.security.authenticate().body == {
        "username": "elastic",
        "roles": ["superuser"],
        "full_name": None,
        "email": None,
        "metadata": {"_reserved": True},
        "enabled": True,
        "authentication_realm": {"name": "reserved", "type": "reserved"},
        "lookup_realm": {"name": "reserved", "type": "reserved"},
        "authentication_type": "realm",
    }


def test_native_user_lifecycle(gateway: Gateway, admin: Elasticsearch) -> None:
    name = new_name()
    created = admin.security.put_user(
        username=name,
        password="first-password",
        roles=["viewer", "editor"],
        full_name="Alice Liddell",
        email="alice@example.com",
        metadata={"team": "search"},
    )
    assert created.body == {"created": True}
    user = admin.security.get_user(username=name).body[name]
    assert user == {
        "username": name,
        "roles": ["viewer", "editor"],
        "full_name": "Alice Liddell",
        "email": "alice@example.com",
        "metadata": {"team": "search"},
        "enabled": True,
    }
    alice = client_for(gateway, name, "first-password")
    me = alice.security.authenticate().body
    assert me["username"] == name
    assert me["authentication_realm"] == {"name": "default_native", "type": "native"}

    # Update without a password keeps the password.
    updated = admin.security.put_user(username=name, roles=["viewer"], full_name="Alice L.")
    assert updated.body == {"created": False}
    assert alice.security.authenticate()["full_name"] == "Alice L."

    admin.security.change_password(username=name, password="second-password")
    with pytest.raises(AuthenticationException):
        alice.security.authenticate()
    alice = client_for(gateway, name, "second-password")
    assert alice.security.authenticate()["username"] == name

    # Users change their own password with the path without a name.
    alice.security.change_password(password="third-password")
    alice = client_for(gateway, name, "third-password")
    assert alice.security.authenticate()["username"] == name

    admin.security.disable_user(username=name)
    assert admin.security.get_user(username=name)[name]["enabled"] is False
    with pytest.raises(AuthenticationException):
        alice.security.authenticate()
    admin.security.enable_user(username=name)
    assert alice.security.authenticate()["username"] == name

    assert admin.security.delete_user(username=name).body == {"found": True}
    with pytest.raises(AuthenticationException):
        alice.security.authenticate()
    status, _, body = http_request(gateway.url, "DELETE", f"/_security/user/{name}")
    assert (status, json.loads(body)) == (404, {"found": False})
    status, _, body = http_request(gateway.url, "GET", f"/_security/user/{name}")
    assert (status, json.loads(body)) == (404, {})


def test_get_all_users_includes_reserved(admin: Elasticsearch) -> None:
    name = new_name()
    admin.security.put_user(username=name, password="password1", roles=[])
    users = admin.security.get_user().body
    assert name in users
    for reserved in ("elastic", "kibana_system", "logstash_system", "beats_system", "apm_system"):
        assert users[reserved]["metadata"] == {"_reserved": True}
    assert users["remote_monitoring_user"]["roles"] == [
        "remote_monitoring_collector",
        "remote_monitoring_agent",
    ]


def test_password_hash_is_accepted_on_create(gateway: Gateway, admin: Elasticsearch) -> None:
    from bastion.authc.password_hashing import resolve_hasher

    name = new_name()
    for algorithm in ("bcrypt4", "pbkdf2_1000"):
        password_hash = resolve_hasher(algorithm).hash("hashed-password")
        admin.security.put_user(username=name, password_hash=password_hash, roles=[])
        user = client_for(gateway, name, "hashed-password")
        assert user.security.authenticate()["username"] == name


def test_reserved_users(gateway: Gateway, admin: Elasticsearch) -> None:
    with pytest.raises(ApiError) as error:
        admin.security.put_user(username="elastic", password="password1", roles=[])
    assert error.value.status_code == 400
    assert error_of(error.value)["error"]["reason"] == (
        "Validation Failed: 1: Username [elastic] is reserved and may not be used.;"
    )
    with pytest.raises(ApiError) as error:
        admin.security.delete_user(username="elastic")
    assert error.value.status_code == 400

    admin.security.change_password(username="kibana_system", password="kibana-password")
    kibana = client_for(gateway, "kibana_system", "kibana-password")
    me = kibana.security.authenticate().body
    assert me["roles"] == ["kibana_system"]
    assert me["authentication_realm"]["type"] == "reserved"
    admin.security.disable_user(username="kibana_system")
    with pytest.raises(AuthenticationException):
        kibana.security.authenticate()
    admin.security.enable_user(username="kibana_system")
    assert kibana.security.authenticate()["username"] == "kibana_system"
    # Nobody disables their own account.
    with pytest.raises(ApiError) as error:
        admin.security.disable_user(username="elastic")
    assert error.value.status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "error_type", "reason"),
    [
        (
            {"password": "short", "roles": []},
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: passwords must be at least [6] characters long;",
        ),
        (
            {"password": "password1"},
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: roles are missing;",
        ),
        (
            {"password": "password1", "roles": [], "colour": "red"},
            400,
            "parse_exception",
            "failed to parse add user request. unexpected field [colour]",
        ),
        (
            {"roles": []},
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: password must be specified unless you are updating an "
            "existing user;",
        ),
        (
            {"password_hash": "not-a-hash", "roles": []},
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: The provided password hash is not a hash or it could not be "
            "resolved to a supported hash algorithm.;",
        ),
    ],
    ids=["short-password", "no-roles", "unknown-field", "no-password", "bad-hash"],
)
def test_put_user_validation(
    gateway: Gateway, body: dict[str, Any], status: int, error_type: str, reason: str
) -> None:
    code, _, raw_body = http_request(
        gateway.url,
        "PUT",
        f"/_security/user/{new_name()}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    error = json.loads(raw_body)
    assert (code, error["error"]["type"], error["error"]["reason"]) == (status, error_type, reason)


@pytest.mark.parametrize("body", [b"{not json", b"[1,2]", b""], ids=["broken", "array", "empty"])
def test_malformed_bodies_are_parse_exceptions(gateway: Gateway, body: bytes) -> None:
    status, _, raw_body = http_request(
        gateway.url, "PUT", "/_security/user/someone", body, {"Content-Type": "application/json"}
    )
    assert status == 400
    assert json.loads(raw_body)["error"]["type"] == "parse_exception"


def test_invalid_username(gateway: Gateway) -> None:
    status, _, body = http_request(
        gateway.url,
        "PUT",
        "/_security/user/%20leading-space",
        b'{"password":"password1","roles":[]}',
        {"Content-Type": "application/json"},
    )
    assert status == 400
    assert "Leading or trailing whitespace is not allowed" in json.loads(body)["error"]["reason"]


def test_query_users(admin: Elasticsearch) -> None:
    tag = uuid.uuid4().hex[:6]
    for i in range(5):
        admin.security.put_user(
            username=f"q-{tag}-{i}",
            password="password1",
            roles=[f"role-{tag}", "odd" if i % 2 else "even"],
            email=f"q{i}@{tag}.example",
            full_name=f"Query User {i}",
        )
    found = admin.security.query_user(
        query={"bool": {"must": [{"term": {"roles": f"role-{tag}"}}, {"term": {"roles": "odd"}}]}},
        sort=[{"username": "desc"}],
    ).body
    assert found["total"] == 2
    assert found["count"] == 2
    assert [u["username"] for u in found["users"]] == [f"q-{tag}-3", f"q-{tag}-1"]
    assert "password" not in found["users"][0]
    page = admin.security.query_user(
        query={"prefix": {"username": f"q-{tag}-"}}, sort=["username"], from_=1, size=2
    ).body
    assert page["total"] == 5
    assert [u["username"] for u in page["users"]] == [f"q-{tag}-1", f"q-{tag}-2"]
    assert page["users"][0]["_sort"] == [f"q-{tag}-1"]
    by_name = admin.security.query_user(query={"match": {"full_name": "user 4"}}).body
    assert f"q-{tag}-4" in [u["username"] for u in by_name["users"]]
    with pytest.raises(ApiError) as error:
        admin.security.query_user(query={"term": {"password": "x"}})
    assert error.value.status_code == 400


def test_run_as_resolves_the_target_user(gateway: Gateway, admin: Elasticsearch) -> None:
    name = new_name()
    admin.security.put_user(username=name, password="password1", roles=["viewer"])
    status, _, body = http_request(
        gateway.url, "GET", "/_security/_authenticate", headers={"es-security-runas-user": name}
    )
    assert status == 200
    me = json.loads(body)
    assert me["username"] == name
    assert me["authentication_realm"] == {"name": "reserved", "type": "reserved"}
    assert me["lookup_realm"] == {"name": "default_native", "type": "native"}
    status, _, body = http_request(
        gateway.url,
        "GET",
        "/_security/_authenticate",
        headers={"es-security-runas-user": "no-such-user"},
    )
    assert status == 403
    assert json.loads(body)["error"]["type"] == "security_exception"


def test_anonymous_access(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        "-E",
        "xpack.security.authc.anonymous.roles=viewer",
        "-E",
        "xpack.security.authc.anonymous.username=guest",
    )
    status, _, body = http_request(gateway.url, "GET", "/_security/_authenticate", auth=None)
    assert status == 200
    me = json.loads(body)
    assert (me["username"], me["roles"], me["authentication_type"]) == (
        "guest",
        ["viewer"],
        "anonymous",
    )
    # Wrong credentials are still refused; they do not fall back to anonymous.
    status, _, _ = http_request(
        gateway.url, "GET", "/_security/_authenticate", auth=("elastic", "wrong-password")
    )
    assert status == 401
    # What the anonymous roles do not grant is refused with 403 (authz_exception: true) ...
    status, _, _ = http_request(gateway.url, "GET", "/_security/user", auth=None)
    assert status == 403


def test_anonymous_denial_can_ask_for_credentials(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        "-E",
        "xpack.security.authc.anonymous.roles=viewer",
        "-E",
        "xpack.security.authc.anonymous.authz_exception=false",
    )
    status, headers, body = http_request(gateway.url, "GET", "/_security/user", auth=None)
    assert status == 401
    assert "www-authenticate" in headers
    error = json.loads(body)["error"]
    assert error["header"]["WWW-Authenticate"][0].startswith("Basic ")
    assert (
        error["reason"] == "action [cluster:admin/xpack/security/user/get] requires authentication"
    )
    status, _, _ = http_request(gateway.url, "GET", "/_security/_authenticate", auth=None)
    assert status == 200


def test_change_seen_by_a_second_gateway_within_a_second(start_gateway: GatewayFactory) -> None:
    first, second = start_gateway(), start_gateway()
    admin = client_for(first, *ELASTIC)
    name = new_name()
    admin.security.put_user(username=name, password="old-password", roles=[])
    on_second = client_for(second, name, "old-password")
    assert on_second.security.authenticate()["username"] == name  # now cached on the second
    admin.security.change_password(username=name, password="new-password")
    # Workers poll the change counter every 0.5 s; allow for a loaded machine.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        status, _, _ = http_request(
            second.url, "GET", "/_security/_authenticate", auth=(name, "old-password")
        )
        if status == 401:
            break
        time.sleep(0.05)
    assert status == 401
    status, _, _ = http_request(
        second.url, "GET", "/_security/_authenticate", auth=(name, "new-password")
    )
    assert status == 200


def test_concurrent_updates_lose_nothing(gateway: Gateway, admin: Elasticsearch) -> None:
    name = new_name()
    admin.security.put_user(username=name, password="password0", roles=[])

    def change(i: int) -> int:
        if i % 2:
            path, body = f"/_security/user/{name}/_password", {"password": "password-new"}
        else:
            path, body = f"/_security/user/{name}/_disable", {}
        status, _, _ = http_request(
            gateway.url,
            "POST",
            path,
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        return status

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(change, range(16))) == {200}
    # Both kinds of change survived: the user is disabled and has the new password.
    assert admin.security.get_user(username=name)[name]["enabled"] is False
    admin.security.enable_user(username=name)
    user = client_for(gateway, name, "password-new")
    assert user.security.authenticate()["username"] == name


def test_clear_realm_cache(admin: Elasticsearch) -> None:
    answer = admin.security.clear_cached_realms(realms="default_native", usernames="a,b").body
    assert answer["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    assert answer["cluster_name"] == "bastion"


def wait_for_status(gateway: Gateway, auth: tuple[str, str], expected: int) -> int:
    deadline = time.monotonic() + 5.0  # Elasticsearch re-reads the files within 5 s
    while True:
        status, _, _ = http_request(gateway.url, "GET", "/_security/_authenticate", auth=auth)
        if status == expected or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_file_realm_follows_its_files(gateway: Gateway) -> None:
    import subprocess
    import sys

    def users(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "bastion", "users", *args, "--home", str(gateway.home)],
            check=True,
            capture_output=True,
        )

    users("useradd", "filey", "-p", "file-password", "-r", "viewer,editor")
    assert wait_for_status(gateway, ("filey", "file-password"), 200) == 200
    body = http_request(
        gateway.url, "GET", "/_security/_authenticate", auth=("filey", "file-password")
    )[2]
    me = json.loads(body)
    assert me["authentication_realm"] == {"name": "default_file", "type": "file"}
    assert sorted(me["roles"]) == ["editor", "viewer"]

    users("passwd", "filey", "-p", "other-password")
    assert wait_for_status(gateway, ("filey", "file-password"), 401) == 401
    assert wait_for_status(gateway, ("filey", "other-password"), 200) == 200

    # A malformed line is skipped; the other users keep working.
    users_file = gateway.home / "config" / "users"
    users_file.write_text(users_file.read_text() + "this line is broken\n")
    time.sleep(1.5)
    assert wait_for_status(gateway, ("filey", "other-password"), 200) == 200
    assert "line [2]" in "".join(gateway.process.output)

    users("userdel", "filey")
    assert wait_for_status(gateway, ("filey", "other-password"), 401) == 401


def test_brute_force_protection_delays_then_locks(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        "-E",
        "bastion.security.authc.brute_force.enabled=true",
        "-E",
        "bastion.security.authc.brute_force.free_attempts=2",
        "-E",
        "bastion.security.authc.brute_force.lock_after=4",
        "-E",
        "bastion.security.authc.brute_force.max_delay=200ms",
        "-E",
        "xpack.security.audit.enabled=true",
        "-E",
        "xpack.security.audit.logfile.events.include=authentication_failed",
    )
    admin = client_for(gateway, *ELASTIC)
    name = new_name()
    admin.security.put_user(username=name, password="right-password", roles=[])
    for _ in range(4):
        status, _, _ = http_request(
            gateway.url, "GET", "/_security/_authenticate", auth=(name, "wrong-password")
        )
        assert status == 401
    # Locked: even the right password is refused, with the same answer as a wrong one.
    status, _, body = http_request(
        gateway.url, "GET", "/_security/_authenticate", auth=(name, "right-password")
    )
    assert status == 401
    assert "unable to authenticate user" in json.loads(body)["error"]["reason"]
    # elastic from loopback is never locked out, even though this address is.
    status, _, _ = http_request(gateway.url, "GET", "/_security/_authenticate")
    assert status == 200
    # The audit trail shows what brute-force protection did to each failed attempt.
    audit_log = gateway.home / "logs" / "bastion_audit.json"
    deadline = time.monotonic() + 10
    while True:
        lines = audit_log.read_bytes().splitlines() if audit_log.exists() else []
        failed = [json.loads(line) for line in lines if line.endswith(b"}")]
        failed = [e for e in failed if e.get("user.name") == name]
        if len(failed) == 5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [e.get("bastion.brute_force") for e in failed] == [
        None,
        None,
        "delayed",
        "delayed",
        "locked",
    ]


def test_realm_chain_follows_order_and_enabled(start_gateway: GatewayFactory) -> None:
    import subprocess
    import sys

    def add_file_user(gateway: Gateway, name: str) -> None:
        command = ["users", "useradd", name, "-p", "file-password", "--home", str(gateway.home)]
        subprocess.run([sys.executable, "-m", "bastion", *command], check=True, capture_output=True)

    def realm_of(gateway: Gateway, name: str, password: str) -> str:
        assert wait_for_status(gateway, (name, password), 200) == 200
        raw = http_request(gateway.url, "GET", "/_security/_authenticate", auth=(name, password))[2]
        return str(json.loads(raw)["authentication_realm"]["name"])

    realms = (
        *("-E", "xpack.security.authc.realms.file.f1.order=0"),
        *("-E", "xpack.security.authc.realms.native.n1.order=1"),
    )
    gateway = start_gateway(*realms)
    name = new_name()
    client_for(gateway, *ELASTIC).security.put_user(
        username=name, password="native-password", roles=[]
    )
    add_file_user(gateway, name)
    # The same name in both realms: the file realm is asked first; a wrong password for it
    # passes on to the native realm.
    assert realm_of(gateway, name, "file-password") == "f1"
    assert realm_of(gateway, name, "native-password") == "n1"

    disabled = start_gateway(*realms, "-E", "xpack.security.authc.realms.file.f1.enabled=false")
    add_file_user(disabled, name)
    time.sleep(1.5)  # the file realm would have read its file by now, were it enabled
    assert wait_for_status(disabled, (name, "file-password"), 401) == 401
    assert realm_of(disabled, name, "native-password") == "n1"
