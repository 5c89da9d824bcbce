"""`.bastion-tokens`: one document per access/refresh token pair.

A hidden index with a strict mapping, created on first use, like Elasticsearch's
`.security-tokens`. A document holds the SHA-256 of each token (never the token), the user's
authentication when the pair was issued, expiry and invalidation flags, and the refresh state.
Its id is derived from the access token's hash, so authenticating a Bearer token is one
real-time GET. Writes use `refresh=true` and optimistic concurrency.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from bastion.backend.client import EngineClient
from bastion.store.security_index import StoredDoc, StoreError, VersionConflict

TOKENS_INDEX = ".bastion-tokens"
SCHEMA_VERSION = 1

_SETTINGS = {"index": {"hidden": True, "number_of_shards": 1, "auto_expand_replicas": "0-1"}}
_DATE = {"type": "date", "format": "epoch_millis"}
_MAPPINGS = {
    "_meta": {"schema_version": SCHEMA_VERSION},
    "dynamic": "strict",
    "properties": {
        "doc_type": {"type": "keyword"},
        "access_hash": {"type": "keyword"},
        "refresh_hash": {"type": "keyword"},
        "username": {"type": "keyword"},
        "realm": {"type": "keyword"},
        "authentication": {"type": "object", "enabled": False},
        "creation_time": _DATE,
        "expiration_time": _DATE,
        "refresh_expiration_time": _DATE,
        "access_invalidated": {"type": "boolean"},
        "refresh_invalidated": {"type": "boolean"},
        "refreshed": {"type": "boolean"},
        "refresh_time": _DATE,
        # The pair issued by the refresh, sealed with a key only the old refresh token yields.
        "superseded_by": {"type": "keyword", "index": False, "doc_values": False},
    },
}


def doc_id(access_hash: str) -> str:
    return f"token_{access_hash}"


class TokenIndex:
    def __init__(self, engine: EngineClient) -> None:
        self._engine = engine
        self._ready = False
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            status, body = await self._engine.json(
                "PUT", f"/{TOKENS_INDEX}", {"settings": _SETTINGS, "mappings": _MAPPINGS}
            )
            if status == 400 and _error_type(body) == "resource_already_exists_exception":
                status, body = await self._engine.json(
                    "PUT", f"/{TOKENS_INDEX}/_mapping", _MAPPINGS
                )
            if status != 200:
                raise StoreError(f"cannot create {TOKENS_INDEX}: {status} {body}")
            await self._engine.json(
                "GET", f"/_cluster/health/{TOKENS_INDEX}?wait_for_status=yellow&timeout=30s"
            )
            self._ready = True

    async def get(self, id_: str) -> StoredDoc | None:
        status, body = await self._engine.json("GET", _path(id_))
        if status == 404:
            return None
        if status != 200:
            raise StoreError(f"cannot read a token: {status}")
        return StoredDoc(id_, body["_source"], body["_seq_no"], body["_primary_term"])

    async def put(
        self, id_: str, source: dict[str, Any], *, expect: StoredDoc | None = None
    ) -> None:
        """Create (`expect=None`) or replace the version read before; VersionConflict if not."""
        await self.ensure()
        path = _path(id_) + "?refresh=true"
        if expect is None:
            path += "&op_type=create"
        else:
            path += f"&if_seq_no={expect.seq_no}&if_primary_term={expect.primary_term}"
        status, body = await self._engine.json("PUT", path, source)
        if status == 409:
            raise VersionConflict("a token was changed concurrently")
        if status not in (200, 201):
            raise StoreError(f"cannot write a token: {status} {body}")

    async def delete(self, id_: str) -> None:
        status, body = await self._engine.json("DELETE", _path(id_) + "?refresh=true")
        if status not in (200, 404):
            raise StoreError(f"cannot delete a token: {status} {body}")

    async def search(self, query: dict[str, Any], size: int = 10_000) -> list[StoredDoc]:
        status, body = await self._engine.json(
            "POST",
            f"/{TOKENS_INDEX}/_search?seq_no_primary_term=true",
            {"size": size, "query": query},
        )
        if status == 404:
            return []
        if status != 200:
            raise StoreError(f"cannot search {TOKENS_INDEX}: {status} {body}")
        return [
            StoredDoc(h["_id"], h["_source"], h["_seq_no"], h["_primary_term"])
            for h in body["hits"]["hits"]
        ]

    async def delete_expired(self, before_millis: int) -> int:
        """Remove pairs whose access and refresh tokens both expired before `before_millis`."""
        query = {
            "bool": {
                "filter": [{"range": {"expiration_time": {"lt": before_millis}}}],
                "should": [
                    {"range": {"refresh_expiration_time": {"lt": before_millis}}},
                    {"bool": {"must_not": {"exists": {"field": "refresh_expiration_time"}}}},
                ],
                "minimum_should_match": 1,
            }
        }
        status, body = await self._engine.json(
            "POST",
            f"/{TOKENS_INDEX}/_delete_by_query?refresh=true&conflicts=proceed",
            {"query": query},
        )
        if status == 404:
            return 0
        if status != 200:
            raise StoreError(f"cannot remove expired tokens: {status} {body}")
        return int(body.get("deleted", 0))


def _path(id_: str) -> str:
    return f"/{TOKENS_INDEX}/_doc/{quote(id_, safe='')}"


def _error_type(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error_type: str | None = body["error"].get("type")
        return error_type
    return None
