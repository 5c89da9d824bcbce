"""Forwarding a request to the engine and its response back to the client.

Hop-by-hop headers are dropped both ways, `X-Forwarded-For` gains the client's address,
`X-Opaque-Id` and every other end-to-end header pass unchanged, and Elasticsearch's REST
compatibility media types (`application/vnd.elasticsearch+json; compatible-with=8`) become the
plain types OpenSearch accepts. Small responses are read whole; large or unsized ones stream.
"""

from __future__ import annotations

import re

from aiohttp import web
from multidict import CIMultiDict

from bastion.backend.client import EngineClient
from bastion.transport.http import Request, Response, Streamed

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "expect",
    }
)
STREAM_ABOVE = 1 << 20  # responses larger than this (or unsized) are streamed
CHUNK = 64 << 10
_COMPAT = re.compile(r"application/vnd\.elasticsearch\+([a-z-]+)[^,]*", re.IGNORECASE)


def engine_media_type(value: str) -> str:
    """`application/vnd.elasticsearch+json; compatible-with=8` → `application/json`."""
    return _COMPAT.sub(r"application/\1", value) if "vnd.elasticsearch" in value else value


def engine_headers(request: Request) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP:
            continue
        compat = lower in ("content-type", "accept")
        headers.add(name, engine_media_type(value) if compat else value)
    peer = request.remote or ""
    previous = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{previous}, {peer}" if previous else peer
    return headers


async def forward(
    request: Request, engine: EngineClient, body: bytes | None, path_qs: str | None = None
) -> Response:
    """Send the request (with `path_qs` instead of the client's, when authorization narrowed
    it) to the engine and relay its answer. Raises `EngineUnavailable`."""
    upstream = await engine.request(
        request.method, path_qs or request.raw_path, engine_headers(request), body
    )
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP
    )
    size = upstream.content_length
    if size is not None and size <= STREAM_ABOVE and request.method != "HEAD":
        async with upstream:
            payload = await upstream.read()
        return web.Response(status=upstream.status, body=payload, headers=headers)
    # HEAD (which must keep the engine's Content-Length), large and unsized bodies.
    # Releasing gives the engine connection back, or closes it if the body was not all read.
    return Streamed(
        upstream.status, headers, size, upstream.content.iter_chunked(CHUNK), upstream.release
    )
