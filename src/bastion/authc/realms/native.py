"""The native realm (`native`, default name `default_native`): users in `.bastion-security`."""

from __future__ import annotations

import asyncio

from bastion.authc.credential_cache import CredentialCache
from bastion.authc.native_users import RESERVED_USERS, NativeUsers
from bastion.authc.password_hashing import hasher_for_hash
from bastion.authc.realms.base import (
    CONTINUE,
    WRONG_PASSWORD,
    AuthenticationResult,
    UsernamePasswordToken,
)
from bastion.authc.user import RealmRef, User


class NativeRealm:
    def __init__(
        self,
        name: str,
        order: int,
        users: NativeUsers,
        cache: CredentialCache[User],
    ) -> None:
        self.ref = RealmRef(name, "native")
        self.order = order
        self._users = users
        self._cache = cache

    async def _verify(self, token: UsernamePasswordToken, unknown: list[bool]) -> User | None:
        stored = await self._users.get(token.username)
        if stored is None:
            unknown.append(True)  # no hash was checked: the chain spends its decoy check
            return None
        try:
            hasher = hasher_for_hash(stored.password_hash)
        except ValueError:
            return None
        ok = await asyncio.to_thread(hasher.verify, token.password, stored.password_hash)
        return stored.user if ok else None

    async def authenticate(self, token: UsernamePasswordToken) -> AuthenticationResult:
        if token.username in RESERVED_USERS:
            return CONTINUE
        unknown: list[bool] = []
        user = await self._cache.authenticate(
            token.username, token.password, lambda: self._verify(token, unknown)
        )
        if user is None or not user.enabled:
            return CONTINUE if unknown else WRONG_PASSWORD
        return AuthenticationResult.success(user)

    async def lookup_user(self, username: str) -> User | None:
        if username in RESERVED_USERS:
            return None
        stored = await self._users.get(username)
        return stored.user if stored and stored.user.enabled else None

    def clear_cache(self, usernames: tuple[str, ...] = ()) -> None:
        if not usernames:
            self._cache.invalidate_all()
        for username in usernames:
            self._cache.invalidate(username)
