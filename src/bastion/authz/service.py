"""The authorization service: may this authenticated request run, and on what?

After Elasticsearch's `AuthorizationService` and `RBACEngine`: run_as is checked first (the
authenticating user's roles must allow running as the target), then the effective user's roles
are compiled into a `Role`, then:

- a request Bastion has no route for is allowed only with the `all` cluster privilege;
- a cluster action needs a cluster privilege that grants it;
- an index action resolves its targets (path or body) against the cached metadata: wildcards
  expand to authorized names only, an explicitly named forbidden index is a 403, and the request
  sent to the engine is rewritten to name exactly what was authorized;
- `_bulk`, `_mget` and `_msearch` are authorized item by item (interceptors).

Document and field level security is not enforced yet, so access granted only through a role
entry with `query` or `field_security` is refused (fail closed) rather than given unfiltered.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from multidict import MultiMapping

from bastion.authc.user import Authentication
from bastion.authz.index_resolver import NO_INDICES, IndicesOptions, resolve, split_expression
from bastion.authz.interceptors.bulk import (
    ITEM_ACTIONS,
    BulkDecision,
    BulkFormatError,
    BulkItem,
    authorize_bulk,
    bulk_targets,
    parse_bulk,
)
from bastion.authz.interceptors.multi import (
    MgetDecision,
    MsearchDecision,
    MultiFormatError,
    authorize_mget,
    authorize_msearch,
)
from bastion.authz.messages import denied_cluster, denied_indices, denied_run_as
from bastion.authz.permission import Role, is_restricted
from bastion.authz.role_store import RoleStore
from bastion.backend.metadata import MetadataCache
from bastion.rest.errors import ElasticsearchError
from bastion.rest.routes import BodyParser, IndexSource, RouteMatch

# Every authenticated user may do these to themselves (Elasticsearch's built-in default role).
SELF_ACTIONS = frozenset(
    {
        "cluster:admin/xpack/security/user/authenticate",
        "cluster:admin/xpack/security/user/has_privileges",
        "cluster:admin/xpack/security/user/list_privileges",
        "cluster:admin/xpack/security/user/change_password",
    }
)
UNKNOWN_ROUTE_ACTION = "cluster:admin/bastion/unknown_route"


def forbidden(reason: str) -> ElasticsearchError:
    return ElasticsearchError(403, "security_exception", reason)


@dataclass(frozen=True, slots=True)
class Authorized:
    """What the pipeline forwards: the path and body narrowed to what was authorized, and the
    per-item denials to merge into the engine's answer."""

    path_qs: str | None = None
    body: bytes | None = None
    bulk: BulkDecision | None = None
    mget: MgetDecision | None = None
    msearch: MsearchDecision | None = None
    indices: str | None = None  # the narrowed path expression, when it differs (for the audit)
    creates_indices: bool = False  # a bulk naming indices not yet known: wildcards must see them


ALLOWED = Authorized()


def _no_such_index(expression: str) -> ElasticsearchError:
    """Nothing the user may see matched, and the request said `allow_no_indices=false`: the
    engine would name `*,-*`, so answer as Elasticsearch does, naming the expression."""
    extra: dict[str, Any] = {"resource.type": "index_or_alias", "resource.id": expression}
    extra |= {"index_uuid": "_na_", "index": expression}
    return ElasticsearchError(
        404, "index_not_found_exception", f"no such index [{expression}]", None, **extra
    )


@functools.lru_cache(maxsize=1024)
def _encode_expression(expression: str) -> str:
    """Percent-encoded for the path; remembered because narrowed expressions repeat (and can
    name hundreds of indices)."""
    return ",".join(quote(name, safe="*-") for name in expression.split(","))


def with_index_expression(raw_path: str, match: RouteMatch, expression: str) -> str:
    """The raw path with its index segment replaced (or, for `GET /_search`-style routes without
    one, inserted) so that the engine sees exactly the authorized names."""
    path, sep, query = raw_path.partition("?")
    segments = path.split("/")
    encoded = _encode_expression(expression)
    position = match.route.param_position(match.route.index_param)
    if position is not None and match.params.get(match.route.index_param or "") is not None:
        segments[position + 1] = encoded
    elif match.route.target_position is not None:
        segments.insert(match.route.target_position + 1, encoded)
    else:
        raise ElasticsearchError(
            403, "security_exception", "this request cannot be narrowed to authorized indices"
        )
    return "/".join(segments) + sep + query


class AuthorizationService:
    def __init__(self, roles: RoleStore, metadata: MetadataCache) -> None:
        self.roles = roles
        self.metadata = metadata

    async def authorize(
        self,
        authentication: Authentication,
        *,
        match: RouteMatch | None,
        method: str,
        raw_path: str,
        query: MultiMapping[str],
        body: bytes | None,
    ) -> Authorized:
        action = match.action if match else UNKNOWN_ROUTE_ACTION
        if authentication.authenticating_user is not None:
            runner = await self.roles.role(authentication.authenticating_user.roles)
            if not runner.allows_run_as(authentication.user.username):
                raise forbidden(denied_run_as(authentication, action))
        if (
            match is not None
            and action in SELF_ACTIONS
            and not _names_other_user(match, authentication)
        ):
            return ALLOWED
        role = await self.roles.role_for(authentication)
        if match is None:
            if role.is_superuser_like:
                return ALLOWED
            raise forbidden(
                denied_cluster(authentication, f"{method} {raw_path.partition('?')[0]}")
            )
        route = match.route
        if route.kind == "cluster":
            if role.allows_cluster(action) or (
                _allows_own_api_key_action(role, action)
                and _concerns_own_api_keys(authentication, action, query)
            ):
                return ALLOWED
            raise forbidden(denied_cluster(authentication, action))
        if route.indices is IndexSource.NONE:
            if self._allows_some_index(role, action):
                return ALLOWED
            raise forbidden(denied_indices(authentication, action, ["*"]))
        if route.indices is IndexSource.PATH:
            return self._path_targets(authentication, role, match, raw_path, query)
        return self._body_targets(authentication, role=role, match=match, query=query, body=body)

    def _allows_some_index(self, role: Role, action: str) -> bool:
        return role.allows_some_index(action)

    def _checker(
        self, authentication: Authentication, role: Role, action: str
    ) -> Callable[[str], bool]:
        metadata = self.metadata.current

        def allowed(name: str) -> bool:
            if not role.allows_index(action, name):
                return False
            if role.document_or_field_level(action, name):
                raise forbidden(
                    f"access to index [{name}] is granted with document or field level security, "
                    "which Bastion does not enforce yet; the request was refused"
                )
            # An alias grants what its name grants, but never a restricted index behind it.
            members = metadata.aliases.get(name, ())
            return all(role.allows_index(action, m) for m in members if is_restricted(m))

        return allowed

    def _narrow(
        self,
        authentication: Authentication,
        role: Role,
        action: str,
        expression: str | None,
        options: IndicesOptions,
    ) -> tuple[str | None, str | None]:
        """(authorized expression, None) or (None, the 403 reason)."""
        metadata = self.metadata.current
        # The answer depends only on these while the metadata snapshot stays the same; date math
        # (`<logs-{now/d}>`) depends on the clock too and is never remembered.
        key = (action, expression, options)
        cacheable = expression is None or "<" not in expression
        remembered = role.narrowed.get(key) if cacheable else None
        if remembered is not None and remembered[0] is metadata:
            answer = remembered[1]
        else:
            resolved = resolve(
                split_expression(expression),
                metadata,
                options,
                self._checker(authentication, role, action),
            )
            denied = tuple(resolved.denied)
            answer = (None, denied) if denied else (resolved.expression, ())
            if cacheable:
                role.remember_narrowed(key, metadata, answer)
        if answer[1]:
            return None, denied_indices(authentication, action, list(answer[1]))
        return answer[0], None

    def _path_targets(
        self,
        authentication: Authentication,
        role: Role,
        match: RouteMatch,
        raw_path: str,
        query: MultiMapping[str],
    ) -> Authorized:
        route = match.route
        action = route.item_action(query.get("op_type")) if route.composite else route.action
        options = IndicesOptions.from_query(query)
        expression, reason = self._narrow(
            authentication, role, action, match.index_expression, options
        )
        if reason is not None or expression is None:
            raise forbidden(reason or "")
        if expression == NO_INDICES and not options.allow_no_indices:
            raise _no_such_index(match.index_expression or "_all")
        for param in route.related_params:
            name = match.params.get(param)
            if name and not self._checker(authentication, role, action)(name):
                raise forbidden(denied_indices(authentication, action, [name]))
        if expression == match.index_expression:
            return ALLOWED
        return Authorized(
            path_qs=with_index_expression(raw_path, match, expression), indices=expression
        )

    def _body_targets(
        self,
        authentication: Authentication,
        *,
        role: Role,
        match: RouteMatch,
        query: MultiMapping[str],
        body: bytes | None,
    ) -> Authorized:
        route = match.route
        default_index = match.index_expression if route.index_param else None
        if (
            default_index is not None
            and not self._checker(authentication, role, route.index_action)(default_index)
            and route.body is not BodyParser.MSEARCH
        ):
            raise forbidden(denied_indices(authentication, route.index_action, [default_index]))
        if not body:
            raise ElasticsearchError(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: request body is required;",
            )
        try:
            if route.body is BodyParser.BULK:
                return self._bulk(authentication, role, body, default_index)
            if route.body is BodyParser.MGET:
                return self._mget(authentication, role, body, default_index)
            if route.body is BodyParser.MSEARCH:
                return self._msearch(authentication, role, body, default_index, query)
            if route.body is BodyParser.REINDEX:
                return self._reindex(authentication, role, body)
            if route.body is BodyParser.ALIASES:
                return self._aliases(authentication, role, body)
        except (BulkFormatError, MultiFormatError) as error:
            raise ElasticsearchError(400, "illegal_argument_exception", str(error)) from None
        # A body Bastion cannot read safely is refused unless the user may do anything.
        if role.is_superuser_like:
            return ALLOWED
        raise forbidden(denied_indices(authentication, route.index_action, ["*"]))

    def _bulk(
        self, authentication: Authentication, role: Role, body: bytes, default: str | None
    ) -> Authorized:
        # Decided once per distinct (action, index): a bulk's items mostly share their index.
        allowed: dict[tuple[str, str], bool] = {}
        for operation, index in bulk_targets(body, default):
            if index is not None:  # None: the engine answers "index is missing"
                action = ITEM_ACTIONS[operation]
                allowed[action, index] = self._checker(authentication, role, action)(index)
        known = self.metadata.current.exists
        unknown = any(ok and not known(index) for (_, index), ok in allowed.items())
        if all(allowed.values()):  # the usual case: no object per item is needed
            return Authorized(creates_indices=True) if unknown else ALLOWED

        def reason(item: BulkItem) -> str | None:
            index = item.index_name
            if index is None or allowed[item.action, index]:
                return None
            return denied_indices(authentication, item.action, [index])

        decision = authorize_bulk(parse_bulk(body, default), reason)
        return Authorized(body=decision.body, bulk=decision, creates_indices=unknown)

    def _mget(
        self, authentication: Authentication, role: Role, body: bytes, default: str | None
    ) -> Authorized:
        action = "indices:data/read/mget[shard]"
        check = self._checker(authentication, role, action)

        def reason(index: str) -> str | None:
            return None if check(index) else denied_indices(authentication, action, [index])

        decision = authorize_mget(body, default, reason)
        if not decision.denied:
            return ALLOWED
        return Authorized(body=decision.body, mget=decision)

    def _msearch(
        self,
        authentication: Authentication,
        role: Role,
        body: bytes,
        default: str | None,
        query: MultiMapping[str],
    ) -> Authorized:
        action = "indices:data/read/search"
        options = IndicesOptions.from_query(query)

        def narrow(expression: str | None) -> tuple[str | None, str | None]:
            return self._narrow(authentication, role, action, expression, options)

        decision = authorize_msearch(body, default, narrow)
        return Authorized(body=decision.body, msearch=decision)

    def _reindex(self, authentication: Authentication, role: Role, body: bytes) -> Authorized:
        request = _json_object(body, "reindex")
        source, dest = request.get("source"), request.get("dest")
        if not isinstance(source, dict) or not isinstance(dest, dict):
            raise ElasticsearchError(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: use _reindex with a source and a dest;",
            )
        if "remote" in source and not role.is_superuser_like:
            raise forbidden(
                "reindex from a remote cluster needs the [all] cluster privilege in Bastion"
            )
        requested = source.get("index")
        if isinstance(requested, list):
            requested = ",".join(str(part) for part in requested)
        expression, reason = self._narrow(
            authentication, role, "indices:data/read/search", requested, IndicesOptions()
        )
        if reason is not None or expression is None:
            raise forbidden(reason or "")
        target = dest.get("index")
        action = "indices:data/write/index:op_type/index"
        if not isinstance(target, str) or not self._checker(authentication, role, action)(target):
            raise forbidden(denied_indices(authentication, action, [str(target)]))
        if expression == requested:
            return ALLOWED
        rewritten = {**request, "source": {**source, "index": expression.split(",")}}
        return Authorized(body=orjson.dumps(rewritten))

    def _aliases(self, authentication: Authentication, role: Role, body: bytes) -> Authorized:
        request = _json_object(body, "aliases")
        actions = request.get("actions")
        if not isinstance(actions, list):
            raise ElasticsearchError(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: no action specified;",
            )
        action = "indices:admin/aliases"
        check = self._checker(authentication, role, action)
        names: list[str] = []
        for entry in actions:
            if not isinstance(entry, dict) or len(entry) != 1:
                raise ElasticsearchError(
                    400, "illegal_argument_exception", "malformed alias action"
                )
            [(_, spec)] = entry.items()
            if not isinstance(spec, dict):
                raise ElasticsearchError(
                    400, "illegal_argument_exception", "malformed alias action"
                )
            for key in ("index", "indices", "alias", "aliases"):
                value = spec.get(key)
                names += [value] if isinstance(value, str) else [str(v) for v in value or ()]
        # Wildcards in alias actions are left to users who may do anything: fail closed.
        denied = [
            name
            for name in names
            if not check(name) or (any(c in name for c in "*?") and not role.is_superuser_like)
        ]
        if denied:
            raise forbidden(denied_indices(authentication, action, denied))
        return ALLOWED


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ElasticsearchError(
            400, "parse_exception", f"failed to parse the {what} request: {error.msg}"
        ) from None
    if not isinstance(request, dict):
        raise ElasticsearchError(400, "parse_exception", f"failed to parse the {what} request")
    return request


def _names_other_user(match: RouteMatch, authentication: Authentication) -> bool:
    """`PUT /_security/user/<name>/_password` is a self action only for one's own name."""
    name = match.params.get("username")
    return name is not None and name != authentication.user.username


_API_KEY_ACTIONS = "cluster:admin/xpack/security/api_key/"


def _allows_own_api_key_action(role: Role, action: str) -> bool:
    """Every layer grants `action` outright or through manage_own_api_key."""
    return all(
        layer.allows_cluster(action) or layer.cluster.own_api_key_action(action)
        for layer in role.layers
    )


def _concerns_own_api_keys(
    authentication: Authentication, action: str, query: MultiMapping[str]
) -> bool:
    """Elasticsearch's "own API keys" rule of manage_own_api_key: creating, updating and
    querying concern one's own keys by construction (the handlers enforce it); getting and
    invalidating must name them, by `owner=true`, by the caller's own username and realm, or,
    for a request made with an API key, by that key's own id. Granting never does. Invalidation
    names its keys in the body, which the handler checks the same way."""
    verb = action.removeprefix(_API_KEY_ACTIONS)
    if verb in ("create", "update", "bulk_update", "query", "invalidate"):
        return True
    if verb != "get":
        return False
    if query.get("owner") == "true":
        return True
    if authentication.api_key is not None:
        return query.get("id") == authentication.api_key.id and not (
            query.get("username") or query.get("realm_name")
        )
    return (
        query.get("username") == authentication.user.username
        and query.get("realm_name") == authentication.lookup_realm.name
    )
