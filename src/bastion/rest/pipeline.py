"""The request pipeline of one worker: every client request passes `RestPipeline.middleware`.

In order: the body is read within limits → restricted indices are refused → the request is
authenticated (`request["authentication"]`) → the matched handler runs: a local `_security` API,
`GET /`, or forwarding to the engine. Authorization and audit (issues #4, #7) join here.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from bastion.authc.service import BASIC_CHALLENGE, RUN_AS_HEADER, AuthenticationError
from bastion.backend.client import EngineClient, EngineUnavailable
from bastion.rest.errors import ElasticsearchError, error_response
from bastion.rest.info import ClusterInfo
from bastion.rest.proxy import forward
from bastion.security import Security
from bastion.store.security_index import StoreError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Until authorization (issue #4) resolves index expressions, any request that could name one of
# Bastion's own indices is refused: by name, by a wildcard that could match one, in a
# multi-target body, or by asking wildcards to expand to hidden indices.
RESTRICTED_PROBES = (".bastion-security", ".bastion-tokens", ".bastion-sessions", ".bastion-audit")
_BODY_TARGETS = ("_bulk", "_mget", "_msearch", "_reindex", "_aliases", "_restore", "_template")


def names_restricted_index(path: str, query: str, body: bytes | None) -> bool:
    lowered = path.lower()
    if ".bastion" in lowered or ".bastion" in query.lower():
        return True
    first = lowered.lstrip("/").split("/", 1)[0]
    for expression in first.split(","):
        pattern = expression.lstrip("-")
        if any(c in pattern for c in "*?") and any(
            fnmatch.fnmatchcase(probe, pattern) for probe in RESTRICTED_PROBES
        ):
            return True
    if "hidden" in query.lower() or "expand_wildcards=all" in query.lower():
        return True
    if not body or not any(target in lowered for target in _BODY_TARGETS):
        return False
    return b".bastion" in body.lower()


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

    def _too_large(self, size: int | None) -> ElasticsearchError:
        limit = self._max_content_length
        return ElasticsearchError(
            413,
            "content_too_long_exception",
            f"request body is too large: {size if size is not None else 'more than'} bytes "
            f"exceeds http.max_content_length [{limit}] bytes",
            max_content_length=limit,
        )

    async def _read_body(self, request: web.Request) -> bytes | None:
        declared = request.content_length
        if declared is not None and declared > self._max_content_length:
            raise self._too_large(declared)
        if not request.body_exists:
            return None
        try:
            async with asyncio.timeout(self._read_timeout):
                return await request.read()  # aiohttp keeps it for the handler
        except web.HTTPRequestEntityTooLarge:
            raise self._too_large(None) from None
        except TimeoutError:
            raise ElasticsearchError(
                408, "timeout_exception", "the request body was not received in time"
            ) from None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            body = await self._read_body(request)
            if names_restricted_index(request.path, request.query_string, body):
                raise ElasticsearchError(
                    403,
                    "security_exception",
                    f"the request [{request.method} {request.path}] names Bastion's restricted "
                    "indices [.bastion-*], or could expand to them",
                )
            request["authentication"] = await self._security.authc.authenticate(
                request.headers.get("Authorization"),
                request.headers.get(RUN_AS_HEADER),
                request.path_qs,
                request.remote,
            )
            return await handler(request)
        except ElasticsearchError as error:
            return error.response()
        except AuthenticationError as error:
            return self._authentication_failed(error)
        except web.HTTPMethodNotAllowed as error:
            allowed = ", ".join(sorted(error.allowed_methods))
            return error_response(
                405,
                "method_not_allowed",
                f"Incorrect HTTP method for uri [{request.path_qs}] and method "
                f"[{request.method}], allowed: [{allowed}]",
            )
        except (EngineUnavailable, StoreError) as error:
            log.warning("engine unavailable for %s %s: %s", request.method, request.path, error)
            return error_response(
                503,
                "engine_unavailable_exception",
                "the search engine behind Bastion is not reachable; retry shortly",
            )

    @staticmethod
    def _authentication_failed(error: AuthenticationError) -> web.Response:
        if error.status != 401:
            return error_response(error.status, "security_exception", error.reason)
        challenge = {"WWW-Authenticate": [BASIC_CHALLENGE]}
        return error_response(
            401,
            "security_exception",
            error.reason,
            headers={"WWW-Authenticate": BASIC_CHALLENGE},
            header=challenge,
        )

    async def forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.body_exists else None
        return await forward(request, self._engine, body)

    async def cluster_info(self, _: web.Request) -> web.Response:
        body = orjson.dumps(await self._info.body(), option=orjson.OPT_INDENT_2)
        # aiohttp sends the headers (with Content-Length) but no body for HEAD.
        return web.Response(body=body, content_type="application/json")
