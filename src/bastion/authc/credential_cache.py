"""The per-realm credential cache, after Elasticsearch's `CachingUsernamePasswordRealm`.

A realm's password check (bcrypt, PBKDF2, an LDAP bind) costs milliseconds; a proxied request
costs about 150 µs. So each realm keeps the users it has recently authenticated, keyed by
username, with a salted SHA-256 of the password that worked (`cache.hash_algo: ssha256`, the
Elasticsearch default and the only algorithm offered: the others are either slow, which defeats
the cache, or clear text). A hit costs one dict lookup, one SHA-256 and one constant-time compare.

Behaviour (settings `cache.ttl`, default 20m, and `cache.max_users`, default 100000):

* Entries expire `ttl` seconds after they were written (not after their last use), so a
  password removed at the source stops working within `ttl` even without an invalidation.
* Over `max_users`, the least recently used entry goes.
* `ttl <= 0` or `max_users <= 0` disables caching, as in Elasticsearch.
* Only successes are cached. A wrong password for a cached user runs the slow check and leaves
  the cached entry in place: Elasticsearch drops it, but then anyone who knows a username could
  evict that user's entry and make the user's next request pay for a bcrypt.
* Misses are single-flight: concurrent checks of the same username and password share one
  `verify()`, so a burst of identical requests starts one bcrypt, not hundreds. This also holds
  with caching disabled (it shares work in progress, never a stale answer).
* `invalidate(username)` drops the entry and detaches checks in progress for that user: their
  callers still get their answer, but it is not cached and later callers start a fresh check.
  This is what makes a password change effective at once.
* Every invalidation, of any cache in the process, moves `CredentialCache.generation` on: what
  was derived from a cached answer (the authentication service's recent Basic credentials) is
  void then.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

V = TypeVar("V")
K = TypeVar("K", bound=Hashable)

DEFAULT_TTL = 1200.0  # `cache.ttl: 20m`
DEFAULT_MAX_USERS = 100_000
_SALT_BYTES = 16


def _salted_digest(salt: bytes, password: bytes) -> bytes:
    return hashlib.sha256(salt + password).digest()


@dataclass(frozen=True, slots=True)
class _Credentials(Generic[V]):
    """A cached success: who, proven by which password (salted hash only), until when."""

    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)
    value: V
    expires: float


@dataclass(frozen=True, slots=True)
class _Lookup(Generic[V]):
    value: V
    expires: float


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    lookup_hits: int
    lookup_misses: int
    size: int
    lookup_size: int


class _Flight(Generic[V]):
    """One slow check in progress, awaited by every caller that asked for the same thing."""

    __slots__ = ("stale", "task")

    def __init__(self) -> None:
        self.stale = False  # set by an invalidation: the answer must not be cached
        self.task: asyncio.Task[V | None]


def _retrieve_exception(task: asyncio.Task[object]) -> None:
    # The callers may all have gone (cancelled); retrieving the exception keeps asyncio from
    # logging "exception was never retrieved" for a failure nobody waits for.
    if not task.cancelled():
        task.exception()


class CredentialCache(Generic[V]):
    """Username → value (the realm's `User`), proven by a password; see the module docstring."""

    generation: ClassVar[int] = 0  # invalidations so far, by any cache of this process

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_users: int = DEFAULT_MAX_USERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_users = max_users
        self._enabled = ttl > 0 and max_users > 0
        self._clock = clock
        self._entries: OrderedDict[str, _Credentials[V]] = OrderedDict()
        self._lookups: OrderedDict[str, _Lookup[V]] = OrderedDict()
        # Keys of checks in progress: a keyed hash, so that not even these hold a plain digest.
        self._flight_key = secrets.token_bytes(32)
        self._auth_flights: dict[tuple[str, bytes], _Flight[V]] = {}
        self._lookup_flights: dict[str, _Flight[V]] = {}
        self._hits = 0
        self._misses = 0
        self._lookup_hits = 0
        self._lookup_misses = 0

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def hits(self) -> int:
        return self._hits

    @property
    def misses(self) -> int:
        return self._misses

    def stats(self) -> CacheStats:
        return CacheStats(
            self._hits,
            self._misses,
            self._lookup_hits,
            self._lookup_misses,
            len(self._entries),
            len(self._lookups),
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"CredentialCache(ttl={self._ttl}, max_users={self._max_users}, "
            f"size={len(self._entries)})"
        )

    async def authenticate(
        self,
        username: str,
        password: bytes,
        verify: Callable[[], Awaitable[V | None]],
    ) -> V | None:
        """The cached value if `password` is the one cached for `username`; else `verify()`."""
        entry = self._entries.get(username)
        if entry is not None:
            if self._clock() < entry.expires:
                if hmac.compare_digest(entry.digest, _salted_digest(entry.salt, password)):
                    self._entries.move_to_end(username)
                    self._hits += 1
                    return entry.value
            else:
                del self._entries[username]
        self._misses += 1
        key = (username, hmac.digest(self._flight_key, password, "sha256"))
        return await self._join(
            self._auth_flights, key, verify, lambda value: self._store(username, password, value)
        )

    async def lookup(
        self,
        username: str,
        load: Callable[[], Awaitable[V | None]],
    ) -> V | None:
        """The user for run_as, without credentials: cached `value`, else `load()`."""
        entry = self._lookups.get(username)
        if entry is not None:
            if self._clock() < entry.expires:
                self._lookups.move_to_end(username)
                self._lookup_hits += 1
                return entry.value
            del self._lookups[username]
        self._lookup_misses += 1
        return await self._join(
            self._lookup_flights, username, load, lambda value: self._store_lookup(username, value)
        )

    def invalidate(self, username: str) -> None:
        """Forget `username` (both caches); checks in progress for it will not be cached."""
        CredentialCache.generation += 1
        self._entries.pop(username, None)
        self._lookups.pop(username, None)
        for key in [key for key in self._auth_flights if key[0] == username]:
            self._auth_flights.pop(key).stale = True
        if (flight := self._lookup_flights.pop(username, None)) is not None:
            flight.stale = True

    def invalidate_all(self) -> None:
        CredentialCache.generation += 1
        self._entries.clear()
        self._lookups.clear()
        for flights in (self._auth_flights, self._lookup_flights):
            for flight in flights.values():
                flight.stale = True
            flights.clear()

    async def _join(
        self,
        flights: dict[K, _Flight[V]],
        key: K,
        load: Callable[[], Awaitable[V | None]],
        store: Callable[[V], None],
    ) -> V | None:
        flight = flights.get(key)
        if flight is None:
            flight = _Flight()
            flight.task = asyncio.get_running_loop().create_task(
                self._run(flights, key, flight, load, store)
            )
            flight.task.add_done_callback(_retrieve_exception)
            flights[key] = flight
        # Shielded: one caller giving up (client gone) must not cancel the check for the others.
        return await asyncio.shield(flight.task)

    async def _run(
        self,
        flights: dict[K, _Flight[V]],
        key: K,
        flight: _Flight[V],
        load: Callable[[], Awaitable[V | None]],
        store: Callable[[V], None],
    ) -> V | None:
        try:
            value = await load()
        finally:
            if flights.get(key) is flight:
                del flights[key]
        # Stored here rather than by a caller, so the answer is kept even if every caller left.
        if value is not None and self._enabled and not flight.stale:
            store(value)
        return value

    def _store(self, username: str, password: bytes, value: V) -> None:
        salt = secrets.token_bytes(_SALT_BYTES)
        self._entries[username] = _Credentials(
            salt, _salted_digest(salt, password), value, self._clock() + self._ttl
        )
        self._entries.move_to_end(username)
        while len(self._entries) > self._max_users:
            self._entries.popitem(last=False)

    def _store_lookup(self, username: str, value: V) -> None:
        self._lookups[username] = _Lookup(value, self._clock() + self._ttl)
        self._lookups.move_to_end(username)
        while len(self._lookups) > self._max_users:
            self._lookups.popitem(last=False)
