"""`POST /_security/_query/api_key`: Elasticsearch's query subset over the public API key fields,
translated into a search of the stored documents.

Only the query types and fields Elasticsearch documents for this API are accepted, each field
renamed to its stored name; anything else is refused with Elasticsearch's message, so that no
query reaches fields the API does not expose (the secret's hash, the role descriptors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIELDS = {
    "id": "_id",
    "type": "type",
    "name": "name",
    "username": "creator.principal",
    "realm_name": "creator.realm",
    "creation": "creation_time",
    "expiration": "expiration_time",
    "invalidated": "api_key_invalidated",
    "invalidation": "invalidation_time",
}
# Fields a query without field names (simple_query_string) searches.
DEFAULT_FIELDS = ("name", "creator.principal", "creator.realm", "type")
MAX_WINDOW = 10_000
TOP_LEVEL = {"query", "from", "size", "sort", "search_after", "aggs", "aggregations"}
# Aggregation types Elasticsearch allows in this API, and the ones among them that take `field`.
AGGREGATIONS = {
    "terms",
    "range",
    "date_range",
    "missing",
    "cardinality",
    "value_count",
    "composite",
    "filter",
    "filters",
}


class QueryError(ValueError):
    """A request the API refuses: `error_type` and the message are Elasticsearch's."""

    def __init__(self, reason: str, error_type: str = "illegal_argument_exception") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


def stored_field(name: str) -> str:
    mapped = FIELDS.get(name)
    if mapped is not None:
        return mapped
    if name.startswith("metadata.") and len(name) > len("metadata."):
        return "metadata_flattened." + name[len("metadata.") :]
    raise QueryError(f"Field [{name}] is not allowed for querying or aggregation")


def _single(query_type: str, spec: Any) -> tuple[str, Any]:
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise QueryError(f"[{query_type}] query malformed, no field or more than one field")
    [(name, value)] = spec.items()
    return str(name), value


def translate(query: Any) -> dict[str, Any]:
    """One query clause, translated; raises QueryError."""
    if not isinstance(query, Mapping) or len(query) != 1:
        raise QueryError("[_na] query malformed, must start with start_object", "parsing_exception")
    [(query_type, spec)] = query.items()
    if query_type == "match_all":
        return {"match_all": {}}
    if query_type == "bool":
        if not isinstance(spec, Mapping):
            raise QueryError("[bool] query malformed", "parsing_exception")
        out: dict[str, Any] = {}
        for key, value in spec.items():
            if key in ("must", "should", "filter", "must_not"):
                clauses = value if isinstance(value, list) else [value]
                out[key] = [translate(clause) for clause in clauses]
            elif key in ("minimum_should_match", "boost"):
                out[key] = value
            else:
                raise QueryError(f"[bool] query does not support [{key}]", "parsing_exception")
        return {"bool": out}
    if query_type == "ids":
        if not isinstance(spec, Mapping) or not isinstance(spec.get("values"), list):
            raise QueryError("[ids] query malformed, expected [values]", "parsing_exception")
        return {"ids": {"values": [str(v) for v in spec["values"]]}}
    if query_type == "exists":
        if not isinstance(spec, Mapping) or not isinstance(spec.get("field"), str):
            raise QueryError("[exists] must be provided with a [field]", "parsing_exception")
        return {"exists": {"field": stored_field(spec["field"])}}
    if query_type == "simple_query_string":
        if not isinstance(spec, Mapping) or "query" not in spec:
            raise QueryError("[simple_query_string] requires query value", "parsing_exception")
        fields = spec.get("fields")
        mapped = (
            [stored_field(str(f).partition("^")[0]) for f in fields]
            if isinstance(fields, list) and fields
            else list(DEFAULT_FIELDS)
        )
        kept = {k: v for k, v in spec.items() if k not in ("fields",)}
        return {"simple_query_string": {**kept, "fields": mapped}}
    if query_type in ("term", "match", "prefix", "wildcard", "range"):
        name, value = _single(query_type, spec)
        field = stored_field(name)
        if field == "_id" and query_type not in ("term",):
            raise QueryError(f"Field [{name}] is not allowed for querying or aggregation")
        return {query_type: {field: value}}
    if query_type == "terms":
        if not isinstance(spec, Mapping):
            raise QueryError("[terms] query malformed", "parsing_exception")
        extra = {k: v for k, v in spec.items() if k == "boost"}
        fields = [(k, v) for k, v in spec.items() if k != "boost"]
        if len(fields) != 1 or not isinstance(fields[0][1], list):
            raise QueryError("[terms] query malformed, expected one field with an array")
        return {"terms": {stored_field(fields[0][0]): fields[0][1], **extra}}
    raise QueryError(f"Query type [{query_type}] is not currently supported in this context")


def translate_sort(sort: Any) -> list[Any]:
    entries = sort if isinstance(sort, list) else [sort]
    out: list[Any] = []
    for entry in entries:
        if isinstance(entry, str):
            out.append(stored_field(entry) if entry != "_doc" else "_doc")
        elif isinstance(entry, Mapping) and len(entry) == 1:
            [(name, order)] = entry.items()
            out.append({stored_field(str(name)) if name != "_doc" else "_doc": order})
        else:
            raise QueryError("malformed sort", "parsing_exception")
    return out


def _agg_field(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    if "field" in out:
        out["field"] = stored_field(str(out["field"]))
    if "script" in out:
        raise QueryError("scripts are not allowed in API key aggregations")
    return out


def translate_aggs(aggs: Any) -> dict[str, Any]:
    """Aggregations over the public fields: the same field names as queries, no scripts."""
    if not isinstance(aggs, Mapping):
        raise QueryError("[aggs] expected an object", "parsing_exception")
    out: dict[str, Any] = {}
    for name, body in aggs.items():
        if not isinstance(body, Mapping):
            raise QueryError(f"[{name}] aggregation malformed", "parsing_exception")
        translated: dict[str, Any] = {}
        for key, spec in body.items():
            if key in ("aggs", "aggregations"):
                translated[key] = translate_aggs(spec)
            elif key not in AGGREGATIONS:
                raise QueryError(f"Unsupported API Keys agg [{name}] of type [{key}]")
            elif not isinstance(spec, Mapping):
                raise QueryError(f"[{name}] aggregation malformed", "parsing_exception")
            elif key == "filter":
                translated[key] = translate(spec)
            elif key == "filters":
                filters = spec.get("filters")
                named = (
                    {k: translate(v) for k, v in filters.items()}
                    if isinstance(filters, Mapping)
                    else [translate(v) for v in filters or []]
                )
                translated[key] = {**spec, "filters": named}
            elif key == "composite":
                sources = [
                    {
                        source_name: {kind: _agg_field(s) for kind, s in source.items()}
                        for source_name, source in entry.items()
                    }
                    for entry in spec.get("sources", [])
                ]
                translated[key] = {**spec, "sources": sources}
            else:
                translated[key] = _agg_field(spec)
        out[name] = translated
    return out


def search_body(request: Mapping[str, Any], restrict: list[dict[str, Any]]) -> dict[str, Any]:
    """The engine search for a query API request, with `restrict` (the API key document type
    and, without `manage_api_key`, the caller's own keys) as non-negotiable filters."""
    for key in request:
        if key not in TOP_LEVEL:
            raise QueryError(
                f"[query_api_key_request] unknown field [{key}]", "x_content_parse_exception"
            )
    start, size = request.get("from", 0), request.get("size", 10)
    for label, value in (("from", start), ("size", size)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise QueryError(f"[{label}] must be an integer", "x_content_parse_exception")
        if value < 0:
            raise QueryError(f"[{label}] parameter cannot be negative, found [{value}]")
    if start + size > MAX_WINDOW:
        raise QueryError(
            f"Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_WINDOW}] but was [{start + size}]."
        )
    filters = list(restrict)
    if request.get("query") is not None:
        filters.append(translate(request["query"]))
    body: dict[str, Any] = {
        "query": {"bool": {"filter": filters}},
        "from": start,
        "size": size,
        "track_total_hits": True,
    }
    if "sort" in request:
        body["sort"] = translate_sort(request["sort"])
    aggs = request.get("aggs", request.get("aggregations"))
    if aggs is not None:
        body["aggs"] = translate_aggs(aggs)
    if "search_after" in request:
        if not isinstance(request["search_after"], list):
            raise QueryError("[search_after] must be an array", "x_content_parse_exception")
        body["search_after"] = request["search_after"]
    return body
