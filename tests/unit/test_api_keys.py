"""API keys without an engine: the credential format, the stored document, the query
translation, the limited-by intersection and the "own keys" rule of manage_own_api_key."""

from __future__ import annotations

import base64

import pytest
from multidict import MultiDict

from bastion.authc.api_keys.model import (
    ApiKey,
    Creator,
    InvalidApiKeyValue,
    decode,
    encode,
    new_id,
    new_secret,
)
from bastion.authc.api_keys.query import QueryError, search_body, stored_field, translate
from bastion.authc.api_keys.service import authentication_for
from bastion.authc.service import AuthenticationError
from bastion.authz.permission import compile_role, limit_role
from bastion.authz.role_descriptor import parse_role_descriptor
from bastion.authz.service import _concerns_own_api_keys


def _key(**changes: object) -> ApiKey:
    fields: dict[str, object] = {
        "id": new_id(),
        "name": "k",
        "creation": 1_000,
        "expiration": None,
        "invalidated": False,
        "invalidation": None,
        "hash": "{PBKDF2}x",
        "role_descriptors": {},
        "limited_by": {"reader": {"cluster": ["monitor"], "indices": []}},
        "metadata": {"a": 1},
        "creator": Creator("alice", "default_native", "native"),
    }
    fields.update(changes)
    return ApiKey(**fields)  # type: ignore[arg-type]


def test_ids_and_secrets_have_elasticsearch_lengths() -> None:
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 20 for i in ids)
    assert all(len(new_secret()) == 22 for _ in range(20))


def test_encoded_round_trip_and_malformed_values() -> None:
    key_id, secret = new_id(), new_secret()
    parsed = decode(encode(key_id, secret))
    assert parsed.id == key_id
    assert parsed.secret == secret.encode()
    assert secret not in repr(parsed)
    for bad in ("", "%%%", base64.b64encode(b"no-colon").decode(), "A" * 5000):
        with pytest.raises(InvalidApiKeyValue):
            decode(bad)


def test_stored_document_round_trip_and_info() -> None:
    key = _key(expiration=5_000)
    again = ApiKey.from_source(key.id, key.to_source())
    assert again == key
    info = key.info(with_limited_by=True)
    assert info["expiration"] == 5_000
    assert info["username"] == "alice"
    assert info["realm"] == "default_native"
    assert info["limited_by"] == [dict(key.limited_by)]
    assert "hash" not in repr(key)
    assert "api_key_hash" not in info


def test_expired_keys() -> None:
    assert _key(expiration=10).expired(10)
    assert not _key(expiration=11).expired(10)
    assert not _key().expired(10**15)


def test_authentication_of_a_key() -> None:
    key = _key(role_descriptors={"r": {"cluster": ["all"]}})
    authentication = authentication_for(key)
    body = authentication.to_json()
    assert body["authentication_type"] == "api_key"
    assert body["authentication_realm"] == {"name": "_es_api_key", "type": "_es_api_key"}
    assert body["api_key"] == {"id": key.id, "name": "k"}
    assert body["roles"] == []
    assert authentication.api_key is not None
    assert authentication.api_key.owner_realm.name == "default_native"


def test_unusable_stored_descriptors_fail_closed() -> None:
    key = _key(role_descriptors={"r": {"cluster": "not-a-list", "bogus": 1}})
    with pytest.raises(AuthenticationError):
        authentication_for(key)


def test_query_fields_are_renamed_and_private_ones_refused() -> None:
    assert stored_field("username") == "creator.principal"
    assert stored_field("metadata.env") == "metadata_flattened.env"
    for private in ("api_key_hash", "role_descriptors", "creator.principal", "metadata"):
        with pytest.raises(QueryError, match="not allowed"):
            stored_field(private)
    translated = translate(
        {"bool": {"must": [{"term": {"name": "a"}}], "filter": {"range": {"creation": {"gt": 1}}}}}
    )
    assert translated == {
        "bool": {
            "must": [{"term": {"name": "a"}}],
            "filter": [{"range": {"creation_time": {"gt": 1}}}],
        }
    }
    with pytest.raises(QueryError, match="not currently supported"):
        translate({"script": {"script": "1"}})


def test_search_body_keeps_restrictions_and_checks_paging() -> None:
    restrict = [{"term": {"doc_type": "api_key"}}]
    body = search_body({"query": {"match_all": {}}, "sort": ["name"], "size": 3}, restrict)
    assert body["query"]["bool"]["filter"][0] == restrict[0]
    assert body["sort"] == ["name"]
    with pytest.raises(QueryError, match="cannot be negative"):
        search_body({"from": -1}, restrict)
    with pytest.raises(QueryError, match="unknown field"):
        search_body({"nope": 1}, restrict)
    with pytest.raises(QueryError, match="Result window"):
        search_body({"from": 9_999, "size": 2}, restrict)


def _role(name: str, body: dict[str, object]):  # type: ignore[no-untyped-def]
    return compile_role([name], [parse_role_descriptor(name, body)])


def test_limited_role_is_the_intersection() -> None:
    own = _role("own", {"cluster": ["all"], "indices": [{"names": ["*"], "privileges": ["all"]}]})
    owner = _role(
        "owner",
        {"cluster": ["monitor"], "indices": [{"names": ["logs-*"], "privileges": ["read"]}]},
    )
    role = limit_role(own, owner)
    assert role.allows_cluster("cluster:monitor/health")
    assert not role.allows_cluster("cluster:admin/settings/update")
    assert role.allows_index("indices:data/read/search", "logs-1")
    assert not role.allows_index("indices:data/read/search", "metrics-1")
    assert not role.allows_index("indices:data/write/index", "logs-1")
    assert not role.is_superuser_like
    assert role.layers == (own, owner)


def test_manage_own_api_key_needs_own_keys() -> None:
    key = authentication_for(_key())
    action = "cluster:admin/xpack/security/api_key/"
    assert _concerns_own_api_keys(key, action + "get", MultiDict(id=key.api_key.id))  # type: ignore[union-attr]
    assert not _concerns_own_api_keys(key, action + "get", MultiDict(id="other"))
    assert _concerns_own_api_keys(key, action + "get", MultiDict(owner="true"))
    assert not _concerns_own_api_keys(key, action + "get", MultiDict())
    assert _concerns_own_api_keys(key, action + "create", MultiDict())
    assert not _concerns_own_api_keys(key, action + "grant", MultiDict())


def test_aggregations_use_public_fields_only() -> None:
    from bastion.authc.api_keys.query import translate_aggs

    translated = translate_aggs(
        {"by": {"terms": {"field": "username"}, "aggs": {"n": {"value_count": {"field": "name"}}}}}
    )
    assert translated["by"]["terms"]["field"] == "creator.principal"
    assert translated["by"]["aggs"]["n"]["value_count"]["field"] == "name"
    with pytest.raises(QueryError, match="Unsupported API Keys agg"):
        translate_aggs({"x": {"top_hits": {}}})
    with pytest.raises(QueryError, match="scripts"):
        translate_aggs({"x": {"terms": {"script": "doc['api_key_hash']"}}})
    with pytest.raises(QueryError, match="not allowed"):
        translate_aggs({"x": {"terms": {"field": "limited_by_role_descriptors"}}})
