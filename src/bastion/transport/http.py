"""The gateway's HTTP/1.1 server: an `asyncio.Protocol` on httptools' C parser (llhttp).

It replaced aiohttp's server, whose per-request machinery cost several times the CPU of this
design (docs/performance.md has the figures). Handlers still return aiohttp's `web.Response`, as
a plain value (or a `Streamed` relay); the local APIs declare their routes with `route.get(...)`
and friends.

Requests on one connection are handled one at a time, in order (pipelining is allowed). A
handler reads the body with `await request.read()`; the server enforces the request line and
header limits, answers `Expect: 100-continue`, closes a connection idle for the idle timeout
(or still sending its headers by then) and a connection whose request body was not read to the
end, and relays streamed bodies with back-pressure.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, unquote

import httptools
import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

log = logging.getLogger(__name__)

# Set by this server, whatever a handler's response says.
MANAGED_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "server"}
)
_REASONS = {status.value: status.phrase for status in http.HTTPStatus}
# Official Elasticsearch clients refuse a server that does not send this header.
_PRODUCT_HEADER = "X-Elastic-Product: Elasticsearch\r\n"
_PRODUCT_HEADER_BYTES = _PRODUCT_HEADER.encode()
_SMALL_BODY = 64 << 10  # below this the head and the body go out in one write
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_KEPT_ESCAPES = re.compile("(%2[fF]|%25)")
_NO_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())  # read-only, so shared


class BodyTooLarge(Exception):
    """The request body exceeds `http.max_content_length`."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_initial_line_length: int
    max_header_size: int
    max_content_length: int
    idle_timeout: float  # seconds; 0 or less: never


@dataclass(slots=True)
class Streamed:
    """A response whose body is relayed as it arrives (large or unsized engine answers, HEAD);
    `release` is called once the body is sent or the client is gone."""

    status: int
    headers: CIMultiDict[str]
    length: int | None  # None: sent chunked
    chunks: AsyncIterator[bytes]
    release: Callable[[], None]


@dataclass(slots=True)
class Relayed:
    """An engine answer passed on whole: its status, its header lines as received (already
    without hop-by-hop and `MANAGED_HEADERS`) and its body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


Response = web.Response | Streamed | Relayed
Handler = Callable[["Request"], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    """A local API: `path` in aiohttp's syntax (`/_security/user/{username}`)."""

    method: str
    path: str
    handler: Handler


def get(path: str, handler: Handler) -> Route:
    return Route("GET", path, handler)


def put(path: str, handler: Handler) -> Route:
    return Route("PUT", path, handler)


def post(path: str, handler: Handler) -> Route:
    return Route("POST", path, handler)


def delete(path: str, handler: Handler) -> Route:
    return Route("DELETE", path, handler)


class Request:
    """The parts of aiohttp's `web.Request` that Bastion uses, over one parsed HTTP request."""

    __slots__ = (
        "_body",
        "_chunks",
        "_complete",
        "_expects_continue",
        "_lost",
        "_protocol",
        "_query",
        "_size",
        "_state",
        "_too_large",
        "_waiter",
        "body_exists",
        "content_length",
        "headers",
        "keep_alive",
        "match_info",
        "method",
        "raw_path",
        "remote",
        "transport",
    )

    def __init__(
        self,
        protocol: HttpProtocol,
        method: str,
        raw_path: str,
        headers: CIMultiDict[str],
        *,
        keep_alive: bool,
        chunked: bool,
    ) -> None:
        self._protocol = protocol
        self.method = method
        self.raw_path = raw_path
        self.headers = CIMultiDictProxy(headers)
        self.keep_alive = keep_alive
        self.transport: asyncio.Transport | None = protocol.transport
        self.remote: str | None = protocol.remote
        self.match_info: dict[str, str] = {}
        length = headers.get("Content-Length")
        self.content_length = int(length) if length is not None and length.isdigit() else None
        self.body_exists = chunked or bool(self.content_length)
        self._expects_continue = headers.get("Expect", "").lower() == "100-continue"
        self._state: dict[str, Any] = {}
        self._query: MultiDictProxy[str] | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._body: bytes | None = None
        self._complete = False
        self._too_large = False
        self._lost = False
        self._waiter: asyncio.Future[None] | None = None

    # the request's own state, as aiohttp's `request["key"]`

    def __getitem__(self, key: str) -> Any:
        return self._state[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        return self._state.get(key, default)

    # the URL

    @property
    def path(self) -> str:
        return unquote(self.raw_path.partition("?")[0])

    @property
    def query_string(self) -> str:
        return unquote(self.raw_path.partition("?")[2])

    @property
    def path_qs(self) -> str:
        raw = self.raw_path
        if "%" not in raw and not raw.endswith("?"):
            return raw  # the usual case: nothing to decode
        query = self.query_string
        return f"{self.path}?{query}" if query else self.path

    @property
    def query(self) -> MultiDictProxy[str]:
        if self._query is None:
            raw = self.raw_path.partition("?")[2]
            pairs = parse_qsl(raw, keep_blank_values=True) if raw else ()
            self._query = MultiDictProxy(MultiDict(pairs)) if pairs else _NO_QUERY
        return self._query

    # the body

    @property
    def body_received(self) -> bool:
        """Whether the whole body has arrived, so that `read` will not wait."""
        return self._complete

    async def read(self) -> bytes:
        """The whole body (cached). Raises `BodyTooLarge`."""
        if self._body is None:
            if not self._complete:
                if self._lost:
                    raise ConnectionResetError("the client closed the connection")
                if self._expects_continue:
                    self._expects_continue = False
                    self._protocol.write(_CONTINUE)
                self._waiter = asyncio.get_running_loop().create_future()
                self._protocol.resume_reading()
                await self._waiter
            if self._too_large:
                raise BodyTooLarge
            self._body = b"".join(self._chunks)
            self._chunks = []
        return self._body

    def _feed(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._protocol.limits.max_content_length:
            self._too_large = True
            self._chunks = []
        else:
            self._chunks.append(data)

    def _finish(self) -> None:
        self._complete = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _abandon(self) -> None:
        """The connection closed before the body ended."""
        self._lost = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionResetError("the client closed the connection"))


class _ProtocolError(Exception):
    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self.limits = server.limits
        self.transport: asyncio.Transport | None = None
        self.remote: str | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._queue: collections.deque[Request] = collections.deque()
        self._receiving: Request | None = None
        self._serving = False
        self._closed = False
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._error: _ProtocolError | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._idle_since: float | None = None  # None while a request is being received or served
        self._writable: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._next: asyncio.Future[None] | None = None  # the serving task waits on it when idle

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Kept: `asyncio.get_running_loop()` makes a getpid() system call each time.
        self._loop = asyncio.get_running_loop()
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self._server.connections.add(self)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self._error is not None:
            return  # a broken request stream: the rest is ignored until the connection closes
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            self._broken(self._error or _ProtocolError("bad_request", "malformed request"))
        except httptools.HttpParserUpgrade:
            self._broken(_ProtocolError("bad_request", "protocol upgrades are not supported"))
        except httptools.HttpParserError as error:
            self._broken(_ProtocolError("bad_request", f"malformed HTTP request: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._server.connections.discard(self)
        self._cancel_idle()
        if self._receiving is not None:
            self._receiving._abandon()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._wake_server()

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url
        # The request line is the method, the URL and `HTTP/1.1`.
        if len(self._url) + 16 > self.limits.max_initial_line_length:
            self._error = _ProtocolError(
                "too_long_http_line_exception",
                f"An HTTP line is larger than {self.limits.max_initial_line_length} bytes.",
            )
            raise self._error

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) + 2 > self.limits.max_header_size:
            self._error = _ProtocolError(
                "too_long_http_header_exception",
                f"HTTP header is larger than {self.limits.max_header_size} bytes.",
            )
            raise self._error
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._idle_since = None  # busy until answered
        parser = self._parser
        headers: CIMultiDict[str] = CIMultiDict(
            [  # a list: twice as fast as a generator here
                (name.decode("latin-1"), value.decode("utf-8", "surrogateescape"))
                for name, value in self._headers
            ]
        )
        self._headers = []
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        request = Request(
            self,
            parser.get_method().decode("ascii", "replace"),
            self._url.decode("utf-8", "surrogateescape"),
            headers,
            keep_alive=parser.should_keep_alive() and not self._server.stopping,
            chunked=chunked,
        )
        self._receiving = request
        self._queue.append(request)
        if not self._serving:
            self._serving = True
            if self._next is None:
                self._loop.create_task(self._serve())
            else:
                self._wake_server()
        elif len(self._queue) > 1:
            self._pause_reading()  # a pipelining client waits while earlier requests run

    def on_body(self, data: bytes) -> None:
        if self._receiving is not None:
            self._receiving._feed(data)

    def on_message_complete(self) -> None:
        if self._receiving is not None:
            self._receiving._finish()
            self._receiving = None

    # serving

    async def _serve(self) -> None:
        """Answer the queued requests in order, then wait for the next one: one task for the
        connection's life, since a task per request costs a Task and its registration."""
        while True:
            try:
                while self._queue and not self._closed:
                    request = self._queue[0]
                    response = await self._server.respond(request)
                    # A body left unread (or still arriving) cannot be skipped safely: close.
                    keep_alive = (
                        request.keep_alive and request._complete and not self._server.stopping
                    )
                    if isinstance(response, Streamed):
                        head_only = request.method == "HEAD"
                        await self._write_streamed(response, keep_alive, head_only)
                    else:
                        self._write_response(request, response, keep_alive)
                    self._queue.popleft()
                    if not keep_alive:
                        self._close()
                        return
                    self.resume_reading()
            except ConnectionResetError:  # the client left while its body was arriving
                self._close()
            except Exception:  # a bug must cost this connection, not the worker
                log.exception("failed to answer a request")
                self._close()
            finally:
                self._serving = False
            if self._error is not None and not self._closed:
                self._answer_error(self._error)
            if self._closed:
                return
            self._arm_idle()
            self._next = self._loop.create_future()
            await self._next  # set by the next request's headers, or when the connection ends

    def _wake_server(self) -> None:
        waiting, self._next = self._next, None
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    def _write_response(
        self, request: Request, response: web.Response | Relayed, keep: bool
    ) -> None:
        head_only = request.method == "HEAD"
        if isinstance(response, Relayed):
            body = response.body
            head = encode_relayed_head(response.status, response.headers, len(body), keep)
        else:
            body = _body_bytes(response)
            head = encode_head(response.status, response.reason, response.headers, len(body), keep)
        if head_only or not body:
            self.write(head)
        elif len(body) < _SMALL_BODY:
            self.write(head + body)
        else:
            self.write(head)
            self.write(body)

    async def _write_streamed(self, response: Streamed, keep: bool, head_only: bool) -> None:
        chunked = response.length is None and not head_only
        reason = _reason(response.status)
        self.write(encode_head(response.status, reason, response.headers, response.length, keep))
        try:
            if head_only:
                return
            async for chunk in response.chunks:
                if self._closed:
                    return
                if chunked:
                    self.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunk else b"")
                else:
                    self.write(chunk)
                if self._writable is not None and not self._writable.done():
                    await self._writable
            if chunked:
                self.write(b"0\r\n\r\n")
        except Exception as error:  # the engine failed mid-body: the client sees a cut
            log.warning("relaying a response failed: %r", error)
            self._close()
        finally:
            response.release()

    def write(self, data: bytes) -> None:
        if not self._closed and self.transport is not None:
            self.transport.write(data)

    def resume_reading(self) -> None:
        if self._paused_reading and self.transport is not None and not self._closed:
            self._paused_reading = False
            self.transport.resume_reading()

    def _pause_reading(self) -> None:
        if not self._paused_reading and self.transport is not None:
            self._paused_reading = True
            self.transport.pause_reading()

    def _broken(self, error: _ProtocolError) -> None:
        self._error = error
        if self._receiving is not None:
            self._receiving._abandon()
            self._receiving = None
        if not self._serving:
            self._answer_error(error)

    def _answer_error(self, error: _ProtocolError) -> None:
        body = error_body(400, error.error_type, error.reason)
        headers = CIMultiDict({"Content-Type": "application/json"})
        self.write(encode_head(400, "Bad Request", headers, len(body), False) + body)
        self._close()

    def _close(self) -> None:
        if not self._closed and self.transport is not None:
            self._closed = True
            self.transport.close()
        self._wake_server()

    def close_if_idle(self) -> bool:
        if not self._serving:
            self._close()
        return self._closed

    def _arm_idle(self) -> None:
        """Idle from now on. The one timer is moved when it fires, not at every request."""
        timeout = self.limits.idle_timeout
        if timeout <= 0:
            return
        self._idle_since = self._loop.time()
        if self._idle is None:
            self._idle = self._loop.call_later(timeout, self._idle_expired)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_expired(self) -> None:
        self._idle = None
        if self._serving or self._idle_since is None:
            return  # busy: armed again when it goes idle
        left = self._idle_since + self.limits.idle_timeout - self._loop.time()
        if left > 0:
            self._idle = self._loop.call_later(left, self._idle_expired)
        else:
            self._close()


def error_body(status: int, error_type: str, reason: str) -> bytes:
    cause = {"type": error_type, "reason": reason}
    return orjson.dumps({"error": {"root_cause": [cause], **cause}, "status": status})


def encode_head(
    status: int, reason: str, headers: Iterable[Any], length: int | None, keep_alive: bool
) -> bytes:
    """The status line and headers; Content-Length (or chunked) and Connection are the server's."""
    items = headers.items() if hasattr(headers, "items") else headers
    lines = [f"{name}: {value}\r\n" for name, value in items if name.lower() not in MANAGED_HEADERS]
    lines.append(_PRODUCT_HEADER)
    lines.append(
        "Transfer-Encoding: chunked\r\n" if length is None else f"Content-Length: {length}\r\n"
    )
    if not keep_alive:
        lines.append("Connection: close\r\n")
    text = "".join(lines)
    # A CR or LF inside a name or value would let it split the response.
    if text.count("\n") != len(lines) or text.count("\r") != len(lines):
        raise ValueError("a response header contains a line break")
    return f"HTTP/1.1 {status} {reason}\r\n{text}\r\n".encode("utf-8", "surrogateescape")


def _body_bytes(response: web.Response) -> bytes:
    body = response.body
    if isinstance(body, bytes):
        return body
    return b"" if body is None else bytes(body)  # type: ignore[arg-type]


def encode_relayed_head(
    status: int, headers: list[tuple[bytes, bytes]], length: int, keep_alive: bool
) -> bytes:
    """`encode_head` for header lines that llhttp parsed (so free of line breaks)."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, _reason(status).encode("ascii"))]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts += (_PRODUCT_HEADER_BYTES, b"Content-Length: %d\r\n" % length)
    parts.append(b"\r\n" if keep_alive else b"Connection: close\r\n\r\n")
    return b"".join(parts)


def _reason(status: int) -> str:
    return _REASONS.get(status, "Unknown")


class Router:
    """The local routes (in order: the first match wins) and the
    handler for everything else. Paths match as aiohttp matches them: percent-decoded except
    `%2F` and `%25`, each `{name}` a whole segment, `{name:regex}` a regex; a GET route also
    answers HEAD."""

    def __init__(self, routes: Iterable[Route], fallback: Handler) -> None:
        self._fallback = fallback
        # Indexed by the first path segment, so a forwarded request tries few patterns.
        self._by_segment: dict[str, list[tuple[str, re.Pattern[str], Handler]]] = {}
        for route in routes:
            first = route.path.lstrip("/").split("/", 1)[0]
            if "{" in first:
                raise ValueError(f"a local route must start with a fixed segment: {route.path}")
            methods = {route.method, "HEAD"} if route.method == "GET" else {route.method}
            pattern = _compile(route.path)
            for method in methods:
                entry = (method, pattern, route.handler)
                self._by_segment.setdefault(first, []).append(entry)

    def resolve(self, method: str, raw_path: str) -> tuple[Handler, dict[str, str]]:
        path = raw_path.partition("?")[0]
        first = path[1:].split("/", 1)[0]
        candidates = self._by_segment.get(unquote(first))
        if candidates:
            safe = "".join(
                part if i % 2 else unquote(part) for i, part in enumerate(_KEPT_ESCAPES.split(path))
            )
            for route_method, pattern, handler in candidates:
                if route_method not in (method, "*"):
                    continue
                matched = pattern.fullmatch(safe)
                if matched is not None:
                    return handler, {k: unquote(v) for k, v in matched.groupdict().items()}
        return self._fallback, {}


def _compile(path: str) -> re.Pattern[str]:
    parts = []
    for literal, name, regex in re.findall(r"([^{]*)(?:\{(\w+)(?::([^}]+))?\})?", path):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>{regex or '[^{}/]+'})")
    return re.compile("".join(parts))


class HttpServer:
    """The protocol factory of one worker, and its connections for a graceful stop."""

    def __init__(
        self,
        limits: Limits,
        router: Router,
        middleware: Callable[[Request, Handler], Awaitable[Response]],
    ) -> None:
        self.limits = limits
        self.connections: set[HttpProtocol] = set()
        self.stopping = False
        self._router = router
        self._middleware = middleware

    def __call__(self) -> HttpProtocol:
        return HttpProtocol(self)

    async def respond(self, request: Request) -> Response:
        handler, request.match_info = self._router.resolve(request.method, request.raw_path)
        try:
            return await self._middleware(request, handler)
        except ConnectionResetError:
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return web.Response(
                status=500,
                body=error_body(500, "exception", "an internal error occurred; see the log"),
                content_type="application/json",
            )

    async def shutdown(self, grace: float) -> None:
        """Close idle connections; give requests in flight `grace` seconds, then close all."""
        self.stopping = True
        deadline = asyncio.get_running_loop().time() + grace
        while asyncio.get_running_loop().time() < deadline:
            busy = [c for c in list(self.connections) if not c.close_if_idle()]
            if not busy:
                break
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            with contextlib.suppress(Exception):
                connection._close()
