"""The request pipeline of one worker: every client request enters at `RestPipeline.handle`.

Today: read the body within limits, answer `GET /` locally, forward the rest to the engine.
Authentication, authorization and audit (issues #3, #4, #7) join here as stages.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiohttp import web

from bastion.backend.client import EngineClient, EngineUnavailable
from bastion.rest.errors import error_response
from bastion.rest.info import ClusterInfo
from bastion.rest.proxy import forward

log = logging.getLogger(__name__)


class RestPipeline:
    def __init__(
        self,
        engine: EngineClient,
        info: ClusterInfo,
        *,
        max_content_length: int,
        read_timeout: float,
    ) -> None:
        self._engine = engine
        self._info = info
        self._max_content_length = max_content_length
        self._read_timeout = read_timeout if read_timeout > 0 else None

    def _too_large(self, size: int | None) -> web.Response:
        limit = self._max_content_length
        return error_response(
            413,
            "content_too_long_exception",
            f"request body is too large: {size if size is not None else 'more than'} bytes "
            f"exceeds http.max_content_length [{limit}] bytes",
            max_content_length=limit,
        )

    async def _read_body(self, request: web.Request) -> bytes | None:
        if not request.body_exists:
            return None
        async with asyncio.timeout(self._read_timeout):
            return await request.read()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        declared = request.content_length
        if declared is not None and declared > self._max_content_length:
            return self._too_large(declared)
        try:
            body = await self._read_body(request)
        except web.HTTPRequestEntityTooLarge:
            return self._too_large(None)
        except TimeoutError:
            return error_response(
                408, "timeout_exception", "the request body was not received in time"
            )
        try:
            if request.path == "/" and request.method in ("GET", "HEAD"):
                return await self._cluster_info(request)
            return await forward(request, self._engine, body)
        except EngineUnavailable as error:
            log.warning("engine unavailable for %s %s: %s", request.method, request.path, error)
            return error_response(
                503,
                "engine_unavailable_exception",
                "the search engine behind Bastion is not reachable; retry shortly",
            )

    async def _cluster_info(self, _: web.Request) -> web.Response:
        body = orjson.dumps(await self._info.body(), option=orjson.OPT_INDENT_2)
        # aiohttp sends the headers (with Content-Length) but no body for HEAD.
        return web.Response(body=body, content_type="application/json")
