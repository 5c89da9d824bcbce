"""Password hashers: Elasticsearch's hash strings verify, and every algorithm round-trips."""

from __future__ import annotations

import pytest

from bastion.authc.password_hashing import (
    CACHE_HASH_ALGORITHMS,
    STORED_HASH_ALGORITHMS,
    Hasher,
    Scheme,
    hasher_for_hash,
    resolve_hasher,
    stored_hash_algorithm,
    verify_hash,
)

# Hashes made by Elasticsearch: its file realm test `users` file (password `test123`), its
# HasherTests (bcrypt from other tools) and a service token of its tests (PBKDF2_STRETCH).
ES_VECTORS = [
    ("$2a$05$zxnP0vdREMxnEpkLCDI2OuSaSk/QEKA2.A42iOpI6U2u.RLLOWm1e", "test123", "bcrypt5"),
    ("$2a$09$YhstxoAjO7M5MtAIFv7dVO70/pElJAYrzyumeCpLpZV2Gcz4J2/F.", "test123", "bcrypt9"),
    ("$2a$10$cFxpMx6YDrH/PXwLpTlux.KVykN1TG2Pgdl5oJX5/G/KYp3G6jbFG", "test123", "bcrypt"),
    (
        "{PBKDF2}10000$ekcItXk4jtK2bBjbVk0rZuWRjT0DoQqQJOIfyMeLIxg="
        "$RA2/Nn1jRi8QskRS5IVotCV0FBO6M8DlNXC37GKa/8c=",
        "test123",
        "pbkdf2",
    ),
    (
        "{PBKDF2}1000$32yPZSShxuKYAl47ip0g6VwbFrD8tvFJuQCoRPGhXC8="
        "$cXAE1BkBXRmkv7pQA7fw4TZ1+rFWS2/nZGeA3kL1Eu8=",
        "test123",
        "pbkdf2_1000",
    ),
    (
        "{PBKDF2}50000$z1CLJt0MEFjkIK5iEfgvfnA6xq7lF25uasspsTKSo5Q="
        "$XxCVLbaKDimOdyWgLCLJiyoiWpA/XDMe/xtVgn1r5Sg=",
        "test123",
        "pbkdf2_50000",
    ),
    ("{SHA}cojt0Pw//L6ToM8G41aOKFIWh7w=", "test123", "sha1"),
    (
        "$2b$09$OLrfKSXQJxohtFnkU.VZCO1gKywaTSFi4KPHqhuyY3qetAbI8v6/S",
        "NjJmOWRmMjJmODEyZmQ1NjFhNWVmZmIwOWMwNjk4MmMK",
        "bcrypt9",
    ),
    (
        "$2a$06$aQVRp5ajsIn3fzx2MnXKy.KlhxFLHaCOh8jSElqCtmYFbRkmTy..C",
        "https://bcrypt-generator.com/",
        "bcrypt6",
    ),
    ("$2y$10$flKBxak./o.7Hql0il/98ejdZyob67TmPhHbRy3qOnMtCBosAVSRy", "php", "bcrypt"),
    (
        "{PBKDF2_STRETCH}10000$8QN+eThJEaCd18sCP0nfzxJq2D9yhmSZgI20TDooYcE="
        "$+0ELfqW4D2+/SlHvm/885dzv67qO2SMJg32Mv/9epXk=",
        "r5wdbdboQSe9vGOKwaJGAw",
        "pbkdf2_stretch",
    ),
]

# Fast enough to round-trip on every run; the slow ones are covered by a sample below.
FAST = [
    name
    for name in CACHE_HASH_ALGORITHMS
    if not (name.startswith("bcrypt") and resolve_hasher(name).cost > 6)
    and resolve_hasher(name).cost <= 50_000
]


@pytest.mark.parametrize(("stored", "password", "algorithm"), ES_VECTORS)
def test_elasticsearch_hashes_verify(stored: str, password: str, algorithm: str) -> None:
    hasher = hasher_for_hash(stored)
    assert hasher.name == algorithm
    assert hasher.verify(password, stored)
    assert not hasher.verify(password + "x", stored)
    assert verify_hash(password.encode(), stored)


@pytest.mark.parametrize("name", FAST)
def test_round_trip(name: str) -> None:
    hasher = resolve_hasher(name)
    stored = hasher.hash("correct horse")
    assert hasher.verify("correct horse", stored)
    assert hasher.verify(b"correct horse", stored)
    assert not hasher.verify("correct horsf", stored)
    assert not hasher.verify("", stored)
    if hasher.scheme is not Scheme.NOOP:
        assert hasher_for_hash(stored).verify("correct horse", stored)
    if hasher.scheme not in (Scheme.NOOP, Scheme.SHA1, Scheme.MD5):
        assert hasher.hash("correct horse") != stored  # a new salt each time


@pytest.mark.parametrize("name", ["bcrypt8", "pbkdf2_100000", "pbkdf2_stretch_100000"])
def test_round_trip_slower_costs(name: str) -> None:
    hasher = resolve_hasher(name)
    stored = hasher.hash("änother pässword")
    assert hasher.verify("änother pässword", stored)
    assert not hasher.verify("another password", stored)


def test_formats_match_elasticsearch() -> None:
    assert resolve_hasher("bcrypt").hash("secret")[:7] == "$2a$10$"
    assert len(resolve_hasher("bcrypt4").hash("secret")) == 60
    assert resolve_hasher("bcrypt14").cost == 14
    salt, key = (
        resolve_hasher("pbkdf2_1000").hash("secret").removeprefix("{PBKDF2}1000$").split("$")
    )
    assert (len(salt), len(key)) == (44, 44)  # 32-byte salt, 256-bit key, padded base64
    assert resolve_hasher("pbkdf2").hash("secret").startswith("{PBKDF2}10000$")
    assert resolve_hasher("pbkdf2_stretch_1000").hash("s").startswith("{PBKDF2_STRETCH}1000$")
    ssha = resolve_hasher("ssha256").hash("secret")
    assert ssha.startswith("{SSHA256}")
    assert len(ssha) == len("{SSHA256}") + 12 + 44
    assert resolve_hasher("noop").hash("secret") == "secret"


def test_resolve_names_like_elasticsearch() -> None:
    assert resolve_hasher("BCRYPT") is resolve_hasher("bcrypt")
    assert resolve_hasher("bcrypt10") is resolve_hasher("bcrypt")
    assert resolve_hasher("pbkdf2_10000") is resolve_hasher("pbkdf2")
    assert resolve_hasher("clear_text") is resolve_hasher("noop")
    with pytest.raises(ValueError, match=r"^unknown hash function \[bcrypt3\]$"):
        resolve_hasher("bcrypt3")
    with pytest.raises(ValueError, match="unknown hash function"):
        resolve_hasher("sha256")
    assert STORED_HASH_ALGORITHMS[:3] == ("bcrypt", "bcrypt4", "bcrypt5")
    assert "pbkdf2_stretch_1000000" in STORED_HASH_ALGORITHMS
    assert not {"noop", "ssha256", "sha1", "md5"} & set(STORED_HASH_ALGORITHMS)


def test_stored_hash_algorithm_setting_values() -> None:
    assert stored_hash_algorithm("PBKDF2_STRETCH") == "pbkdf2_stretch"
    with pytest.raises(ValueError, match=r"^Invalid algorithm: noop\. Valid values for password"):
        stored_hash_algorithm("noop")


def test_hasher_for_hash_costs_and_refusals() -> None:
    cost4 = "$2a$04$GwJtIQiGMHASEYphMiCpjeZh1cDyYC5U.DKfNKa4i/y0IbOvc2LiG"
    assert hasher_for_hash(cost4).name == "bcrypt4"
    stretch = "{PBKDF2_STRETCH}1000$sTyix9e0zNINzq2aDZ+GD5+QlO94xVyf/bv4pWNhBxo=$4KuzGPy9HXnhY3AN"
    assert hasher_for_hash(stretch).name == "pbkdf2_stretch_1000"
    with pytest.raises(ValueError, match=r"unknown hash function \[bcrypt15\]"):
        hasher_for_hash(cost4.replace("$04$", "$15$"))
    with pytest.raises(ValueError, match=r"unknown hash function \[pbkdf2_20000\]"):
        hasher_for_hash("{PBKDF2}20000$c2FsdHNhbHQ=$a2V5")
    with pytest.raises(ValueError, match="number of iterations"):
        hasher_for_hash("{PBKDF2}many$c2FsdHNhbHQ=$a2V5")
    # Elasticsearch would compare these as clear text; Bastion refuses them.
    for stored in ("plain-secret", "{plain}test123", "$apr1$R3DdqiAZ$aljIkaIVPSarmDMlJUBBP.", ""):
        with pytest.raises(ValueError) as caught:
            hasher_for_hash(stored)
        assert stored == "" or stored not in str(caught.value)
        assert not verify_hash(stored, stored)


def test_malformed_hashes_never_match_or_raise() -> None:
    pbkdf2 = resolve_hasher("pbkdf2_1000")
    good = pbkdf2.hash("secret")
    salt_and_key = good.removeprefix("{PBKDF2}1000$")
    for stored in [
        good.replace("{PBKDF2}1000$", "{PBKDF2}10000$"),  # another hasher's iterations
        "{PBKDF2}1000$" + salt_and_key.split("$")[0],  # no key
        "{PBKDF2}1000$!!!$" + salt_and_key.split("$")[1],  # salt not base64
        "{PBKDF2}1000$c2FsdA==$" + salt_and_key.split("$")[1],  # salt under 8 bytes
        "{PBKDF2}1000$" + salt_and_key.split("$")[0] + "$abc",  # key under 128 bits
        "{PBKDF2}1000$" + salt_and_key + "é",
        "{PBKDF2}" + "1" * 5000 + "$" + salt_and_key,  # not an int
        "$2a$04$short",
        "$2x$04$GwJtIQiGMHASEYphMiCpjeZh1cDyYC5U.DKfNKa4i/y0IbOvc2LiG",
        "{SSHA256}!!",
        "",
    ]:
        for hasher in (pbkdf2, resolve_hasher("bcrypt4"), resolve_hasher("ssha256")):
            assert not hasher.verify("secret", stored)


def test_bcrypt_uses_the_first_72_bytes_like_elasticsearch() -> None:
    hasher = resolve_hasher("bcrypt4")
    long_password = "x" * 72
    stored = hasher.hash(long_password + "tail")
    assert hasher.verify(long_password, stored)
    assert hasher.verify(long_password + "other tail", stored)
    assert not hasher.verify(long_password[:-1], stored)
    # Multi-byte characters count in bytes.
    stored = hasher.hash("é" * 40)  # 80 bytes
    assert hasher.verify("é" * 36, stored)
    assert not hasher.verify("é" * 35, stored)


def test_password_encoding_follows_java() -> None:
    hasher = resolve_hasher("pbkdf2_1000")
    stored = hasher.hash("pässwörd")
    assert hasher.verify("pässwörd".encode(), stored)
    # Invalid UTF-8 is decoded to U+FFFD as Java does, so both spellings verify.
    stored = hasher.hash(b"bad\xffbyte")
    assert hasher.verify("bad\ufffdbyte", stored)
    # An unpaired surrogate is encoded as `?` as Java does.
    assert hasher.verify("a?b", hasher.hash("a\ud800b"))


def test_repr_shows_no_secret() -> None:
    hasher: Hasher = resolve_hasher("bcrypt4")
    assert repr(hasher) == "Hasher(name='bcrypt4', scheme=<Scheme.BCRYPT: 'bcrypt'>, cost=4)"


def test_one_hash_at_default_cost_is_elasticsearch_shaped() -> None:
    stored = resolve_hasher("bcrypt").hash("changeme")
    assert stored.startswith("$2a$10$")
    assert len(stored) == 60
    assert hasher_for_hash(stored) is resolve_hasher("bcrypt")
    assert verify_hash("changeme", stored)
