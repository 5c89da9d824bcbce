"""The per-realm credential cache: hits, single-flight misses, TTL, eviction, invalidation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from bastion.authc.credential_cache import CredentialCache

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Verifier:
    """A slow check that knows one password per user and counts its calls."""

    def __init__(self, passwords: dict[str, bytes], delay: float = 0.0) -> None:
        self.passwords = passwords
        self.delay = delay
        self.calls = 0
        self.gate: asyncio.Event | None = None

    def __call__(self, username: str, password: bytes) -> Callable[[], Awaitable[str | None]]:
        async def verify() -> str | None:
            self.calls += 1
            stored = self.passwords.get(username)  # read the store, then the slow hash compare
            if self.gate is not None:
                await self.gate.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            return f"user:{username}" if stored == password else None

        return verify


async def auth(
    cache: CredentialCache[str], verifier: Verifier, username: str, password: bytes
) -> str | None:
    return await cache.authenticate(username, password, verifier(username, password))


def test_hit_after_a_successful_miss() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"secret"})
        assert await auth(cache, verifier, "alice", b"secret") == "user:alice"
        assert await auth(cache, verifier, "alice", b"secret") == "user:alice"
        assert verifier.calls == 1
        assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)

    run(scenario())


def test_wrong_password_runs_the_check_and_is_not_cached() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"secret"})
        assert await auth(cache, verifier, "alice", b"secret") == "user:alice"
        assert await auth(cache, verifier, "alice", b"guess") is None
        assert await auth(cache, verifier, "alice", b"guess") is None
        assert verifier.calls == 3  # every wrong password pays for a check
        # ...and did not evict the good entry.
        assert await auth(cache, verifier, "alice", b"secret") == "user:alice"
        assert verifier.calls == 3

    run(scenario())


def test_failures_are_not_cached() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({})
        for _ in range(3):
            assert await auth(cache, verifier, "nobody", b"pw") is None
        assert verifier.calls == 3
        assert len(cache) == 0
        assert cache.hits == 0
        assert cache.misses == 3

    run(scenario())


def test_a_prefix_or_extension_of_the_password_does_not_hit() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"secret"})
        await auth(cache, verifier, "alice", b"secret")
        for other in (b"", b"secre", b"secret ", b"SECRET", b"secret\x00"):
            assert await auth(cache, verifier, "alice", other) is None
        assert cache.hits == 0

    run(scenario())


def test_entries_are_per_username() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"same", "bob": b"same"})
        await auth(cache, verifier, "alice", b"same")
        assert await auth(cache, verifier, "bob", b"same") == "user:bob"
        assert await auth(cache, verifier, "carol", b"same") is None
        assert verifier.calls == 3

    run(scenario())


def test_new_password_replaces_the_entry() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"old"})
        await auth(cache, verifier, "alice", b"old")
        verifier.passwords["alice"] = b"new"  # changed at the source, say on another gateway
        assert await auth(cache, verifier, "alice", b"new") == "user:alice"
        calls = verifier.calls
        assert await auth(cache, verifier, "alice", b"new") == "user:alice"
        assert verifier.calls == calls  # the new one is cached
        assert await auth(cache, verifier, "alice", b"old") is None  # the old one is gone

    run(scenario())


def test_invalidate_makes_a_password_change_effective() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"old", "bob": b"pw"})
        await auth(cache, verifier, "alice", b"old")
        await auth(cache, verifier, "bob", b"pw")
        verifier.passwords["alice"] = b"new"
        # Until invalidated the cache still accepts the old password (as Elasticsearch does)...
        assert await auth(cache, verifier, "alice", b"old") == "user:alice"
        cache.invalidate("alice")
        assert await auth(cache, verifier, "alice", b"old") is None
        assert await auth(cache, verifier, "alice", b"new") == "user:alice"
        # ...and other users keep their entries.
        calls = verifier.calls
        assert await auth(cache, verifier, "bob", b"pw") == "user:bob"
        assert verifier.calls == calls

    run(scenario())


def test_invalidate_all() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"a", "bob": b"b"})
        await auth(cache, verifier, "alice", b"a")
        await auth(cache, verifier, "bob", b"b")
        cache.invalidate_all()
        assert len(cache) == 0
        await auth(cache, verifier, "alice", b"a")
        await auth(cache, verifier, "bob", b"b")
        assert verifier.calls == 4

    run(scenario())


def test_entries_expire_after_ttl_from_write() -> None:
    async def scenario() -> None:
        clock = Clock()
        cache = CredentialCache[str](ttl=60.0, clock=clock)
        verifier = Verifier({"alice": b"pw"})
        await auth(cache, verifier, "alice", b"pw")
        clock.now += 59.0
        await auth(cache, verifier, "alice", b"pw")  # a hit, which does not extend the life
        assert verifier.calls == 1
        clock.now += 1.0
        await auth(cache, verifier, "alice", b"pw")
        assert verifier.calls == 2
        assert (cache.hits, cache.misses) == (1, 2)

    run(scenario())


def test_expired_entry_with_a_now_wrong_password_fails() -> None:
    async def scenario() -> None:
        clock = Clock()
        cache = CredentialCache[str](ttl=10.0, clock=clock)
        verifier = Verifier({"alice": b"pw"})
        await auth(cache, verifier, "alice", b"pw")
        del verifier.passwords["alice"]  # user deleted at the source, no invalidation
        clock.now += 10.0
        assert await auth(cache, verifier, "alice", b"pw") is None
        assert len(cache) == 0

    run(scenario())


@pytest.mark.parametrize(("ttl", "max_users"), [(0.0, 100), (-1.0, 100), (60.0, 0)])
def test_zero_ttl_or_size_disables_caching(ttl: float, max_users: int) -> None:
    async def scenario() -> None:
        cache = CredentialCache[str](ttl=ttl, max_users=max_users)
        assert not cache.enabled
        verifier = Verifier({"alice": b"pw"})
        for _ in range(3):
            assert await auth(cache, verifier, "alice", b"pw") == "user:alice"
        assert verifier.calls == 3
        assert len(cache) == 0
        assert await cache.lookup("alice", verifier("alice", b"pw")) == "user:alice"
        assert cache.stats().lookup_size == 0

    run(scenario())


def test_least_recently_used_entry_is_evicted() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str](max_users=3)
        verifier = Verifier({name: b"pw" for name in ("a", "b", "c", "d")})
        for name in ("a", "b", "c"):
            await auth(cache, verifier, name, b"pw")
        await auth(cache, verifier, "a", b"pw")  # a is now the most recently used
        await auth(cache, verifier, "d", b"pw")  # evicts b
        assert len(cache) == 3
        calls = verifier.calls
        for name in ("a", "c", "d"):
            await auth(cache, verifier, name, b"pw")
        assert verifier.calls == calls
        await auth(cache, verifier, "b", b"pw")
        assert verifier.calls == calls + 1

    run(scenario())


def test_size_stays_bounded() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str](max_users=10)
        verifier = Verifier({f"u{i}": b"pw" for i in range(100)})
        for i in range(100):
            await auth(cache, verifier, f"u{i}", b"pw")
        assert len(cache) == 10

    run(scenario())


def test_concurrent_identical_misses_share_one_verify() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"pw"}, delay=0.01)
        results = await asyncio.gather(*(auth(cache, verifier, "alice", b"pw") for _ in range(50)))
        assert results == ["user:alice"] * 50
        assert verifier.calls == 1
        assert cache.misses == 50
        assert await auth(cache, verifier, "alice", b"pw") == "user:alice"
        assert verifier.calls == 1

    run(scenario())


def test_concurrent_identical_failures_share_one_verify_and_are_not_cached() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"pw"}, delay=0.01)
        results = await asyncio.gather(*(auth(cache, verifier, "alice", b"no") for _ in range(50)))
        assert results == [None] * 50
        assert verifier.calls == 1
        assert await auth(cache, verifier, "alice", b"no") is None
        assert verifier.calls == 2

    run(scenario())


def test_different_passwords_do_not_share_a_flight() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"right"}, delay=0.01)
        right = [auth(cache, verifier, "alice", b"right") for _ in range(10)]
        wrong = [auth(cache, verifier, "alice", b"wrong") for _ in range(10)]
        bob = [auth(cache, verifier, "bob", b"right") for _ in range(10)]
        results = await asyncio.gather(*right, *wrong, *bob)
        assert results == ["user:alice"] * 10 + [None] * 20
        assert verifier.calls == 3

    run(scenario())


def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"pw"})
        verifier.gate = asyncio.Event()
        first = asyncio.create_task(auth(cache, verifier, "alice", b"pw"))
        second = asyncio.create_task(auth(cache, verifier, "alice", b"pw"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        verifier.gate.set()
        assert await second == "user:alice"
        assert first.cancelled()
        assert verifier.calls == 1
        assert len(cache) == 1

    run(scenario())


def test_the_result_is_cached_even_if_every_caller_left() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"pw"})
        verifier.gate = asyncio.Event()
        caller = asyncio.create_task(auth(cache, verifier, "alice", b"pw"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        caller.cancel()
        verifier.gate.set()
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(cache) == 1
        assert await auth(cache, verifier, "alice", b"pw") == "user:alice"
        assert verifier.calls == 1

    run(scenario())


def test_an_exception_reaches_every_waiter_and_nothing_is_cached() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        calls = 0

        async def broken() -> str | None:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.01)
            raise ConnectionError("store unavailable")

        results = await asyncio.gather(
            *(cache.authenticate("alice", b"pw", broken) for _ in range(5)),
            return_exceptions=True,
        )
        assert calls == 1
        assert all(isinstance(result, ConnectionError) for result in results)
        assert len(cache) == 0
        with pytest.raises(ConnectionError):
            await cache.authenticate("alice", b"pw", broken)
        assert calls == 2  # the failed flight was not kept

    run(scenario())


def test_invalidate_during_a_check_keeps_its_answer_out_of_the_cache() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"old"})
        verifier.gate = asyncio.Event()
        before = asyncio.create_task(auth(cache, verifier, "alice", b"old"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        # The password changes while the old one is being checked against the old data.
        cache.invalidate("alice")
        verifier.passwords["alice"] = b"new"
        after = asyncio.create_task(auth(cache, verifier, "alice", b"old"))
        await asyncio.sleep(0)
        verifier.gate.set()
        assert await before == "user:alice"  # the request that came first gets the old answer
        assert await after is None  # a request after the change started its own check
        assert verifier.calls == 2
        assert len(cache) == 0  # and the old answer was not cached
        assert await auth(cache, verifier, "alice", b"old") is None

    run(scenario())


def test_invalidate_all_during_a_check_keeps_its_answer_out_of_the_cache() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"pw"})
        verifier.gate = asyncio.Event()
        pending = asyncio.create_task(auth(cache, verifier, "alice", b"pw"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        cache.invalidate_all()
        verifier.gate.set()
        assert await pending == "user:alice"
        assert len(cache) == 0

    run(scenario())


def test_lookup_is_cached_single_flight_and_shares_invalidation() -> None:
    async def scenario() -> None:
        clock = Clock()
        cache = CredentialCache[str](ttl=60.0, clock=clock)
        loads = 0

        async def load() -> str | None:
            nonlocal loads
            loads += 1
            await asyncio.sleep(0.01)
            return "user:alice"

        assert (
            await asyncio.gather(*(cache.lookup("alice", load) for _ in range(20)))
            == ["user:alice"] * 20
        )
        assert loads == 1
        assert await cache.lookup("alice", load) == "user:alice"
        assert loads == 1
        cache.invalidate("alice")
        await cache.lookup("alice", load)
        assert loads == 2
        cache.invalidate_all()
        await cache.lookup("alice", load)
        assert loads == 3
        clock.now += 60.0
        await cache.lookup("alice", load)
        assert loads == 4
        stats = cache.stats()
        assert (stats.lookup_hits, stats.lookup_misses) == (1, 23)

    run(scenario())


def test_lookup_does_not_cache_unknown_users_nor_authenticate() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        loads = 0

        async def load() -> str | None:
            nonlocal loads
            loads += 1
            return None

        assert await cache.lookup("ghost", load) is None
        assert await cache.lookup("ghost", load) is None
        assert loads == 2

        async def found() -> str | None:
            return "user:alice"

        await cache.lookup("alice", found)
        # A looked-up user has proven no password: authentication still checks it.
        verifier = Verifier({"alice": b"pw"})
        assert await auth(cache, verifier, "alice", b"anything") is None
        assert verifier.calls == 1

    run(scenario())


def test_no_password_or_digest_in_any_repr() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        password = b"hunter2-very-secret"
        await auth(cache, Verifier({"alice": password}), "alice", password)
        entry = cache._entries["alice"]
        texts = [repr(cache), repr(entry), str(entry), repr(cache.stats())]
        for text in texts:
            assert "hunter2" not in text
            assert entry.digest.hex() not in text
            assert repr(entry.digest) not in text
            assert repr(entry.salt) not in text
        assert password not in entry.digest
        assert len(entry.salt) >= 16

    run(scenario())


def test_salts_are_random_per_entry() -> None:
    async def scenario() -> None:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"same", "bob": b"same"})
        await auth(cache, verifier, "alice", b"same")
        await auth(cache, verifier, "bob", b"same")
        alice, bob = cache._entries["alice"], cache._entries["bob"]
        assert alice.salt != bob.salt
        assert alice.digest != bob.digest

    run(scenario())


def test_cache_hit_costs_microseconds() -> None:
    async def scenario() -> float:
        cache = CredentialCache[str]()
        verifier = Verifier({"alice": b"correct horse battery staple"})
        verify = verifier("alice", b"correct horse battery staple")
        await cache.authenticate("alice", b"correct horse battery staple", verify)
        iterations = 20_000
        start = time.perf_counter()
        for _ in range(iterations):
            await cache.authenticate("alice", b"correct horse battery staple", verify)
        elapsed = time.perf_counter() - start
        assert verifier.calls == 1
        assert cache.hits == iterations
        return elapsed / iterations

    average = run(scenario())
    assert average < 50e-6, f"a cache hit took {average * 1e6:.1f} µs on average"
