"""The gateway's HTTP/1.1 server, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict

from bastion.transport.http import (
    BodyTooLarge,
    Handler,
    HttpServer,
    Limits,
    Request,
    Response,
    Router,
    Streamed,
    encode_head,
    get,
    post,
)

LIMITS = Limits(
    max_initial_line_length=256, max_header_size=512, max_content_length=1000, idle_timeout=0.5
)


async def echo(request: Request) -> Response:
    try:
        body = await request.read()
    except BodyTooLarge:
        return web.Response(status=413, text="too large")
    answer = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "match": request.match_info,
        "body": body.decode(),
    }
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


async def user(request: Request) -> Response:
    return web.Response(text=f"user {request.match_info['name']}")


async def streamed(_: Request) -> Response:

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"ab", b"cde"):
            yield part

    return Streamed(200, CIMultiDict({"X-Kind": "stream"}), None, chunks(), lambda: None)


async def passthrough(request: Request, handler: Handler) -> Response:
    return await handler(request)


def run(scenario: Callable[[int], Awaitable[None]]) -> None:
    async def main() -> None:
        router = Router(
            [post("/_echo", echo), get("/_user/{name}", user), get("/_stream", streamed)], echo
        )
        server = HttpServer(LIMITS, router, passthrough)
        listener = await asyncio.get_running_loop().create_server(server, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            await asyncio.wait_for(scenario(port), 10)
        finally:
            listener.close()
            await server.shutdown(1.0)

    asyncio.run(main())


async def exchange(port: int, data: bytes, *, until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    received = await reader.read() if until_close else await reader.read(65536)
    writer.close()
    return received


def test_routes_match_in_order_and_fall_back() -> None:
    async def handler(_: Request) -> Response:
        return web.Response()

    async def other(_: Request) -> Response:
        return web.Response()

    router = Router([get("/_security/user/{name}", handler), post("/_x", other)], echo)
    assert router.resolve("GET", "/_security/user/bob?pretty") == (handler, {"name": "bob"})
    assert router.resolve("HEAD", "/_security/user/bob") == (handler, {"name": "bob"})
    assert router.resolve("GET", "/_security/user/a%20b") == (handler, {"name": "a b"})
    # `%2F` stays inside the segment, as aiohttp matches.
    assert router.resolve("GET", "/_security/user/a%2Fb") == (handler, {"name": "a/b"})
    assert router.resolve("PUT", "/_security/user/bob") == (echo, {})
    assert router.resolve("GET", "/_x") == (echo, {})
    assert router.resolve("GET", "/books/_doc/1") == (echo, {})


def test_a_response_header_cannot_split_the_response() -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_head(200, "OK", {"X-A": "1\r\nX-B: 2"}.items(), 0, True)


def test_pipelined_requests_are_answered_in_order() -> None:
    async def scenario(port: int) -> None:
        data = (
            b"POST /_echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
            b"GET /_user/bob HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /books/_doc/1?a=1&b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        received = await exchange(port, data)
        assert received.count(b"HTTP/1.1 200 OK") == 3
        first, second, third = received.split(b"HTTP/1.1 200 OK")[1:]
        assert b'"body":"one"' in first
        assert second.endswith(b"user bob")
        assert b'"query":{"a":"1","b":""}' in third
        assert b"Connection: close" in third
        assert b"X-Elastic-Product: Elasticsearch" in first

    run(scenario)


def test_chunked_body_and_expect_continue() -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /_echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert b'"body":"abcde"' in await reader.readexactly(length)
        writer.close()

    run(scenario)


def test_a_body_over_the_limit_is_refused_and_the_connection_closed() -> None:
    async def scenario(port: int) -> None:
        chunk = b"%x\r\n%b\r\n" % (600, b"x" * 600)
        data = b"POST /_echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2
        received = await exchange(port, data + b"0\r\n\r\n")
        assert received.startswith(b"HTTP/1.1 413 Request Entity Too Large")

    run(scenario)


@pytest.mark.parametrize(
    ("request_bytes", "error_type"),
    [
        (b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n\r\n", "too_long_http_line_exception"),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 600 + b"\r\n\r\n", "too_long_http_header_exception"),
        (b"NOT HTTP AT ALL\r\n\r\n", "bad_request"),
    ],
)
def test_bad_requests_get_400_and_close(request_bytes: bytes, error_type: str) -> None:
    async def scenario(port: int) -> None:
        received = await exchange(port, request_bytes)
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 Bad Request")
        assert b"Connection: close" in head
        assert orjson.loads(body)["error"]["type"] == error_type

    run(scenario)


def test_head_and_streamed_responses() -> None:
    async def scenario(port: int) -> None:
        head = await exchange(port, b"HEAD /_user/bob HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert head.endswith(b"Content-Length: 8\r\nConnection: close\r\n\r\n")
        stream = await exchange(port, b"GET /_stream HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert b"X-Kind: stream\r\n" in stream
        assert b"Transfer-Encoding: chunked\r\n" in stream
        assert stream.endswith(b"\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n")

    run(scenario)


def test_idle_and_half_sent_connections_are_closed() -> None:
    async def scenario(port: int) -> None:
        for data in (b"", b"GET / HTTP/1.1\r\nHost: x\r\n"):  # idle; headers never finished
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(data)
                sock.setblocking(False)
                loop = asyncio.get_running_loop()
                assert await asyncio.wait_for(loop.sock_recv(sock, 100), 3) == b""

    run(scenario)


def test_a_connection_in_use_outlives_the_idle_timeout_then_closes_when_idle() -> None:
    async def scenario(port: int) -> None:
        loop = asyncio.get_running_loop()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setblocking(False)
            started = loop.time()
            for _ in range(5):  # 5 requests 0.2 s apart: 1 s of use, twice the idle timeout
                await loop.sock_sendall(sock, b"GET /_user/a HTTP/1.1\r\nHost: x\r\n\r\n")
                assert (await asyncio.wait_for(loop.sock_recv(sock, 1000), 3)).startswith(
                    b"HTTP/1.1 200"
                )
                await asyncio.sleep(0.2)
            assert loop.time() - started > 2 * LIMITS.idle_timeout
            idle_from = loop.time()
            assert await asyncio.wait_for(loop.sock_recv(sock, 100), 3) == b""
            assert 0.2 <= loop.time() - idle_from <= 1.5  # 0.5 s after the last answer, at most

    run(scenario)
