"""OAuth2-style tokens through the gateway, with the official client: grants, refresh reuse,
expiry, invalidation by each selector, seen by a second gateway."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from elasticsearch import ApiError, AuthenticationException, Elasticsearch

from tests.conftest import ELASTIC, Gateway, GatewayFactory, http_request


def admin_of(gateway: Gateway) -> Elasticsearch:
    return Elasticsearch(gateway.url, basic_auth=ELASTIC, request_timeout=30)


def bearer(gateway: Gateway, token: str) -> Elasticsearch:
    return Elasticsearch(gateway.url, bearer_auth=token, request_timeout=30)


def new_user(admin: Elasticsearch, roles: list[str] | None = None) -> tuple[str, str]:
    name = f"tok-{uuid.uuid4().hex[:8]}"
    admin.security.put_user(username=name, password="token-password", roles=roles or ["viewer"])
    return name, "token-password"


def password_grant(admin: Elasticsearch, user: tuple[str, str]) -> dict[str, Any]:
    body = admin.security.get_token(grant_type="password", username=user[0], password=user[1])
    return dict(body)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def rejected(gateway: Gateway, token: str) -> bool:
    try:
        bearer(gateway, token).security.authenticate()
    except AuthenticationException:
        return True
    return False


@pytest.fixture(scope="module")
def gateways(engine_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import launch_gateway

    first = launch_gateway(engine_url, tmp_path_factory.mktemp("tokens-a"))
    second = launch_gateway(engine_url, tmp_path_factory.mktemp("tokens-b"))
    yield first, second
    first.process.stop()
    second.process.stop()


def test_password_grant_authenticates_as_the_user(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    admin = admin_of(gateway)
    user = new_user(admin)
    token = password_grant(admin, user)
    assert token["type"] == "Bearer"
    assert token["expires_in"] == 1200
    assert token["refresh_token"]
    assert token["authentication"]["username"] == user[0]
    assert token["authentication"]["authentication_realm"]["name"] == "default_native"
    me = bearer(gateway, token["access_token"]).security.authenticate()
    assert me["username"] == user[0]
    assert me["authentication_type"] == "token"
    assert me["roles"] == ["viewer"]
    assert "token" not in me


def test_wrong_password_is_401(gateways: tuple[Gateway, Gateway]) -> None:
    admin = admin_of(gateways[0])
    user = new_user(admin)
    with pytest.raises(AuthenticationException):
        admin.security.get_token(grant_type="password", username=user[0], password="wrong-pw")


def test_client_credentials_has_no_refresh_token(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    token = admin_of(gateway).security.get_token(grant_type="client_credentials")
    assert "refresh_token" not in token
    me = bearer(gateway, token["access_token"]).security.authenticate()
    assert me["username"] == "elastic"
    assert me["authentication_type"] == "token"


def test_role_definitions_apply_live(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    admin = admin_of(gateway)
    role = f"tok-role-{uuid.uuid4().hex[:6]}"
    admin.security.put_role(name=role, cluster=[])
    user = new_user(admin, [role])
    client = bearer(gateway, password_grant(admin, user)["access_token"])
    index = f"tok-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ApiError) as denied:
        client.indices.create(index=index)
    assert denied.value.meta.status == 403
    admin.security.put_role(name=role, indices=[{"names": [index], "privileges": ["all"]}])
    assert client.indices.create(index=index)["acknowledged"]
    admin.indices.delete(index=index)


def test_grant_validation_and_unknown_grant(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    status, _, body = http_request(
        gateway.url,
        "POST",
        "/_security/oauth2/token",
        b'{"grant_type":"password","username":"x"}',
        {"Content-Type": "application/json"},
    )
    assert status == 400
    assert b'"error":"invalid_request"' in body
    assert b"password is missing" in body
    status, _, body = http_request(
        gateway.url,
        "POST",
        "/_security/oauth2/token",
        b'{"grant_type":"magic"}',
        {"Content-Type": "application/json"},
    )
    assert status == 400
    assert b"unsupported_grant_type" in body


def test_manage_token_is_required(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    user = new_user(admin_of(gateway), ["viewer"])
    client = Elasticsearch(gateway.url, basic_auth=user, request_timeout=30)
    with pytest.raises(ApiError) as denied:
        client.security.get_token(grant_type="client_credentials")
    assert denied.value.meta.status == 403
    assert "manage_token" in str(denied.value.body)


def test_refresh_is_single_use_with_a_reuse_window(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    admin = admin_of(gateway)
    user = new_user(admin)
    first = password_grant(admin, user)
    refreshed = admin.security.get_token(
        grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert refreshed["access_token"] != first["access_token"]
    again = admin.security.get_token(
        grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert again["access_token"] == refreshed["access_token"]
    assert again["refresh_token"] == refreshed["refresh_token"]
    assert bearer(gateway, again["access_token"]).security.authenticate()["username"] == user[0]
    # The new refresh token works once more.
    newer = admin.security.get_token(
        grant_type="refresh_token", refresh_token=refreshed["refresh_token"]
    )
    assert newer["access_token"] not in (first["access_token"], refreshed["access_token"])


def test_concurrent_refreshes_get_one_pair(gateways: tuple[Gateway, Gateway]) -> None:
    a, b = gateways
    admin = admin_of(a)
    token = password_grant(admin, new_user(admin))
    clients = [admin_of(a if i % 2 else b) for i in range(10)]

    def refresh(client: Elasticsearch) -> tuple[str, str]:
        body = client.security.get_token(
            grant_type="refresh_token", refresh_token=token["refresh_token"]
        )
        return body["access_token"], body["refresh_token"]

    with ThreadPoolExecutor(10) as pool:
        pairs = set(pool.map(refresh, clients))
    assert len(pairs) == 1
    access, _ = pairs.pop()
    assert not rejected(a, access)


def test_refresh_by_another_client_is_refused(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    admin = admin_of(gateway)
    token = password_grant(admin, new_user(admin))
    other = new_user(admin, ["superuser"])
    client = Elasticsearch(gateway.url, basic_auth=other, request_timeout=30)
    with pytest.raises(ApiError) as refused:
        client.security.get_token(grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert refused.value.meta.status == 400
    assert refused.value.body == {
        "error": "invalid_grant",
        "error_description": "tokens must be refreshed by the creating client",
    }


def test_invalidate_by_access_token_seen_by_second_gateway(
    gateways: tuple[Gateway, Gateway],
) -> None:
    a, b = gateways
    admin = admin_of(a)
    token = password_grant(admin, new_user(admin))
    assert not rejected(b, token["access_token"])  # cached on b
    result = admin.security.invalidate_token(token=token["access_token"])
    assert result["invalidated_tokens"] == 1
    assert result["previously_invalidated_tokens"] == 0
    assert result["error_count"] == 0
    assert rejected(a, token["access_token"])
    assert wait_until(lambda: rejected(b, token["access_token"]), timeout=2.0) < 1.5
    again = admin.security.invalidate_token(token=token["access_token"])
    assert again["previously_invalidated_tokens"] == 1


def test_invalidate_by_refresh_token(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    admin = admin_of(gateway)
    token = password_grant(admin, new_user(admin))
    result = admin.security.invalidate_token(refresh_token=token["refresh_token"])
    assert result["invalidated_tokens"] == 1
    with pytest.raises(ApiError) as refused:
        admin.security.get_token(grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert refused.value.body["error"] == "invalid_grant"
    assert not rejected(gateway, token["access_token"])  # the access token is untouched


@pytest.mark.parametrize("selector", ["username", "realm_and_username"])
def test_invalidate_by_user(gateways: tuple[Gateway, Gateway], selector: str) -> None:
    gateway, _ = gateways
    admin = admin_of(gateway)
    user = new_user(admin)
    tokens = [password_grant(admin, user) for _ in range(2)]
    if selector == "username":
        result = admin.security.invalidate_token(username=user[0])
    else:
        result = admin.security.invalidate_token(realm_name="default_native", username=user[0])
    assert result["invalidated_tokens"] == 4  # two access and two refresh tokens
    for token in tokens:
        assert rejected(gateway, token["access_token"])


def test_invalidate_by_realm(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    admin = admin_of(gateway)
    token = password_grant(admin, new_user(admin))
    result = admin.security.invalidate_token(realm_name="default_native")
    assert result["invalidated_tokens"] >= 2
    assert rejected(gateway, token["access_token"])


def test_invalidate_unknown_and_invalid_requests(gateways: tuple[Gateway, Gateway]) -> None:
    gateway, _ = gateways
    admin = admin_of(gateway)
    with pytest.raises(ApiError) as missing:
        admin.security.invalidate_token(token="AAIAAunknown")
    assert missing.value.meta.status == 404
    with pytest.raises(ApiError) as invalid:
        admin.security.invalidate_token(token="x", username="y")
    assert invalid.value.meta.status == 400
    assert "token string must not be provided" in str(invalid.value.body)


def test_tokens_are_stored_as_hashes(gateways: tuple[Gateway, Gateway], engine_url: str) -> None:
    gateway, _ = gateways
    admin = admin_of(gateway)
    token = password_grant(admin, new_user(admin))
    status, _, raw = http_request(
        engine_url, "GET", "/.bastion-tokens/_search?size=10000", auth=None
    )
    assert status == 200
    assert token["access_token"].encode() not in raw
    assert token["refresh_token"].encode() not in raw


def test_expired_access_token_is_refused(start_gateway: GatewayFactory, engine_url: str) -> None:
    gateway = start_gateway(
        "-E",
        "xpack.security.authc.token.timeout=1s",
        "-E",
        "xpack.security.authc.token.delete.interval=1s",
    )
    admin = admin_of(gateway)
    token = password_grant(admin, new_user(admin))
    assert token["expires_in"] == 1
    assert not rejected(gateway, token["access_token"])
    wait_until(lambda: rejected(gateway, token["access_token"]), timeout=5.0)
    status, _, body = http_request(
        gateway.url,
        "GET",
        "/_security/_authenticate",
        auth=None,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert status == 401
    assert b"token expired" in body
    # As Elasticsearch: the first challenge says why, in RFC 6750's words.
    assert orjson.loads(body)["error"]["header"]["WWW-Authenticate"][0] == (
        'Bearer realm="security", error="invalid_token", '
        'error_description="The access token expired"'
    )
    # The refresh token outlives it.
    refreshed = admin.security.get_token(
        grant_type="refresh_token", refresh_token=token["refresh_token"]
    )
    assert not rejected(gateway, refreshed["access_token"])

    # Expired documents are removed in the background (this pair keeps its refresh token; a
    # client_credentials token has none, so its document goes once the access token expired).
    lone = admin.security.get_token(grant_type="client_credentials")["access_token"]
    digest = hashlib.sha256(lone.encode()).hexdigest()

    def removed() -> bool:
        status, _, _ = http_request(
            engine_url, "GET", f"/.bastion-tokens/_doc/token_{digest}", auth=None
        )
        return status == 404

    wait_until(removed, timeout=10.0)
