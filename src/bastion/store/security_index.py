"""`.bastion-security`: users, reserved-user passwords, roles, role mappings, API keys, and
Bastion's dynamic cluster settings (`bastion.dynamic_settings`).

Like Elasticsearch's `.security` index: a hidden index with explicit, strict mappings and a schema
version, created on first use. Writes use optimistic concurrency (`if_seq_no`/`if_primary_term`)
and `refresh=true` (as Elasticsearch writes its security index), so a write that returned is
durable and visible to searches at once. Every write also bumps the change counter document,
which each gateway worker polls to drop stale caches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bastion.backend.client import EngineClient, EngineUnavailable

SECURITY_INDEX = ".bastion-security"
SCHEMA_VERSION = 1
CHANGE_COUNTER_ID = "change-counter"

# Stored as epoch milliseconds like Elasticsearch; queries may also name ISO dates.
_DATES = "epoch_millis||strict_date_optional_time"
_SETTINGS = {"index": {"hidden": True, "number_of_shards": 1, "auto_expand_replicas": "0-1"}}
_MAPPINGS = {
    "_meta": {"schema_version": SCHEMA_VERSION},
    "dynamic": "strict",
    "properties": {
        "doc_type": {"type": "keyword"},
        "username": {"type": "keyword"},
        "password": {"type": "keyword", "index": False, "doc_values": False},
        "secret": {"type": "keyword", "index": False, "doc_values": False},
        "roles": {"type": "keyword"},
        "full_name": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
        "email": {"type": "keyword"},
        "metadata": {"type": "object", "enabled": False},
        "enabled": {"type": "boolean"},
        "counter": {"type": "long"},
        "name": {"type": "keyword"},
        "description": {"type": "text"},
        "role": {"type": "object", "enabled": False},
        "role_mapping": {"type": "object", "enabled": False},
        # Bastion's dynamic cluster settings (`doc_type: cluster_settings`), flat keys.
        "persistent": {"type": "object", "enabled": False},
        "transient": {"type": "object", "enabled": False},
        "application_privilege": {"type": "object", "enabled": False},
        # API keys (`doc_type: api_key`), in the fields of Elasticsearch's `.security` documents.
        "type": {"type": "keyword"},
        "creation_time": {"type": "date", "format": _DATES},
        "expiration_time": {"type": "date", "format": _DATES},
        "invalidation_time": {"type": "date", "format": _DATES},
        "api_key_invalidated": {"type": "boolean"},
        "api_key_hash": {"type": "keyword", "index": False, "doc_values": False},
        "role_descriptors": {"type": "object", "enabled": False},
        "limited_by_role_descriptors": {"type": "object", "enabled": False},
        "metadata_flattened": {"type": "flat_object"},
        "creator": {
            "type": "object",
            "properties": {
                "principal": {"type": "keyword"},
                "full_name": {"type": "keyword", "index": False},
                "email": {"type": "keyword", "index": False},
                "metadata": {"type": "object", "enabled": False},
                "realm": {"type": "keyword"},
                "realm_type": {"type": "keyword"},
            },
        },
    },
}


class StoreError(Exception):
    """The engine refused a security store operation; the message says what it answered."""


class VersionConflict(StoreError):
    """Another writer changed the document first; re-read and retry."""


@dataclass(frozen=True, slots=True)
class StoredDoc:
    id: str
    source: dict[str, Any]
    seq_no: int
    primary_term: int
    sort: tuple[Any, ...] | None = None  # the hit's sort values, for search_after


def _doc_path(doc_id: str) -> str:
    return f"/{SECURITY_INDEX}/_doc/{quote(doc_id, safe='')}"


class SecurityIndex:
    def __init__(self, engine: EngineClient) -> None:
        self._engine = engine
        self._ready = False
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        """Create the index with its mappings, or bring an older one's mappings up to date."""
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            status, body = await self._engine.json(
                "PUT", f"/{SECURITY_INDEX}", {"settings": _SETTINGS, "mappings": _MAPPINGS}
            )
            if status == 400 and _error_type(body) == "resource_already_exists_exception":
                # Additive migration: new fields of a newer schema are added in place.
                status, body = await self._engine.json(
                    "PUT", f"/{SECURITY_INDEX}/_mapping", _MAPPINGS
                )
            if status != 200:
                raise StoreError(f"cannot create {SECURITY_INDEX}: {status} {body}")
            await self._engine.json(
                "GET", f"/_cluster/health/{SECURITY_INDEX}?wait_for_status=yellow&timeout=30s"
            )
            self._ready = True

    async def get(self, doc_id: str) -> StoredDoc | None:
        """A real-time get: sees every acknowledged write, refreshed or not."""
        status, body = await self._engine.json("GET", _doc_path(doc_id))
        if status == 404:
            return None
        if status != 200:
            raise StoreError(f"cannot read {doc_id}: {status} {body}")
        return StoredDoc(doc_id, body["_source"], body["_seq_no"], body["_primary_term"])

    async def put(
        self, doc_id: str, source: dict[str, Any], *, expect: StoredDoc | bool | None = True
    ) -> StoredDoc:
        """Write a document. `expect`: the version read before (optimistic concurrency), `None`
        to require that the document does not exist yet, `True` to overwrite unconditionally."""
        await self.ensure()
        path = _doc_path(doc_id) + "?refresh=true"
        if expect is None:
            path += "&op_type=create"
        elif isinstance(expect, StoredDoc):
            path += f"&if_seq_no={expect.seq_no}&if_primary_term={expect.primary_term}"
        status, body = await self._engine.json("PUT", path, source)
        if status == 409:
            raise VersionConflict(f"{doc_id} was changed concurrently")
        if status not in (200, 201):
            raise StoreError(f"cannot write {doc_id}: {status} {body}")
        await self.bump_change_counter()
        return StoredDoc(doc_id, source, body["_seq_no"], body["_primary_term"])

    async def delete(self, doc_id: str) -> bool:
        await self.ensure()
        status, body = await self._engine.json("DELETE", _doc_path(doc_id) + "?refresh=true")
        if status not in (200, 404):
            raise StoreError(f"cannot delete {doc_id}: {status} {body}")
        if status == 200:
            await self.bump_change_counter()
        return status == 200

    async def search(self, query: dict[str, Any]) -> tuple[int, list[StoredDoc]]:
        """Search the index; `query` is a full search body. Missing index → no hits."""
        status, body = await self._engine.json(
            "POST", f"/{SECURITY_INDEX}/_search?seq_no_primary_term=true", query
        )
        if status == 404:
            return 0, []
        if status != 200:
            raise StoreError(f"cannot search {SECURITY_INDEX}: {status} {body}")
        hits = body["hits"]
        docs = [
            StoredDoc(
                h["_id"],
                h["_source"],
                h.get("_seq_no", -1),
                h.get("_primary_term", -1),
                tuple(h["sort"]) if "sort" in h else None,
            )
            for h in hits["hits"]
        ]
        return hits["total"]["value"], docs

    async def search_raw(self, query: dict[str, Any]) -> tuple[int, Any]:
        """The engine's status and answer for a search of the index, for APIs that hand the
        engine's verdict on a client's query (a 400) and its aggregations back to the client."""
        return await self._engine.json(
            "POST", f"/{SECURITY_INDEX}/_search?seq_no_primary_term=true", query
        )

    async def bump_change_counter(self) -> None:
        status, body = await self._engine.json(
            "POST",
            f"/{SECURITY_INDEX}/_update/{CHANGE_COUNTER_ID}?retry_on_conflict=10",
            {
                "script": {"source": "ctx._source.counter += 1", "lang": "painless"},
                "upsert": {"doc_type": "change_counter", "counter": 1},
            },
        )
        if status not in (200, 201):
            raise StoreError(f"cannot bump the change counter: {status} {body}")

    async def change_counter(self) -> int:
        """The current counter, or 0 before the index exists. Raises `EngineUnavailable`."""
        doc = await self.get(CHANGE_COUNTER_ID)
        return int(doc.source.get("counter", 0)) if doc else 0


def _error_type(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error_type: str | None = body["error"].get("type")
        return error_type
    return None


__all__ = [
    "SECURITY_INDEX",
    "EngineUnavailable",
    "SecurityIndex",
    "StoreError",
    "StoredDoc",
    "VersionConflict",
]
