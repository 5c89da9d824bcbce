"""Token values and the sealing of refreshed pairs."""

from __future__ import annotations

from bastion.authc.service_accounts.token import is_service_token
from bastion.authc.tokens.service import _seal, _unseal, restore, snapshot
from bastion.authc.tokens.values import is_token_value, new_value, token_hash
from bastion.authc.user import Authentication, RealmRef, User


def test_values_are_random_versioned_and_recognisable() -> None:
    values = {new_value() for _ in range(100)}
    assert len(values) == 100
    for value in values:
        assert value.startswith("AAIAA")
        assert is_token_value(value)
        assert not is_service_token(value)
    assert not is_token_value("AAIAA")
    assert not is_token_value("x" * 48)


def test_hash_is_sha256_hex() -> None:
    value = new_value()
    assert len(token_hash(value)) == 64
    assert token_hash(value) != token_hash(new_value())


def test_sealed_pair_opens_only_with_its_refresh_token() -> None:
    refresh = new_value()
    sealed = _seal(refresh, {"access_token": "a", "refresh_token": "r", "expiration_time": 1})
    assert refresh not in sealed
    assert _unseal(refresh, sealed) == {
        "access_token": "a",
        "refresh_token": "r",
        "expiration_time": 1,
    }
    assert _unseal(new_value(), sealed) is None
    assert _unseal(refresh, "not base64!") is None


def test_snapshot_round_trip_is_a_token_authentication() -> None:
    realm = RealmRef("default_native", "native")
    original = Authentication(User("bob", ("viewer",), full_name="Bob"), realm, realm)
    restored = restore(snapshot(original))
    assert restored.user == original.user
    assert restored.authenticating_realm == realm
    assert restored.type == "token"
