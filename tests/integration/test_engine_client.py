"""The engine client straight against the real engine (no gateway)."""

from __future__ import annotations

import asyncio

import orjson

from bastion.backend.client import EngineClient
from tests.conftest import free_port


def test_requests_against_the_real_engine(engine_url: str) -> None:
    async def scenario() -> None:
        dead = f"http://127.0.0.1:{free_port()}"  # refused: skipped by every request
        client = EngineClient([dead, engine_url], max_connections=4, timeout=60)
        try:
            status, _ = await client.json(
                "PUT", "/client-test", {"settings": {"number_of_shards": 1}}
            )
            assert status in (200, 400)  # 400: left from an earlier run of the session
            lines = b"".join(
                orjson.dumps({"index": {"_id": str(i)}})
                + b"\n"
                + orjson.dumps({"text": "x" * 2000, "n": i})
                + b"\n"
                for i in range(1000)
            )
            async with await client.request(
                "POST",
                "/client-test/_bulk?refresh=true",
                {"Content-Type": "application/x-ndjson"},
                lines,
            ) as response:
                assert response.status == 200
                assert orjson.loads(await response.read())["errors"] is False
            async with await client.request("HEAD", "/client-test/_doc/1", {}, None) as response:
                assert response.status == 200
                assert response.content_length is not None
                assert await response.read() == b""
            async with await client.request("HEAD", "/client-test/_doc/nope", {}, None) as r:
                assert (r.status, await r.read()) == (404, b"")
            # About 2 MB: read in pieces, as the gateway streams it.
            query = orjson.dumps({"size": 1000, "query": {"match_all": {}}})
            async with await client.request(
                "POST", "/client-test/_search", {"Content-Type": "application/json"}, query
            ) as response:
                size = 0
                async for chunk in response.content.iter_chunked(64 << 10):
                    size += len(chunk)
                assert size > 2_000_000
                assert response.content_length in (None, size)
            # Many concurrent requests over the pool (and the connections those left behind).
            results = await asyncio.gather(
                *(client.json("GET", f"/client-test/_doc/{i}") for i in range(200))
            )
            assert all(status == 200 for status, _ in results)
            status, body = await client.json("DELETE", "/client-test")
            assert (status, body["acknowledged"]) == (200, True)
        finally:
            await client.close()

    asyncio.run(scenario())
