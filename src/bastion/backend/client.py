"""A pooled HTTP/1.1 keep-alive client for the engine nodes, shared by every request of one worker.

It is an `asyncio.Protocol` with httptools' C parser (llhttp) rather than aiohttp's
`ClientSession`, which spent about three times the CPU per request and was a large part of the
gateway's own cost (docs/backend.md has the figures and the behaviour in detail).
"""

from __future__ import annotations

import asyncio
import collections
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import orjson
from multidict import CIMultiDict

# RFC 9110 §9.2.2: sending these twice has the effect of sending them once.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_HEADER_BYTES = 64 << 10  # a status line and headers larger than this are refused
_HIGH_WATER = 256 << 10  # stop reading from the engine while this much body waits for the reader
_LOW_WATER = 64 << 10
_SMALL_BODY = 64 << 10  # below this the head and the body go out in one write
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_NO_BODY_STATUS = frozenset({204, 304})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NAME_MISMATCH = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


class EngineUnavailable(Exception):
    """No engine node accepted the request; the gateway answers 503."""


class EngineTLSError(EngineUnavailable):
    """The TLS handshake with the engine failed: a configuration problem, not an outage."""


class _Stale(Exception):
    """The connection closed before any byte of the response arrived."""


@dataclass(slots=True)
class _Node:
    url: str
    host: str
    port: int
    host_header: bytes
    context: ssl.SSLContext | None
    idle: list[_Connection] = field(default_factory=list)

    @classmethod
    def parse(cls, url: str, context: ssl.SSLContext | None) -> _Node:
        parts = urlsplit(url)
        secure = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        if secure and context is None:
            context = ssl.create_default_context()
        name = f"[{host}]" if ":" in host else host
        host_header = f"{name}:{parts.port}" if parts.port else name
        return cls(url, host, port, host_header.encode("idna"), context if secure else None)

    def take_idle(self) -> _Connection | None:
        while self.idle:
            connection = self.idle.pop()  # the most recent is the least likely to be timed out
            if connection.usable:
                return connection
            connection.abort()
        return None


class ResponseBody:
    """The body as it arrives; reading pauses the engine connection when the reader lags."""

    __slots__ = ("_chunks", "_connection", "_done", "_error", "_size", "_waiter")

    def __init__(self, connection: _Connection) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._done = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._connection = connection

    @property
    def done(self) -> bool:
        return self._done

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > _HIGH_WATER:
            self._connection.pause()
        self._wake()

    def _finish(self) -> None:
        self._done = True
        self._wake()

    def _fail(self, error: Exception) -> None:
        if not self._done:
            self._error = error
            self._done = True
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def readany(self) -> bytes:
        """The next bytes received, or b"" at the end of the body."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._size -= len(data)
        if self._size < _LOW_WATER:
            self._connection.resume()
        return data

    async def read(self) -> bytes:
        """The whole body."""
        if self._done and self._error is None:
            data = b"".join(self._chunks)
            self._chunks.clear()
            self._size = 0
            return data
        parts = []
        while data := await self.readany():
            parts.append(data)
        return b"".join(parts)

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        """The body in pieces of at most `size` bytes, as they arrive."""
        while data := await self.readany():
            for start in range(0, len(data), size):
                yield data[start : start + size]


class EngineResponse:
    """Status and headers of an engine response; the body is read from `content`. Use it as an
    async context manager: leaving it gives the connection back (or closes it if unfinished).
    `raw_headers` are as received (llhttp refuses a line break inside a name or value)."""

    __slots__ = (
        "_client",
        "_connection",
        "_headers",
        "content",
        "content_length",
        "raw_headers",
        "status",
    )

    def __init__(
        self,
        status: int,
        raw_headers: list[tuple[bytes, bytes]],
        content_length: int | None,
        connection: _Connection,
        client: EngineClient,
    ) -> None:
        self.status = status
        self.raw_headers = raw_headers
        self._headers: CIMultiDict[str] | None = None
        self.content_length = content_length
        self.content = ResponseBody(connection)
        self._connection: _Connection | None = connection
        self._client = client

    @property
    def headers(self) -> CIMultiDict[str]:
        if self._headers is None:
            self._headers = CIMultiDict(
                (name.decode("latin-1"), value.decode("utf-8", "surrogateescape"))
                for name, value in self.raw_headers
            )
        return self._headers

    async def read(self) -> bytes:
        return await self.content.read()

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client._give_back(connection, reusable=self.content.done)

    async def __aenter__(self) -> EngineResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class _Connection(asyncio.Protocol):
    """One keep-alive connection to one node, carrying one request at a time."""

    def __init__(self, node: _Node, client: EngineClient) -> None:
        self.node = node
        self._client = client
        # Kept: `asyncio.get_running_loop()` makes a getpid() system call each time.
        self.loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._closed = False
        self._paused = False
        self._parser: httptools.HttpResponseParser | None = None
        self._waiter: asyncio.Future[EngineResponse] | None = None
        self._response: EngineResponse | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0  # when the request in flight times out
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._header_bytes = 0
        self._received = False
        self._no_body = False
        self._keep_alive = False
        self._until_close = False

    @property
    def usable(self) -> bool:
        """Open, idle and not told by the engine to close."""
        transport = self._transport
        return not self._closed and transport is not None and not transport.is_closing()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            self.abort()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self._received = True
        waiting = self._response is None
        if waiting:
            self._head_bytes += len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(EngineUnavailable(f"{self.node.url}: malformed response ({error})"))
            return
        if waiting and self._response is None and self._head_bytes > MAX_HEADER_BYTES:
            self._fail(self._oversized())

    def _oversized(self) -> EngineUnavailable:
        message = f"response headers larger than {MAX_HEADER_BYTES} bytes"
        return EngineUnavailable(f"{self.node.url}: {message}")

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost settles the request

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        response = self._response
        if self._waiter is not None and not self._waiter.done():
            self._fail(self._lost_error(exc))
        elif response is not None and not response.content.done:
            if self._until_close and exc is None:
                self._complete()  # a body delimited by the end of the connection
            else:
                self._fail(EngineUnavailable(f"{self.node.url}: connection lost mid-response"))
        self._cancel_timer()

    def _lost_error(self, exc: Exception | None) -> Exception:
        if isinstance(exc, ssl.SSLError):
            return _tls_error(self.node.url, exc)
        if not self._received:
            return _Stale()
        return EngineUnavailable(f"{self.node.url}: the engine closed the connection")

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))
        self._header_bytes += len(name) + len(value)

    def on_headers_complete(self) -> None:
        parser, waiter = self._parser, self._waiter
        if parser is None or waiter is None:
            return  # the request already failed; the rest of this input is ignored
        if self._response is not None:
            self._keep_alive = False  # a second answer to one request: do not reuse
            return
        if self._header_bytes > MAX_HEADER_BYTES:
            self._fail(self._oversized())
            return
        status = parser.get_status_code()
        if status < 200:
            self._raw_headers.clear()  # an interim 1xx answer; the real one follows
            return
        raw, self._raw_headers = self._raw_headers, []
        size: int | None = None
        chunked = False
        for name, value in raw:
            lower = name.lower()
            if lower == b"content-length":
                size = int(value) if value.isdigit() else None
            elif lower == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        self._keep_alive = parser.should_keep_alive()
        self._until_close = size is None and not chunked
        response = EngineResponse(status, raw, size, self, self._client)
        self._response = response
        if not waiter.done():
            waiter.set_result(response)
        if self._no_body or status in _NO_BODY_STATUS:
            # llhttp cannot be told that a HEAD answer has no body; end the message here.
            self._until_close = False
            self._complete()

    def on_body(self, data: bytes) -> None:
        response = self._response
        if response is None or response.content.done:
            self._keep_alive = False  # bytes after a bodiless answer: do not reuse
            return
        response.content._feed(data)

    def on_message_complete(self) -> None:
        response = self._response
        if response is not None and not response.content.done:
            self._complete()

    # the client's side

    async def send(
        self, head: bytes, body: bytes | None, no_body: bool, deadline: float
    ) -> EngineResponse:
        """Write one request and wait for the status line and headers."""
        transport = self._transport
        assert transport is not None
        loop = self.loop
        self._parser = httptools.HttpResponseParser(self)
        self._response = None
        self._received = False
        self._raw_headers.clear()  # left by bytes after the last answer, if any
        self._head_bytes = 0
        self._header_bytes = 0
        self._no_body = no_body
        waiter: asyncio.Future[EngineResponse] = loop.create_future()
        self._waiter = waiter
        # One timer per connection, moved only when it fires early (cheaper than one per request).
        self._deadline = deadline
        if self._timer is None or deadline < self._timer.when():
            self._cancel_timer()
            self._timer = loop.call_at(deadline, self._on_timeout)
        if body is None:
            transport.write(head)
        elif len(body) < _SMALL_BODY:
            transport.write(head + body)
        else:
            transport.writelines((head, body))
        try:
            return await waiter
        except asyncio.CancelledError:
            self.abort()  # the answer would arrive for nobody and desynchronise the connection
            raise
        finally:
            self._waiter = None

    def _complete(self) -> None:
        self._parser = None  # the timer stays: the next request may use it
        if self._paused:
            self.resume()
        if self._response is not None:
            self._response.content._finish()

    def _fail(self, error: Exception) -> None:
        self._cancel_timer()
        self._parser = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        elif self._response is not None:
            self._response.content._fail(error)
        self.abort()

    def _on_timeout(self) -> None:
        self._timer = None
        if self._parser is None:
            return  # no request in flight
        if self.loop.time() < self._deadline:  # set for an earlier request
            self._timer = self.loop.call_at(self._deadline, self._on_timeout)
            return
        self._fail(EngineUnavailable(f"{self.node.url}: no response within the time limit"))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def reusable(self) -> bool:
        return self._keep_alive and self._parser is None and self.usable

    def pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self._transport is not None and not self._closed:
            self._paused = False
            self._transport.resume_reading()

    def abort(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.abort()


def _tls_error(url: str, error: ssl.SSLError) -> EngineTLSError:
    """A message that names the problem and the setting that fixes it."""
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = error.verify_message or str(error)
        if error.verify_code in _NAME_MISMATCH:
            fix = (
                "use a host name the certificate names in bastion.backend.hosts, or set "
                "bastion.backend.ssl.verification_mode to [certificate]"
            )
        else:
            fix = (
                "add the certificate authority that signed it to "
                "bastion.backend.ssl.certificate_authorities"
            )
        return EngineTLSError(f"{url}: the engine's certificate does not verify ({reason}); {fix}")
    reason = error.reason or str(error)
    if "CERTIFICATE_REQUIRED" in reason or "BAD_CERTIFICATE" in reason:
        return EngineTLSError(
            f"{url}: the engine refused the TLS connection ({reason}); it wants a client "
            "certificate that it trusts: set bastion.backend.ssl.certificate and "
            "bastion.backend.ssl.key"
        )
    return EngineTLSError(f"{url}: TLS handshake with the engine failed ({reason})")


def _refused_tls(url: str) -> EngineTLSError:
    # With TLS 1.3 a server checks the client certificate after the handshake; asyncio reports
    # its refusal as a plain close, so a new TLS connection closed unanswered is taken for it.
    return EngineTLSError(
        f"{url}: the engine closed the TLS connection without answering, as an engine that "
        "requires a client certificate does when it gets none or one it does not trust: check "
        "bastion.backend.ssl.certificate and bastion.backend.ssl.key"
    )


def _encode_headers(headers: Mapping[str, str]) -> bytes:
    """Header lines for `EngineClient.request`, without the ones the client sets itself."""
    lines = [
        f"{name}: {value}\r\n"
        for name, value in headers.items()
        if name.lower() not in _OWN_HEADERS
    ]
    text = "".join(lines)
    # A CR or LF inside a name or value would let it smuggle headers or a second request.
    if text.count("\n") != len(lines) or text.count("\r") != len(lines):
        raise ValueError("a header name or value contains a line break")
    return text.encode("utf-8", "surrogateescape")


class _Slots:
    """How many more requests may be in flight. A free slot is taken without a coroutine, where
    `asyncio.Semaphore.acquire` costs a coroutine and a generator every time."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def take_now(self) -> bool:
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def take(self) -> None:
        """Wait for the slot that `give` hands over."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give()  # handed over just as the caller gave up: pass it on
            raise

    def give(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled caller's is skipped
                waiter.set_result(None)
                return
        self._free += 1


class EngineClient:
    """Sends requests round-robin to the engine nodes over pooled keep-alive connections.

    A node that refuses the connection is skipped (nothing was sent to it, so trying the next one
    is safe for any method). A pooled connection that the engine closed while it was idle is
    retried once on a fresh one, for idempotent methods only: the request may have arrived.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        max_connections: int,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not urls:
            raise ValueError("the engine client needs at least one URL")
        self._urls = tuple(urls)
        self._nodes = tuple(_Node.parse(url, ssl_context) for url in self._urls)
        self._turn = 0
        self._max_connections = max_connections
        self._timeout = timeout if timeout > 0 else 1e9
        self._slots = _Slots(max_connections)
        # Told of each of Bastion's own requests (`json`), for the audit's system access events.
        self.observer: Callable[[str, str], None] | None = None

    @property
    def urls(self) -> tuple[str, ...]:
        return self._urls

    async def request(
        self,
        method: str,
        path_qs: str,
        headers: Mapping[str, str] | CIMultiDict[str] | bytes,
        body: bytes | None,
    ) -> EngineResponse:
        """Send one request; the caller reads and releases the response (`async with`).
        `headers` may come encoded already, as `rest.proxy.engine_headers` makes them."""
        if " " in path_qs or "\r" in path_qs or "\n" in path_qs:
            raise ValueError("the path contains a space or a line break")
        size = len(body) if body is not None else (0 if method in _BODY_METHODS else None)
        head = headers if isinstance(headers, bytes) else _encode_headers(headers)
        head += b"\r\n" if size is None else b"Content-Length: %d\r\n\r\n" % size
        line = f"{method} {path_qs} HTTP/1.1\r\n".encode("utf-8", "surrogateescape")
        if not self._slots.take_now():
            await self._slots.take()
        try:
            return await self._send(method, line, head, body)
        except BaseException:
            self._slots.give()
            raise

    async def _send(
        self, method: str, line: bytes, head: bytes, body: bytes | None
    ) -> EngineResponse:
        # Read from a pooled connection's loop when there is one: get_running_loop() costs a
        # getpid() system call.
        deadline: float | None = None
        failures: list[str] = []
        # Each request starts at the next node and then tries every node once, in order (a
        # shared iterator would let concurrent requests skip nodes).
        start, count = self._turn, len(self._nodes)
        self._turn = (start + 1) % count
        for offset in range(count):
            node = self._nodes[(start + offset) % count]
            retried = False
            while True:
                connection = node.take_idle()
                reused = connection is not None
                if connection is None:
                    if deadline is None:
                        deadline = asyncio.get_running_loop().time() + self._timeout
                    try:
                        connection = await self._connect(node, deadline)
                    except EngineTLSError:
                        raise
                    except TimeoutError:
                        late = f"{node.url}: no connection within the time limit"
                        raise EngineUnavailable(late) from None
                    except OSError as error:
                        reason = os.strerror(error.errno) if error.errno else str(error)
                        failures.append(f"{node.url}: {reason}")
                        break
                if deadline is None:
                    deadline = connection.loop.time() + self._timeout
                request = line + b"Host: " + node.host_header + b"\r\n" + head
                try:
                    return await connection.send(request, body, method == "HEAD", deadline)
                except _Stale:
                    if reused and not retried and method in IDEMPOTENT:
                        retried = True
                        continue
                    if not reused and node.context is not None:
                        raise _refused_tls(node.url) from None
                    raise EngineUnavailable(
                        f"{node.url}: the engine closed the connection"
                    ) from None
        raise EngineUnavailable("; ".join(failures))

    async def _connect(self, node: _Node, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                _, connection = await loop.create_connection(
                    lambda: _Connection(node, self),
                    node.host,
                    node.port,
                    ssl=node.context,
                    server_hostname=node.host if node.context is not None else None,
                )
        except ssl.SSLError as error:
            raise _tls_error(node.url, error) from None
        return connection

    def _give_back(self, connection: _Connection, *, reusable: bool) -> None:
        self._slots.give()
        node = connection.node
        if reusable and connection.reusable() and len(node.idle) < self._max_connections:
            node.idle.append(connection)
        else:
            connection.abort()

    async def get_json(self, path: str) -> Any:
        status, body = await self.json("GET", path)
        if status != 200:
            raise EngineUnavailable(f"GET {path} answered {status}")
        return body

    async def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A JSON request of Bastion's own (security store, cluster info): status and body."""
        if self.observer is not None:
            self.observer(method, path)
        payload = None if body is None else orjson.dumps(body)
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        response = await self.request(method, path, headers, payload)
        async with response:
            raw = await response.read()
        return response.status, orjson.loads(raw) if raw else None

    async def close(self) -> None:
        for node in self._nodes:
            while node.idle:
                node.idle.pop().abort()
