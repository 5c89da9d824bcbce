"""`POST /_security/_query/role`: Elasticsearch's query subset, evaluated over native roles.

Native roles are few (thousands at most) and already parsed by the role store, so the query runs
in memory over `RoleDescriptor`s instead of over the security index, whose role bodies are kept
unindexed. The queryable fields are Elasticsearch's: `name` (keyword), `description` (text),
`metadata` (flattened: every leaf acts as a keyword) and `applications.application|privileges|
resources` (keywords).
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bastion.authz.role_descriptor import RoleDescriptor
from bastion.rest.errors import ElasticsearchError, illegal_argument, parse_error

_BODY_FIELDS = {"query", "from", "size", "sort", "search_after"}
_APPLICATION_FIELDS = (
    "applications.application",
    "applications.privileges",
    "applications.resources",
)
_SORT_FIELDS = ("name", "description", *_APPLICATION_FIELDS)
_BOOL_CLAUSES = ("must", "should", "must_not", "filter")
MAX_WINDOW = 10_000
_TOKEN = re.compile(r"\w+")
_RANGE_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}

Predicate = Callable[[RoleDescriptor], bool]


def _tokens(text: str) -> list[str]:
    """The standard analyzer, near enough: lower-cased word tokens."""
    return [token.lower() for token in _TOKEN.findall(text)]


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _leaves(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for inner in value:
            yield from _leaves(inner, path)
    elif value is not None:
        yield path, str(value).lower() if isinstance(value, bool) else str(value)


def field_values(role: RoleDescriptor, name: str) -> list[str]:
    """The values a field holds for a role, as the index would hold them (keywords)."""
    if name == "name":
        return [role.name]
    if name == "description":
        return [role.description] if role.description else []
    if name in _APPLICATION_FIELDS:
        attribute = name.split(".")[1]
        values: list[str] = []
        for application in role.applications:
            held = getattr(application, attribute)
            values.extend([held] if isinstance(held, str) else held)
        return values
    if name == "metadata" or name.startswith("metadata."):
        return [
            value
            for path, value in _leaves(dict(role.metadata), "metadata")
            if name in ("metadata", path)
        ]
    raise illegal_argument(f"Field [{name}] is not allowed for querying or aggregation")


def _single(spec: Any, kind: str) -> tuple[str, Any]:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise parse_error(f"[{kind}] query malformed, query must have exactly one field")
    [(name, value)] = spec.items()
    if isinstance(value, dict):
        key = "value" if kind in ("term", "prefix", "wildcard") else "query"
        if kind != "range" and key not in value:
            raise parse_error(f"[{kind}] query malformed, missing [{key}]")
        value = value if kind == "range" else value[key]
    return str(name), value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    raise parse_error("query values must be strings, numbers or booleans")


def _term(name: str, value: Any) -> Predicate:
    wanted = _text(value)
    if name == "description":  # a text field: a term matches one analysed token
        return lambda role: wanted in _tokens(role.description)
    return lambda role: wanted in field_values(role, name)


def _match(name: str, value: Any, mode: str) -> Predicate:
    if name != "description":
        return _term(name, value)
    wanted = _tokens(_text(value))
    combine = all if mode == "and" else any
    return lambda role: bool(wanted) and combine(t in _tokens(role.description) for t in wanted)


def _range(name: str, spec: Any) -> Predicate:
    if not isinstance(spec, dict):
        raise parse_error("[range] query malformed")
    bounds: list[tuple[Callable[[str, str], bool], str]] = []
    for key, bound in spec.items():
        if key in _RANGE_OPERATORS:
            bounds.append((_RANGE_OPERATORS[key], _text(bound)))
        elif key not in ("format", "boost"):
            raise parse_error(f"[range] query does not support [{key}]")
    return lambda role: any(
        all(compare(v, b) for compare, b in bounds) for v in field_values(role, name)
    )


def _simple_query_string(spec: Any) -> Predicate:
    if not isinstance(spec, dict) or not isinstance(spec.get("query"), str):
        raise parse_error("[simple_query_string] query malformed, missing [query]")
    fields = spec.get("fields", ["name", "description"])
    if not isinstance(fields, list):
        raise parse_error("[simple_query_string] [fields] must be an array")
    names = [str(name).split("^")[0] for name in fields]
    for name in names:
        field_values(RoleDescriptor(name="_"), name)  # validates the field name
    words = [word for word in spec["query"].split() if word not in ("+", "|", "-")]
    predicates = []
    for word in words:
        pattern = word.lower().strip("\"'")
        for name in names:
            if pattern.endswith("*"):
                predicates.append(_prefix(name, pattern[:-1], case_insensitive=True))
            else:
                predicates.append(_match(name, pattern, "or"))
    return lambda role: any(predicate(role) for predicate in predicates)


def _prefix(name: str, value: Any, *, case_insensitive: bool = False) -> Predicate:
    wanted = _text(value)
    if case_insensitive:
        wanted = wanted.lower()
        return lambda role: any(
            v.lower().startswith(wanted)
            for v in (_tokens(role.description) if name == "description" else [])
            + field_values(role, name)
        )
    return lambda role: any(v.startswith(wanted) for v in field_values(role, name))


def compile_query(query: Any) -> Predicate:
    """A query object → a predicate over roles; unknown query types and fields are refused."""
    if not isinstance(query, dict) or len(query) != 1:
        raise parse_error("a query must be an object with exactly one query type")
    [(kind, spec)] = query.items()
    if kind == "match_all":
        return lambda _: True
    if kind == "bool":
        return _bool(spec)
    if kind == "exists":
        if not isinstance(spec, dict) or "field" not in spec:
            raise parse_error("[exists] query malformed, missing [field]")
        name = str(spec["field"])
        return lambda role: bool(field_values(role, name))
    if kind == "ids":
        if not isinstance(spec, dict) or not isinstance(spec.get("values"), list):
            raise parse_error("[ids] query malformed, [values] must be an array")
        ids = {str(value) for value in spec["values"]}
        return lambda role: f"role-{role.name}" in ids
    if kind == "terms":
        if not isinstance(spec, dict):
            raise parse_error("[terms] query malformed")
        fields = {k: v for k, v in spec.items() if k != "boost"}
        if len(fields) != 1 or not isinstance(next(iter(fields.values())), list):
            raise parse_error("[terms] query malformed, it needs one field with an array")
        [(name, values)] = fields.items()
        predicates = [_term(name, value) for value in values]
        return lambda role: any(predicate(role) for predicate in predicates)
    if kind == "simple_query_string":
        return _simple_query_string(spec)
    if kind in ("term", "match", "prefix", "wildcard", "range"):
        name, value = _single(spec, kind)
        field_values(RoleDescriptor(name="_"), name)  # validates the field name
        if kind == "term":
            return _term(name, value)
        if kind == "match":
            raw = next(iter(spec.values()))
            mode = raw.get("operator", "or") if isinstance(raw, dict) else "or"
            return _match(name, value, str(mode).lower())
        if kind == "prefix":
            return _prefix(name, value)
        if kind == "wildcard":
            pattern = _text(value)
            return lambda role: any(
                fnmatch.fnmatchcase(v, pattern) for v in field_values(role, name)
            )
        return _range(name, value)
    raise ElasticsearchError(
        400,
        "illegal_argument_exception",
        f"Query type [{kind}] is not currently supported in this context",
    )


def _bool(spec: Any) -> Predicate:
    if not isinstance(spec, dict):
        raise parse_error("[bool] query malformed")
    clauses: dict[str, list[Predicate]] = {key: [] for key in _BOOL_CLAUSES}
    minimum: int | None = None
    for key, value in spec.items():
        if key in _BOOL_CLAUSES:
            for clause in value if isinstance(value, list) else [value]:
                clauses[key].append(compile_query(clause))
        elif key == "minimum_should_match":
            if not isinstance(value, int) or isinstance(value, bool):
                raise parse_error("[minimum_should_match] must be an integer here")
            minimum = value
        elif key != "boost":
            raise parse_error(f"[bool] query does not support [{key}]")
    required = clauses["must"] + clauses["filter"]
    should = clauses["should"]
    if minimum is None:
        minimum = 0 if required or clauses["must_not"] else min(1, len(should))

    def matches(role: RoleDescriptor) -> bool:
        return (
            all(p(role) for p in required)
            and not any(p(role) for p in clauses["must_not"])
            and sum(1 for p in should if p(role)) >= minimum
        )

    return matches


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool


def parse_sort(spec: Any) -> list[SortKey]:
    keys = []
    for item in spec if isinstance(spec, list) else [spec]:
        if isinstance(item, str):
            name, order = item, "asc"
        elif isinstance(item, dict) and len(item) == 1:
            [(name, order)] = item.items()
            if isinstance(order, dict):
                order = order.get("order", "asc")
        else:
            raise parse_error("malformed [sort]")
        if name != "_doc" and name not in _SORT_FIELDS and not name.startswith("metadata."):
            raise illegal_argument(f"sorting is not supported for field [{name}]")
        if order not in ("asc", "desc"):
            raise parse_error(f"[sort] order must be [asc] or [desc], not [{order}]")
        keys.append(SortKey(name, order == "desc"))
    return keys


def _sort_value(role: RoleDescriptor, key: SortKey) -> str | None:
    if key.field == "_doc":
        return role.name
    values = sorted(field_values(role, key.field))
    if not values:
        return None
    return values[-1] if key.descending else values[0]


def _bounded(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise illegal_argument(f"[{name}] parameter cannot be negative, found [{value}]")
    return value


def query_roles(
    body: Mapping[str, Any], roles: Sequence[RoleDescriptor]
) -> tuple[int, list[tuple[RoleDescriptor, list[Any] | None]]]:
    """Run a query body over the roles: (total matches, the page with each role's sort values,
    None when the request did not sort)."""
    for field in body:
        if field not in _BODY_FIELDS:
            raise parse_error(f"failed to parse query role request. unexpected field [{field}]")
    predicate = compile_query(body["query"]) if "query" in body else (lambda _: True)
    start, size = _bounded(body.get("from", 0), "from"), _bounded(body.get("size", 10), "size")
    if start + size > MAX_WINDOW:
        raise illegal_argument(
            f"Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_WINDOW}] but was [{start + size}]"
        )
    keys = parse_sort(body["sort"]) if "sort" in body else []
    matched = [role for role in roles if predicate(role)]
    order = keys or [SortKey("name", False)]
    # Missing values sort last in both directions, as in Elasticsearch.
    for key in reversed(order):
        present = [r for r in matched if _sort_value(r, key) is not None]
        missing = [r for r in matched if _sort_value(r, key) is None]
        present.sort(key=_sorter(key), reverse=key.descending)
        matched = present + missing
    if "search_after" in body:
        after = body["search_after"]
        if not isinstance(after, list) or len(after) != len(order):
            raise parse_error("[search_after] must be an array with one value per sort field")
        matched = [r for r in matched if _after(r, order, after)]
    page = matched[start : start + size]
    return len(matched), [
        (role, [_sort_value(role, key) for key in keys] if keys else None) for role in page
    ]


def _sorter(key: SortKey) -> Callable[[RoleDescriptor], str]:
    return lambda role: _sort_value(role, key) or ""


def _after(role: RoleDescriptor, order: list[SortKey], after: list[Any]) -> bool:
    for key, bound in zip(order, after, strict=True):
        value = _sort_value(role, key)
        if value is None or bound is None:
            if value is None and bound is None:
                continue
            return value is None  # missing values come last
        if value != str(bound):
            return value < str(bound) if key.descending else value > str(bound)
    return False
