"""Forwarding a request to the engine and its response back to the client.

Hop-by-hop headers are dropped both ways, and the client's credentials (`Authorization`, the
run-as and secondary authorization headers) on the way in. `X-Forwarded-For` gains the
client's address, `X-Opaque-Id` and every other end-to-end header pass unchanged, and
Elasticsearch's REST compatibility media types (`application/vnd.elasticsearch+json;
compatible-with=8`) become the plain types OpenSearch accepts. Small responses are read whole;
large or unsized ones stream.
"""

from __future__ import annotations

import re

from multidict import CIMultiDict

from bastion.authc.service import RUN_AS_HEADER
from bastion.backend.client import EngineClient
from bastion.transport.http import MANAGED_HEADERS, Relayed, Request, Response, Streamed

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
# The client's credentials: Bastion has checked them, and the engine is not to see them (it
# may log headers, and an external one may be run by others). Dropped from every request.
CREDENTIALS = frozenset({"authorization", RUN_AS_HEADER, "es-secondary-authorization"})
_NOT_FORWARDED = HOP_BY_HOP | CREDENTIALS
# Dropped from a relayed answer: hop-by-hop, and what the gateway's server sets itself.
_NOT_RELAYED = frozenset(name.encode() for name in HOP_BY_HOP | MANAGED_HEADERS)
STREAM_ABOVE = 1 << 20  # responses larger than this (or unsized) are streamed
CHUNK = 64 << 10
_COMPAT = re.compile(r"application/vnd\.elasticsearch\+([a-z-]+)[^,]*", re.IGNORECASE)


def engine_media_type(value: str) -> str:
    """`application/vnd.elasticsearch+json; compatible-with=8` → `application/json`."""
    return _COMPAT.sub(r"application/\1", value) if "vnd.elasticsearch" in value else value


def engine_headers(request: Request, drop: frozenset[str] = frozenset()) -> bytes:
    """The client's end-to-end headers but its credentials (and any in `drop`, lower case, left
    out), with `X-Forwarded-For` extended, encoded for `EngineClient.request`. The names and
    values come from llhttp, which refuses a line break inside either."""
    lines = []
    previous = None
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in _NOT_FORWARDED or lower in drop:
            continue
        if lower == "x-forwarded-for":
            previous = previous or value
            continue
        compat = lower in ("content-type", "accept")
        lines.append(f"{name}: {engine_media_type(value) if compat else value}\r\n")
    peer = request.remote or ""
    lines.append(
        f"X-Forwarded-For: {previous}, {peer}\r\n" if previous else f"X-Forwarded-For: {peer}\r\n"
    )
    return "".join(lines).encode("utf-8", "surrogateescape")


async def forward(
    request: Request, engine: EngineClient, body: bytes | None, path_qs: str | None = None
) -> Response:
    """Send the request (with `path_qs` instead of the client's, when authorization narrowed
    it) to the engine and relay its answer. Raises `EngineUnavailable`."""
    upstream = await engine.request(
        request.method, path_qs or request.raw_path, engine_headers(request), body
    )
    size = upstream.content_length
    if size is not None and size <= STREAM_ABOVE and request.method != "HEAD":
        try:
            payload = await upstream.content.read()
        finally:
            upstream.release()
        kept = [(k, v) for k, v in upstream.raw_headers if k.lower() not in _NOT_RELAYED]
        return Relayed(upstream.status, kept, payload)
    # HEAD (which must keep the engine's Content-Length), large and unsized bodies.
    # Releasing gives the engine connection back, or closes it if the body was not all read.
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP
    )
    return Streamed(
        upstream.status, headers, size, upstream.content.iter_chunked(CHUNK), upstream.release
    )
