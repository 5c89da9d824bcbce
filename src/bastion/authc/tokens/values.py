"""Token values: opaque, random, base64url with a version prefix. Only their SHA-256 is stored:
a value carries 256 random bits, so a fast hash cannot be searched backwards and a copy of the
token index yields no usable token (unlike a password, nothing is guessable to slow down)."""

from __future__ import annotations

import base64
import hashlib
import secrets

VERSION = b"\x00\x02\x00\x01"  # distinct from a service token's 0x00 0x01 0x00 0x01
RANDOM_BYTES = 32
_ENCODED_LENGTH = len(base64.urlsafe_b64encode(VERSION + bytes(RANDOM_BYTES)).rstrip(b"="))


def new_value() -> str:
    raw = VERSION + secrets.token_bytes(RANDOM_BYTES)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def is_token_value(value: str) -> bool:
    return len(value) == _ENCODED_LENGTH and value.startswith("AAIAA")


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode("ascii", "replace")).hexdigest()


def pair_key(refresh_value: str) -> bytes:
    """The key that seals a refreshed pair for the holder of the old refresh token alone."""
    return hashlib.sha256(b"bastion-token-supersede\x00" + refresh_value.encode()).digest()
