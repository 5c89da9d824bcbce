"""Service accounts through the gateway, with the official client: the accounts API, index
and file tokens, and what a fleet-server token may and may not do."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from elasticsearch import ApiError, AuthenticationException, Elasticsearch

from tests.conftest import ELASTIC, Gateway, http_request


def admin_of(gateway: Gateway) -> Elasticsearch:
    return Elasticsearch(gateway.url, basic_auth=ELASTIC, request_timeout=30)


def bearer(gateway: Gateway, token: str) -> Elasticsearch:
    return Elasticsearch(gateway.url, bearer_auth=token, request_timeout=30)


def poll(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def token_name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_get_service_accounts(module_gateway: Gateway) -> None:
    admin = admin_of(module_gateway)
    every = admin.security.get_service_accounts()
    assert set(every) == {
        "elastic/fleet-server",
        "elastic/fleet-server-remote",
        "elastic/kibana",
        "elastic/enterprise-search-server",
    }
    fleet = admin.security.get_service_accounts(namespace="elastic", service="fleet-server")
    descriptor = fleet["elastic/fleet-server"]["role_descriptor"]
    assert descriptor["cluster"] == ["monitor", "manage_own_api_key"]
    assert descriptor["indices"][0]["names"][0] == "logs-*"
    assert admin.security.get_service_accounts(namespace="other").body == {}


def test_create_authenticate_delete_index_token(module_gateway: Gateway) -> None:
    admin = admin_of(module_gateway)
    name = token_name()
    created = admin.security.create_service_token(
        namespace="elastic", service="fleet-server", name=name
    )
    assert created["created"] is True
    assert created["token"]["name"] == name
    value = created["token"]["value"]
    assert value.startswith("AAEAA")
    me: Any = bearer(module_gateway, value).security.authenticate()
    assert me["username"] == "elastic/fleet-server"
    assert me["roles"] == []
    assert me["full_name"] == "Service account - elastic/fleet-server"
    assert me["metadata"] == {"_elastic_service_account": True}
    assert me["authentication_realm"] == {"name": "_service_account", "type": "_service_account"}
    assert me["authentication_type"] == "token"
    assert me["token"] == {"name": name, "type": "_service_account_index"}
    credentials = admin.security.get_service_credentials(
        namespace="elastic", service="fleet-server"
    )
    assert credentials["service_account"] == "elastic/fleet-server"
    assert name in credentials["tokens"]
    with pytest.raises(ApiError) as duplicate:
        admin.security.create_service_token(namespace="elastic", service="fleet-server", name=name)
    assert duplicate.value.meta.status == 409
    deleted = admin.security.delete_service_token(
        namespace="elastic", service="fleet-server", name=name
    )
    assert deleted["found"] is True
    with pytest.raises(AuthenticationException):
        bearer(module_gateway, value).security.authenticate()
    with pytest.raises(ApiError) as missing:
        admin.security.delete_service_token(namespace="elastic", service="fleet-server", name=name)
    assert missing.value.meta.status == 404


def test_generated_name_and_bad_requests(module_gateway: Gateway) -> None:
    admin = admin_of(module_gateway)
    created = admin.security.create_service_token(namespace="elastic", service="kibana")
    assert created["token"]["name"].startswith("token_")
    with pytest.raises(ApiError) as bad_name:
        admin.security.create_service_token(namespace="elastic", service="kibana", name="_x")
    assert bad_name.value.meta.status == 400
    with pytest.raises(ApiError) as unknown:
        admin.security.create_service_token(namespace="elastic", service="nope", name="t")
    assert unknown.value.meta.status == 400


def test_wrong_secret_is_refused(module_gateway: Gateway) -> None:
    admin = admin_of(module_gateway)
    name = token_name()
    created = admin.security.create_service_token(
        namespace="elastic", service="fleet-server", name=name
    )
    from bastion.authc.service_accounts.token import ServiceToken

    forged = ServiceToken("elastic", "fleet-server", name, "wrong-secret").bearer_value()
    status, _, body = http_request(
        module_gateway.url,
        "GET",
        "/_security/_authenticate",
        auth=None,
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert status == 401
    assert f"with token name [{name}]".encode() in body
    assert created["token"]["value"] != forged


def test_fleet_server_token_is_limited_to_its_role(module_gateway: Gateway) -> None:
    admin = admin_of(module_gateway)
    value = admin.security.create_service_token(
        namespace="elastic", service="fleet-server", name=token_name()
    )["token"]["value"]
    fleet = bearer(module_gateway, value)
    suffix = uuid.uuid4().hex[:6]
    assert fleet.index(index=f"logs-fleet-{suffix}", document={"a": 1})["result"] == "created"
    assert fleet.cluster.health()["status"] in ("green", "yellow")
    admin.index(index=f"private-{suffix}", document={"a": 1}, refresh=True)
    with pytest.raises(ApiError) as read_denied:
        fleet.search(index=f"private-{suffix}")
    assert read_denied.value.meta.status == 403
    with pytest.raises(ApiError) as admin_denied:
        fleet.security.get_user()
    assert admin_denied.value.meta.status == 403
    assert "is unauthorized for service account [elastic/fleet-server]" in str(
        admin_denied.value.body
    )
    with pytest.raises(ApiError) as write_denied:
        fleet.index(index=f"private-{suffix}", document={"a": 2})
    assert write_denied.value.meta.status == 403
    admin.indices.delete(index=f"private-{suffix}")


def test_service_account_apis_need_privileges(module_gateway: Gateway) -> None:
    admin = admin_of(module_gateway)
    name = f"viewer-{uuid.uuid4().hex[:6]}"
    admin.security.put_user(username=name, password="viewer-password", roles=["viewer"])
    viewer = Elasticsearch(module_gateway.url, basic_auth=(name, "viewer-password"))
    with pytest.raises(ApiError) as denied:
        viewer.security.create_service_token(namespace="elastic", service="kibana", name="t")
    assert denied.value.meta.status == 403
    assert "manage_service_account" in str(denied.value.body)


def test_file_tokens_via_cli_authenticate_and_are_listed(module_gateway: Gateway) -> None:
    name = token_name()
    home = str(module_gateway.home)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bastion", "service-tokens", *args, "--home", home],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    created = cli("create", "elastic/fleet-server", name)
    assert created.returncode == 0, created.stderr
    value = created.stdout.strip().split(" = ")[1]
    client = bearer(module_gateway, value)

    def accepted() -> bool:
        try:
            return bool(client.security.authenticate()["token"]["name"] == name)
        except AuthenticationException:
            return False

    poll(accepted)
    me = client.security.authenticate()
    assert me["token"] == {"name": name, "type": "_service_account_file"}
    credentials = admin_of(module_gateway).security.get_service_credentials(
        namespace="elastic", service="fleet-server"
    )
    assert name in credentials["nodes_credentials"]["file_tokens"]
    assert cli("delete", "elastic/fleet-server", name).returncode == 0
    poll(lambda: not accepted())


def test_service_accounts_cannot_create_oauth2_tokens(module_gateway: Gateway) -> None:
    value = admin_of(module_gateway).security.create_service_token(
        namespace="elastic", service="kibana", name=token_name()
    )["token"]["value"]
    with pytest.raises(ApiError) as refused:
        bearer(module_gateway, value).security.get_token(grant_type="client_credentials")
    assert refused.value.meta.status == 400
    assert "not supported for service accounts" in str(refused.value.body)
