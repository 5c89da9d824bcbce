"""Authorization through the gateway: roles, index expressions, per-item checks, run_as, and
attempts to get around them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from elasticsearch import ApiError, AuthorizationException, Elasticsearch, helpers

from tests.conftest import ELASTIC, Gateway, http_request

PASSWORD = "a-good-password"


@pytest.fixture(scope="module")
def tag() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def gateway(module_gateway: Gateway) -> Gateway:
    return module_gateway


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> Elasticsearch:
    return Elasticsearch(gateway.url, basic_auth=ELASTIC, request_timeout=30)


@pytest.fixture(scope="module")
def world(admin: Elasticsearch, tag: str) -> dict[str, str]:
    """Indices logs-<tag>-1/2 and secret-<tag>; roles and users reading and writing logs."""
    logs, secret = f"logs-{tag}", f"secret-{tag}"
    for index in (f"{logs}-1", f"{logs}-2", secret):
        admin.index(index=index, id="1", document={"owner": index}, refresh=True)
    admin.security.put_role(
        name=f"reader-{tag}", indices=[{"names": [f"{logs}-*"], "privileges": ["read"]}]
    )
    admin.security.put_role(
        name=f"writer-{tag}",
        indices=[{"names": [f"{logs}-*"], "privileges": ["write", "create_index", "read"]}],
    )
    admin.security.put_role(name=f"monitor-{tag}", cluster=["monitor"])
    admin.security.put_role(
        name=f"everything-{tag}", cluster=["all"], indices=[{"names": ["*"], "privileges": ["all"]}]
    )
    for user, roles in (
        ("alice", [f"reader-{tag}"]),
        ("bob", [f"writer-{tag}"]),
        ("carol", [f"monitor-{tag}", f"reader-{tag}"]),
        ("dave", [f"everything-{tag}"]),
    ):
        admin.security.put_user(username=f"{user}-{tag}", password=PASSWORD, roles=roles)
    return {"logs": logs, "secret": secret, "tag": tag}


def as_user(gateway: Gateway, user: str, world: dict[str, str]) -> Elasticsearch:
    return Elasticsearch(
        gateway.url, basic_auth=(f"{user}-{world['tag']}", PASSWORD), request_timeout=30
    )


def call(
    gateway: Gateway,
    user: str,
    world: dict[str, str],
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
    status, _, raw = http_request(
        gateway.url,
        method,
        path,
        body,
        {"Content-Type": content_type},
        auth=(f"{user}-{world['tag']}", PASSWORD),
    )
    return status, json.loads(raw) if raw else None


def test_an_alias_never_reaches_a_restricted_index(
    gateway: Gateway, world: dict[str, str], engine_url: str
) -> None:
    # Made straight at the engine (Bastion refuses to write restricted indices).
    restricted, alias = f".security-{world['tag']}", f"front-{world['tag']}"
    headers = {"Content-Type": "application/json"}
    doc = f"/{restricted}/_doc/1?refresh=true"
    assert http_request(engine_url, "PUT", doc, b'{"a":1}', headers, auth=None)[0] == 201
    try:
        path = f"/{restricted}/_alias/{alias}"
        assert http_request(engine_url, "PUT", path, auth=None)[0] == 200
        time.sleep(1.5)  # the metadata poll sees the alias
        status, _ = call(gateway, "dave", world, "GET", f"/{alias}/_search")
        assert status == 403
    finally:
        http_request(engine_url, "DELETE", f"/{restricted}", auth=None)


def test_document_and_field_level_security_is_refused_not_ignored(
    gateway: Gateway, admin: Elasticsearch, world: dict[str, str]
) -> None:
    tag = world["tag"]
    admin.security.put_role(
        name=f"dls-{tag}",
        indices=[{"names": [world["secret"]], "privileges": ["read"], "query": {"match_all": {}}}],
    )
    admin.security.put_user(username=f"dls-{tag}", password=PASSWORD, roles=[f"dls-{tag}"])
    status, body = call(gateway, "dls", world, "GET", f"/{world['secret']}/_search")
    assert status == 403
    assert "document or field level security" in body["error"]["reason"]


def test_wildcards_expand_to_authorized_indices_only(
    gateway: Gateway, world: dict[str, str]
) -> None:
    alice = as_user(gateway, "alice", world)
    owners = {h["_source"]["owner"] for h in alice.search(index="*", size=100)["hits"]["hits"]}
    assert owners == {f"{world['logs']}-1", f"{world['logs']}-2"}
    owners = {h["_source"]["owner"] for h in alice.search(size=100)["hits"]["hits"]}
    assert world["secret"] not in owners
    assert alice.count(index=f"{world['logs']}-*")["count"] == 2
    assert alice.search(index=f"{world['secret'][:4]}*")["hits"]["total"]["value"] == 0


def test_explicit_forbidden_index_is_403_with_elasticsearch_message(
    gateway: Gateway, world: dict[str, str]
) -> None:
    status, body = call(gateway, "alice", world, "GET", f"/{world['secret']}/_search")
    assert status == 403
    assert body["error"]["type"] == "security_exception"
    assert body["error"]["reason"] == (
        f"action [indices:data/read/search] is unauthorized for user [alice-{world['tag']}] "
        f"with effective roles [reader-{world['tag']}] on indices [{world['secret']}], "
        "this action is granted by the index privileges [read,all]"
    )
    status, _ = call(
        gateway, "alice", world, "GET", f"/{world['logs']}-1,{world['secret']}/_search"
    )
    assert status == 403
    # ignore_unavailable drops the forbidden name instead.
    status, body = call(
        gateway,
        "alice",
        world,
        "GET",
        f"/{world['logs']}-1,{world['secret']}/_search?ignore_unavailable=true",
    )
    assert status == 200
    assert body["hits"]["total"]["value"] == 1


def test_cluster_privileges(gateway: Gateway, world: dict[str, str]) -> None:
    with pytest.raises(AuthorizationException) as denied:
        as_user(gateway, "alice", world).cluster.health()
    assert "this action is granted by the cluster privileges [monitor," in str(denied.value)
    assert as_user(gateway, "carol", world).cluster.health()["status"] in ("green", "yellow")


def test_writes_need_write_privileges(gateway: Gateway, world: dict[str, str]) -> None:
    with pytest.raises(AuthorizationException):
        as_user(gateway, "alice", world).index(index=f"{world['logs']}-1", document={"a": 1})
    bob = as_user(gateway, "bob", world)
    assert bob.index(index=f"{world['logs']}-1", document={"a": 1})["result"] == "created"
    assert bob.index(index=f"{world['logs']}-new", document={"a": 1})["result"] == "created"
    with pytest.raises(AuthorizationException):
        bob.index(index=world["secret"], document={"a": 1})


def test_bulk_items_are_authorized_one_by_one(gateway: Gateway, world: dict[str, str]) -> None:
    logs, secret = f"{world['logs']}-1", world["secret"]
    body = (
        f'{{"index":{{"_index":"{logs}","_id":"b1"}}}}\n{{"a":1}}\n'
        f'{{"index":{{"_index":"{secret}","_id":"b2"}}}}\n{{"a":2}}\n'
        f'{{"delete":{{"_index":"{secret}","_id":"1"}}}}\n'
        f'{{"create":{{"_index":"{logs}","_id":"b3"}}}}\n{{"a":3}}\n'
    ).encode()
    status, answer = call(gateway, "bob", world, "POST", "/_bulk", body, "application/x-ndjson")
    assert status == 200
    assert answer["errors"] is True
    statuses = [next(iter(item.values()))["status"] for item in answer["items"]]
    assert statuses == [201, 403, 403, 201]
    assert answer["items"][1]["index"]["error"]["type"] == "security_exception"
    admin_view = http_request(gateway.url, "GET", f"/{secret}/_doc/1")
    assert admin_view[0] == 200  # the denied delete did not happen


def test_mget_and_msearch_per_item(gateway: Gateway, world: dict[str, str]) -> None:
    logs, secret = f"{world['logs']}-1", world["secret"]
    status, answer = call(
        gateway,
        "alice",
        world,
        "POST",
        "/_mget",
        {"docs": [{"_index": logs, "_id": "1"}, {"_index": secret, "_id": "1"}]},
    )
    assert status == 200
    assert answer["docs"][0]["found"] is True
    assert answer["docs"][1]["error"]["type"] == "security_exception"
    body = (
        f'{{"index":"{world["logs"]}-*"}}\n{{"query":{{"match_all":{{}}}}}}\n'
        f'{{"index":"{secret}"}}\n{{}}\n{{"index":"*"}}\n{{"size":100}}\n'
    ).encode()
    status, answer = call(
        gateway, "alice", world, "POST", "/_msearch", body, "application/x-ndjson"
    )
    assert status == 200
    first, second, third = answer["responses"]
    assert first["hits"]["total"]["value"] >= 2
    assert second["status"] == 403
    assert all(h["_index"] != secret for h in third["hits"]["hits"])


def test_reindex_needs_read_on_source_and_write_on_dest(
    gateway: Gateway, world: dict[str, str]
) -> None:
    status, _ = call(
        gateway,
        "bob",
        world,
        "POST",
        "/_reindex?refresh=true",
        {"source": {"index": world["secret"]}, "dest": {"index": f"{world['logs']}-copy"}},
    )
    assert status == 403
    status, _ = call(
        gateway,
        "alice",
        world,
        "POST",
        "/_reindex?refresh=true",
        {"source": {"index": f"{world['logs']}-1"}, "dest": {"index": f"{world['logs']}-copy"}},
    )
    assert status == 403
    status, answer = call(
        gateway,
        "bob",
        world,
        "POST",
        "/_reindex?refresh=true",
        {"source": {"index": f"{world['logs']}-1"}, "dest": {"index": f"{world['logs']}-copy"}},
    )
    assert status == 200, answer


def test_aliases_need_manage_on_indices_and_aliases(
    gateway: Gateway, world: dict[str, str], admin: Elasticsearch
) -> None:
    status, _ = call(
        gateway,
        "bob",
        world,
        "POST",
        "/_aliases",
        {"actions": [{"add": {"index": world["secret"], "alias": f"{world['logs']}-sneaky"}}]},
    )
    assert status == 403
    # An alias the admin made over a forbidden index is reached only by its own name's grant.
    admin.indices.put_alias(index=world["secret"], name=f"hidden-{world['tag']}")
    status, _ = call(gateway, "alice", world, "GET", f"/hidden-{world['tag']}/_search")
    assert status == 403
    status, body = call(gateway, "alice", world, "GET", "/hidden-*/_search")
    assert status == 200
    assert body["hits"]["total"]["value"] == 0


@pytest.mark.parametrize(
    "path",
    [
        "//{secret}/_search",
        "/%73ecret-{tag}/_search",
        "/{secret}%2C/_search",
        "/{secret},/_search",
        "/{logs}-1,{secret}/_count",
        "/{secret}/_search/template",
        "/<{secret}>/_search",
        "/{logs}-1/../{secret}/_search",
        "/{logs}-1/%2e%2e/{secret}/_search",
        "/%2e%2e/{secret}/_search",
        "/{secret}./_search",
        "/{secret}%2E/_search",
    ],
)
def test_path_tricks_do_not_reach_a_forbidden_index(
    gateway: Gateway, world: dict[str, str], path: str
) -> None:
    path = path.format(secret=world["secret"], tag=world["tag"], logs=world["logs"])
    status, body = call(gateway, "alice", world, "GET", path, {"query": {"match_all": {}}})
    assert status in (400, 403, 404), body
    assert world["secret"] not in json.dumps((body or {}).get("hits", {}))


def test_allow_no_indices(gateway: Gateway, world: dict[str, str]) -> None:
    # A wildcard that matches nothing the user may read is an empty answer by default, and 404
    # with allow_no_indices=false, whether nothing exists or only forbidden indices match.
    for pattern in (f"nothing-{world['tag']}-*", f"secret-{world['tag']}*"):
        status, body = call(gateway, "alice", world, "GET", f"/{pattern}/_search")
        assert status == 200, body
        assert body["hits"]["total"]["value"] == 0
        path = f"/{pattern}/_search?allow_no_indices=false"
        status, body = call(gateway, "alice", world, "GET", path)
        assert status == 404, body
        assert body["error"]["type"] == "index_not_found_exception"
        assert body["error"]["reason"] == f"no such index [{pattern}]"


@pytest.mark.parametrize(
    "path", ["/_search?index={secret}", "/{logs}-1/_search?index={secret}&size=100"]
)
def test_an_index_parameter_does_not_widen_a_search(
    gateway: Gateway, world: dict[str, str], path: str
) -> None:
    path = path.format(secret=world["secret"], logs=world["logs"])
    status, body = call(gateway, "alice", world, "GET", path)
    assert status in (200, 400), body
    if status == 200:  # the engine ignores the parameter; the path says what is searched
        assert all(h["_index"].startswith(world["logs"]) for h in body["hits"]["hits"])


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/{logs}-1/_search", {"X-HTTP-Method-Override": "DELETE"}),
        ("/{logs}-1/_search", {"X-Method-Override": "DELETE"}),
        ("/{logs}-1/_search?_method=DELETE", {}),
    ],
)
def test_method_overrides_do_not_change_the_action(
    gateway: Gateway, world: dict[str, str], path: str, headers: dict[str, str]
) -> None:
    # alice may read the index but not delete it: the engine must see a search, nothing more.
    path = path.format(logs=world["logs"])
    status, _, _ = http_request(
        gateway.url,
        "GET",
        path,
        None,
        headers,
        auth=(f"alice-{world['tag']}", PASSWORD),
    )
    assert status in (200, 400)
    status, _, _ = http_request(gateway.url, "HEAD", f"/{world['logs']}-1")
    assert status == 200


def test_restricted_indices(gateway: Gateway, world: dict[str, str]) -> None:
    # `all` on `*` does not reach restricted indices without allow_restricted_indices.
    status, _ = call(gateway, "dave", world, "GET", "/.bastion-security/_search")
    assert status == 403
    status, body = call(gateway, "dave", world, "GET", "/*/_search?expand_wildcards=all&size=100")
    assert status == 200
    assert all(not h["_index"].startswith(".bastion") for h in body["hits"]["hits"])
    status, body = call(gateway, "dave", world, "GET", "/.b*/_search?size=100")
    assert status == 200
    assert body["hits"]["total"]["value"] == 0
    status, body = call(
        gateway,
        "dave",
        world,
        "POST",
        "/_bulk",
        b'{"index":{"_index":".bastion-security","_id":"x"}}\n{"a":1}\n',
        "application/x-ndjson",
    )
    assert body["items"][0]["index"]["status"] == 403
    # The superuser reads restricted indices (as in Elasticsearch 8) but cannot write them.
    status, _, _ = http_request(gateway.url, "GET", "/.bastion-security/_search")
    assert status == 200
    status, _, raw = http_request(
        gateway.url,
        "POST",
        "/_bulk",
        b'{"index":{"_index":".bastion-security","_id":"x"}}\n{"a":1}\n',
        {"Content-Type": "application/x-ndjson"},
    )
    assert json.loads(raw)["items"][0]["index"]["status"] == 403


def test_unknown_routes_need_the_all_privilege(gateway: Gateway, world: dict[str, str]) -> None:
    status, body = call(gateway, "carol", world, "GET", "/_plugins/_security/api/roles")
    assert status == 403
    assert body["error"]["type"] == "security_exception"
    status, _, _ = http_request(gateway.url, "GET", "/_plugins/_security/api/roles")
    assert status != 403  # the superuser's request reaches the engine


def test_run_as_needs_the_run_as_privilege(gateway: Gateway, world: dict[str, str]) -> None:
    target = f"carol-{world['tag']}"
    status, _, raw = http_request(
        gateway.url, "GET", "/_security/_authenticate", headers={"es-security-runas-user": target}
    )
    assert (status, json.loads(raw)["username"]) == (200, target)
    status, _, raw = http_request(
        gateway.url,
        "GET",
        "/_security/_authenticate",
        headers={"es-security-runas-user": target},
        auth=(f"alice-{world['tag']}", PASSWORD),
    )
    assert status == 403
    assert "is unauthorized to run as" in json.loads(raw)["error"]["reason"]
    # The target's roles apply: carol may not read the secret.
    status, _, _ = http_request(
        gateway.url,
        "GET",
        f"/{world['secret']}/_search",
        headers={"es-security-runas-user": target},
    )
    assert status == 403


def test_role_api(admin: Elasticsearch, tag: str) -> None:
    name = f"api-role-{tag}"
    created = admin.security.put_role(
        name=name,
        cluster=["monitor"],
        indices=[{"names": ["a-*"], "privileges": ["read"], "allow_restricted_indices": False}],
        run_as=["x"],
        metadata={"k": "v"},
    )
    assert created.body == {"role": {"created": True}}
    assert admin.security.put_role(name=name, cluster=["monitor"]).body == {
        "role": {"created": False}
    }
    assert admin.security.get_role(name=name)[name]["cluster"] == ["monitor"]
    everything = admin.security.get_role().body
    assert everything["superuser"]["metadata"]["_reserved"] is True
    assert name in everything
    with pytest.raises(ApiError) as error:
        admin.security.put_role(name=name, cluster=["no_such_privilege"])
    assert error.value.status_code == 400
    assert "unknown cluster privilege [no_such_privilege]" in str(error.value.body)
    with pytest.raises(ApiError) as error:
        admin.security.put_role(name="superuser", cluster=["all"])
    assert error.value.status_code == 400
    assert admin.security.delete_role(name=name).body == {"found": True}
    with pytest.raises(ApiError) as error:
        admin.security.delete_role(name=name)
    assert error.value.status_code == 404
    builtin = admin.security.get_builtin_privileges().body
    assert "manage_security" in builtin["cluster"]
    assert "read" in builtin["index"]
    cleared = admin.security.clear_cached_roles(name="*").body
    assert cleared["_nodes"]["successful"] == 1


def test_query_role_api(admin: Elasticsearch, tag: str) -> None:
    for suffix, tier in (("a", "gold"), ("b", "silver"), ("c", "gold")):
        admin.security.put_role(
            name=f"q-{tag}-{suffix}",
            cluster=["monitor"],
            description=f"queried role {suffix}",
            metadata={"tier": tier},
        )
    found = admin.security.query_role(
        query={
            "bool": {
                "filter": [{"prefix": {"name": f"q-{tag}-"}}, {"term": {"metadata.tier": "gold"}}]
            }
        },
        sort=[{"name": "desc"}],
    ).body
    assert found["total"] == 2
    assert found["count"] == 2
    assert [(role["name"], role["_sort"]) for role in found["roles"]] == [
        (f"q-{tag}-c", [f"q-{tag}-c"]),
        (f"q-{tag}-a", [f"q-{tag}-a"]),
    ]
    assert found["roles"][0]["cluster"] == ["monitor"]
    assert found["roles"][0]["description"] == "queried role c"
    # Built-in and file roles are not queried, as in Elasticsearch.
    assert admin.security.query_role(query={"term": {"name": "superuser"}}).body["total"] == 0
    with pytest.raises(ApiError) as error:
        admin.security.query_role(query={"term": {"cluster": "monitor"}})
    assert error.value.status_code == 400
    assert "Field [cluster] is not allowed" in str(error.value.body)


def test_has_privileges_and_user_privileges(gateway: Gateway, world: dict[str, str]) -> None:
    alice = as_user(gateway, "alice", world)
    answer = alice.security.has_privileges(
        cluster=["monitor"],
        index=[{"names": [f"{world['logs']}-1", world["secret"]], "privileges": ["read", "write"]}],
    ).body
    assert answer["username"] == f"alice-{world['tag']}"
    assert answer["has_all_requested"] is False
    assert answer["cluster"] == {"monitor": False}
    assert answer["index"][f"{world['logs']}-1"] == {"read": True, "write": False}
    assert answer["index"][world["secret"]] == {"read": False, "write": False}
    mine = alice.security.get_user_privileges().body
    assert mine["indices"][0]["names"] == [f"{world['logs']}-*"]
    assert mine["indices"][0]["privileges"] == ["read"]


def test_roles_file_is_followed(gateway: Gateway, admin: Elasticsearch, tag: str) -> None:
    index = f"filerole-{tag}"
    admin.index(index=index, id="1", document={"a": 1}, refresh=True)
    admin.security.put_user(username=f"fr-{tag}", password=PASSWORD, roles=[f"from-file-{tag}"])
    user = (f"fr-{tag}", PASSWORD)
    status, _, _ = http_request(gateway.url, "GET", f"/{index}/_search", auth=user)
    assert status == 403
    (gateway.home / "config" / "roles.yml").write_text(
        f"from-file-{tag}:\n  indices:\n    - names: ['{index}']\n      privileges: [read]\n"
        "broken-role:\n  cluster: [not_a_privilege\n"
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and status != 200:
        time.sleep(0.2)
        status, _, _ = http_request(gateway.url, "GET", f"/{index}/_search", auth=user)
    assert status == 200


def test_anonymous_and_superuser_unaffected_for_own_checks(
    gateway: Gateway, world: dict[str, str]
) -> None:
    # Every user may authenticate and change their own password whatever their roles.
    status, _ = call(gateway, "alice", world, "GET", "/_security/_authenticate")
    assert status == 200
    status, _ = call(
        gateway,
        "alice",
        world,
        "POST",
        f"/_security/user/carol-{world['tag']}/_password",
        {"password": "stolen-password"},
    )
    assert status == 403


def test_bulk_helper_with_a_write_role(gateway: Gateway, world: dict[str, str]) -> None:
    bob = as_user(gateway, "bob", world)
    ok, errors = helpers.bulk(
        bob,
        ({"_index": f"{world['logs']}-bulk", "_id": str(i), "n": i} for i in range(50)),
        refresh=True,
    )
    assert (ok, errors) == (50, [])


def test_role_mapping_api(admin: Elasticsearch, tag: str) -> None:
    name = f"mapping-{tag}"
    rules = {"all": [{"field": {"realm.name": "ldap1"}}, {"field": {"groups": "cn=admins,*"}}]}
    created = admin.security.put_role_mapping(
        name=name, enabled=True, roles=["viewer"], rules=rules, metadata={"v": 1}
    )
    assert created.body == {"role_mapping": {"created": True}}
    again = admin.security.put_role_mapping(name=name, enabled=False, roles=["viewer"], rules=rules)
    assert again.body == {"role_mapping": {"created": False}}
    stored = admin.security.get_role_mapping(name=name).body[name]
    assert stored["enabled"] is False
    assert stored["roles"] == ["viewer"]
    assert stored["rules"] == rules
    with pytest.raises(ApiError) as error:
        admin.security.put_role_mapping(
            name=name, enabled=True, roles=["viewer"], rules={"nope": 1}
        )
    assert error.value.status_code == 400
    assert admin.security.delete_role_mapping(name=name).body == {"found": True}
    with pytest.raises(ApiError) as error:
        admin.security.get_role_mapping(name=name)
    assert error.value.status_code == 404


def test_role_mappings_match_native_and_file_users(
    gateway: Gateway, admin: Elasticsearch, tag: str
) -> None:
    """Mappings are for the external realms (as in Elasticsearch, the native and file realms
    assign roles themselves); their rules and templates are checked here against what the
    native and file realms know of a user: name, realm and metadata."""
    import subprocess
    import sys

    from bastion.authz.role_mapping import UserData, parse_role_mapping, resolve_roles

    native_name, file_name = f"mapped-{tag}", f"mappedfile-{tag}"
    admin.security.put_user(
        username=native_name, password=PASSWORD, roles=[], metadata={"team": "ops", "level": 3}
    )
    home = str(gateway.home)
    command = ["users", "useradd", file_name, "-p", PASSWORD, "--home", home]
    subprocess.run([sys.executable, "-m", "bastion", *command], check=True, capture_output=True)
    bodies: dict[str, dict[str, Any]] = {
        f"ops-{tag}": {
            "roles": ["viewer"],
            "rules": {
                "all": [
                    {"field": {"realm.name": "default_native"}},
                    {"field": {"metadata.team": "ops"}},
                ]
            },
        },
        f"per-user-{tag}": {
            "role_templates": [{"template": {"source": "user_{{_user.username}}"}}],
            "rules": {"field": {"username": f"mapped*-{tag}"}},
        },
        f"file-only-{tag}": {
            "roles": ["editor"],
            "rules": {
                "all": [
                    {"field": {"realm.name": "default_file"}},
                    {"except": {"field": {"metadata.level": 3}}},
                ]
            },
        },
    }
    for name, body in bodies.items():
        admin.security.put_role_mapping(name=name, enabled=True, **body)
    stored = admin.security.get_role_mapping(name=",".join(bodies)).body
    mappings = [parse_role_mapping(name, stored[name], validate=False) for name in bodies]

    def mapped(username: str) -> set[str]:
        deadline = time.monotonic() + 10  # the file realm reads its files within a second
        while True:
            status, _, raw = http_request(
                gateway.url, "GET", "/_security/_authenticate", auth=(username, PASSWORD)
            )
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        me = json.loads(raw)
        user = UserData(
            me["username"], me["authentication_realm"]["name"], None, (), me["metadata"]
        )
        return resolve_roles(mappings, user)

    assert mapped(native_name) == {"viewer", f"user_{native_name}"}
    assert mapped(file_name) == {"editor", f"user_{file_name}"}


def test_application_privileges(gateway: Gateway, admin: Elasticsearch, tag: str) -> None:
    app = f"myapp-{tag}"
    created = admin.security.put_privileges(
        privileges={
            app: {
                "read": {"actions": ["data:read/*", "action:login"], "metadata": {"d": 1}},
                "write": {"actions": ["data:write/*"]},
            }
        }
    ).body
    assert created == {app: {"read": {"created": True}, "write": {"created": True}}}
    got = admin.security.get_privileges(application=app, name="read").body
    assert got[app]["read"]["actions"] == ["data:read/*", "action:login"]
    admin.security.put_role(
        name=f"app-reader-{tag}",
        applications=[{"application": app, "privileges": ["read"], "resources": ["doc/*"]}],
    )
    admin.security.put_user(
        username=f"app-user-{tag}", password=PASSWORD, roles=[f"app-reader-{tag}"]
    )
    user = Elasticsearch(gateway.url, basic_auth=(f"app-user-{tag}", PASSWORD), request_timeout=30)
    answer = user.security.has_privileges(
        application=[
            {
                "application": app,
                "privileges": ["read", "write", "data:read/x"],
                "resources": ["doc/1", "other"],
            }
        ]
    ).body
    assert answer["application"][app]["doc/1"] == {
        "read": True,
        "write": False,
        "data:read/x": True,
    }
    assert answer["application"][app]["other"] == {
        "read": False,
        "write": False,
        "data:read/x": False,
    }
    with pytest.raises(ApiError) as error:
        admin.security.put_privileges(privileges={app: {"bad": {"actions": ["noslash"]}}})
    assert error.value.status_code == 400
    deleted = admin.security.delete_privileges(application=app, name="read,write").body
    assert deleted == {app: {"read": {"found": True}, "write": {"found": True}}}


def test_bulk_role_api(gateway: Gateway, tag: str) -> None:
    roles = {
        f"bulk-a-{tag}": {"cluster": ["monitor"]},
        f"bulk-b-{tag}": {"indices": [{"names": ["x"], "privileges": ["read"]}]},
        f"bulk-bad-{tag}": {"cluster": ["no_such"]},
        "superuser": {"cluster": ["all"]},
    }
    status, _, raw = http_request(
        gateway.url,
        "POST",
        "/_security/role",
        json.dumps({"roles": roles}).encode(),
        {"Content-Type": "application/json"},
    )
    answer = json.loads(raw)
    assert status == 200
    assert sorted(answer["created"]) == [f"bulk-a-{tag}", f"bulk-b-{tag}"]
    assert answer["errors"]["count"] == 2
    assert set(answer["errors"]["details"]) == {f"bulk-bad-{tag}", "superuser"}
    status, _, raw = http_request(
        gateway.url,
        "POST",
        "/_security/role",
        json.dumps({"roles": {f"bulk-a-{tag}": {"cluster": ["monitor"]}}}).encode(),
        {"Content-Type": "application/json"},
    )
    assert json.loads(raw) == {"noop": [f"bulk-a-{tag}"]}
    names = [f"bulk-a-{tag}", f"bulk-b-{tag}", f"bulk-none-{tag}"]
    status, _, raw = http_request(
        gateway.url,
        "DELETE",
        "/_security/role",
        json.dumps({"names": names}).encode(),
        {"Content-Type": "application/json"},
    )
    assert json.loads(raw) == {"deleted": names[:2], "not_found": names[2:]}


def test_scrolls_belong_to_their_owner(
    gateway: Gateway, start_gateway: Any, world: dict[str, str]
) -> None:
    alice = as_user(gateway, "alice", world)
    carol = as_user(gateway, "carol", world)
    first = alice.search(index=f"{world['logs']}-*", scroll="1m", size=1).body
    sealed = first["_scroll_id"]
    assert sealed.startswith("bsc1_")
    assert len(first["hits"]["hits"]) == 1
    # The owner continues it, on this gateway or another one of the same engine.
    page = alice.scroll(scroll_id=sealed, scroll="1m").body
    assert len(page["hits"]["hits"]) == 1
    assert page["_scroll_id"].startswith("bsc1_")
    other = start_gateway()
    again = Elasticsearch(other.url, basic_auth=(f"alice-{world['tag']}", PASSWORD))
    assert "hits" in again.scroll(scroll_id=sealed, scroll="1m").body
    # Another user with the same read privileges cannot continue or clear it.
    attempts: list[Callable[[], object]] = [
        lambda: carol.scroll(scroll_id=sealed, scroll="1m"),
        lambda: carol.clear_scroll(scroll_id=sealed),
        lambda: alice.scroll(scroll_id=sealed[:-3] + "AAA", scroll="1m"),
    ]
    for attempt in attempts:
        with pytest.raises(ApiError) as error:
            attempt()
        assert error.value.status_code == 404
        assert error.value.error == "search_context_missing_exception"
    status, body = call(gateway, "carol", world, "DELETE", "/_search/scroll/_all")
    assert status == 403
    assert "cluster:admin/indices/scroll/clear_all" in body["error"]["reason"]
    cleared = alice.clear_scroll(scroll_id=sealed).body
    assert cleared["succeeded"] is True
    assert cleared["num_freed"] >= 1  # one search context per shard


# Last in the module: the index it creates would change other tests' counts.
def test_indices_created_around_bastion_are_seen_by_the_timed_refresh(
    gateway: Gateway, world: dict[str, str], engine_url: str
) -> None:
    # Created straight at the engine: Bastion learns of it from its 1 s metadata poll.
    index = f"{world['logs']}-outside"
    status, _, _ = http_request(
        engine_url,
        "PUT",
        f"/{index}/_doc/1?refresh=true",
        b'{"a":1}',
        auth=None,
        headers={"Content-Type": "application/json"},
    )
    assert status == 201
    deadline = time.monotonic() + 10
    while True:  # a pattern that matches only the new index: empty until it is known
        status, body = call(gateway, "alice", world, "GET", f"/{world['logs']}-out*/_search")
        seen = {hit["_index"] for hit in body["hits"]["hits"]}
        if index in seen or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert index in seen
    http_request(engine_url, "DELETE", f"/{index}", auth=None)  # the module's counts stay true
