"""Secrets out of request bodies before they reach the audit log (`emit_request_body`).

JSON bodies are parsed and every value under a secret-bearing key is replaced, at any depth;
NDJSON bodies (`_bulk`, `_msearch`) line by line. A body or line that cannot be parsed is
replaced whole: it cannot be shown to be free of secrets (fail closed).
"""

from __future__ import annotations

from typing import Any

import orjson

REDACTED = "::es_redacted::"
UNPARSABLE = "::es_redacted_unparsable::"
# Keys whose values are credentials in Elasticsearch's security APIs (user, password change,
# token and API key grants, service tokens, OIDC/SAML exchanges) or in stored documents.
SECRET_KEYS = frozenset(
    {
        "password",
        "password_hash",
        "passwordhash",
        "new_password",
        "old_password",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "credentials",
        "secret",
        "client_secret",
        "kerberos_ticket",
        "private_key",
        "passphrase",
    }
)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and key.lower() in SECRET_KEYS else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def _line(raw: bytes) -> str:
    try:
        return orjson.dumps(_scrub(orjson.loads(raw))).decode()
    except orjson.JSONDecodeError:
        return UNPARSABLE


def redact_body(body: bytes) -> str:
    """The body as the audit log shows it: JSON re-serialized without secrets."""
    if not body.strip():
        return ""
    try:
        return orjson.dumps(_scrub(orjson.loads(body))).decode()
    except orjson.JSONDecodeError:
        pass
    lines = body.split(b"\n")
    return "\n".join(_line(line) if line.strip() else "" for line in lines)
