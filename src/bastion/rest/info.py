"""`GET /`: the cluster info body in Elasticsearch 8's shape, answered by the gateway."""

from __future__ import annotations

import time
from typing import Any

from bastion import __version__
from bastion.backend.client import EngineClient

ENGINE_INFO_TTL = 60.0  # seconds; the engine's uuid and version rarely change
# Elasticsearch 8's wire and index compatibility floors, reported as it reports them.
_MIN_WIRE = "7.17.0"
_MIN_INDEX = "7.0.0"


class ClusterInfo:
    def __init__(self, engine: EngineClient, *, cluster_name: str, node_name: str, version: str):
        self._engine = engine
        self._cluster_name = cluster_name
        self._node_name = node_name
        self._version = version
        self._engine_info: dict[str, Any] | None = None
        self._fetched = 0.0

    async def _engine_root(self) -> dict[str, Any]:
        if self._engine_info is None or time.monotonic() - self._fetched > ENGINE_INFO_TTL:
            info = await self._engine.get_json("/")
            self._engine_info = info if isinstance(info, dict) else {}
            self._fetched = time.monotonic()
        return self._engine_info

    async def body(self) -> dict[str, Any]:
        engine = await self._engine_root()
        engine_version = engine.get("version", {})
        return {
            "name": self._node_name,
            "cluster_name": self._cluster_name,
            "cluster_uuid": engine.get("cluster_uuid", "_na_"),
            "version": {
                "number": self._version,
                "build_flavor": "default",
                "build_type": "bastion",
                "build_hash": engine_version.get("build_hash", "unknown"),
                "build_date": engine_version.get("build_date", "unknown"),
                "build_snapshot": False,
                "lucene_version": engine_version.get("lucene_version", "unknown"),
                "minimum_wire_compatibility_version": _MIN_WIRE,
                "minimum_index_compatibility_version": _MIN_INDEX,
            },
            "tagline": "You Know, for Search",
            "bastion": {
                "version": __version__,
                "engine": {
                    "distribution": engine_version.get("distribution", "elasticsearch"),
                    "number": engine_version.get("number", "unknown"),
                    "cluster_name": engine.get("cluster_name", "unknown"),
                },
            },
        }
