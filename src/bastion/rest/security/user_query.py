"""`POST /_security/_query/user`: a safe subset of the query DSL over the user fields only.

Every query is rebuilt from a whitelist of query types and field names, then confined to user
documents, so a query can neither read other documents of the security index (password hashes,
reserved users) nor reach fields that are not user attributes.
"""

from __future__ import annotations

from typing import Any

from bastion.rest.errors import ElasticsearchError, illegal_argument, parse_error

# Query field → index field for exact-value queries; `full_name` is analysed text.
_KEYWORD_FIELDS = {
    "username": "username",
    "roles": "roles",
    "enabled": "enabled",
    "full_name": "full_name.keyword",
    "email": "email",
}
_TEXT_FIELDS = {**_KEYWORD_FIELDS, "full_name": "full_name"}
_LEAF_TERM = ("term", "terms", "prefix", "wildcard", "range")
_LEAF_TEXT = ("match",)
_BOOL_CLAUSES = ("must", "should", "must_not", "filter")
_BODY_FIELDS = {"query", "from", "size", "sort", "search_after"}
MAX_SIZE = 10_000


def _field(name: str, fields: dict[str, str]) -> str:
    if name not in fields:
        raise illegal_argument(f"Field [{name}] is not allowed for querying or aggregation")
    return fields[name]


def _translate(query: Any) -> dict[str, Any]:
    if not isinstance(query, dict) or len(query) != 1:
        raise parse_error("a query must be an object with exactly one query type")
    [(kind, spec)] = query.items()
    if kind == "match_all":
        return {"match_all": {}}
    if kind == "bool":
        if not isinstance(spec, dict):
            raise parse_error("[bool] query malformed")
        out: dict[str, Any] = {}
        for key, value in spec.items():
            if key in _BOOL_CLAUSES:
                clauses = value if isinstance(value, list) else [value]
                out[key] = [_translate(clause) for clause in clauses]
            elif key in ("minimum_should_match", "boost"):
                out[key] = value
            else:
                raise parse_error(f"[bool] query does not support [{key}]")
        return {"bool": out}
    if kind == "exists":
        if not isinstance(spec, dict) or set(spec) != {"field"}:
            raise parse_error("[exists] query malformed")
        return {"exists": {"field": _field(str(spec["field"]), _KEYWORD_FIELDS)}}
    if kind == "ids":
        if not isinstance(spec, dict) or not isinstance(spec.get("values"), list):
            raise parse_error("[ids] query malformed")
        return {"terms": {"username": [str(value) for value in spec["values"]]}}
    if kind in _LEAF_TERM or kind in _LEAF_TEXT:
        if not isinstance(spec, dict) or len(spec) != 1:
            raise parse_error(f"[{kind}] query malformed")
        [(name, value)] = spec.items()
        fields = _TEXT_FIELDS if kind in _LEAF_TEXT else _KEYWORD_FIELDS
        return {kind: {_field(name, fields): value}}
    raise ElasticsearchError(
        400,
        "illegal_argument_exception",
        f"Query type [{kind}] is not currently supported in this context",
    )


def _sort(spec: Any) -> list[Any]:
    items = spec if isinstance(spec, list) else [spec]
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            out.append({_field(item, _KEYWORD_FIELDS): "asc"})
        elif isinstance(item, dict) and len(item) == 1:
            [(name, order)] = item.items()
            out.append({_field(name, _KEYWORD_FIELDS): order})
        else:
            raise parse_error("malformed [sort]")
    return out


def translate_user_query(body: dict[str, Any]) -> dict[str, Any]:
    """The client's body → a search body for `.bastion-security`, confined to user documents."""
    for key in body:
        if key not in _BODY_FIELDS:
            raise parse_error(f"failed to parse query user request. unexpected field [{key}]")
    query = _translate(body["query"]) if "query" in body else {"match_all": {}}
    search: dict[str, Any] = {
        "query": {"bool": {"must": [query], "filter": [{"term": {"doc_type": "user"}}]}},
        "from": _bounded(body.get("from", 0), "from"),
        "size": _bounded(body.get("size", 10), "size"),
        "track_total_hits": True,
        "_source": {"excludes": ["password"]},
    }
    if "sort" in body:
        search["sort"] = _sort(body["sort"])
    if "search_after" in body:
        if not isinstance(body["search_after"], list):
            raise parse_error("[search_after] must be an array")
        search["search_after"] = body["search_after"]
    return search


def _bounded(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SIZE:
        raise illegal_argument(f"[{name}] must be an integer between 0 and {MAX_SIZE}")
    return value
