"""The realm chain spends one password-hash check on every failed login, whoever the user is."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import pytest

from bastion.authc.brute_force import BruteForcePolicy, BruteForceProtection
from bastion.authc.credential_cache import CredentialCache
from bastion.authc.password_hashing import Hasher, resolve_hasher
from bastion.authc.realms.base import (
    CONTINUE,
    AuthenticationResult,
    UsernamePasswordToken,
)
from bastion.authc.realms.file import FileRealm
from bastion.authc.service import RECENT_TTL, AuthenticationError, AuthenticationService
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


class CountingRealm:
    """Knows alice with one password; counts how often it is asked."""

    ref = RealmRef("counting", "native")
    order = 0

    def __init__(self) -> None:
        self.asked = 0
        self.password = b"right-password"

    async def authenticate(self, token: UsernamePasswordToken) -> AuthenticationResult:
        self.asked += 1
        if token.username == "alice" and token.password == self.password:
            return AuthenticationResult.success(User("alice", ("viewer",)))
        return CONTINUE

    async def lookup_user(self, username: str) -> User | None:
        return None

    def clear_cache(self, usernames: tuple[str, ...] = ()) -> None:
        pass


def logins(
    service: AuthenticationService, *passwords: str, address: str = "10.0.0.1"
) -> list[str | AuthenticationError]:
    """Each attempt's username, or the AuthenticationError it raised."""

    async def attempts() -> list[str | AuthenticationError]:
        results: list[str | AuthenticationError] = []
        for password in passwords:
            header = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
            try:
                authentication = await service.authenticate(header, None, "/", address)
                results.append(authentication.user.username)
            except AuthenticationError as error:
                results.append(error)
        return results

    return asyncio.run(attempts())


def test_a_repeated_basic_header_skips_the_realms_until_a_cache_is_invalidated() -> None:
    realm = CountingRealm()
    service = AuthenticationService([realm], None)
    assert logins(service, "right-password", "right-password") == ["alice", "alice"]
    assert realm.asked == 1
    # A password change invalidates the realm's cache; the remembered header goes with it.
    realm.password = b"new-password"
    CredentialCache[User]().invalidate("alice")  # any cache: the generation moves
    [refused] = logins(service, "right-password")
    assert isinstance(refused, AuthenticationError)
    assert realm.asked == 2


def test_a_wrong_password_is_never_remembered() -> None:
    realm = CountingRealm()
    service = AuthenticationService([realm], None)
    results = logins(service, "wrong", "wrong")
    assert all(isinstance(result, AuthenticationError) for result in results)
    assert realm.asked == 2


def test_nothing_is_remembered_when_a_realm_caches_nothing() -> None:
    realm = CountingRealm()
    service = AuthenticationService([realm], None, remember_basic=False)
    assert logins(service, "right-password", "right-password") == ["alice", "alice"]
    assert realm.asked == 2


def test_a_remembered_header_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    realm = CountingRealm()
    service = AuthenticationService([realm], None)
    logins(service, "right-password")
    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() + RECENT_TTL)
    logins(service, "right-password")
    assert realm.asked == 2


def test_a_locked_address_is_refused_even_with_a_remembered_header() -> None:
    realm = CountingRealm()
    policy = BruteForcePolicy(lock_after=3, lock_duration=3600.0, window=60.0)
    service = AuthenticationService([realm], None, BruteForceProtection(policy))
    assert logins(service, "right-password", address="10.0.0.9") == ["alice"]
    # Someone behind the same address guesses until the address is locked.
    logins(service, "guess-1", "guess-2", "guess-3", address="10.0.0.9")
    [refused] = logins(service, "right-password", address="10.0.0.9")
    assert isinstance(refused, AuthenticationError)
    assert refused.brute_force == "locked"
    assert realm.asked == 4  # the locked attempt never reached the realm


def test_headers_are_remembered_per_client_address() -> None:
    realm = CountingRealm()
    service = AuthenticationService([realm], None)
    logins(service, "right-password", "right-password", address="10.0.0.1")
    logins(service, "right-password", "right-password", address="10.0.0.2")
    assert realm.asked == 2
