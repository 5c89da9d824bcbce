"""`PUT /_cluster/settings` and `GET /_cluster/settings`, shared between Bastion and the engine.

The engine does not know Bastion's settings (`xpack.security.*`), so an update is split: the keys
Bastion registers are validated and stored in the security store (see
`bastion.dynamic_settings`), the rest go to the engine, and both answers are merged into one in
Elasticsearch's shape. Bastion's keys are stored only after the engine accepted its part, so a
refused request changes nothing; authorization (`cluster:admin/settings/update`, `manage`) has
already happened in the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from bastion.backend.client import EngineClient
from bastion.config import settings as s
from bastion.dynamic_settings import SCOPES, SettingsUpdateError, owns, validate
from bastion.rest.errors import ElasticsearchError
from bastion.rest.proxy import engine_headers, forward
from bastion.security import Security
from bastion.transport import http as route
from bastion.transport.http import Request, Response

Flat = dict[str, Any]
# Wildcard resets (`"xpack.security.http.filter.*": null`) under this prefix are Bastion's.
_BASTION_NAMESPACE = "xpack."


class ClusterSettingsApi:
    def __init__(self, security: Security, engine: EngineClient) -> None:
        self._security = security
        self._engine = engine

    def routes(self) -> list[route.Route]:
        return [
            route.get("/_cluster/settings", self.get_settings),
            route.put("/_cluster/settings", self.put_settings),
        ]

    async def put_settings(self, request: Request) -> Response:
        raw = await request.read()
        split = _split(raw)
        if split is None:  # no Bastion key, or a body only the engine can explain
            return await forward(request, self._engine, raw)
        ours, engine_part = split
        changes: dict[str, Flat] = {scope: {} for scope in SCOPES}
        resets: dict[str, list[str]] = {scope: [] for scope in SCOPES}
        try:
            for scope in SCOPES:
                for key, value in ours[scope].items():
                    if key.endswith("*") and value is None:
                        resets[scope].append(key[:-1])
                        continue
                    validate(scope, key, value)
                    changes[scope][key] = _normalize(value)
        except SettingsUpdateError as error:
            raise ElasticsearchError(400, error.error_type, error.reason) from None
        answer: dict[str, Any] = {"acknowledged": True, "persistent": {}, "transient": {}}
        if any(engine_part[scope] for scope in SCOPES):
            status, body = await self._engine_json(request, "PUT", engine_part)
            if status != 200 or not isinstance(body, dict):
                return _relay(status, body)
            answer = body
        stored = await self._security.cluster_settings.update(changes, resets)
        self._security.dynamic.apply(stored)  # this worker at once; the others at their poll
        flat = _flat_requested(request)
        for scope in SCOPES:
            shown = {k: v for k, v in changes[scope].items() if v is not None}
            answer[scope] = _merge(answer.get(scope) or {}, shown, flat)
        return _json(answer)

    async def get_settings(self, request: Request) -> Response:
        status, body = await self._engine_json(request, "GET", None)
        if status != 200 or not isinstance(body, dict):
            return _relay(status, body)
        stored = await self._security.cluster_settings.load()
        flat = _flat_requested(request)
        for scope in SCOPES:
            if scope in body or "filter_path" not in request.query:
                body[scope] = _merge(body.get(scope) or {}, dict(stored.scope(scope)), flat)
        if _truthy(request.query.get("include_defaults")) and "defaults" in body:
            overridden = stored.persistent.keys() | stored.transient.keys()
            body["defaults"] = _merge(body["defaults"], self._defaults(overridden), flat)
        return _json(body)

    def _defaults(self, overridden: Iterable[str]) -> Flat:
        """Bastion's dynamic settings not set in the cluster: their node-level values."""
        skip = set(overridden)
        return {
            setting.key: _normalize(_plain(self._security.settings.get(setting)))
            for setting in s.SETTINGS
            if setting.dynamic and "*" not in setting.key and setting.key not in skip
        }

    async def _engine_json(self, request: Request, method: str, body: Any) -> tuple[int, Any]:
        # The answer is merged: it must come plain, and both ways are JSON.
        headers = engine_headers(
            request, drop=frozenset({"accept-encoding", "content-type", "accept"})
        )
        headers += b"Content-Type: application/json\r\nAccept: application/json\r\n"
        payload = None if body is None else orjson.dumps(body)
        upstream = await self._engine.request(method, request.raw_path, headers, payload)
        async with upstream:
            raw = await upstream.read()
        try:
            return upstream.status, orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return upstream.status, raw


def _split(raw: bytes) -> tuple[dict[str, Flat], dict[str, Flat]] | None:
    """(Bastion's keys, the engine's keys) per scope, flattened; None when Bastion has nothing
    to do with the request."""
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or not body.keys() <= set(SCOPES):
        return None
    ours: dict[str, Flat] = {}
    engine: dict[str, Flat] = {}
    for scope in SCOPES:
        tree = body.get(scope) or {}
        if not isinstance(tree, dict):
            return None
        values = dict(_flatten(tree))
        ours[scope] = {k: v for k, v in values.items() if _is_ours(k, v)}
        engine[scope] = {k: v for k, v in values.items() if k not in ours[scope]}
    if not any(ours.values()):
        return None
    return ours, engine


def _is_ours(key: str, value: Any) -> bool:
    if key.endswith("*"):
        return value is None and key.startswith(_BASTION_NAMESPACE)
    return owns(key)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _normalize(value: Any) -> Any:
    """As Elasticsearch shows settings: strings, or lists of strings."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [_normalize(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _merge(target: Mapping[str, Any], flat_values: Mapping[str, Any], flat: bool) -> Flat:
    merged = dict(target)
    for key, value in flat_values.items():
        if flat:
            merged[key] = value
            continue
        node = merged
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
            node[part] = child = dict(child)
            node = child
        node[leaf] = value
    return merged


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("", "true")


def _flat_requested(request: Request) -> bool:
    return _truthy(request.query.get("flat_settings"))


def _relay(status: int, body: Any) -> web.Response:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(status=status, body=payload, content_type="application/json")


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")
