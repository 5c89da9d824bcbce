"""The route table: every REST request a client sends → Elasticsearch's action name and where the
request's target indices are.

A route is a row of data (`Route`); `RouteTable` compiles the rows once into a path trie and
matches a request in a few microseconds. Matching follows Elasticsearch's `PathTrie`:

- the path is split on `/`; a literal segment is preferred over a `{param}` at every level, with
  backtracking, and a path whose route lacks the request's method tries the next candidate (so
  `/_search` is never read as an index named `_search`, and `GET /_nodes/stats` is not node info);
- trailing slashes are ignored (Java's `split` drops them); empty inner segments (`//idx//_search`)
  match nothing;
- `match_raw` takes the raw path (the request's `raw_path`, query string allowed) and compares
  literal segments *before* percent-decoding, then decodes each parameter on its own, exactly as
  the engine will read the path we forward: `/idx/_doc/a%2Fb` is document `a/b`, and `/%5Fsearch`
  is not `/_search`. `+` stays `+` (Elasticsearch ≥ 7.4). The pipeline should use `match_raw`.
- `match` takes an already decoded path (the request's `path`); there `%2F` has become a
  separator, so `/idx/_doc/a%2Fb` no longer matches a get. A `/` inside date math
  (`/<logs-{now/d}>/_search`) is kept within its segment.

Index parameters are comma lists that may hold wildcards, `-exclusions`, `_all` and date math; a
name that starts with `_` (other than `_all`) is never an index (Elasticsearch refuses such names),
so a route that would read one as an index does not match. This keeps OpenSearch-only APIs
(`/_plugins/…`, `/_opendistro/…`) and typos (`/_foo`) out of `{index}` routes.

**Fail closed.** A request that matches no route — unknown API, OpenSearch-only API, wrong method,
malformed path or percent-encoding — gets `None`. The caller must treat it as an action that only
the `all` cluster privilege grants (superusers may still use what Bastion does not know).

How the authorization engine reads a route:

- `kind` is Elasticsearch's split: actions starting with `cluster:`, `indices:admin/template/` or
  `indices:admin/index_template/` are cluster actions; all other actions are index actions.
- `indices` says where the targets are: `PATH` (the `index_param` comma list; when absent and
  `default_all`, the request targets all indices, e.g. `GET /_search`), `BODY` (`body` names the
  parser that finds them; `index_param`, when present, is the default index for body items), or
  `NONE` (cluster actions, and index actions without targets: scroll, clear scroll, closing a
  point in time, rendering a template, `_analyze` without an index). An index action without
  targets is authorized by name only: the user must hold it for some index.
- A search whose body holds a `pit` carries its targets in the point-in-time id, not the path.
- `composite` marks the actions Elasticsearch authorizes by name only at the top
  (`shouldAuthorizeIndexActionNameOnly`: bulk, single index/delete, mget, msearch, mtermvectors,
  search/msearch template, reindex); the targets are then authorized with `index_action`, per
  item for body parsers. `index_action` is what each target index is authorized for; it is
  `action` unless Elasticsearch authorizes a different (shard- or item-level) action there.
- `param_position(name)` is the path segment holding a parameter; `target_position`, for routes
  that target all indices without naming them, the segment where an index expression goes to
  narrow them (`/_search` → `/{index}/_search`; None for `_cat/aliases`, which names aliases).
- `related_params` are further path parameters naming indices or aliases the request touches
  (a resize target, a rollover's new index, an alias being added); interceptors check them.
- `also` lists further actions Elasticsearch's handler runs for the request (mostly `_cat` APIs,
  which call several transport actions); each must be authorized too. `action` is the primary one.
- `local` routes are answered by Bastion itself (the `_security` APIs, `GET /`), never forwarded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal, NamedTuple
from urllib.parse import unquote

Kind = Literal["cluster", "index"]


class IndexSource(StrEnum):
    PATH = "path"
    BODY = "body"
    NONE = "none"


class BodyParser(StrEnum):
    """Request bodies that name target indices; each has a parser (an interceptor) of its own.
    A route whose parser Bastion lacks must fail closed."""

    BULK = "bulk"
    MGET = "mget"
    MSEARCH = "msearch"  # also `_msearch/template`: same NDJSON header lines
    MTERMVECTORS = "mtermvectors"
    REINDEX = "reindex"
    ALIASES = "aliases"
    MODIFY_DATA_STREAM = "modify_data_stream"


# --- action names Elasticsearch authorizes ----------------------------------------------------

MAIN = "cluster:monitor/main"
BASTION_STATS = "cluster:monitor/bastion/stats"  # Bastion's own: granted by `monitor`
SEARCH = "indices:data/read/search"
GET = "indices:data/read/get"
MGET = "indices:data/read/mget"
MSEARCH = "indices:data/read/msearch"
MTERMVECTORS = "indices:data/read/mtv"
SEARCH_TEMPLATE = "indices:data/read/search/template"
MSEARCH_TEMPLATE = "indices:data/read/msearch/template"
INDEX = "indices:data/write/index"
DELETE = "indices:data/write/delete"
UPDATE = "indices:data/write/update"
BULK = "indices:data/write/bulk"
REINDEX = "indices:data/write/reindex"

# Per-target actions below the top-level one. A single-document index or delete becomes a bulk
# shard request in Elasticsearch 8, whose items are authorized with these names: `create_doc`
# grants only the op_type/create form, `index` both.
INDEX_ITEM = INDEX + ":op_type/index"
CREATE_ITEM = INDEX + ":op_type/create"
BULK_SHARD = BULK + "[s]"
MGET_SHARD = MGET + "[shard]"
MTERMVECTORS_SHARD = MTERMVECTORS + "[shard]"
# `_reindex` reads its source with a search and writes its destination with bulk index items.
REINDEX_SOURCE_ACTION = SEARCH
REINDEX_DEST_ACTION = INDEX_ITEM

# Elasticsearch's `RBACEngine.shouldAuthorizeIndexActionNameOnly` list (the parts Bastion routes).
_COMPOSITE = frozenset(
    {BULK, INDEX, DELETE, MGET, MTERMVECTORS, MSEARCH, MSEARCH_TEMPLATE, SEARCH_TEMPLATE, REINDEX}
)
_INDEX_ACTION = {
    BULK: BULK_SHARD,
    INDEX: INDEX_ITEM,
    MGET: MGET_SHARD,
    MTERMVECTORS: MTERMVECTORS_SHARD,
    MSEARCH: SEARCH,
    MSEARCH_TEMPLATE: SEARCH,
    SEARCH_TEMPLATE: SEARCH,
}
_CLUSTER_PREFIXES = ("cluster:", "indices:admin/template/", "indices:admin/index_template/")
_PARAM = re.compile(r"\{([a-z_]+)\}")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def is_cluster_action(action: str) -> bool:
    return action.startswith(_CLUSTER_PREFIXES)


@dataclass(frozen=True, slots=True)
class Route:
    methods: tuple[str, ...]
    path: str  # template: `/{index}/_search`
    action: str
    indices: IndexSource = IndexSource.NONE
    index_param: str | None = None
    body: BodyParser | None = None
    default_all: bool = False
    related_params: tuple[str, ...] = ()
    index_action: str = ""  # "" → derived (see the module docstring)
    op_type: bool = False  # `?op_type=index|create` chooses the item action
    also: tuple[str, ...] = ()
    local: bool = False
    # For a route that targets all indices without naming them (`GET /_search`): the segment
    # (0 = first after `/`) where an index expression goes to narrow the request, as the same
    # API's route with `{index}` has it; None when the API has no such form. Derived from ROUTES.
    target_position: int | None = None
    # Derived from the fields above.
    kind: Kind = field(init=False)
    composite: bool = field(init=False)
    writes: bool = field(init=False)
    param_names: tuple[str, ...] = field(init=False)
    # Path segment positions: of each parameter, and of those that must read as index names.
    _params: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)
    _checked: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(_PARAM.findall(self.path))
        if not self.path.startswith("/") or (self.path != "/" and self.path.endswith("/")):
            raise ValueError(f"route path must start and not end with '/': {self.path}")
        if not self.methods or any(m != m.upper() for m in self.methods):
            raise ValueError(f"route methods must be upper case: {self.path}")
        for param in (self.index_param, *self.related_params):
            if param is not None and param not in names:
                raise ValueError(f"{self.path}: no path parameter {{{param}}}")
        if (self.indices is IndexSource.BODY) != (self.body is not None):
            raise ValueError(f"{self.path}: a body parser goes with IndexSource.BODY only")
        if self.indices is IndexSource.NONE and (self.index_param or self.default_all):
            raise ValueError(f"{self.path}: IndexSource.NONE takes no index parameter")
        kind: Kind = "cluster" if is_cluster_action(self.action) else "index"
        if kind == "cluster" and self.indices is not IndexSource.NONE:
            raise ValueError(f"{self.path}: cluster actions are not authorized per index")
        setter = object.__setattr__  # frozen: derived fields are set once, here
        setter(self, "kind", kind)
        setter(self, "composite", self.action in _COMPOSITE)
        setter(self, "writes", self.action.startswith("indices:data/write/"))
        setter(self, "param_names", names)
        if not self.index_action:
            setter(self, "index_action", _INDEX_ACTION.get(self.action, self.action))
        segments = self.path.strip("/").split("/")
        positions = tuple(i for i, s in enumerate(segments) if s.startswith("{"))
        setter(self, "_params", tuple(zip(names, positions, strict=True)))
        checked = (self.index_param, *self.related_params) if kind == "index" else ()
        setter(self, "_checked", tuple(positions[names.index(p)] for p in checked if p))

    def param_position(self, name: str | None) -> int | None:
        """The path segment (0 = first after `/`) holding parameter `name`, if any."""
        return next((position for param, position in self._params if param == name), None)

    def item_action(self, op_type: str | None = None) -> str:
        """`index_action`, or the op_type form the request's `?op_type=` asks for."""
        if self.op_type and op_type in ("index", "create"):
            return CREATE_ITEM if op_type == "create" else INDEX_ITEM
        return self.index_action


class RouteMatch(NamedTuple):
    # A named tuple, not a dataclass: one is built per request, and this builds fastest.
    route: Route
    params: Mapping[str, str]  # decoded path parameters

    @property
    def action(self) -> str:
        return self.route.action

    @property
    def index_expression(self) -> str | None:
        """The target expression from the path; `_all` when the route targets all indices
        without one; None when the targets are not in the path (body, or none)."""
        route = self.route
        if route.index_param is not None:
            value = self.params.get(route.index_param)
            if value is not None:
                return value
        if route.default_all:
            return "_all"
        return None

    @property
    def index_names(self) -> tuple[str, ...]:
        expression = self.index_expression
        if expression is None:
            return ()
        return tuple(name for name in expression.split(",") if name)


# --- the table --------------------------------------------------------------------------------


def _methods(methods: str) -> tuple[str, ...]:
    return tuple(methods.split(","))


def _cluster(methods: str, path: str, action: str, *, also: tuple[str, ...] = ()) -> Route:
    return Route(_methods(methods), path, action, also=also)


def _index(
    methods: str,
    path: str,
    action: str,
    *,
    param: str | None = None,
    default_all: bool = False,
    related: tuple[str, ...] = (),
    index_action: str = "",
    op_type: bool = False,
    also: tuple[str, ...] = (),
) -> Route:
    """Targets in the path: `param` (default `index` when the path has it); without one in the
    path, all indices when `default_all`, else no targets."""
    if param is None and "{index}" in path:
        param = "index"
    has_targets = param is not None or default_all
    return Route(
        _methods(methods),
        path,
        action,
        indices=IndexSource.PATH if has_targets else IndexSource.NONE,
        index_param=param,
        default_all=default_all,
        related_params=related,
        index_action=index_action,
        op_type=op_type,
        also=also,
    )


def _body(methods: str, path: str, action: str, parser: BodyParser) -> Route:
    param = "index" if "{index}" in path else None
    return Route(_methods(methods), path, action, IndexSource.BODY, index_param=param, body=parser)


_SEC = "cluster:admin/xpack/security/"
_RELOAD_SECURE_SETTINGS = "cluster:admin/nodes/reload_secure_settings"


def _security(methods: str, path: str, action: str) -> Route:
    """A `_security` API, answered by Bastion; `action` is relative to `_SEC`."""
    return Route(_methods(methods), path, _SEC + action, local=True)


_STATE = "cluster:monitor/state"
_NODES_INFO = "cluster:monitor/nodes/info"
_NODES_STATS = "cluster:monitor/nodes/stats"

ROUTES: tuple[Route, ...] = (
    # --- main ---
    Route(("GET", "HEAD"), "/", MAIN, local=True),
    # --- documents ---
    _index("PUT,POST", "/{index}/_doc/{id}", INDEX, op_type=True),
    _index("POST", "/{index}/_doc", INDEX, index_action=CREATE_ITEM, op_type=True),
    _index("PUT,POST", "/{index}/_create/{id}", INDEX, index_action=CREATE_ITEM),
    _index("GET,HEAD", "/{index}/_doc/{id}", GET),
    _index("GET,HEAD", "/{index}/_source/{id}", GET),
    _index("DELETE", "/{index}/_doc/{id}", DELETE),
    _index("POST", "/{index}/_update/{id}", UPDATE),
    _body("POST,PUT", "/_bulk", BULK, BodyParser.BULK),
    _body("POST,PUT", "/{index}/_bulk", BULK, BodyParser.BULK),
    _body("GET,POST", "/_mget", MGET, BodyParser.MGET),
    _body("GET,POST", "/{index}/_mget", MGET, BodyParser.MGET),
    _index("GET,POST", "/{index}/_termvectors", "indices:data/read/tv"),
    _index("GET,POST", "/{index}/_termvectors/{id}", "indices:data/read/tv"),
    _body("GET,POST", "/_mtermvectors", MTERMVECTORS, BodyParser.MTERMVECTORS),
    _body("GET,POST", "/{index}/_mtermvectors", MTERMVECTORS, BodyParser.MTERMVECTORS),
    # --- search ---
    _index("GET,POST", "/_search", SEARCH, default_all=True),
    _index("GET,POST", "/{index}/_search", SEARCH),
    _body("GET,POST", "/_msearch", MSEARCH, BodyParser.MSEARCH),
    _body("GET,POST", "/{index}/_msearch", MSEARCH, BodyParser.MSEARCH),
    # Elasticsearch 8 runs `_count` as a size-0 search.
    _index("GET,POST", "/_count", SEARCH, default_all=True),
    _index("GET,POST", "/{index}/_count", SEARCH),
    _index("GET,POST", "/_search/scroll", "indices:data/read/scroll"),
    _index("GET,POST", "/_search/scroll/{scroll_id}", "indices:data/read/scroll"),
    _index("DELETE", "/_search/scroll", "indices:data/read/scroll/clear"),
    _index("DELETE", "/_search/scroll/{scroll_id}", "indices:data/read/scroll/clear"),
    _index("POST", "/{index}/_pit", "indices:data/read/open_point_in_time"),
    _index("DELETE", "/_pit", "indices:data/read/close_point_in_time"),
    # OpenSearch's point in time under Elasticsearch's names. Listing or deleting every PIT in
    # the cluster (`/_search/point_in_time/_all`) has no Elasticsearch counterpart: unrouted.
    _index("POST", "/{index}/_search/point_in_time", "indices:data/read/open_point_in_time"),
    _index("DELETE", "/_search/point_in_time", "indices:data/read/close_point_in_time"),
    _index("GET,POST", "/{index}/_explain/{id}", "indices:data/read/explain"),
    _index("GET,POST", "/_validate/query", "indices:admin/validate/query", default_all=True),
    _index("GET,POST", "/{index}/_validate/query", "indices:admin/validate/query"),
    _index("GET,POST", "/_field_caps", "indices:data/read/field_caps", default_all=True),
    _index("GET,POST", "/{index}/_field_caps", "indices:data/read/field_caps"),
    _index("GET,POST", "/{index}/_terms_enum", "indices:data/read/xpack/termsenum/list"),
    _index("GET,POST", "/_search/template", SEARCH_TEMPLATE, default_all=True),
    _index("GET,POST", "/{index}/_search/template", SEARCH_TEMPLATE),
    _body("GET,POST", "/_msearch/template", MSEARCH_TEMPLATE, BodyParser.MSEARCH),
    _body("GET,POST", "/{index}/_msearch/template", MSEARCH_TEMPLATE, BodyParser.MSEARCH),
    # Rendering runs the search template action in simulate mode: no search, no targets.
    _index("GET,POST", "/_render/template", SEARCH_TEMPLATE, index_action=SEARCH_TEMPLATE),
    _index("GET,POST", "/_render/template/{id}", SEARCH_TEMPLATE, index_action=SEARCH_TEMPLATE),
    _index("GET,POST", "/_search_shards", "indices:admin/shards/search_shards", default_all=True),
    _index("GET,POST", "/{index}/_search_shards", "indices:admin/shards/search_shards"),
    # --- by query, reindex ---
    _body("POST", "/_reindex", REINDEX, BodyParser.REINDEX),
    _index("POST", "/{index}/_update_by_query", "indices:data/write/update/byquery"),
    _index("POST", "/{index}/_delete_by_query", "indices:data/write/delete/byquery"),
    _cluster("POST", "/_reindex/{task_id}/_rethrottle", "cluster:admin/reindex/rethrottle"),
    _cluster("POST", "/_update_by_query/{task_id}/_rethrottle", "cluster:admin/reindex/rethrottle"),
    _cluster("POST", "/_delete_by_query/{task_id}/_rethrottle", "cluster:admin/reindex/rethrottle"),
    # --- index administration ---
    _index("PUT", "/{index}", "indices:admin/create"),
    _index("DELETE", "/{index}", "indices:admin/delete"),
    _index("GET,HEAD", "/{index}", "indices:admin/get"),
    _index("GET", "/_settings", "indices:monitor/settings/get", default_all=True),
    _index("GET", "/_settings/{name}", "indices:monitor/settings/get", default_all=True),
    _index("GET", "/{index}/_settings", "indices:monitor/settings/get"),
    _index("GET", "/{index}/_settings/{name}", "indices:monitor/settings/get"),
    _index("PUT", "/_settings", "indices:admin/settings/update", default_all=True),
    _index("PUT", "/{index}/_settings", "indices:admin/settings/update"),
    _index("GET", "/_mapping", "indices:admin/mappings/get", default_all=True),
    _index("GET", "/{index}/_mapping", "indices:admin/mappings/get"),
    _index(
        "GET", "/_mapping/field/{fields}", "indices:admin/mappings/fields/get", default_all=True
    ),
    _index("GET", "/{index}/_mapping/field/{fields}", "indices:admin/mappings/fields/get"),
    _index("PUT,POST", "/{index}/_mapping", "indices:admin/mapping/put"),
    _index("GET", "/_alias", "indices:admin/aliases/get", default_all=True),
    _index("GET,HEAD", "/_alias/{name}", "indices:admin/aliases/get", default_all=True),
    _index("GET", "/{index}/_alias", "indices:admin/aliases/get"),
    _index("GET,HEAD", "/{index}/_alias/{name}", "indices:admin/aliases/get"),
    _index("GET", "/_aliases", "indices:admin/aliases/get", default_all=True),
    _index("GET", "/{index}/_aliases", "indices:admin/aliases/get"),
    _index("PUT,POST,DELETE", "/{index}/_alias/{name}", "indices:admin/aliases", related=("name",)),
    _index(
        "PUT,POST,DELETE", "/{index}/_aliases/{name}", "indices:admin/aliases", related=("name",)
    ),
    _body("POST", "/_aliases", "indices:admin/aliases", BodyParser.ALIASES),
    _index("POST", "/{index}/_open", "indices:admin/open"),
    _index("POST", "/{index}/_close", "indices:admin/close"),
    _index("PUT", "/{index}/_block/{block}", "indices:admin/block/add"),
    _index("GET,POST", "/_refresh", "indices:admin/refresh", default_all=True),
    _index("GET,POST", "/{index}/_refresh", "indices:admin/refresh"),
    _index("GET,POST", "/_flush", "indices:admin/flush", default_all=True),
    _index("GET,POST", "/{index}/_flush", "indices:admin/flush"),
    _index("POST", "/_forcemerge", "indices:admin/forcemerge", default_all=True),
    _index("POST", "/{index}/_forcemerge", "indices:admin/forcemerge"),
    _index("POST", "/{alias}/_rollover", "indices:admin/rollover", param="alias"),
    _index(
        "POST",
        "/{alias}/_rollover/{new_index}",
        "indices:admin/rollover",
        param="alias",
        related=("new_index",),
    ),
    # Elasticsearch 8 runs shrink, split and clone as one resize action.
    _index("PUT,POST", "/{index}/_shrink/{target}", "indices:admin/resize", related=("target",)),
    _index("PUT,POST", "/{index}/_split/{target}", "indices:admin/resize", related=("target",)),
    _index("PUT,POST", "/{index}/_clone/{target}", "indices:admin/resize", related=("target",)),
    _index("GET", "/_stats", "indices:monitor/stats", default_all=True),
    _index("GET", "/_stats/{metric}", "indices:monitor/stats", default_all=True),
    _index("GET", "/{index}/_stats", "indices:monitor/stats"),
    _index("GET", "/{index}/_stats/{metric}", "indices:monitor/stats"),
    _index("GET", "/_segments", "indices:monitor/segments", default_all=True),
    _index("GET", "/{index}/_segments", "indices:monitor/segments"),
    _index("GET", "/_recovery", "indices:monitor/recovery", default_all=True),
    _index("GET", "/{index}/_recovery", "indices:monitor/recovery"),
    _index("GET", "/_shard_stores", "indices:monitor/shard_stores", default_all=True),
    _index("GET", "/{index}/_shard_stores", "indices:monitor/shard_stores"),
    _index("POST", "/_cache/clear", "indices:admin/cache/clear", default_all=True),
    _index("POST", "/{index}/_cache/clear", "indices:admin/cache/clear"),
    # Without an index, analyze uses global analyzers: no targets, authorized by name.
    _index("GET,POST", "/_analyze", "indices:admin/analyze"),
    _index("GET,POST", "/{index}/_analyze", "indices:admin/analyze"),
    _index("GET,POST", "/{index}/_reload_search_analyzers", "indices:admin/reload_analyzers"),
    _index("GET", "/_resolve/index/{name}", "indices:admin/resolve/index", param="name"),
    # --- templates (cluster actions, whatever their prefix) ---
    _cluster("GET", "/_template", "indices:admin/template/get"),
    _cluster("GET,HEAD", "/_template/{name}", "indices:admin/template/get"),
    _cluster("PUT,POST", "/_template/{name}", "indices:admin/template/put"),
    _cluster("DELETE", "/_template/{name}", "indices:admin/template/delete"),
    _cluster("GET", "/_index_template", "indices:admin/index_template/get"),
    _cluster("GET,HEAD", "/_index_template/{name}", "indices:admin/index_template/get"),
    _cluster("PUT,POST", "/_index_template/{name}", "indices:admin/index_template/put"),
    _cluster("DELETE", "/_index_template/{name}", "indices:admin/index_template/delete"),
    _cluster("POST", "/_index_template/_simulate", "indices:admin/index_template/simulate"),
    _cluster("POST", "/_index_template/_simulate/{name}", "indices:admin/index_template/simulate"),
    _cluster(
        "POST",
        "/_index_template/_simulate_index/{name}",
        "indices:admin/index_template/simulate_index",
    ),
    _cluster("GET", "/_component_template", "cluster:admin/component_template/get"),
    _cluster("GET,HEAD", "/_component_template/{name}", "cluster:admin/component_template/get"),
    _cluster("PUT,POST", "/_component_template/{name}", "cluster:admin/component_template/put"),
    _cluster("DELETE", "/_component_template/{name}", "cluster:admin/component_template/delete"),
    # --- data streams ---
    _index("GET", "/_data_stream", "indices:admin/data_stream/get", default_all=True),
    _index("GET", "/_data_stream/{name}", "indices:admin/data_stream/get", param="name"),
    _index("PUT", "/_data_stream/{name}", "indices:admin/data_stream/create", param="name"),
    _index("DELETE", "/_data_stream/{name}", "indices:admin/data_stream/delete", param="name"),
    _index("GET", "/_data_stream/_stats", "indices:monitor/data_stream/stats", default_all=True),
    _index("GET", "/_data_stream/{name}/_stats", "indices:monitor/data_stream/stats", param="name"),
    _index(
        "POST", "/_data_stream/_migrate/{name}", "indices:admin/data_stream/migrate", param="name"
    ),
    _index(
        "POST", "/_data_stream/_promote/{name}", "indices:admin/data_stream/promote", param="name"
    ),
    _body(
        "POST",
        "/_data_stream/_modify",
        "indices:admin/data_stream/modify",
        BodyParser.MODIFY_DATA_STREAM,
    ),
    # --- ingest ---
    _cluster("GET", "/_ingest/pipeline", "cluster:admin/ingest/pipeline/get"),
    _cluster("GET", "/_ingest/pipeline/{id}", "cluster:admin/ingest/pipeline/get"),
    _cluster("PUT", "/_ingest/pipeline/{id}", "cluster:admin/ingest/pipeline/put"),
    _cluster("DELETE", "/_ingest/pipeline/{id}", "cluster:admin/ingest/pipeline/delete"),
    _cluster("GET,POST", "/_ingest/pipeline/_simulate", "cluster:admin/ingest/pipeline/simulate"),
    _cluster(
        "GET,POST", "/_ingest/pipeline/{id}/_simulate", "cluster:admin/ingest/pipeline/simulate"
    ),
    _cluster("GET", "/_ingest/processor/grok", "cluster:admin/ingest/processor/grok/get"),
    # --- cluster ---
    # Health and state take index names, but as cluster actions they are not authorized per index.
    _cluster("GET", "/_cluster/health", "cluster:monitor/health"),
    _cluster("GET", "/_cluster/health/{index}", "cluster:monitor/health"),
    _cluster("GET", "/_cluster/state", _STATE),
    _cluster("GET", "/_cluster/state/{metric}", _STATE),
    _cluster("GET", "/_cluster/state/{metric}/{index}", _STATE),
    _cluster("GET", "/_cluster/stats", "cluster:monitor/stats"),
    _cluster("GET", "/_cluster/stats/nodes/{node_id}", "cluster:monitor/stats"),
    _cluster("GET", "/_cluster/settings", "cluster:monitor/settings"),
    _cluster("PUT", "/_cluster/settings", "cluster:admin/settings/update"),
    _cluster("POST", "/_cluster/reroute", "cluster:admin/reroute"),
    _cluster("GET,POST", "/_cluster/allocation/explain", "cluster:monitor/allocation/explain"),
    _cluster("GET", "/_cluster/pending_tasks", "cluster:monitor/task"),
    _cluster(
        "POST", "/_cluster/voting_config_exclusions", "cluster:admin/voting_config/add_exclusions"
    ),
    _cluster(
        "DELETE",
        "/_cluster/voting_config_exclusions",
        "cluster:admin/voting_config/clear_exclusions",
    ),
    _cluster("GET", "/_remote/info", "cluster:monitor/remote/info"),
    # --- nodes ---
    _cluster("GET", "/_nodes", _NODES_INFO),
    _cluster("GET", "/_nodes/{node_id}", _NODES_INFO),
    _cluster("GET", "/_nodes/{node_id}/{metric}", _NODES_INFO),
    _cluster("GET", "/_nodes/stats", _NODES_STATS),
    _cluster("GET", "/_nodes/stats/{metric}", _NODES_STATS),
    _cluster("GET", "/_nodes/stats/{metric}/{index_metric}", _NODES_STATS),
    _cluster("GET", "/_nodes/{node_id}/stats", _NODES_STATS),
    _cluster("GET", "/_nodes/{node_id}/stats/{metric}", _NODES_STATS),
    _cluster("GET", "/_nodes/{node_id}/stats/{metric}/{index_metric}", _NODES_STATS),
    _cluster("GET", "/_nodes/hot_threads", "cluster:monitor/nodes/hot_threads"),
    _cluster("GET", "/_nodes/{node_id}/hot_threads", "cluster:monitor/nodes/hot_threads"),
    # Answered by Bastion: it re-reads its own keystore (bastion.rest.secure_settings).
    Route(("POST",), "/_nodes/reload_secure_settings", _RELOAD_SECURE_SETTINGS, local=True),
    Route(
        ("POST",), "/_nodes/{node_id}/reload_secure_settings", _RELOAD_SECURE_SETTINGS, local=True
    ),
    _cluster("GET", "/_nodes/usage", "cluster:monitor/nodes/usage"),
    _cluster("GET", "/_nodes/usage/{metric}", "cluster:monitor/nodes/usage"),
    _cluster("GET", "/_nodes/{node_id}/usage", "cluster:monitor/nodes/usage"),
    _cluster("GET", "/_nodes/{node_id}/usage/{metric}", "cluster:monitor/nodes/usage"),
    # --- tasks ---
    _cluster("GET", "/_tasks", "cluster:monitor/tasks/lists"),
    _cluster("GET", "/_tasks/{task_id}", "cluster:monitor/task/get"),
    _cluster("POST", "/_tasks/_cancel", "cluster:admin/tasks/cancel"),
    _cluster("POST", "/_tasks/{task_id}/_cancel", "cluster:admin/tasks/cancel"),
    # --- snapshots (restore names indices, but is a cluster action) ---
    _cluster("GET", "/_snapshot", "cluster:admin/repository/get"),
    _cluster("GET", "/_snapshot/{repository}", "cluster:admin/repository/get"),
    _cluster("PUT,POST", "/_snapshot/{repository}", "cluster:admin/repository/put"),
    _cluster("DELETE", "/_snapshot/{repository}", "cluster:admin/repository/delete"),
    _cluster("POST", "/_snapshot/{repository}/_verify", "cluster:admin/repository/verify"),
    _cluster("POST", "/_snapshot/{repository}/_cleanup", "cluster:admin/repository/_cleanup"),
    _cluster("PUT,POST", "/_snapshot/{repository}/{snapshot}", "cluster:admin/snapshot/create"),
    _cluster("GET", "/_snapshot/{repository}/{snapshot}", "cluster:admin/snapshot/get"),
    _cluster("DELETE", "/_snapshot/{repository}/{snapshot}", "cluster:admin/snapshot/delete"),
    _cluster(
        "POST", "/_snapshot/{repository}/{snapshot}/_restore", "cluster:admin/snapshot/restore"
    ),
    _cluster(
        "PUT",
        "/_snapshot/{repository}/{snapshot}/_clone/{target_snapshot}",
        "cluster:admin/snapshot/clone",
    ),
    _cluster("GET", "/_snapshot/_status", "cluster:admin/snapshot/status"),
    _cluster("GET", "/_snapshot/{repository}/_status", "cluster:admin/snapshot/status"),
    _cluster("GET", "/_snapshot/{repository}/{snapshot}/_status", "cluster:admin/snapshot/status"),
    # --- scripts ---
    _cluster("GET", "/_scripts/{id}", "cluster:admin/script/get"),
    _cluster("PUT,POST", "/_scripts/{id}", "cluster:admin/script/put"),
    _cluster("PUT,POST", "/_scripts/{id}/{context}", "cluster:admin/script/put"),
    _cluster("DELETE", "/_scripts/{id}", "cluster:admin/script/delete"),
    _cluster("GET", "/_script_context", "cluster:admin/script_context/get"),
    _cluster("GET", "/_script_language", "cluster:admin/script_language/get"),
    _cluster("GET,POST", "/_scripts/painless/_execute", "cluster:admin/scripts/painless/execute"),
    _cluster("GET", "/_scripts/painless/_context", "cluster:admin/scripts/painless/context"),
    # --- _cat: `action` is the call that decides what the user sees (for indices, the settings
    # request Elasticsearch uses to resolve authorized names); `also` the other calls made.
    # The help page (`GET /_cat`) runs no action in Elasticsearch; here it needs `monitor/main`.
    _cluster("GET", "/_cat", MAIN),
    _index("GET", "/_cat/aliases", "indices:admin/aliases/get", default_all=True),
    _index("GET", "/_cat/aliases/{name}", "indices:admin/aliases/get", default_all=True),
    _cluster("GET", "/_cat/allocation", _STATE, also=(_NODES_STATS,)),
    _cluster("GET", "/_cat/allocation/{node_id}", _STATE, also=(_NODES_STATS,)),
    _cluster("GET", "/_cat/circuit_breaker", _NODES_STATS),
    _cluster("GET", "/_cat/circuit_breaker/{circuit_breaker_patterns}", _NODES_STATS),
    _cluster("GET", "/_cat/component_templates", _STATE),  # read from the cluster state
    _cluster("GET", "/_cat/component_templates/{name}", _STATE),
    _index("GET", "/_cat/count", SEARCH, default_all=True),
    _index("GET", "/_cat/count/{index}", SEARCH),
    _cluster("GET", "/_cat/fielddata", _NODES_STATS),
    _cluster("GET", "/_cat/fielddata/{fields}", _NODES_STATS),
    _cluster("GET", "/_cat/health", "cluster:monitor/health"),
    *(
        _index(
            "GET",
            path,
            "indices:monitor/settings/get",
            default_all=True,
            also=("indices:monitor/stats", _STATE, "cluster:monitor/health"),
        )
        for path in ("/_cat/indices", "/_cat/indices/{index}")
    ),
    _cluster("GET", "/_cat/master", _STATE),
    _cluster("GET", "/_cat/nodeattrs", _STATE, also=(_NODES_INFO,)),
    _cluster("GET", "/_cat/nodes", _STATE, also=(_NODES_INFO, _NODES_STATS)),
    _cluster("GET", "/_cat/pending_tasks", "cluster:monitor/task"),
    _cluster("GET", "/_cat/plugins", _STATE, also=(_NODES_INFO,)),
    _index("GET", "/_cat/recovery", "indices:monitor/recovery", default_all=True),
    _index("GET", "/_cat/recovery/{index}", "indices:monitor/recovery"),
    _cluster("GET", "/_cat/repositories", "cluster:admin/repository/get"),
    _index("GET", "/_cat/segments", "indices:monitor/segments", default_all=True, also=(_STATE,)),
    _index("GET", "/_cat/segments/{index}", "indices:monitor/segments", also=(_STATE,)),
    _index("GET", "/_cat/shards", "indices:monitor/stats", default_all=True, also=(_STATE,)),
    _index("GET", "/_cat/shards/{index}", "indices:monitor/stats", also=(_STATE,)),
    _cluster("GET", "/_cat/snapshots", "cluster:admin/snapshot/get"),
    _cluster("GET", "/_cat/snapshots/{repository}", "cluster:admin/snapshot/get"),
    _cluster("GET", "/_cat/tasks", "cluster:monitor/tasks/lists"),
    *(
        _cluster(
            "GET",
            path,
            "indices:admin/template/get",
            also=("indices:admin/index_template/get",),
        )
        for path in ("/_cat/templates", "/_cat/templates/{name}")
    ),
    _cluster("GET", "/_cat/thread_pool", _STATE, also=(_NODES_INFO, _NODES_STATS)),
    _cluster(
        "GET",
        "/_cat/thread_pool/{thread_pool_patterns}",
        _STATE,
        also=(_NODES_INFO, _NODES_STATS),
    ),
    *(
        _cluster("GET", path, action)
        for prefix, action in (
            ("/_cat/ml/anomaly_detectors", "cluster:monitor/xpack/ml/job/stats/get"),
            ("/_cat/ml/datafeeds", "cluster:monitor/xpack/ml/datafeeds/stats/get"),
            ("/_cat/ml/data_frame/analytics", "cluster:monitor/xpack/ml/data_frame/analytics/get"),
            ("/_cat/ml/trained_models", "cluster:monitor/xpack/ml/inference/get"),
            ("/_cat/transforms", "cluster:monitor/transform/get"),
        )
        for path in (prefix, prefix + "/{id}")
    ),
    # --- x-pack info, asked by Kibana, Beats and the clients ---
    _cluster("GET", "/_xpack", "cluster:monitor/xpack/info"),
    _cluster("GET", "/_xpack/usage", "cluster:monitor/xpack/usage"),
    _cluster("GET", "/_license", "cluster:monitor/xpack/license/get"),
    Route(("GET",), "/_ssl/certificates", "cluster:monitor/xpack/ssl/certificates/get", local=True),
    Route(("GET",), "/_bastion/stats", BASTION_STATS, local=True),
    # --- security ---
    _security("GET", "/_security/_authenticate", "user/authenticate"),
    _security("GET", "/_security/user", "user/get"),
    _security("GET", "/_security/user/{username}", "user/get"),
    _security("PUT,POST", "/_security/user/{username}", "user/put"),
    _security("DELETE", "/_security/user/{username}", "user/delete"),
    _security("PUT,POST", "/_security/user/_password", "user/change_password"),
    _security("PUT,POST", "/_security/user/{username}/_password", "user/change_password"),
    _security("PUT,POST", "/_security/user/{username}/_enable", "user/set_enabled"),
    _security("PUT,POST", "/_security/user/{username}/_disable", "user/set_enabled"),
    _security("GET", "/_security/user/_privileges", "user/list_privileges"),
    _security("GET,POST", "/_security/user/_has_privileges", "user/has_privileges"),
    _security("GET,POST", "/_security/user/{user}/_has_privileges", "user/has_privileges"),
    _security("GET,POST", "/_security/_query/user", "user/query"),
    _security("GET", "/_security/role", "role/get"),
    _security("GET", "/_security/role/{name}", "role/get"),
    _security("PUT,POST", "/_security/role/{name}", "role/put"),
    _security("DELETE", "/_security/role/{name}", "role/delete"),
    _security("POST", "/_security/role", "role/bulk_put"),
    _security("DELETE", "/_security/role", "role/bulk_delete"),
    _security("POST", "/_security/role/{name}/_clear_cache", "roles/cache/clear"),
    _security("GET,POST", "/_security/_query/role", "role/query"),
    _security("GET", "/_security/role_mapping", "role_mapping/get"),
    _security("GET", "/_security/role_mapping/{name}", "role_mapping/get"),
    _security("PUT,POST", "/_security/role_mapping/{name}", "role_mapping/put"),
    _security("DELETE", "/_security/role_mapping/{name}", "role_mapping/delete"),
    _security("GET", "/_security/privilege", "privilege/get"),
    _security("GET", "/_security/privilege/{application}", "privilege/get"),
    _security("GET", "/_security/privilege/{application}/{name}", "privilege/get"),
    _security("PUT,POST", "/_security/privilege", "privilege/put"),
    _security("DELETE", "/_security/privilege/{application}/{name}", "privilege/delete"),
    _security("GET", "/_security/privilege/_builtin", "privilege/builtin/get"),
    _security("POST", "/_security/privilege/{application}/_clear_cache", "privilege/cache/clear"),
    _security("PUT,POST", "/_security/api_key", "api_key/create"),
    _security("GET", "/_security/api_key", "api_key/get"),
    _security("DELETE", "/_security/api_key", "api_key/invalidate"),
    _security("POST", "/_security/api_key/grant", "api_key/grant"),
    _security("PUT", "/_security/api_key/{id}", "api_key/update"),
    _security("POST", "/_security/api_key/_bulk_update", "api_key/bulk_update"),
    # Elasticsearch clears the API key and service token caches with one generic action.
    _security("POST", "/_security/api_key/{ids}/_clear_cache", "cache/clear"),
    _security("GET,POST", "/_security/_query/api_key", "api_key/query"),
    _security("POST", "/_security/cross_cluster/api_key", "cross_cluster/api_key/create"),
    _security("PUT", "/_security/cross_cluster/api_key/{id}", "cross_cluster/api_key/update"),
    # A refresh_token grant is `token/refresh` in Elasticsearch; the body decides, not the path.
    _security("POST", "/_security/oauth2/token", "token/create"),
    _security("DELETE", "/_security/oauth2/token", "token/invalidate"),
    _security("GET", "/_security/service", "service_account/get"),
    _security("GET", "/_security/service/{namespace}", "service_account/get"),
    _security("GET", "/_security/service/{namespace}/{service}", "service_account/get"),
    _security(
        "GET",
        "/_security/service/{namespace}/{service}/credential",
        "service_account/credential/get",
    ),
    _security(
        "POST,PUT",
        "/_security/service/{namespace}/{service}/credential/token",
        "service_account/token/create",
    ),
    _security(
        "POST,PUT",
        "/_security/service/{namespace}/{service}/credential/token/{name}",
        "service_account/token/create",
    ),
    _security(
        "DELETE",
        "/_security/service/{namespace}/{service}/credential/token/{name}",
        "service_account/token/delete",
    ),
    _security(
        "POST",
        "/_security/service/{namespace}/{service}/credential/token/{name}/_clear_cache",
        "cache/clear",
    ),
    _security("POST", "/_security/realm/{realms}/_clear_cache", "realm/cache/clear"),
    _security("POST", "/_security/saml/prepare", "saml/prepare"),
    _security("POST", "/_security/saml/authenticate", "saml/authenticate"),
    _security("POST", "/_security/saml/logout", "saml/logout"),
    _security("POST", "/_security/saml/invalidate", "saml/invalidate"),
    _security("POST", "/_security/saml/complete_logout", "saml/complete_logout"),
    Route(
        ("GET",),
        "/_security/saml/metadata/{realm_name}",
        "cluster:monitor/xpack/security/saml/metadata",
        local=True,
    ),
    _security("POST", "/_security/oidc/prepare", "oidc/prepare"),
    _security("POST", "/_security/oidc/authenticate", "oidc/authenticate"),
    _security("POST", "/_security/oidc/logout", "oidc/logout"),
    _security("POST", "/_security/delegate_pki", "delegate_pki"),
    _security("GET", "/_security/enroll/node", "enroll/node"),
    _security("GET", "/_security/enroll/kibana", "enroll/kibana"),
    _security("POST", "/_security/profile/_activate", "profile/activate"),
    _security("GET", "/_security/profile/{uid}", "profile/get"),
    _security("GET,POST", "/_security/profile/_suggest", "profile/suggest"),
    _security("GET,POST", "/_security/profile/_has_privileges", "profile/has_privileges"),
    _security("PUT,POST", "/_security/profile/{uid}/_data", "profile/put/data"),
    _security("PUT,POST", "/_security/profile/{uid}/_enable", "profile/set_enabled"),
    _security("PUT,POST", "/_security/profile/{uid}/_disable", "profile/set_enabled"),
    _security("GET", "/_security/settings", "settings/get"),
    _security("PUT", "/_security/settings", "settings/update"),
)


def _with_target_positions(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    """Link each all-indices route to the same API's form with an index parameter: `/_search`
    to `/{index}/_search` (0), `/_cat/indices` to `/_cat/indices/{index}` (2)."""
    named: dict[tuple[str, tuple[str, ...]], int] = {}
    for route in routes:
        position = route.param_position(route.index_param)
        if position is not None:
            parts = route.path.strip("/").split("/")
            del parts[position]
            for method in route.methods:
                named[(method + " " + route.action, tuple(parts))] = position
    linked = []
    for route in routes:
        found: set[int | None] = {None}
        if route.default_all and route.index_param is None:
            segments = tuple(s for s in route.path.strip("/").split("/") if s)
            found = {named.get((m + " " + route.action, segments)) for m in route.methods}
        position = found.pop() if len(found) == 1 else None
        linked.append(route if position is None else replace(route, target_position=position))
    return tuple(linked)


ROUTES = _with_target_positions(ROUTES)


# --- matching ---------------------------------------------------------------------------------


class _Node:
    __slots__ = ("param", "routes", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.routes: dict[str, Route] = {}


class _BadPath(ValueError):
    """A segment that is not valid percent-encoded UTF-8: the engine would refuse it too."""


def _decode(segment: str) -> str:
    if "%" not in segment:
        return segment
    if _BAD_ESCAPE.search(segment):
        raise _BadPath(segment)
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise _BadPath(segment) from None


def _names_index(value: str) -> bool:
    """Whether a path value can be an index expression: Elasticsearch refuses index names that
    start with `_`, so such a value means a different API (`_all` aside)."""
    if "_" not in value:
        return True
    for part in value.split(","):
        name = part[1:] if part.startswith("-") else part
        if name.startswith("_") and name != "_all":
            return False
    return True


def _split_decoded(path: str) -> list[str]:
    """Split a decoded path on `/`, except inside date math (`<logs-{now/d}>`)."""
    if "<" not in path:
        return path.split("/")
    segments: list[str] = []
    start = 0
    in_math = False
    for i, char in enumerate(path):
        if char == "<":
            in_math = True
        elif char == ">":
            in_math = False
        elif char == "/" and not in_math:
            segments.append(path[start:i])
            start = i + 1
    if in_math:  # an unclosed `<` is no date math: split plainly
        return path.split("/")
    segments.append(path[start:])
    return segments


class RouteTable:
    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        self.routes = routes
        self._root = _Node()
        for route in routes:
            node = self._root
            for segment in route.path.strip("/").split("/") if route.path != "/" else ():
                if segment.startswith("{"):
                    if node.param is None:
                        node.param = _Node()
                    node = node.param
                else:
                    node = node.static.setdefault(segment, _Node())
            for method in route.methods:
                if method in node.routes:
                    raise ValueError(f"duplicate route {method} {route.path}")
                node.routes[method] = route

    def match(self, method: str, path: str) -> RouteMatch | None:
        """Match a decoded path (the request's `path`, without a query string)."""
        path = path.rstrip("/")
        if not path:
            return self._root_match(method)
        if path[0] != "/":
            return None
        segments = _split_decoded(path[1:])
        return self._match(method.upper(), segments, segments)

    def match_raw(self, method: str, raw_path: str) -> RouteMatch | None:
        """Match a raw path as received (the request's `raw_path`; a query string is cut)."""
        query = raw_path.find("?")
        path = (raw_path if query < 0 else raw_path[:query]).rstrip("/")
        if not path:
            return self._root_match(method)
        if path[0] != "/":
            return None
        segments = path[1:].split("/")
        if "%" not in path:
            return self._match(method.upper(), segments, segments)
        try:
            decoded = [_decode(segment) for segment in segments]
        except _BadPath:
            return None
        return self._match(method.upper(), segments, decoded)

    def _root_match(self, method: str) -> RouteMatch | None:
        route = self._root.routes.get(method.upper())
        return None if route is None else RouteMatch(route, {})

    def _match(self, method: str, segments: list[str], decoded: list[str]) -> RouteMatch | None:
        """Literal segments are looked up in `segments`; parameters are read from `decoded`."""
        route = _greedy(self._root, segments, method, decoded) or _walk(
            self._root, segments, 0, method, decoded
        )
        if route is None:
            return None
        return RouteMatch(route, {name: decoded[i] for name, i in route._params})


def _accepts(route: Route | None, decoded: list[str]) -> bool:
    if route is None:
        return False
    return not route._checked or all(_names_index(decoded[i]) for i in route._checked)


def _greedy(node: _Node, segments: list[str], method: str, decoded: list[str]) -> Route | None:
    """The first path `_walk` tries, without recursion: it is the answer for nearly every
    request, so the search with backtracking runs only when it fails."""
    for segment in segments:
        child = node.static.get(segment)
        if child is None:
            child = node.param
            if child is None or not segment:
                return None
        node = child
    route = node.routes.get(method)
    return route if _accepts(route, decoded) else None


def _walk(
    node: _Node, segments: list[str], i: int, method: str, decoded: list[str]
) -> Route | None:
    """Depth first, literal before parameter, as Elasticsearch's path trie."""
    if i == len(segments):
        route = node.routes.get(method)
        return route if _accepts(route, decoded) else None
    segment = segments[i]
    child = node.static.get(segment)
    if child is not None:
        found = _walk(child, segments, i + 1, method, decoded)
        if found is not None:
            return found
    child = node.param
    if child is not None and segment:
        return _walk(child, segments, i + 1, method, decoded)
    return None


_TABLE = RouteTable()


def match(method: str, path: str) -> RouteMatch | None:
    """The route for a decoded path, or None: fail closed (only the `all` privilege grants it)."""
    return _TABLE.match(method, path)


def match_raw(method: str, raw_path: str) -> RouteMatch | None:
    """The route for a raw path, or None: fail closed (only the `all` privilege grants it)."""
    return _TABLE.match_raw(method, raw_path)
