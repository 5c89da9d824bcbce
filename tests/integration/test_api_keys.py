"""API keys end to end, with the official client: create, use, get, query, invalidate, update,
grant, the limited-by intersection, expiry, invalidation across gateways and bad input."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from elasticsearch import ApiError, AuthenticationException, AuthorizationException, Elasticsearch

from tests.conftest import ELASTIC, Gateway, GatewayFactory, http_request

PASSWORD = "api-key-owner-password"


@pytest.fixture(scope="module")
def gateway(module_gateway: Gateway) -> Gateway:
    return module_gateway


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> Elasticsearch:
    return Elasticsearch(gateway.url, basic_auth=ELASTIC, request_timeout=30)


@pytest.fixture(scope="module")
def world(admin: Elasticsearch) -> dict[str, str]:
    """Two indices; `owner` reads only the first and manages its own API keys; `peer` too."""
    tag = uuid.uuid4().hex[:8]
    names = {"open": f"open-{tag}", "secret": f"secret-{tag}", "owner": f"owner-{tag}"}
    names["peer"] = f"peer-{tag}"
    for index in (names["open"], names["secret"]):
        admin.index(index=index, document={"tag": tag}, refresh=True)
    admin.security.put_role(
        name=f"reader-{tag}",
        cluster=["manage_own_api_key"],
        indices=[{"names": [names["open"]], "privileges": ["read"]}],
    )
    for user in (names["owner"], names["peer"]):
        admin.security.put_user(username=user, password=PASSWORD, roles=[f"reader-{tag}"])
    return names


def client(gateway: Gateway, encoded: str) -> Elasticsearch:
    return Elasticsearch(gateway.url, api_key=encoded, request_timeout=30)


def as_user(gateway: Gateway, username: str) -> Elasticsearch:
    return Elasticsearch(gateway.url, basic_auth=(username, PASSWORD), request_timeout=30)


def status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except ApiError as error:
        return int(error.meta.status)
    return 200


def test_create_use_and_authenticate(gateway: Gateway, admin: Elasticsearch) -> None:
    created = admin.security.create_api_key(name="first", metadata={"team": "a"})
    assert set(created.body) == {"id", "name", "api_key", "encoded"}
    assert len(created["id"]) == 20
    assert len(created["api_key"]) == 22
    assert base64.b64decode(created["encoded"]).decode() == f"{created['id']}:{created['api_key']}"
    me = client(gateway, created["encoded"]).security.authenticate()
    assert me["username"] == "elastic"
    assert me["authentication_type"] == "api_key"
    assert me["authentication_realm"] == {"name": "_es_api_key", "type": "_es_api_key"}
    assert me["api_key"] == {"id": created["id"], "name": "first"}
    # The tuple form of the client's api_key argument, too.
    pair = (created["id"], created["api_key"])
    assert Elasticsearch(gateway.url, api_key=pair).security.authenticate()["username"]


def test_wrong_secret_and_unknown_id_are_401(gateway: Gateway, admin: Elasticsearch) -> None:
    created = admin.security.create_api_key(name="wrong")
    bad = base64.b64encode(f"{created['id']}:not-the-secret".encode()).decode()
    with pytest.raises(AuthenticationException):
        client(gateway, bad).security.authenticate()
    unknown = base64.b64encode(b"AAAAAAAAAAAAAAAAAAAA:secret").decode()
    with pytest.raises(AuthenticationException):
        client(gateway, unknown).security.authenticate()
    status, _, body = http_request(
        gateway.url, "GET", "/_security/_authenticate", headers={"Authorization": "ApiKey %%%"}
    )
    assert status == 401
    assert b"invalid ApiKey value" in body


def test_get_and_query(admin: Elasticsearch) -> None:
    tag = uuid.uuid4().hex[:6]
    made = [admin.security.create_api_key(name=f"q-{tag}-{i}", metadata={"n": i}) for i in range(3)]
    one = admin.security.get_api_key(id=made[0]["id"])["api_keys"]
    assert len(one) == 1
    info = one[0]
    assert info["name"] == f"q-{tag}-0"
    assert info["type"] == "rest"
    assert info["invalidated"] is False
    assert info["username"] == "elastic"
    assert info["metadata"] == {"n": 0}
    assert "limited_by" not in info
    with_limit = admin.security.get_api_key(id=made[0]["id"], with_limited_by=True)
    assert "superuser" in with_limit["api_keys"][0]["limited_by"][0]
    by_name = admin.security.get_api_key(name=f"q-{tag}-*")["api_keys"]
    assert {k["id"] for k in by_name} == {m["id"] for m in made}
    found = admin.security.query_api_keys(
        query={"prefix": {"name": f"q-{tag}-"}}, sort=[{"name": "desc"}], size=2
    )
    assert found["total"] == 3
    assert found["count"] == 2
    assert [k["name"] for k in found["api_keys"]] == [f"q-{tag}-2", f"q-{tag}-1"]
    after = admin.security.query_api_keys(
        query={"prefix": {"name": f"q-{tag}-"}},
        sort=[{"name": "desc"}],
        search_after=found["api_keys"][-1]["_sort"],
    )
    assert [k["name"] for k in after["api_keys"]] == [f"q-{tag}-0"]
    bools = admin.security.query_api_keys(
        query={
            "bool": {
                "must": [{"wildcard": {"name": f"q-{tag}-*"}}],
                "must_not": [{"term": {"metadata.n": "1"}}],
                "filter": [{"range": {"creation": {"gte": "now-1h"}}}],
            }
        }
    )
    assert {k["name"] for k in bools["api_keys"]} == {f"q-{tag}-0", f"q-{tag}-2"}
    with pytest.raises(ApiError) as error:
        admin.security.query_api_keys(query={"term": {"api_key_hash": "x"}})
    assert error.value.meta.status == 400
    assert "not allowed" in str(error.value)


def test_limited_by_owner(gateway: Gateway, world: dict[str, str]) -> None:
    owner = as_user(gateway, world["owner"])
    broad = owner.security.create_api_key(
        name="broad",
        role_descriptors={
            "all": {"cluster": ["all"], "indices": [{"names": ["*"], "privileges": ["all"]}]}
        },
    )
    key = client(gateway, broad["encoded"])
    assert key.search(index=world["open"])["hits"]["total"]["value"] == 1
    with pytest.raises(AuthorizationException) as error:
        key.search(index=world["secret"])
    assert f"API key id [{broad['id']}]" in str(error.value)
    assert status_of(key.cluster.health) == 403
    # A wildcard expands only to what both the key and its owner may read.
    hits = key.search(index="open-*,secret-*", query={"match_all": {}}, size=100)
    indices = {h["_index"] for h in hits["hits"]["hits"]}
    assert world["open"] in indices
    assert world["secret"] not in indices
    got = key.mget(
        docs=[{"_index": world["open"], "_id": "none"}, {"_index": world["secret"], "_id": "none"}]
    )["docs"]
    assert "error" not in got[0]
    assert got[1]["error"]["type"] == "security_exception"
    checked = key.security.has_privileges(
        cluster=["monitor"], index=[{"names": [world["secret"]], "privileges": ["read"]}]
    )
    assert checked["has_all_requested"] is False
    # A key narrower than its owner: no read at all.
    narrow = owner.security.create_api_key(name="narrow", role_descriptors={"none": {}})
    assert status_of(lambda: client(gateway, narrow["encoded"]).search(index=world["open"])) == 403
    # No descriptors: the owner's snapshot.
    plain = owner.security.create_api_key(name="plain")
    assert client(gateway, plain["encoded"]).count(index=world["open"])["count"] == 1


def test_own_keys_only_with_manage_own_api_key(
    gateway: Gateway, admin: Elasticsearch, world: dict[str, str]
) -> None:
    owner, peer = as_user(gateway, world["owner"]), as_user(gateway, world["peer"])
    mine = owner.security.create_api_key(name="mine")
    theirs = peer.security.create_api_key(name="theirs")
    assert status_of(owner.security.get_api_key) == 403
    listed = owner.security.get_api_key(owner=True)["api_keys"]
    assert mine["id"] in {k["id"] for k in listed}
    assert theirs["id"] not in {k["id"] for k in listed}
    queried = owner.security.query_api_keys()["api_keys"]
    assert {k["username"] for k in queried} == {world["owner"]}
    assert status_of(lambda: owner.security.invalidate_api_key(ids=[theirs["id"]])) == 403
    # A key reads its own record by id.
    own = client(gateway, mine["encoded"]).security.get_api_key(id=mine["id"])
    assert [k["id"] for k in own["api_keys"]] == [mine["id"]]
    # An admin sees everyone's.
    everyone = admin.security.get_api_key(username=world["peer"])["api_keys"]
    assert theirs["id"] in {k["id"] for k in everyone}


def test_derived_keys_must_have_no_privileges(gateway: Gateway, admin: Elasticsearch) -> None:
    parent = client(gateway, admin.security.create_api_key(name="parent")["encoded"])
    with pytest.raises(ApiError) as error:
        parent.security.create_api_key(name="child")
    assert error.value.meta.status == 400
    assert "derived api keys" in str(error.value)
    child = parent.security.create_api_key(name="child", role_descriptors={"empty": {}})
    index = f"derived-{uuid.uuid4().hex[:8]}"
    admin.index(index=index, document={"a": 1}, refresh=True)
    assert parent.count(index=index)["count"] == 1
    assert status_of(lambda: client(gateway, child["encoded"]).count(index=index)) == 403


def test_invalidate_update_and_bulk_update(gateway: Gateway, admin: Elasticsearch) -> None:
    made = admin.security.create_api_key(name="to-change")
    key = client(gateway, made["encoded"])
    key.security.authenticate()  # warm the cache
    assert admin.security.update_api_key(id=made["id"], metadata={"v": 2})["updated"] is True
    assert admin.security.update_api_key(id=made["id"], metadata={"v": 2})["updated"] is False
    assert admin.security.get_api_key(id=made["id"])["api_keys"][0]["metadata"] == {"v": 2}
    other = admin.security.create_api_key(name="to-change-2")
    bulk = admin.security.bulk_update_api_keys(ids=[made["id"], other["id"]], metadata={"v": 2})
    assert bulk.body == {"updated": [other["id"]], "noops": [made["id"]]}
    with pytest.raises(ApiError) as error:
        admin.security.update_api_key(id="AAAAAAAAAAAAAAAAAAAA")
    assert error.value.meta.status == 404
    gone = admin.security.invalidate_api_key(ids=[made["id"]])
    assert gone.body == {
        "invalidated_api_keys": [made["id"]],
        "previously_invalidated_api_keys": [],
        "error_count": 0,
    }
    again = admin.security.invalidate_api_key(ids=[made["id"]])
    assert again["previously_invalidated_api_keys"] == [made["id"]]
    with pytest.raises(AuthenticationException) as failed:
        key.security.authenticate()
    assert "api key has been invalidated" in str(failed.value)
    active = admin.security.get_api_key(name="to-change*", active_only=True)["api_keys"]
    assert made["id"] not in {k["id"] for k in active}


def test_expiry(gateway: Gateway, admin: Elasticsearch) -> None:
    made = admin.security.create_api_key(name="short", expiration="1s")
    assert made["expiration"] > 0
    key = client(gateway, made["encoded"])
    key.security.authenticate()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if status_of(key.security.authenticate) == 401:
            break
        time.sleep(0.2)
    with pytest.raises(AuthenticationException) as failed:
        key.security.authenticate()
    assert "api key is expired" in str(failed.value)


def test_grant(gateway: Gateway, admin: Elasticsearch, world: dict[str, str]) -> None:
    granted = admin.security.grant_api_key(
        grant_type="password",
        username=world["owner"],
        password=PASSWORD,
        api_key={"name": "granted"},
    )
    me = client(gateway, granted["encoded"]).security.authenticate()
    assert me["username"] == world["owner"]
    with pytest.raises(ApiError) as error:
        admin.security.grant_api_key(
            grant_type="password", username=world["owner"], password="wrong", api_key={"name": "x"}
        )
    assert error.value.meta.status == 401


def test_concurrent_creation(gateway: Gateway, admin: Elasticsearch) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        made = list(pool.map(lambda i: admin.security.create_api_key(name=f"c{i}"), range(20)))
    assert len({m["id"] for m in made}) == 20
    with ThreadPoolExecutor(max_workers=20) as pool:
        users = list(
            pool.map(lambda m: client(gateway, m["encoded"]).security.authenticate(), made)
        )
    assert all(u["api_key"]["id"] == m["id"] for u, m in zip(users, made, strict=True))


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({}, 400, "api key name is required"),
        ({"name": "_x"}, 400, "may not begin with an underscore"),
        ({"name": "x", "expiration": "soon"}, 400, "failed to parse setting [expiration]"),
        ({"name": "x", "metadata": {"_r": 1}}, 400, "may not start with [_]"),
        ({"name": "x", "bogus": 1}, 400, "unknown field [bogus]"),
        ({"name": "x", "role_descriptors": {"r": {"cluster": ["nope"]}}}, 400, "nope"),
    ],
)
def test_bad_input(gateway: Gateway, body: dict[str, object], status: int, text: str) -> None:
    import json

    code, _, answer = http_request(
        gateway.url,
        "POST",
        "/_security/api_key",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    assert code == status, answer
    assert text in answer.decode()


def test_invalidation_seen_by_a_second_gateway(
    gateway: Gateway, admin: Elasticsearch, start_gateway: GatewayFactory
) -> None:
    other = start_gateway()
    made = admin.security.create_api_key(name="two-gateways")
    there = client(other, made["encoded"])
    there.security.authenticate()  # cached on the second gateway
    admin.security.invalidate_api_key(ids=[made["id"]])
    start = time.monotonic()
    while status_of(there.security.authenticate) != 401:
        assert time.monotonic() - start < 1.5, "invalidation not seen within a second"
        time.sleep(0.05)


def test_old_keys_are_removed_after_the_retention_period(start_gateway: GatewayFactory) -> None:
    quick = start_gateway(
        "-E",
        "xpack.security.authc.api_key.delete.retention_period=0s",
        "-E",
        "xpack.security.authc.api_key.delete.interval=1s",
    )
    admin = Elasticsearch(quick.url, basic_auth=ELASTIC, request_timeout=30)
    kept = admin.security.create_api_key(name="kept")
    dropped = admin.security.create_api_key(name="dropped")
    admin.security.invalidate_api_key(ids=[dropped["id"]])
    deadline = time.monotonic() + 15
    while admin.security.get_api_key(id=dropped["id"])["api_keys"]:
        assert time.monotonic() < deadline, "invalidated key not removed"
        time.sleep(0.2)
    assert admin.security.get_api_key(id=kept["id"])["api_keys"]


def test_query_aggregations_and_engine_refusals(admin: Elasticsearch) -> None:
    tag = uuid.uuid4().hex[:6]
    for i in range(3):
        admin.security.create_api_key(name=f"agg-{tag}-{i % 2}")
    found = admin.security.query_api_keys(
        query={"prefix": {"name": f"agg-{tag}-"}},
        size=0,
        aggs={
            "names": {"terms": {"field": "name"}},
            "owners": {"cardinality": {"field": "username"}},
        },
    )
    buckets = {b["key"]: b["doc_count"] for b in found["aggregations"]["names"]["buckets"]}
    assert buckets == {f"agg-{tag}-0": 2, f"agg-{tag}-1": 1}
    assert found["aggregations"]["owners"]["value"] == 1
    assert found["count"] == 0
    with pytest.raises(ApiError) as error:
        admin.security.query_api_keys(aggs={"x": {"terms": {"field": "api_key_hash"}}})
    assert error.value.meta.status == 400
    with pytest.raises(ApiError) as refused:
        admin.security.query_api_keys(query={"range": {"creation": {"gte": "not-a-date"}}})
    assert refused.value.meta.status == 400


def test_invalidate_by_name_owner_username_and_realm(
    gateway: Gateway, admin: Elasticsearch, world: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    owner, peer = as_user(gateway, world["owner"]), as_user(gateway, world["peer"])
    by_name = owner.security.create_api_key(name=f"by-name-{tag}")
    own = owner.security.create_api_key(name=f"own-{tag}")
    theirs = peer.security.create_api_key(name=f"theirs-{tag}")
    gone = admin.security.invalidate_api_key(name=f"by-name-{tag}")
    assert gone["invalidated_api_keys"] == [by_name["id"]]
    # owner=true: every active key of the caller, and nobody else's.
    gone = owner.security.invalidate_api_key(owner=True)
    assert own["id"] in gone["invalidated_api_keys"]
    assert theirs["id"] not in gone["invalidated_api_keys"]
    gone = admin.security.invalidate_api_key(username=world["peer"], realm_name="default_native")
    assert theirs["id"] in gone["invalidated_api_keys"]
    for made in (by_name, own, theirs):
        assert status_of(client(gateway, made["encoded"]).security.authenticate) == 401


def test_grant_with_an_access_token_needs_grant_api_key(
    gateway: Gateway, admin: Elasticsearch, world: dict[str, str]
) -> None:
    token = admin.security.get_token(
        grant_type="password", username=world["owner"], password=PASSWORD
    )["access_token"]
    granted = admin.security.grant_api_key(
        grant_type="access_token", access_token=token, api_key={"name": "from-token"}
    )
    assert client(gateway, granted["encoded"]).security.authenticate()["username"] == world["owner"]
    # manage_own_api_key does not include grant_api_key.
    owner = as_user(gateway, world["owner"])
    denied = status_of(
        lambda: owner.security.grant_api_key(
            grant_type="password",
            username=world["peer"],
            password=PASSWORD,
            api_key={"name": "not-allowed"},
        )
    )
    assert denied == 403


def test_clear_api_key_cache(gateway: Gateway, admin: Elasticsearch) -> None:
    made = admin.security.create_api_key(name="cached")
    key = client(gateway, made["encoded"])
    key.security.authenticate()  # now in the cache
    cleared = admin.security.clear_api_key_cache(ids=made["id"])
    assert cleared["_nodes"]["failed"] == 0
    assert "cluster_name" in cleared
    assert admin.security.clear_api_key_cache(ids="*")["_nodes"]["failed"] == 0
    # The key is looked up again, and still works.
    assert key.security.authenticate()["api_key"]["id"] == made["id"]
