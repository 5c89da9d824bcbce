"""The request pipeline of one worker: every client request passes `RestPipeline.middleware`.

In order: the body is read within limits → the request is authenticated
(`request["authentication"]`) → its route is matched (`request["route"]`, None for a request
Bastion does not know) → it is authorized (`request["authorized"]`: what may be sent, narrowed)
→ the matched handler runs: a local `_security` API, `GET /`, or forwarding to the engine.
Each decision is audited (`bastion.audit.decisions`) under the request's `request.id`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from bastion.audit import AUDIT_KEY, RequestAudit
from bastion.audit import decisions as audited
from bastion.authc.service import (
    BASIC_CHALLENGE,
    BEARER_CHALLENGE,
    RUN_AS_HEADER,
    AuthenticationError,
)
from bastion.authz.interceptors.bulk import merge_bulk_response
from bastion.authz.interceptors.multi import merge_mget_response, merge_msearch_response
from bastion.authz.messages import denied_cluster
from bastion.authz.scroll_binding import (
    CLEAR_ALL_SCROLLS,
    CLEAR_SCROLL,
    SCROLL,
    ScrollSeal,
    load_seal,
    owner_of,
)
from bastion.authz.service import Authorized
from bastion.backend.client import EngineClient, EngineUnavailable
from bastion.rest.errors import ElasticsearchError, error_response
from bastion.rest.info import ClusterInfo
from bastion.rest.proxy import HOP_BY_HOP, engine_headers, forward
from bastion.rest.routes import RouteMatch, match_raw
from bastion.security import Security
from bastion.store.security_index import StoreError
from bastion.transport.http import BodyTooLarge, Handler, Request, Response

log = logging.getLogger(__name__)


class RestPipeline:
    def __init__(
        self,
        engine: EngineClient,
        info: ClusterInfo,
        security: Security,
        *,
        max_content_length: int,
        read_timeout: float,
    ) -> None:
        self._engine = engine
        self._info = info
        self._security = security
        self._max_content_length = max_content_length
        self._read_timeout = read_timeout if read_timeout > 0 else None
        self._scroll_seal: ScrollSeal | None = None

    def _too_large(self, size: int | None) -> ElasticsearchError:
        limit = self._max_content_length
        return ElasticsearchError(
            413,
            "content_too_long_exception",
            f"request body is too large: {size if size is not None else 'more than'} bytes "
            f"exceeds http.max_content_length [{limit}] bytes",
            max_content_length=limit,
        )

    async def _read_body(self, request: Request) -> bytes:
        declared = request.content_length
        if declared is not None and declared > self._max_content_length:
            raise self._too_large(declared)
        try:
            if request.body_received:  # the usual case: no timer to arm
                return await request.read()
            async with asyncio.timeout(self._read_timeout):
                return await request.read()  # kept for the handler
        except BodyTooLarge:
            raise self._too_large(None) from None
        except TimeoutError:
            raise ElasticsearchError(
                408, "timeout_exception", "the request body was not received in time"
            ) from None

    async def middleware(self, request: Request, handler: Handler) -> Response:
        audit: RequestAudit | None = None
        try:
            body = await self._read_body(request) if request.body_exists else None
            audit = self._security.audit.begin(lambda: audited.rest_request(request, body))
            request[AUDIT_KEY] = audit
            authentication = await self._security.authc.authenticate(
                request.headers.get("Authorization"),
                request.headers.get(RUN_AS_HEADER),
                request.path_qs,
                request.remote,
            )
            request["authentication"] = authentication
            if audit is not None:
                audited.authenticated(audit, authentication)
            match = match_raw(request.method, request.raw_path)
            request["route"] = match
            try:
                authorized = await self._security.authz.authorize(
                    authentication,
                    match=match,
                    method=request.method,
                    raw_path=request.raw_path,
                    query=request.query,
                    body=body,
                )
            except ElasticsearchError as error:
                if audit is not None:
                    audited.refused(audit, authentication, match, error)
                anonymous = self._security.authc.anonymous
                if (
                    error.status == 403
                    and authentication.type == "anonymous"
                    and anonymous is not None
                    and not anonymous.authz_exception
                ):
                    # As Elasticsearch: ask for credentials instead of refusing the anonymous.
                    action = match.action if match else request.method + " " + request.path
                    return self._authentication_failed(
                        AuthenticationError(f"action [{action}] requires authentication")
                    )
                raise
            if audit is not None:
                audited.authorized(audit, authentication, match, body, authorized)
            request["authorized"] = authorized
            return await handler(request)
        except ElasticsearchError as error:
            return error.response()
        except AuthenticationError as error:
            if audit is not None:
                audited.authentication_refused(
                    audit,
                    error,
                    request.headers.get("Authorization"),
                    request.headers.get(RUN_AS_HEADER),
                )
            return self._authentication_failed(error)
        except (EngineUnavailable, StoreError) as error:
            log.warning("engine unavailable for %s %s: %s", request.method, request.path, error)
            return error_response(
                503,
                "engine_unavailable_exception",
                "the search engine behind Bastion is not reachable; retry shortly",
            )

    def _authentication_failed(self, error: AuthenticationError) -> web.Response:
        if error.status != 401:
            return error_response(error.status, "security_exception", error.reason)
        # One challenge per scheme the gateway accepts, in Elasticsearch's order.
        challenges = [BASIC_CHALLENGE] + [
            challenge
            for scheme, challenge in (("Bearer", BEARER_CHALLENGE), ("ApiKey", "ApiKey"))
            if self._security.authc.has_scheme(scheme)
        ]
        if error.challenge is not None:
            challenges.insert(0, error.challenge)
        response = error_response(
            401, "security_exception", error.reason, header={"WWW-Authenticate": challenges}
        )
        for challenge in challenges:
            response.headers.add("WWW-Authenticate", challenge)
        return response

    async def forward(self, request: Request) -> Response:
        authorized: Authorized = request["authorized"]
        body = (
            authorized.body
            if authorized.body is not None
            else (await request.read() if request.body_exists else None)
        )
        if _uses_scroll_ids(request):
            return await self._forward_scroll(request, authorized, body)
        if authorized.bulk or authorized.mget or authorized.msearch:
            response: Response = await self._forward_and_merge(request, authorized)
        else:
            response = await forward(request, self._engine, body, authorized.path_qs)
        if authorized.creates_indices or _may_change_metadata(
            request, self._security.metadata.current.exists
        ):
            await self._security.metadata.refresh_now()
        return response

    async def _forward_scroll(
        self, request: Request, authorized: Authorized, body: bytes | None
    ) -> Response:
        """Scroll ids are sealed to their owner on the way out and opened on the way in."""
        if self._scroll_seal is None:
            self._scroll_seal = await load_seal(self._security.index)
        seal = self._scroll_seal
        authentication = request["authentication"]
        owner = owner_of(authentication)
        path_qs = authorized.path_qs or request.raw_path
        if request["route"].action in (SCROLL, CLEAR_SCROLL):
            path, _, raw_query = path_qs.partition("?")
            try:
                path_qs, body, clear_all = seal.open_request(
                    path=path, query=request.query, raw_query=raw_query, body=body, owner=owner
                )
            except ElasticsearchError as error:
                if error.status == 404:  # a scroll id whose seal does not open
                    audited.tampered(request.get(AUDIT_KEY), authentication, request["route"])
                raise
            role = await self._security.roles.role_for(authentication)
            if clear_all and not role.allows_cluster(CLEAR_ALL_SCROLLS):
                raise ElasticsearchError(
                    403, "security_exception", denied_cluster(authentication, CLEAR_ALL_SCROLLS)
                )
        # The answer is rewritten: it must come plain.
        headers = engine_headers(request, drop=frozenset({"accept-encoding"}))
        upstream = await self._engine.request(request.method, path_qs, headers, body)
        async with upstream:
            raw = await upstream.read()
            kept = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
        return web.Response(
            status=upstream.status, body=seal.seal_response(raw, owner), headers=CIMultiDict(kept)
        )

    async def _forward_and_merge(self, request: Request, authorized: Authorized) -> Response:
        """Send the items that were allowed; put the denied ones back in the answer."""
        engine: dict[str, Any] | None = None
        if authorized.body is not None:
            upstream = await self._engine.request(
                request.method,
                authorized.path_qs or request.raw_path,
                engine_headers(request),
                authorized.body,
            )
            async with upstream:
                raw = await upstream.read()
                if upstream.status != 200:
                    return web.Response(
                        status=upstream.status, body=raw, content_type="application/json"
                    )
            engine = orjson.loads(raw)
        if authorized.bulk is not None:
            merged = merge_bulk_response(engine, authorized.bulk)
        elif authorized.mget is not None:
            merged = merge_mget_response(engine, authorized.mget)
        else:
            assert authorized.msearch is not None
            merged = merge_msearch_response(engine, authorized.msearch)
        return web.Response(body=orjson.dumps(merged), content_type="application/json")

    async def cluster_info(self, _: Request) -> web.Response:
        body = orjson.dumps(await self._info.body(), option=orjson.OPT_INDENT_2)
        # For HEAD the server sends the headers (with Content-Length) but no body.
        return web.Response(body=body, content_type="application/json")


def _uses_scroll_ids(request: Request) -> bool:
    """Scroll continuations and clears, and searches that start a scroll."""
    match: RouteMatch | None = request["route"]
    if match is None:
        return False
    if match.action in (SCROLL, CLEAR_SCROLL):
        return True
    return match.action == "indices:data/read/search" and "scroll" in request.query


def _may_change_metadata(request: Request, known: Callable[[str], bool]) -> bool:
    """Whether the engine's index metadata may have changed, so that wildcards must see it now:
    after index administration, and after a write that may have created an index. (A bulk
    whose items name unknown indices says so in `Authorized.creates_indices`.)"""
    if request.method in ("GET", "HEAD"):
        return False
    match: RouteMatch | None = request["route"]
    if match is None:
        return True
    action = match.action
    if action.startswith("indices:admin/"):
        return not action.startswith(("indices:admin/refresh", "indices:admin/flush"))
    if action.startswith("indices:data/write/") and match.route.index_param:
        return not all(known(name) for name in match.index_names)
    return False
