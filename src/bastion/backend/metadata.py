"""A cached view of the engine's index metadata: indices, aliases, data streams.

Authorization resolves index expressions against it on the hot path, so it is read from memory
only. It is refreshed by a background task on a short timer (changes made around Bastion) and
at once after a request through Bastion that may have changed it (`refresh_now`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bastion.backend.client import EngineClient, EngineUnavailable

log = logging.getLogger(__name__)

_STATE_PATH = (
    "/_cluster/state/metadata?filter_path=metadata.indices.*.state,"
    "metadata.indices.*.aliases,metadata.indices.*.settings.index.hidden,"
    "metadata.data_stream.data_stream.*.indices.index_name,"
    "metadata.data_stream.data_stream.*.hidden"
)


@dataclass(frozen=True, slots=True)
class IndexMetadata:
    name: str
    hidden: bool = False
    open: bool = True
    aliases: tuple[str, ...] = ()
    data_stream: str | None = None


def _frozen(mapping: dict[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType(mapping)


@dataclass(frozen=True, slots=True)
class ClusterMetadata:
    indices: Mapping[str, IndexMetadata] = field(default_factory=lambda: MappingProxyType({}))
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _frozen({}))
    data_streams: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _frozen({}))

    def exists(self, name: str) -> bool:
        return name in self.indices or name in self.aliases or name in self.data_streams

    @staticmethod
    def from_state(body: Any) -> ClusterMetadata:
        metadata = body.get("metadata", {}) if isinstance(body, dict) else {}
        streams: dict[str, tuple[str, ...]] = {}
        backing: dict[str, str] = {}
        for name, stream in (metadata.get("data_stream", {}).get("data_stream", {}) or {}).items():
            members = tuple(i["index_name"] for i in stream.get("indices", ()))
            streams[name] = members
            backing.update((member, name) for member in members)
        indices: dict[str, IndexMetadata] = {}
        aliases: dict[str, list[str]] = {}
        for name, index in (metadata.get("indices") or {}).items():
            hidden = str(index.get("settings", {}).get("index", {}).get("hidden", "false"))
            names = tuple(index.get("aliases", ()))
            indices[name] = IndexMetadata(
                name,
                hidden=hidden.lower() == "true",
                open=index.get("state", "open") == "open",
                aliases=names,
                data_stream=backing.get(name),
            )
            for alias in names:
                aliases.setdefault(alias, []).append(name)
        return ClusterMetadata(
            MappingProxyType(indices),
            _frozen({alias: tuple(sorted(members)) for alias, members in aliases.items()}),
            _frozen(streams),
        )


class MetadataCache:
    def __init__(self, engine: EngineClient, interval: float) -> None:
        self._engine = engine
        self._interval = interval
        self.current = ClusterMetadata()
        self._last_state: Any = None
        self._task: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def refresh_now(self) -> None:
        """Fetch the metadata; concurrent callers share one fetch."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._fetch())
        await asyncio.shield(self._refreshing)

    async def _fetch(self) -> None:
        try:
            status, body = await self._engine.json("GET", _STATE_PATH)
        except EngineUnavailable as error:
            log.debug("metadata refresh failed: %s", error)
            return
        # An unchanged state keeps the same snapshot object: authorization remembers resolved
        # wildcards per snapshot.
        if status == 200 and body != self._last_state:
            self.current = ClusterMetadata.from_state(body)
            self._last_state = body

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            try:
                await self.refresh_now()
            except Exception:  # a surprise must not end the polling: wildcards would go stale
                log.exception("index metadata refresh failed")
            await asyncio.sleep(self._interval)
