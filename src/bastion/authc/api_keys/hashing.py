"""The stored form of an API key secret: a slow hash (`xpack.security.authc.api_key.hashing.
algorithm`, PBKDF2 by default as in Elasticsearch 8), computed off the event loop."""

from __future__ import annotations

import asyncio

from bastion.authc.password_hashing import Hasher, verify_hash


async def hash_secret(hasher: Hasher, secret: str) -> str:
    return await asyncio.to_thread(hasher.hash, secret)


async def verify_secret(secret: bytes, stored_hash: str) -> bool:
    """Whatever hasher made `stored_hash` (the setting may have changed since); an empty or
    unrecognised hash never matches."""
    if not stored_hash:
        return False
    return await asyncio.to_thread(verify_hash, secret, stored_hash)
