"""The pipeline's decision points, turned into audit events.

Kept apart from the pipeline so that it only calls one function per decision; every function
swallows and logs its own failures, since an audit problem must never change a response.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec

from bastion.audit.request_names import BULK_ITEM
from bastion.audit.trail import RequestAudit, RestRequest
from bastion.authc.service import AuthenticationError, parse_basic
from bastion.authc.user import Authentication
from bastion.authz.index_resolver import NO_INDICES
from bastion.authz.interceptors.bulk import BulkFormatError, parse_bulk
from bastion.authz.messages import denied_run_as
from bastion.authz.service import UNKNOWN_ROUTE_ACTION, Authorized
from bastion.rest.errors import ElasticsearchError
from bastion.rest.routes import BodyParser, RouteMatch
from bastion.transport.http import Request

log = logging.getLogger(__name__)

P = ParamSpec("P")
MGET_ITEM_ACTION = "indices:data/read/mget[shard]"
MSEARCH_ITEM_ACTION = "indices:data/read/search"


def _safe(function: Callable[P, None]) -> Callable[P, None]:
    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            function(*args, **kwargs)
        except Exception:
            log.exception("audit event lost in %s", function.__name__)

    return guarded


def rest_request(request: Request, body: bytes | None) -> RestRequest:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    remote = None
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        remote = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    elif request.remote:
        remote = request.remote
    return RestRequest(
        method=request.method,
        path=request.raw_path.partition("?")[0],
        query=request.query_string,
        remote=remote,
        body=body,
        opaque_id=request.headers.get("X-Opaque-Id"),
        traceparent=request.headers.get("traceparent"),
        forwarded_for=request.headers.get("X-Forwarded-For"),
    )


def _action(match: RouteMatch | None) -> str:
    return match.action if match is not None else UNKNOWN_ROUTE_ACTION


@_safe
def authenticated(audit: RequestAudit, authentication: Authentication) -> None:
    if authentication.type != "anonymous":
        audit.authentication_success(authentication)


@_safe
def authentication_refused(
    audit: RequestAudit, error: AuthenticationError, authorization: str | None, run_as: str | None
) -> None:
    username = None
    if authorization:
        try:
            token = parse_basic(authorization)
        except AuthenticationError:
            token = None
        username = token.username if token is not None else None
    if error.status == 403 and run_as is not None:
        audit.run_as_denied_names(username, run_as)  # the run-as user does not exist
    elif not authorization:
        audit.anonymous_access_denied()
    else:
        audit.authentication_failed(username, error.brute_force)


@_safe
def authorized(
    audit: RequestAudit,
    authentication: Authentication,
    match: RouteMatch | None,
    body: bytes | None,
    decision: Authorized,
) -> None:
    """The request's own action, then each item of a bulk, mget or msearch."""
    action = _action(match)
    if authentication.is_run_as:
        audit.run_as_granted(authentication, action)
    if decision.indices == NO_INDICES:
        indices: tuple[str, ...] = ()
    elif decision.indices is not None:  # as Elasticsearch: the names the request was narrowed to
        indices = tuple(decision.indices.split(","))
    else:
        indices = match.index_names if match else ()
    audit.access_granted(authentication, action, indices)
    if match is None or not (audit.wants("access_granted") or audit.wants("access_denied")):
        return
    route = match.route
    if route.body is BodyParser.BULK and body:
        denied = decision.bulk.denied if decision.bulk is not None else {}
        default = match.index_expression if route.index_param else None
        try:
            items = parse_bulk(body, default)
        except BulkFormatError:
            return
        for item in items:
            indices = (item.index_name,) if item.index_name is not None else ()
            if item.position in denied:
                audit.access_denied(authentication, item.action, indices, BULK_ITEM)
            else:
                audit.access_granted(authentication, item.action, indices, BULK_ITEM)
    for position_denied, item_action in (
        (decision.mget.denied if decision.mget else {}, MGET_ITEM_ACTION),
        (decision.msearch.denied if decision.msearch else {}, MSEARCH_ITEM_ACTION),
    ):
        for entry in position_denied.values():
            index = entry.get("_index")
            audit.access_denied(
                authentication, item_action, (index,) if isinstance(index, str) else ()
            )


@_safe
def refused(
    audit: RequestAudit,
    authentication: Authentication,
    match: RouteMatch | None,
    error: ElasticsearchError,
) -> None:
    """An authorization error: a 403 is access_denied (or run_as_denied); others are not
    decisions (a malformed body) and are not audited."""
    if error.status != 403:
        return
    action = _action(match)
    if authentication.is_run_as:
        if error.reason == denied_run_as(authentication, action):
            audit.run_as_denied(authentication, action)
            return
        audit.run_as_granted(authentication, action)
    audit.access_denied(authentication, action, match.index_names if match else ())


@_safe
def tampered(
    audit: RequestAudit | None, authentication: Authentication, match: RouteMatch | None
) -> None:
    if audit is not None:
        audit.tampered_request(authentication, _action(match))
