"""`GET /_bastion/stats`: Bastion's own counters (Elasticsearch has no such API).

Today: the audit trail's events written and lost (to a full queue or a failed write, e.g. a
full disk), summed over the gateway's workers since it started.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bastion.audit import stats
from bastion.rest.security.users import json_response
from bastion.transport import http as route
from bastion.transport.http import Request


class BastionStatsApi:
    def __init__(self, logs_dir: Path, *, audit_enabled: bool) -> None:
        self._logs_dir = logs_dir
        self._audit_enabled = audit_enabled

    def routes(self) -> list[route.Route]:
        return [route.get("/_bastion/stats", self.stats)]

    async def stats(self, _: Request) -> web.Response:
        audit: dict[str, object] = {"enabled": self._audit_enabled}
        if self._audit_enabled:
            audit.update(await asyncio.to_thread(stats.totals, self._logs_dir))
        return json_response({"audit": audit})
