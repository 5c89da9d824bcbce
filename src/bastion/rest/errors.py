"""Error responses in Elasticsearch's shape:
`{"error":{"root_cause":[{type, reason}],"type":…,"reason":…},"status":N}`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def error_body(status: int, error_type: str, reason: str, **extra: Any) -> bytes:
    cause = {"type": error_type, "reason": reason, **extra}
    return orjson.dumps({"error": {"root_cause": [cause], **cause}, "status": status})


def error_response(
    status: int, error_type: str, reason: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(status, error_type, reason, **extra),
        content_type="application/json",
        headers=headers,
    )
