"""Brute-force protection: delays, locks, forgetting, trust, loopback recovery, bounded memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.authc.brute_force import (
    ALLOW,
    BruteForcePolicy,
    BruteForceProtection,
    Decision,
    is_loopback,
)
from bastion.config import SettingsError, load_settings

POLICY = BruteForcePolicy(
    free_attempts=5,
    base_delay=0.1,
    max_delay=5.0,
    lock_after=20,
    lock_duration=300.0,
    window=900.0,
    trust_duration=3600.0,
    max_tracked=1000,
)
ATTACKER = "203.0.113.7"
OTHER = "198.51.100.20"


def fail(
    guard: BruteForceProtection, n: int, username: str, address: str | None, now: float
) -> None:
    for _ in range(n):
        guard.record_failure(username, address, now)


def test_free_attempts_then_doubling_delays_up_to_the_maximum() -> None:
    guard = BruteForceProtection(POLICY)
    delays = []
    for _ in range(12):
        delays.append(guard.check("alice", ATTACKER, 0.0).delay)
        guard.record_failure("alice", ATTACKER, 0.0)
    assert delays == [0.0] * 5 + [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]
    decision = guard.check("alice", ATTACKER, 0.0)
    assert decision.allowed
    assert decision.locked_until is None


def test_delay_arithmetic_is_bounded() -> None:
    assert POLICY.delay_after(0) == 0.0
    assert POLICY.delay_after(4) == 0.0
    assert POLICY.delay_after(5) == 0.1
    assert POLICY.delay_after(10**9) == 5.0


def test_lock_after_n_failures_for_lock_duration() -> None:
    guard = BruteForceProtection(POLICY)
    fail(guard, 19, "alice", ATTACKER, 10.0)
    assert guard.check("alice", ATTACKER, 10.0).allowed
    guard.record_failure("alice", ATTACKER, 10.0)
    assert guard.check("alice", ATTACKER, 10.0) == Decision(False, 0.0, 310.0)
    assert not guard.check("alice", ATTACKER, 309.9).allowed
    after = guard.check("alice", ATTACKER, 310.0)
    assert after.allowed
    assert after.delay == 5.0  # the count stays: still at the longest delay


def test_the_first_failure_after_a_lock_locks_again() -> None:
    guard = BruteForceProtection(POLICY)
    fail(guard, 20, "alice", ATTACKER, 0.0)
    guard.record_failure("alice", ATTACKER, 300.0)
    assert guard.check("alice", ATTACKER, 300.0) == Decision(False, 0.0, 600.0)


def test_failures_during_a_lock_do_not_extend_it() -> None:
    guard = BruteForceProtection(POLICY)
    fail(guard, 20, "alice", ATTACKER, 0.0)
    fail(guard, 5, "alice", ATTACKER, 100.0)
    assert guard.check("alice", ATTACKER, 100.0).locked_until == 300.0


def test_username_lock_applies_from_every_address() -> None:
    guard = BruteForceProtection(POLICY)
    # A distributed attack: one failure from each of many addresses.
    for i in range(20):
        guard.record_failure("alice", f"192.0.2.{i}", 0.0)
    assert not guard.check("alice", OTHER, 1.0).allowed
    assert guard.check("bob", OTHER, 1.0) is ALLOW


def test_address_lock_applies_to_every_username() -> None:
    guard = BruteForceProtection(POLICY)
    # Password spraying: one guess for each of many usernames from one address.
    for i in range(20):
        guard.record_failure(f"user{i}", ATTACKER, 0.0)
    assert not guard.check("someone-else", ATTACKER, 1.0).allowed
    assert guard.check("someone-else", OTHER, 1.0) is ALLOW


def test_counters_forget_after_the_window_without_failures() -> None:
    guard = BruteForceProtection(POLICY)
    fail(guard, 10, "alice", ATTACKER, 0.0)
    assert guard.check("alice", ATTACKER, 899.0).delay > 0
    assert guard.check("alice", ATTACKER, 900.0) is ALLOW
    guard.record_failure("alice", ATTACKER, 900.0)  # starts again from one
    assert guard.check("alice", ATTACKER, 900.0) is ALLOW
    fail(guard, 4, "alice", ATTACKER, 900.0)
    assert guard.check("alice", ATTACKER, 900.0).delay == 0.1


def test_a_slow_drip_under_the_window_still_adds_up() -> None:
    guard = BruteForceProtection(POLICY)
    for i in range(20):
        guard.record_failure("alice", None, i * 800.0)
    assert not guard.check("alice", None, 19 * 800.0).allowed


def test_a_lock_longer_than_the_window_is_not_forgotten() -> None:
    policy = BruteForcePolicy(lock_after=3, lock_duration=3600.0, window=60.0)
    guard = BruteForceProtection(policy)
    fail(guard, 3, "alice", ATTACKER, 0.0)
    guard.record_failure("x", OTHER, 1000.0)  # triggers pruning of old entries
    assert not guard.check("alice", ATTACKER, 1000.0).allowed
    assert guard.check("alice", ATTACKER, 3600.0).allowed


def test_unknown_and_known_usernames_are_treated_alike() -> None:
    # The guard never learns whether a user exists; the same failures give the same answers.
    def history(username: str) -> list[Decision]:
        guard = BruteForceProtection(POLICY)
        decisions = []
        for i in range(25):
            decisions.append(guard.check(username, ATTACKER, float(i)))
            guard.record_failure(username, ATTACKER, float(i))
        return decisions

    assert history("alice") == history("no-such-user-x7")


def test_a_success_resets_no_shared_counter() -> None:
    guard = BruteForceProtection(POLICY)
    fail(guard, 10, "victim", ATTACKER, 0.0)
    # The attacker logs in with their own account from the same address...
    guard.record_success("mallory", ATTACKER, 1.0)
    # ...which does not reset the address: spraying stays delayed.
    assert guard.check("victim", ATTACKER, 1.0).delay == POLICY.delay_after(10)
    assert guard.check("another", ATTACKER, 1.0).delay == POLICY.delay_after(10)
    # The real user's success elsewhere does not give the attacker fresh free attempts.
    guard.record_success("victim", OTHER, 1.0)
    assert guard.check("victim", "192.0.2.99", 1.0).delay == POLICY.delay_after(10)


def test_a_trusted_pair_ignores_the_username_lock_but_not_its_address() -> None:
    guard = BruteForceProtection(POLICY)
    beats_host = "10.1.2.3"
    guard.record_success("beats_writer", beats_host, 0.0)
    for i in range(25):
        guard.record_failure("beats_writer", f"192.0.2.{i}", 1.0)
    assert not guard.check("beats_writer", ATTACKER, 2.0).allowed
    assert guard.check("beats_writer", beats_host, 2.0) is ALLOW
    # Its own failures still count against its address.
    fail(guard, 20, "beats_writer", beats_host, 3.0)
    assert not guard.check("beats_writer", beats_host, 3.0).allowed


def test_trust_expires() -> None:
    guard = BruteForceProtection(POLICY)
    guard.record_success("alice", OTHER, 0.0)
    fail(guard, 20, "alice", ATTACKER, 3500.0)  # locked until 3800
    assert guard.check("alice", OTHER, 3599.0).allowed
    assert not guard.check("alice", OTHER, 3600.0).allowed


def test_trust_is_per_pair() -> None:
    guard = BruteForceProtection(POLICY)
    guard.record_success("alice", OTHER, 0.0)
    fail(guard, 20, "bob", ATTACKER, 0.0)
    assert not guard.check("bob", OTHER, 1.0).allowed


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_elastic_from_loopback_is_never_locked_but_is_delayed(address: str) -> None:
    guard = BruteForceProtection(POLICY)
    fail(guard, 50, "elastic", address, 0.0)
    fail(guard, 50, "someone", address, 0.0)  # the loopback address is locked too
    decision = guard.check("elastic", address, 1.0)
    assert decision.allowed
    assert decision.delay == POLICY.max_delay
    assert not guard.check("someone", address, 1.0).allowed


def test_elastic_is_locked_from_elsewhere_and_others_from_loopback() -> None:
    guard = BruteForceProtection(POLICY)
    fail(guard, 20, "elastic", ATTACKER, 0.0)
    assert not guard.check("elastic", OTHER, 1.0).allowed
    assert guard.check("elastic", "127.0.0.1", 1.0).allowed
    fail(guard, 20, "kibana_system", "127.0.0.1", 0.0)
    assert not guard.check("kibana_system", "127.0.0.1", 1.0).allowed
    assert not guard.check("elastic", None, 1.0).allowed  # no address is not loopback


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("128.0.0.1", False),
        ("10.0.0.1", False),
        ("::2", False),
        ("localhost", False),  # a name, not an address: the transport gives addresses
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(address: str | None, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_ipv6_clients_are_counted_per_64() -> None:
    guard = BruteForceProtection(POLICY)
    for i in range(20):
        guard.record_failure(f"user{i}", f"2001:db8:1:2::{i + 1:x}", 0.0)
    assert not guard.check("anyone", "2001:db8:1:2:ffff::1", 1.0).allowed
    assert guard.check("anyone", "2001:db8:1:3::1", 1.0) is ALLOW
    assert guard.tracked_addresses == 1


def test_ipv4_mapped_addresses_count_as_ipv4() -> None:
    guard = BruteForceProtection(POLICY)
    fail(guard, 20, "x", "::ffff:203.0.113.7", 0.0)
    assert not guard.check("y", ATTACKER, 1.0).allowed


def test_memory_is_bounded_with_the_oldest_failure_evicted_first() -> None:
    guard = BruteForceProtection(BruteForcePolicy(max_tracked=100, lock_after=3))
    fail(guard, 3, "target", ATTACKER, 0.0)
    for i in range(99):
        guard.record_failure(f"spray{i}", f"192.0.2.{i % 250}", 1.0)
    assert guard.tracked_usernames == 100
    assert not guard.check("target", OTHER, 2.0).allowed
    guard.record_failure("spray-last", OTHER, 2.0)  # one more evicts the oldest: the target
    assert guard.tracked_usernames == 100
    assert guard.check("target", OTHER, 2.0) is ALLOW
    for i in range(500):
        guard.record_success(f"u{i}", f"198.51.100.{i % 250}", 3.0)
        guard.record_failure(f"v{i}", f"2001:db8:{i:x}::1", 3.0)
    assert guard.tracked_usernames <= 100
    assert guard.tracked_addresses <= 100
    assert guard.trusted_pairs <= 100


def test_forgotten_entries_are_pruned() -> None:
    guard = BruteForceProtection(POLICY)
    for i in range(50):
        guard.record_failure(f"u{i}", f"192.0.2.{i}", 0.0)
    guard.record_failure("late", OTHER, 900.0)
    assert guard.tracked_usernames == 1
    assert guard.tracked_addresses == 1


def test_long_usernames_are_kept_hashed_and_still_counted() -> None:
    guard = BruteForceProtection(POLICY)
    long_name = "a" * 5000
    fail(guard, 20, long_name, None, 0.0)
    assert not guard.check(long_name, None, 1.0).allowed
    assert guard.check("a" * 4999 + "b", None, 1.0) is ALLOW
    assert all(not isinstance(key, str) for key in guard._usernames)


def test_no_address_counts_only_the_username() -> None:
    guard = BruteForceProtection(POLICY)
    fail(guard, 20, "alice", None, 0.0)
    assert guard.tracked_addresses == 0
    assert not guard.check("alice", None, 1.0).allowed
    guard.record_success("alice", None, 1.0)  # nothing to trust without an address
    assert guard.trusted_pairs == 0


def test_check_changes_nothing() -> None:
    guard = BruteForceProtection(POLICY)
    for _ in range(100):
        assert guard.check("alice", ATTACKER, 0.0) is ALLOW
    assert (guard.tracked_usernames, guard.tracked_addresses) == (0, 0)


def test_disabled_policy_allows_everything_and_tracks_nothing() -> None:
    guard = BruteForceProtection(BruteForcePolicy(enabled=False))
    fail(guard, 100, "alice", ATTACKER, 0.0)
    guard.record_success("alice", ATTACKER, 0.0)
    assert guard.check("alice", ATTACKER, 0.0) is ALLOW
    assert (guard.tracked_usernames, guard.tracked_addresses, guard.trusted_pairs) == (0, 0, 0)


def test_lock_after_zero_never_locks_and_max_delay_zero_never_delays() -> None:
    guard = BruteForceProtection(BruteForcePolicy(lock_after=0, max_delay=0.0))
    fail(guard, 1000, "alice", ATTACKER, 0.0)
    assert guard.check("alice", ATTACKER, 0.0) is ALLOW


@pytest.mark.parametrize(
    "kwargs",
    [
        {"free_attempts": -1},
        {"lock_after": -1},
        {"max_delay": -1.0},
        {"lock_duration": -5.0},
        {"window": 0.0},
        {"max_tracked": 0},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        BruteForcePolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen() -> None:
    with pytest.raises(AttributeError):
        POLICY.enabled = False  # type: ignore[misc]


def test_policy_from_settings(tmp_path: Path) -> None:
    assert BruteForcePolicy.from_settings(load_settings(None, environ={})) == BruteForcePolicy()
    path = tmp_path / "bastion.yml"
    path.write_text(
        "bastion.security.authc.brute_force:\n"
        "  enabled: false\n  free_attempts: 3\n  max_delay: 2s\n"
        "  lock_after: 0\n  lock_duration: 1m\n  window: 1h\n"
    )
    policy = BruteForcePolicy.from_settings(load_settings(path, environ={}))
    assert policy == BruteForcePolicy(
        enabled=False,
        free_attempts=3,
        max_delay=2.0,
        lock_after=0,
        lock_duration=60.0,
        window=3600.0,
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bastion.security.authc.brute_force.max_delay", "-1"),
        ("bastion.security.authc.brute_force.window", "0"),
        ("bastion.security.authc.brute_force.window", "500ms"),
        ("bastion.security.authc.brute_force.lock_after", "-3"),
        ("bastion.security.authc.brute_force.enabled", "yes"),
        ("bastion.security.authc.brute_force.lock_duration", "5"),
    ],
)
def test_bad_settings_are_refused(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_settings(None, overrides={key: value}, environ={})
