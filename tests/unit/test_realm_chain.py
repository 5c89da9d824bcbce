"""The realm chain spends one password-hash check on every failed login, whoever the user is."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from bastion.authc.credential_cache import CredentialCache
from bastion.authc.password_hashing import Hasher, resolve_hasher
from bastion.authc.realms.base import (
    CONTINUE,
    AuthenticationResult,
    UsernamePasswordToken,
)
from bastion.authc.realms.file import FileRealm
from bastion.authc.service import AuthenticationError, AuthenticationService
from bastion.authc.user import RealmRef, User

HASHER = resolve_hasher("pbkdf2_1000")


class UnknownToThisRealm:
    """A realm that knows nobody (as the native realm answers for an unknown user)."""

    ref = RealmRef("nobody", "native")
    order = 5

    async def authenticate(self, token: UsernamePasswordToken) -> AuthenticationResult:
        return CONTINUE

    async def lookup_user(self, username: str) -> User | None:
        return None

    def clear_cache(self, usernames: tuple[str, ...] = ()) -> None:
        pass


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every stored hash checked, by any realm or by the chain's decoy."""
    seen: list[str] = []
    verify = Hasher.verify

    def counting(self: Hasher, password: bytes, stored_hash: str) -> bool:
        seen.append(stored_hash)
        return verify(self, password, stored_hash)

    monkeypatch.setattr(Hasher, "verify", counting)
    return seen


def chain(tmp_path: Path) -> AuthenticationService:
    (tmp_path / "users").write_text(f"alice:{HASHER.hash('right-password')}\n")
    (tmp_path / "users_roles").write_text("viewer:alice\n")
    file_realm = FileRealm("file1", 0, tmp_path, CredentialCache[User](ttl=60, max_users=10))
    decoy = (HASHER, HASHER.hash("decoy"))
    return AuthenticationService([file_realm, UnknownToThisRealm()], None, decoy=decoy)


def login(service: AuthenticationService, username: str, password: str) -> str:
    async def attempt() -> str:
        header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        authentication = await service.authenticate(header, None, "/", "127.0.0.1")
        return authentication.user.username

    return asyncio.run(attempt())


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong-password"), ("nobody", "any-password")]
)
def test_a_failed_login_costs_one_hash_check(
    tmp_path: Path, checks: list[str], username: str, password: str
) -> None:
    service = chain(tmp_path)
    with pytest.raises(AuthenticationError) as refused:
        login(service, username, password)
    assert refused.value.reason == f"unable to authenticate user [{username}] for REST request [/]"
    assert len(checks) == 1


def test_a_good_login_needs_no_decoy(tmp_path: Path, checks: list[str]) -> None:
    assert login(chain(tmp_path), "alice", "right-password") == "alice"
    assert len(checks) == 1
