"""Brute-force protection for password authentication (Bastion's own; Elasticsearch has none).

Without it, wrong or unknown credentials are a cheap way to burn a core on bcrypt and an
unlimited way to guess passwords. Failures are counted per username and per client address:

* after `free_attempts` failures a key's requests are delayed, `base_delay` doubling per further
  failure up to `max_delay` (the caller awaits the delay before checking the password);
* at `lock_after` failures the key is locked for `lock_duration`: requests are refused without
  checking the password. After the lock ends the count stays, so the next failure locks again;
* a key with no failure for `window` (and no lock running) is forgotten.

Choices worth knowing:

* **No user enumeration.** Counters are keyed by the username string as sent, whether or not the
  user exists, so unknown and known names are delayed and locked alike. Callers must keep it that
  way: record a failure for an unknown user too, and refuse a locked request before checking the
  password, with the same answer whether the password would have been right or not.
* **A success does not reset shared counters.** It does not reset the address counter (an
  attacker with one valid account would log in with it between guesses to reset their address),
  nor the username counter (the real user's log-ins would keep handing a distributed attacker
  new free attempts). Instead, `record_success` marks the (username, address) pair as trusted for
  `trust_duration`: a trusted pair ignores the username's delays and lock, so clients that have
  proven the password (a fleet of Beats, the admin's workstation) keep working while an attack
  locks that username everywhere else. The address's own delays and lock still apply to it.
* **`elastic` from loopback is never locked**, whichever counter is locked, so that an admin on
  the machine can always get in and repair. Delays still apply (at most `max_delay`, so they
  cannot keep the admin out), because they slow a local process guessing the password.
* **IPv6 clients are counted per /64**, the block one host usually controls; otherwise an
  attacker would rotate addresses within it. Behind a reverse proxy on loopback every client is
  the proxy's address: pass the real client address, or expect the address counter to be shared.
* **Memory is bounded**: at most `max_tracked` usernames, addresses and trusted pairs each, the
  one with the oldest failure (or trust) dropped first. Usernames longer than 256 characters are
  kept as their SHA-256. Evicting a target takes `max_tracked` other failures between two of its
  own, which the address counters see.

Everything here is synchronous and takes the time as an argument (monotonic seconds), so the
caller owns the clock and the sleeping, and tests need neither.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from bastion.config.settings import Settings

RECOVERY_USER = "elastic"
_MAX_KEY_LENGTH = 256
_MAX_DOUBLINGS = 60  # keeps `2 ** n` finite; max_delay caps the result long before

_Key: TypeAlias = str | bytes


@dataclass(frozen=True, slots=True)
class BruteForcePolicy:
    enabled: bool = True
    free_attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 5.0
    lock_after: int = 20  # 0: never lock
    lock_duration: float = 300.0
    window: float = 900.0
    trust_duration: float = 86_400.0
    max_tracked: int = 100_000

    def __post_init__(self) -> None:
        if self.free_attempts < 0 or self.lock_after < 0:
            raise ValueError("free_attempts and lock_after must not be negative")
        if min(self.base_delay, self.max_delay, self.lock_duration, self.trust_duration) < 0:
            raise ValueError("delays and durations must not be negative")
        if self.window <= 0 or self.max_tracked <= 0:
            raise ValueError("window and max_tracked must be positive")

    @staticmethod
    def from_settings(settings: Settings) -> BruteForcePolicy:
        from bastion.config import settings as s

        return BruteForcePolicy(
            enabled=settings.get(s.BRUTE_FORCE_ENABLED),
            free_attempts=settings.get(s.BRUTE_FORCE_FREE_ATTEMPTS),
            max_delay=settings.get(s.BRUTE_FORCE_MAX_DELAY),
            lock_after=settings.get(s.BRUTE_FORCE_LOCK_AFTER),
            lock_duration=settings.get(s.BRUTE_FORCE_LOCK_DURATION),
            window=settings.get(s.BRUTE_FORCE_WINDOW),
        )

    def delay_after(self, failures: int) -> float:
        """The delay imposed on a key with this many recent failures."""
        if failures < self.free_attempts:
            return 0.0
        doublings = min(failures - self.free_attempts, _MAX_DOUBLINGS)
        return min(self.base_delay * 2.0**doublings, self.max_delay)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to check the credentials now: after `delay` seconds, or not before `locked_until`."""

    allowed: bool
    delay: float = 0.0
    locked_until: float | None = None


ALLOW = Decision(True)


@dataclass(frozen=True, slots=True)
class _Failures:
    count: int
    last: float
    locked_until: float | None = None

    def forgotten(self, now: float, window: float) -> bool:
        lock_over = self.locked_until is None or now >= self.locked_until
        return lock_over and now - self.last >= window


def _username_key(username: str) -> _Key:
    if len(username) <= _MAX_KEY_LENGTH:
        return username
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).digest()


@lru_cache(maxsize=4096)
def _address_key(address: str) -> _Key:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address if len(address) <= _MAX_KEY_LENGTH else _username_key(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if not ip.is_loopback:
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@lru_cache(maxsize=1024)
def is_loopback(address: str | None) -> bool:
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # Python 3.11 does not see ::ffff:127.0.0.1 as loopback.
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


class BruteForceProtection:
    """Failure counters for one gateway worker; see the module docstring for the rules."""

    def __init__(self, policy: BruteForcePolicy | None = None) -> None:
        self.policy = policy or BruteForcePolicy()
        # Ordered by last failure (trust: by last success), oldest first, so both expiry and
        # eviction take from the front.
        self._usernames: OrderedDict[_Key, _Failures] = OrderedDict()
        self._addresses: OrderedDict[_Key, _Failures] = OrderedDict()
        self._trusted: OrderedDict[tuple[_Key, _Key], float] = OrderedDict()

    @property
    def tracked_usernames(self) -> int:
        return len(self._usernames)

    @property
    def tracked_addresses(self) -> int:
        return len(self._addresses)

    @property
    def trusted_pairs(self) -> int:
        return len(self._trusted)

    def check(self, username: str, address: str | None, now: float) -> Decision:
        """May these credentials be checked now? Changes nothing."""
        policy = self.policy
        if not policy.enabled:
            return ALLOW
        user_key = _username_key(username)
        address_key = None if address is None else _address_key(address)
        by_user = self._usernames.get(user_key)
        if (
            by_user is not None
            and address_key is not None
            and self._is_trusted(user_key, address_key, now)
        ):
            by_user = None  # this pair has proven the password; the username's count is not its own
        by_address = None if address_key is None else self._addresses.get(address_key)
        delay = 0.0
        locked_until: float | None = None
        for failures in (by_user, by_address):
            if failures is None or failures.forgotten(now, policy.window):
                continue
            delay = max(delay, policy.delay_after(failures.count))
            if failures.locked_until is not None and now < failures.locked_until:
                locked_until = max(locked_until or 0.0, failures.locked_until)
        if locked_until is not None and not (username == RECOVERY_USER and is_loopback(address)):
            return Decision(False, 0.0, locked_until)
        return Decision(True, delay) if delay > 0 else ALLOW

    def record_failure(self, username: str, address: str | None, now: float) -> None:
        """A password check failed (wrong password or unknown user: the same to us)."""
        if not self.policy.enabled:
            return
        self._count(self._usernames, _username_key(username), now)
        if address is not None:
            self._count(self._addresses, _address_key(address), now)

    def record_success(self, username: str, address: str | None, now: float) -> None:
        """A password check succeeded: trust this (username, address) pair; reset nothing shared."""
        if not self.policy.enabled or address is None or self.policy.trust_duration <= 0:
            return
        pair = (_username_key(username), _address_key(address))
        self._trusted[pair] = now + self.policy.trust_duration
        self._trusted.move_to_end(pair)
        while self._trusted:
            oldest, expires = next(iter(self._trusted.items()))
            if now < expires and len(self._trusted) <= self.policy.max_tracked:
                break
            del self._trusted[oldest]

    def _is_trusted(self, user_key: _Key, address_key: _Key, now: float) -> bool:
        expires = self._trusted.get((user_key, address_key))
        return expires is not None and now < expires

    def _count(self, counters: OrderedDict[_Key, _Failures], key: _Key, now: float) -> None:
        policy = self.policy
        previous = counters.get(key)
        if previous is None or previous.forgotten(now, policy.window):
            previous = _Failures(0, now)
        count = previous.count + 1
        locked_until = previous.locked_until
        if locked_until is not None and now >= locked_until:
            locked_until = None
        # Failures during a lock come from requests it does not apply to (trusted pairs, `elastic`
        # from loopback): they count, but do not push the end of the lock further.
        if locked_until is None and policy.lock_after and count >= policy.lock_after:
            locked_until = now + policy.lock_duration
        counters[key] = _Failures(count, now, locked_until)
        counters.move_to_end(key)
        while counters:
            oldest_key, oldest = next(iter(counters.items()))
            if len(counters) <= policy.max_tracked and not oldest.forgotten(now, policy.window):
                break
            del counters[oldest_key]
