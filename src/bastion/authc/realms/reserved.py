"""The reserved realm: `elastic`, `kibana_system`, `logstash_system`, `beats_system`,
`apm_system`, `remote_monitoring_user`. Always first in the chain; their passwords live in
`.bastion-security`. A reserved user with no stored password cannot log in, except `elastic`
with the bootstrap password (keystore `bootstrap.password`) when one is configured."""

from __future__ import annotations

import asyncio
import hmac

from bastion.authc.credential_cache import CredentialCache
from bastion.authc.native_users import RESERVED_USERS, NativeUsers, reserved_user
from bastion.authc.password_hashing import Hasher, hasher_for_hash
from bastion.authc.realms.base import (
    CONTINUE,
    TERMINATE,
    AuthenticationResult,
    UsernamePasswordToken,
)
from bastion.authc.user import RealmRef, User

RESERVED_REALM = RealmRef("reserved", "reserved")


class ReservedRealm:
    order = -(2**31) - 1  # before every configured realm

    def __init__(
        self,
        users: NativeUsers,
        cache: CredentialCache[User],
        decoy: tuple[Hasher, str],
        bootstrap_password: bytes | None = None,
    ) -> None:
        self.ref = RESERVED_REALM
        self._users = users
        self._cache = cache
        self._decoy = decoy
        self._bootstrap = bootstrap_password

    async def _verify(self, token: UsernamePasswordToken) -> User | None:
        state = await self._users.reserved(token.username)
        if not state.enabled:
            return None
        if state.password_hash is None:
            hasher, decoy_hash = self._decoy
            await asyncio.to_thread(hasher.verify, token.password, decoy_hash)
            bootstrap = self._bootstrap if token.username == "elastic" else None
            if bootstrap and hmac.compare_digest(token.password, bootstrap):
                return reserved_user(token.username)
            return None
        try:
            hasher = hasher_for_hash(state.password_hash)
        except ValueError:
            return None
        ok = await asyncio.to_thread(hasher.verify, token.password, state.password_hash)
        return reserved_user(token.username) if ok else None

    async def authenticate(self, token: UsernamePasswordToken) -> AuthenticationResult:
        if token.username not in RESERVED_USERS:
            return CONTINUE
        user = await self._cache.authenticate(
            token.username, token.password, lambda: self._verify(token)
        )
        # A reserved name is never passed on: no other realm may authenticate `elastic`.
        return AuthenticationResult.success(user) if user else TERMINATE

    async def lookup_user(self, username: str) -> User | None:
        if username not in RESERVED_USERS:
            return None
        state = await self._users.reserved(username)
        return reserved_user(username) if state.enabled else None

    def clear_cache(self, usernames: tuple[str, ...] = ()) -> None:
        if not usernames:
            self._cache.invalidate_all()
        for username in usernames:
            self._cache.invalidate(username)
