"""A pooled keep-alive client for the engine nodes, shared by every request of one worker."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict


class EngineUnavailable(Exception):
    """No engine node accepted the request; the gateway answers 503."""


class EngineClient:
    """Sends requests round-robin to the engine nodes; a node that refuses the connection is
    skipped (nothing was sent to it, so trying the next one is safe for any method)."""

    def __init__(self, urls: Sequence[str], *, max_connections: int, timeout: float) -> None:
        if not urls:
            raise ValueError("the engine client needs at least one URL")
        self._urls = tuple(urls)
        self._next = itertools.cycle(range(len(self._urls)))
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout if timeout > 0 else None)
        self._session: aiohttp.ClientSession | None = None

    @property
    def urls(self) -> tuple[str, ...]:
        return self._urls

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,  # bodies pass through as the engine encoded them
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def request(
        self,
        method: str,
        path_qs: str,
        headers: Mapping[str, str] | CIMultiDict[str],
        body: bytes | None,
    ) -> aiohttp.ClientResponse:
        """Send one request; the caller reads and releases the response."""
        session = self._session or self._open()
        self._session = session
        failures: list[str] = []
        for _ in self._urls:
            base = self._urls[next(self._next)]
            try:
                return await session.request(
                    method,
                    base + path_qs,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    compress=None,
                )
            except aiohttp.ClientConnectorError as error:
                failures.append(f"{base}: {error.os_error.strerror or error}")
            except aiohttp.ServerDisconnectedError:
                # The node closed a pooled connection as it went away mid-request.
                raise EngineUnavailable(f"{base}: the engine closed the connection") from None
            except TimeoutError:
                raise EngineUnavailable(f"{base}: no response within the time limit") from None
        raise EngineUnavailable("; ".join(failures))

    async def get_json(self, path: str) -> Any:
        status, body = await self.json("GET", path)
        if status != 200:
            raise EngineUnavailable(f"GET {path} answered {status}")
        return body

    async def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A JSON request of Bastion's own (security store, cluster info): status and body."""
        payload = None if body is None else orjson.dumps(body)
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        response = await self.request(method, path, headers, payload)
        async with response:
            raw = await response.read()
        return response.status, orjson.loads(raw) if raw else None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
