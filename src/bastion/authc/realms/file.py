"""The file realm (`file`, default name `default_file`): `config/users` and `config/users_roles`.

The files are read at start and re-read when they change (checked every poll of the security
background task, well within Elasticsearch's 5 s). A malformed line is logged with its number
and skipped; a file that cannot be read keeps the last good content in use.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bastion.authc.credential_cache import CredentialCache
from bastion.authc.file_users import (
    FileUsersError,
    log_problems,
    read_users,
    read_users_roles,
)
from bastion.authc.native_users import RESERVED_USERS
from bastion.authc.password_hashing import hasher_for_hash
from bastion.authc.realms.base import (
    CONTINUE,
    WRONG_PASSWORD,
    AuthenticationResult,
    UsernamePasswordToken,
)
from bastion.authc.user import RealmRef, User

log = logging.getLogger(__name__)

_Stamp = tuple[int, int, int] | None  # (inode, size, mtime_ns) of a file, None if missing


def _stamp(path: Path) -> _Stamp:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class _Contents:
    hashes: dict[str, str]
    roles: dict[str, tuple[str, ...]]


class FileRealm:
    def __init__(self, name: str, order: int, config_dir: Path, cache: CredentialCache[User]):
        self.ref = RealmRef(name, "file")
        self.order = order
        self._users_file = config_dir / "users"
        self._roles_file = config_dir / "users_roles"
        self._cache = cache
        self._stamps: tuple[_Stamp, _Stamp] = (None, None)
        self._contents = _Contents({}, {})
        self.reload()

    def reload(self) -> bool:
        """Re-read the files if either changed; True when the content in use changed."""
        stamps = (_stamp(self._users_file), _stamp(self._roles_file))
        if stamps == self._stamps:
            return False
        try:
            users = read_users(self._users_file, RESERVED_USERS)
            roles = read_users_roles(self._roles_file)
        except FileUsersError as error:
            log.error("file realm [%s]: %s; keeping the previous users", self.ref.name, error)
            return False
        self._stamps = stamps
        if users is not None:
            log_problems(self._users_file, users.problems)
        if roles is not None:
            log_problems(self._roles_file, roles.problems)
        self._contents = _Contents(
            dict(users.hashes) if users else {}, dict(roles.roles) if roles else {}
        )
        self._cache.invalidate_all()
        return True

    def _user(self, username: str) -> User:
        return User(username, self._contents.roles.get(username, ()))

    async def _verify(self, token: UsernamePasswordToken) -> User | None:
        stored = self._contents.hashes.get(token.username)
        if stored is None:
            return None
        try:
            hasher = hasher_for_hash(stored)
        except ValueError:
            return None
        ok = await asyncio.to_thread(hasher.verify, token.password, stored)
        return self._user(token.username) if ok else None

    async def authenticate(self, token: UsernamePasswordToken) -> AuthenticationResult:
        if token.username not in self._contents.hashes:
            return CONTINUE
        user = await self._cache.authenticate(
            token.username, token.password, lambda: self._verify(token)
        )
        return AuthenticationResult.success(user) if user else WRONG_PASSWORD

    async def lookup_user(self, username: str) -> User | None:
        return self._user(username) if username in self._contents.hashes else None

    def clear_cache(self, usernames: tuple[str, ...] = ()) -> None:
        if not usernames:
            self._cache.invalidate_all()
        for username in usernames:
            self._cache.invalidate(username)
