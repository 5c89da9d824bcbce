"""First start: give `elastic` a generated password, once per security store."""

from __future__ import annotations

import asyncio
import secrets
import string

from bastion.authc.native_users import NativeUsers
from bastion.authc.password_hashing import Hasher
from bastion.store.security_index import VersionConflict

_ALPHABET = string.ascii_letters + string.digits + "_-*+="
PASSWORD_LENGTH = 20


def generate_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


async def bootstrap_elastic_password(
    users: NativeUsers, hasher: Hasher, bootstrap_password: str | None = None
) -> str | None:
    """Store a password for `elastic` unless one is stored already: the keystore's
    `bootstrap.password` if given, else a new random one. Returns a generated password (to be
    shown once) or None. Safe against concurrent gateways: only one create wins."""
    if (await users.reserved("elastic")).doc is not None:
        return None
    password = bootstrap_password or generate_password()
    password_hash = await asyncio.to_thread(hasher.hash, password)
    try:
        await users.put_reserved("elastic", password_hash=password_hash, enabled=True, expect=None)
    except VersionConflict:
        return None
    return None if bootstrap_password else password
