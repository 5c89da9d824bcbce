"""The in-memory query over native roles behind `POST /_security/_query/role`."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.authz.role_descriptor import parse_role_descriptor
from bastion.rest.errors import ElasticsearchError
from bastion.rest.security.role_query import query_roles

ROLES = [
    parse_role_descriptor(
        "admin",
        {
            "cluster": ["all"],
            "description": "Grants full access",
            "metadata": {"tier": "gold", "owner": {"team": "ops"}},
        },
    ),
    parse_role_descriptor(
        "kibana_reader",
        {
            "description": "Reads Kibana spaces",
            "applications": [
                {"application": "kibana", "privileges": ["read"], "resources": ["space:a"]}
            ],
            "metadata": {"tier": "silver"},
        },
    ),
    parse_role_descriptor(
        "logs_writer", {"indices": [{"names": ["logs-*"], "privileges": ["write"]}]}
    ),
]


def names(body: dict[str, Any]) -> list[str]:
    _, page = query_roles(body, ROLES)
    return [role.name for role, _ in page]


def test_match_all_sorted_by_name() -> None:
    assert names({}) == ["admin", "kibana_reader", "logs_writer"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"term": {"name": "admin"}}, ["admin"]),
        ({"terms": {"name": ["admin", "logs_writer"]}}, ["admin", "logs_writer"]),
        ({"prefix": {"name": "kib"}}, ["kibana_reader"]),
        ({"wildcard": {"name": "*_*"}}, ["kibana_reader", "logs_writer"]),
        ({"match": {"description": "access spaces"}}, ["admin", "kibana_reader"]),
        ({"match": {"description": {"query": "full access", "operator": "and"}}}, ["admin"]),
        ({"term": {"metadata.tier": "gold"}}, ["admin"]),
        ({"term": {"metadata.owner.team": "ops"}}, ["admin"]),
        ({"term": {"metadata": "silver"}}, ["kibana_reader"]),
        ({"exists": {"field": "description"}}, ["admin", "kibana_reader"]),
        ({"term": {"applications.application": "kibana"}}, ["kibana_reader"]),
        ({"range": {"name": {"gte": "b", "lt": "l"}}}, ["kibana_reader"]),
        ({"ids": {"values": ["role-admin"]}}, ["admin"]),
        ({"bool": {"must_not": [{"term": {"name": "admin"}}]}}, ["kibana_reader", "logs_writer"]),
        (
            {"bool": {"should": [{"term": {"name": "admin"}}, {"prefix": {"name": "logs"}}]}},
            ["admin", "logs_writer"],
        ),
        ({"simple_query_string": {"query": "kib*"}}, ["kibana_reader"]),
    ],
)
def test_queries(query: dict[str, Any], expected: list[str]) -> None:
    assert names({"query": query}) == expected


def test_sort_paging_and_search_after() -> None:
    total, page = query_roles({"sort": [{"name": "desc"}], "size": 2}, ROLES)
    assert total == 3
    assert [(role.name, sort) for role, sort in page] == [
        ("logs_writer", ["logs_writer"]),
        ("kibana_reader", ["kibana_reader"]),
    ]
    after = names({"sort": [{"name": "desc"}], "search_after": ["kibana_reader"]})
    assert after == ["admin"]
    assert names({"from": 1, "size": 1}) == ["kibana_reader"]


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        ({"query": {"term": {"cluster": "all"}}}, "illegal_argument_exception"),
        ({"query": {"fuzzy": {"name": "x"}}}, "illegal_argument_exception"),
        ({"query": {"term": {"name": "a", "description": "b"}}}, "parse_exception"),
        ({"unknown": 1}, "parse_exception"),
        ({"size": -1}, "illegal_argument_exception"),
        ({"sort": ["cluster"]}, "illegal_argument_exception"),
        ({"from": 9_999, "size": 2}, "illegal_argument_exception"),
    ],
)
def test_bad_input(body: dict[str, Any], error_type: str) -> None:
    with pytest.raises(ElasticsearchError) as raised:
        query_roles(body, ROLES)
    assert raised.value.error_type == error_type
