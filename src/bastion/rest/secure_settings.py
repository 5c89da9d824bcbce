"""`POST /_nodes[/<node_id>]/reload_secure_settings`: re-read the keystore.

The worker that handles the request re-reads the keystore with the body's
`secure_settings_password` (or, without one, the password Bastion started with); on success it
replaces the reload marker and the other workers follow within a poll interval (see
`SecureSettingsSource`). A wrong password or a damaged keystore is reported per node in
`reload_exception`, as Elasticsearch does, and the settings in use stay as they were.
"""

from __future__ import annotations

import asyncio
import fnmatch
from typing import Any

import orjson
from aiohttp import web

from bastion.keystore import KeystoreError, WrongPassword
from bastion.rest.errors import ElasticsearchError
from bastion.rest.security.users import json_response
from bastion.security import Security
from bastion.transport import http as route
from bastion.transport.http import Request

_PASSWORD_FIELD = "secure_settings_password"  # noqa: S105 - a field name
_ALL_NODES = ("_all", "_local", "_master", "*")


class ReloadSecureSettingsApi:
    def __init__(self, security: Security, *, cluster_name: str, node_name: str) -> None:
        self._security = security
        self._cluster_name = cluster_name
        self._node_name = node_name

    def routes(self) -> list[route.Route]:
        return [
            route.post("/_nodes/reload_secure_settings", self.reload),
            route.post("/_nodes/{node_id}/reload_secure_settings", self.reload),
        ]

    async def reload(self, request: Request) -> web.Response:
        password = _password(await request.read())
        nodes: dict[str, Any] = {}
        if self._selected(request.match_info.get("node_id", "_all")):
            node: dict[str, Any] = {"name": self._node_name}
            try:
                await asyncio.to_thread(self._security.secure.reload, password)
            except WrongPassword as error:
                node["reload_exception"] = {"type": "security_exception", "reason": str(error)}
            except KeystoreError as error:
                node["reload_exception"] = {"type": "illegal_state_exception", "reason": str(error)}
            nodes[self._node_name] = node
        return json_response(
            {
                "_nodes": {"total": len(nodes), "successful": len(nodes), "failed": 0},
                "cluster_name": self._cluster_name,
                "nodes": nodes,
            }
        )

    def _selected(self, node_ids: str) -> bool:
        wanted = [item.strip() for item in node_ids.split(",") if item.strip()]
        return any(
            item in _ALL_NODES or fnmatch.fnmatchcase(self._node_name, item) for item in wanted
        )


def _password(raw: bytes) -> str | None:
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except ValueError:
        raise _parse_error("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _parse_error("expected an object")
    for key in body:
        if key != _PASSWORD_FIELD:
            raise _parse_error(f"[reload_secure_settings] unknown field [{key}]")
    password = body.get(_PASSWORD_FIELD)
    if password is not None and not isinstance(password, str):
        raise _parse_error(f"[reload_secure_settings] [{_PASSWORD_FIELD}] must be a string")
    return password


def _parse_error(reason: str) -> ElasticsearchError:
    return ElasticsearchError(400, "x_content_parse_exception", reason)
