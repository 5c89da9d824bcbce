"""The engine client against a tiny local HTTP server that answers, and misbehaves, on cue."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bastion.backend.client import _HIGH_WATER, EngineClient, EngineUnavailable, _Slots

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


class Server:
    """Counts connections and requests; `handler` serves each connection."""

    def __init__(self, handler: Callable[[Server], Handler]) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.handler(self)(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return head, body


@asynccontextmanager
async def serving(handler: Callable[[Server], Handler]) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        listener.close()
        await listener.wait_closed()


def answering(*responses: bytes, then_close: bool = False) -> Callable[[Server], Handler]:
    """Each request on a connection gets the next response; the last one repeats."""

    def make(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for index in range(1000):
                await server.read_request(reader)
                writer.write(responses[min(index, len(responses) - 1)])
                await writer.drain()
                if then_close:
                    return

        return handle

    return make


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def client_for(*urls: str, timeout: float = 5.0, max_connections: int = 8) -> EngineClient:
    return EngineClient(list(urls), max_connections=max_connections, timeout=timeout)


@in_loop
async def test_keep_alive_reuses_one_connection_and_sends_the_request_as_given() -> None:
    async with serving(answering(OK)) as server:
        client = client_for(server.url)
        for _ in range(3):
            async with await client.request(
                "POST", "/i/_search?q=a%20b", {"X-Opaque-Id": "7", "Host": "evil"}, b"{}"
            ) as response:
                assert response.status == 200
                assert response.headers["content-type"] == "application/json"
                assert response.content_length == 11
                assert await response.read() == b'{"ok":true}'
        await client.close()
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /i/_search?q=a%20b HTTP/1.1\r\n")
    port = server.url.rsplit(":", 1)[1].encode()
    assert b"\r\nHost: 127.0.0.1:" + port + b"\r\n" in first
    assert b"evil" not in first
    assert b"\r\nX-Opaque-Id: 7\r\n" in first
    assert first.endswith(b"Content-Length: 2\r\n\r\n{}")


@in_loop
async def test_json_helpers() -> None:
    async with serving(answering(OK)) as server:
        client = client_for(server.url)
        assert await client.json("PUT", "/x", {"a": 1}) == (200, {"ok": True})
        assert await client.get_json("/") == {"ok": True}
        await client.close()
    assert server.requests[0].endswith(b'{"a":1}')


@in_loop
async def test_chunked_response_with_extensions_and_trailers() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6;x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    async with serving(answering(chunked)) as server:
        client = client_for(server.url)
        for _ in range(2):
            async with await client.request("GET", "/", {}, None) as response:
                assert response.content_length is None
                assert await response.read() == b"hello world"
        await client.close()
    assert server.connections == 1


@in_loop
async def test_head_204_and_304_have_no_body_and_keep_the_connection() -> None:
    responses = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",  # answer to HEAD
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
        OK,
    )
    async with serving(answering(*responses)) as server:
        client = client_for(server.url)
        async with await client.request("HEAD", "/i/_doc/1", {}, None) as response:
            assert (response.status, response.content_length) == (200, 1234)
            assert await response.read() == b""
        for status in (204, 304):
            async with await client.request("GET", "/", {}, None) as response:
                assert response.status == status
                assert await response.read() == b""
        assert await client.json("GET", "/") == (200, {"ok": True})
        await client.close()
    assert server.connections == 1


@in_loop
async def test_connection_close_and_a_body_ended_by_the_close() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
    async with serving(answering(closing, then_close=True)) as server:
        client = client_for(server.url)
        for _ in range(2):
            async with await client.request("GET", "/", {}, None) as response:
                assert response.content_length is None
                assert await response.read() == b"until the end"
        await client.close()
    assert server.connections == 2


@in_loop
async def test_close_mid_response_is_engine_unavailable() -> None:
    short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"
    async with serving(answering(short, then_close=True)) as server:
        client = client_for(server.url)
        async with await client.request("GET", "/", {}, None) as response:
            with pytest.raises(EngineUnavailable, match="mid-response"):
                await response.read()
        # The broken connection is not pooled: the next request gets a new one.
        async with await client.request("GET", "/", {}, None) as response:
            with pytest.raises(EngineUnavailable):
                await response.read()
        await client.close()
    assert server.connections == 2


def stale_after_first(server: Server) -> Handler:
    """The first connection answers once, then closes as the next request arrives: the race of a
    keep-alive timeout on the engine's side. Later connections answer normally."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = server.connections == 1
        while True:
            await server.read_request(reader)
            if first and len(server.requests) > 1:
                return
            writer.write(OK)
            await writer.drain()

    return handle


@in_loop
async def test_stale_keep_alive_is_retried_for_idempotent_methods_only() -> None:
    async with serving(stale_after_first) as server:
        client = client_for(server.url)
        assert await client.json("GET", "/") == (200, {"ok": True})
        assert await client.json("GET", "/") == (200, {"ok": True})  # retried on a new one
        assert server.connections == 2
        await client.close()
    async with serving(stale_after_first) as server:
        client = client_for(server.url)
        assert await client.json("GET", "/") == (200, {"ok": True})
        with pytest.raises(EngineUnavailable, match="closed the connection"):
            await client.json("POST", "/i/_doc", {"a": 1})
        assert server.connections == 1
        await client.close()


@in_loop
async def test_an_idle_connection_the_engine_closed_is_not_used() -> None:
    async with serving(answering(OK, then_close=True)) as server:
        client = client_for(server.url)
        async with await client.request("GET", "/", {}, None) as response:
            await response.read()
        await asyncio.sleep(0.05)  # let the close arrive; then even a POST is safe on a new one
        assert await client.json("POST", "/i/_doc", {"a": 1}) == (200, {"ok": True})
        await client.close()
    assert server.connections == 2


def slow(server: Server) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")  # and then the headers never finish
        await writer.drain()
        await asyncio.sleep(10)

    return handle


@in_loop
async def test_slow_headers_time_out() -> None:
    async with serving(slow) as server:
        client = client_for(server.url, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(EngineUnavailable, match="time limit"):
            await client.request("GET", "/", {}, None)
        assert time.monotonic() - started < 3
        await client.close()


@in_loop
async def test_oversized_and_malformed_headers_are_refused() -> None:
    huge = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (100 << 10) + b"\r\n\r\n"
    async with serving(answering(huge)) as server:
        client = client_for(server.url)
        with pytest.raises(EngineUnavailable, match="headers larger"):
            await client.request("GET", "/", {}, None)
        await client.close()
    async with serving(answering(b"HTTP/1.1 abc\r\nbroken\r\n\r\n")) as server:
        client = client_for(server.url)
        with pytest.raises(EngineUnavailable, match="malformed"):
            await client.request("GET", "/", {}, None)
        await client.close()


@in_loop
async def test_header_and_path_injection_are_refused() -> None:
    client = client_for("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="line break"):
        await client.request("GET", "/", {"X-A": "b\r\nX-Injected: 1"}, None)
    with pytest.raises(ValueError, match="path"):
        await client.request("GET", "/ HTTP/1.1\r\nX: y", {}, None)


def refused_url() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@in_loop
async def test_refused_nodes_are_skipped_and_all_refused_is_unavailable() -> None:
    dead = refused_url()
    async with serving(answering(OK)) as server:
        client = client_for(dead, server.url)
        for _ in range(4):
            assert await client.json("POST", "/i/_doc", {}) == (200, {"ok": True})
        # Concurrent requests each try every node, whatever the others do meanwhile.
        results = await asyncio.gather(*(client.json("POST", "/i/_doc", {}) for _ in range(10)))
        assert results == [(200, {"ok": True})] * 10
        await client.close()
    client = client_for(dead, refused_url())
    with pytest.raises(EngineUnavailable, match="refused") as raised:
        await client.json("GET", "/")
    assert str(raised.value).count("127.0.0.1") == 2


@in_loop
async def test_round_robin_across_nodes() -> None:
    async with serving(answering(OK)) as one, serving(answering(OK)) as two:
        client = client_for(one.url, two.url)
        for _ in range(6):
            await client.json("GET", "/")
        await client.close()
    assert (len(one.requests), len(two.requests)) == (3, 3)


def slow_ok(server: Server) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.read_request(reader)
            await asyncio.sleep(0.05)
            writer.write(OK)
            await writer.drain()

    return handle


@in_loop
async def test_the_pool_caps_connections() -> None:
    async with serving(slow_ok) as server:
        client = client_for(server.url, max_connections=2)
        results = await asyncio.gather(*(client.json("GET", "/") for _ in range(6)))
        await client.close()
    assert results == [(200, {"ok": True})] * 6
    assert server.most_open == 2


BIG = bytes(range(256)) * (20 << 12)  # 20 MiB


def big(server: Server) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG))
        for start in range(0, len(BIG), 1 << 20):
            writer.write(BIG[start : start + (1 << 20)])
            await writer.drain()

    return handle


@in_loop
async def test_large_bodies_stream_without_being_buffered_whole() -> None:
    async with serving(big) as server:
        client = client_for(server.url)
        received = bytearray()
        buffered = 0
        async with await client.request("GET", "/", {}, None) as response:
            assert response.content_length == len(BIG)
            async for chunk in response.content.iter_chunked(64 << 10):
                assert len(chunk) <= 64 << 10
                received += chunk
                buffered = max(buffered, response.content._size)
                await asyncio.sleep(0)  # a slow reader
        await client.close()
    assert bytes(received) == BIG
    assert buffered < _HIGH_WATER + (4 << 20)  # paused near the high-water mark, not 20 MiB


@in_loop
async def test_request_bodies_larger_than_a_write() -> None:
    body = b"x" * (3 << 20)
    async with serving(answering(OK)) as server:
        client = client_for(server.url)
        assert await client.json("GET", "/") == (200, {"ok": True})
        async with await client.request("POST", "/_bulk", {}, body) as response:
            assert response.status == 200
        await client.close()
    assert server.requests[1].endswith(body)


@in_loop
async def test_a_cancelled_request_does_not_leave_its_connection_in_the_pool() -> None:
    async with serving(slow) as server:
        client = client_for(server.url)
        task = asyncio.create_task(client.request("GET", "/", {}, None))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()
    assert all(not node.idle for node in client._nodes)


def first_quick_then_stalled(server: Server) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await server.read_request(reader)
        await asyncio.sleep(10)  # the second request is never answered

    return handle


@in_loop
async def test_each_request_gets_its_whole_time_limit_on_a_reused_connection() -> None:
    # The connection's one timer was set for the first request; it must neither cut the second
    # request short nor forget it.
    async with serving(first_quick_then_stalled) as server:
        client = client_for(server.url, timeout=0.4)
        async with await client.request("GET", "/", {}, None) as response:
            assert await response.read() == b"ok"
        await asyncio.sleep(0.25)
        started = time.monotonic()
        with pytest.raises(EngineUnavailable, match="time limit"):
            await client.request("GET", "/", {}, None)
        assert 0.35 <= time.monotonic() - started < 3
        assert server.connections == 1
        await client.close()


@in_loop
async def test_a_slot_given_to_a_caller_who_gave_up_passes_on() -> None:
    slots = _Slots(1)
    assert slots.take_now()
    assert not slots.take_now()
    leaving = asyncio.create_task(slots.take())
    staying = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    slots.give()  # handed to `leaving`...
    leaving.cancel()  # ...which gives up before it runs again
    await asyncio.wait_for(staying, 1)  # so the slot went on to the next caller
    assert leaving.cancelled()
    slots.give()
    assert slots.take_now()  # and nothing was lost or counted twice
    assert not slots.take_now()


@in_loop
async def test_a_caller_who_gave_up_before_a_slot_freed_takes_none() -> None:
    slots = _Slots(1)
    assert slots.take_now()
    leaving = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    slots.give()
    assert slots.take_now()
    assert not slots.take_now()
