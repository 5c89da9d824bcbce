"""Service account token values, in Elasticsearch's format.

`base64(0x00 0x01 0x00 0x01 + "namespace/service/token_name:secret")` without padding, so a value
starts `AAEAA`. The four leading bytes tell a service token from an access token, as in
Elasticsearch.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field

PREFIX = b"\x00\x01\x00\x01"
MAX_VALUE_LENGTH = 8192
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,256}")


def token_name_error(name: str) -> str | None:
    if _NAME.fullmatch(name) and not name.startswith("_"):
        return None
    return (
        f"Invalid service token name value [{name}]. Service token names must be at least 1 "
        "and no more than 256 characters. They can contain alphanumeric characters (a-z, A-Z, "
        "0-9), dashes (-), and underscores (_), but cannot begin with an underscore (_)."
    )


@dataclass(frozen=True, slots=True)
class ServiceToken:
    namespace: str
    service: str
    name: str
    secret: str = field(repr=False)

    @property
    def principal(self) -> str:
        return f"{self.namespace}/{self.service}"

    @property
    def qualified_name(self) -> str:
        return f"{self.principal}/{self.name}"

    def bearer_value(self) -> str:
        raw = PREFIX + f"{self.qualified_name}:{self.secret}".encode()
        return base64.b64encode(raw).decode("ascii").rstrip("=")


def new_token(namespace: str, service: str, name: str) -> ServiceToken:
    # Elasticsearch uses a random base64 UUID (about 120 bits); 22 url-safe characters carry 132.
    return ServiceToken(namespace, service, name, secrets.token_urlsafe(16)[:22])


def parse_bearer(value: str) -> ServiceToken | None:
    """The service token in a Bearer value, or None when the value is not one."""
    if len(value) > MAX_VALUE_LENGTH:
        return None
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(PREFIX):
        return None
    try:
        content = raw[len(PREFIX) :].decode("utf-8")
    except UnicodeDecodeError:
        return None
    qualified, sep, secret = content.partition(":")
    parts = qualified.split("/")
    if not sep or len(parts) != 3 or not all(parts) or token_name_error(parts[2]) is not None:
        return None
    return ServiceToken(parts[0], parts[1], parts[2], secret)


def is_service_token(value: str) -> bool:
    return parse_bearer(value) is not None
