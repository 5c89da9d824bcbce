"""`POST /_security/realm/<realms>/_clear_cache[?usernames=…]`."""

from __future__ import annotations

from aiohttp import web

from bastion.rest.security.users import json_response
from bastion.security import Security
from bastion.transport import http as route
from bastion.transport.http import Request


class RealmApi:
    def __init__(self, security: Security, *, cluster_name: str, node_name: str) -> None:
        self._security = security
        self._cluster_name = cluster_name
        self._node_name = node_name

    def routes(self) -> list[route.Route]:
        return [route.post("/_security/realm/{realms}/_clear_cache", self.clear_cache)]

    async def clear_cache(self, request: Request) -> web.Response:
        realms = [name for name in request.match_info["realms"].split(",") if name]
        names = () if realms in ([], ["*"], ["_all"]) else tuple(realms)
        usernames = tuple(u for u in request.query.get("usernames", "").split(",") if u)
        self._security.authc.clear_caches(names, usernames)
        # Other workers and gateways clear theirs when they see the change counter move.
        await self._security.index.bump_change_counter()
        return json_response(
            {
                "_nodes": {"total": 1, "successful": 1, "failed": 0},
                "cluster_name": self._cluster_name,
                "nodes": {self._node_name: {"name": self._node_name}},
            }
        )
