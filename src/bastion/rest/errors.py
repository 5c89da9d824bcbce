"""Error responses in Elasticsearch's shape:
`{"error":{"root_cause":[{type, reason}],"type":…,"reason":…},"status":N}`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def error_body(
    status: int,
    error_type: str,
    reason: str,
    root_cause: dict[str, Any] | None = None,
    **extra: Any,
) -> bytes:
    cause = {"type": error_type, "reason": reason, **extra}
    root = [root_cause] if root_cause is not None else [cause]
    return orjson.dumps({"error": {"root_cause": root, **cause}, "status": status})


def error_response(
    status: int, error_type: str, reason: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(status, error_type, reason, **extra),
        content_type="application/json",
        headers=headers,
    )


class ElasticsearchError(Exception):
    """Raised by handlers; the pipeline renders it as an Elasticsearch error response."""

    def __init__(
        self,
        status: int,
        error_type: str,
        reason: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.headers = headers
        self.extra = extra

    def response(self) -> web.Response:
        return error_response(self.status, self.error_type, self.reason, self.headers, **self.extra)


def validation_error(*messages: str) -> ElasticsearchError:
    """Elasticsearch's `action_request_validation_exception`: `Validation Failed: 1: …;`."""
    listed = "".join(f"{i}: {message};" for i, message in enumerate(messages, 1))
    return ElasticsearchError(
        400, "action_request_validation_exception", f"Validation Failed: {listed}"
    )


def parse_error(reason: str) -> ElasticsearchError:
    return ElasticsearchError(400, "parse_exception", reason)


def illegal_argument(reason: str) -> ElasticsearchError:
    return ElasticsearchError(400, "illegal_argument_exception", reason)
