"""Elasticsearch's password hashers, reading and writing its exact hash strings.

A `users` file line or a `password_hash` value moves between Elasticsearch and Bastion unchanged:

- `bcrypt`, `bcrypt4` … `bcrypt14`: `$2a$NN$<22 salt chars><31 hash chars>` (`$2b$`, `$2y$`
  verify too). As in Elasticsearch, only the first 72 bytes of a password count.
- `pbkdf2`, `pbkdf2_<iterations>`: `{PBKDF2}<iterations>$<base64 salt>$<base64 key>`,
  PBKDF2WithHmacSHA512, 32-byte salt, 256-bit key (verify derives the key length from the hash).
- `pbkdf2_stretch`, `pbkdf2_stretch_<iterations>`: `{PBKDF2_STRETCH}…`, the same over the
  lower-case hex SHA-512 of the password.
- For credential caches only: `ssha256` (`{SSHA256}<base64 8-byte salt><base64 digest>`),
  `sha1` (`{SHA}…`), `md5` (`{MD5}…`) and `noop`/`clear_text` (the password itself).

Hashing is slow on purpose; callers on an event loop run `hash`/`verify` in a thread (bcrypt and
hashlib release the GIL). Nothing here puts a password or a hash in a message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum

import bcrypt

Password = bytes | str

BCRYPT_MAX_BYTES = 72  # bcrypt's key schedule reads no further; Elasticsearch ignores the rest
DEFAULT_BCRYPT_COST = 10
DEFAULT_PBKDF2_ITERATIONS = 10_000
PBKDF2_SALT_BYTES = 32
PBKDF2_KEY_BYTES = 32
PBKDF2_MIN_SALT_BYTES = 8
SSHA256_SALT_BYTES = 8
_SSHA256_SALT_CHARS = 12  # base64 of 8 bytes

_BCRYPT_COSTS = range(4, 15)
_PBKDF2_ITERATIONS = (1000, 10_000, 50_000, 100_000, 500_000, 1_000_000)
_DIGITS = re.compile(r"[0-9]{1,10}")  # an int, as Java parses it
_UNRECOGNISED = "not a password hash of a supported algorithm"
_NO_ITERATIONS = "The number of iterations could not be determined from the provided PBKDF2 hash."


class Scheme(Enum):
    BCRYPT = "bcrypt"
    PBKDF2 = "{PBKDF2}"
    PBKDF2_STRETCH = "{PBKDF2_STRETCH}"
    SSHA256 = "{SSHA256}"
    SHA1 = "{SHA}"
    MD5 = "{MD5}"
    NOOP = "noop"

    @property
    def prefix(self) -> str:
        """What hashes of this scheme start with (bcrypt's `$2?$` is checked apart)."""
        return str(self.value)


def _utf8(password: Password) -> bytes:
    """The UTF-8 bytes Elasticsearch hashes: it decodes request bytes to chars (malformed
    sequences become U+FFFD) and encodes chars back (unpaired surrogates become `?`)."""
    if isinstance(password, str):
        return password.encode("utf-8", "replace")
    try:
        password.decode("utf-8")
    except UnicodeDecodeError:
        return password.decode("utf-8", "replace").encode("utf-8")
    return password


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Java's basic decoder: standard alphabet, padding optional."""
    if len(text) % 4:
        text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_bcrypt(stored: str) -> bool:
    return (
        len(stored) >= 4
        and stored[0] == "$"
        and stored[1] == "2"
        and stored[3] == "$"
        and (stored[2] in "aby")
    )


@dataclass(frozen=True, slots=True)
class Hasher:
    """One of Elasticsearch's `Hasher` values: `name` is its setting name, `cost` the bcrypt
    log2 rounds or the PBKDF2 iterations."""

    name: str
    scheme: Scheme
    cost: int = 0

    def hash(self, password: Password) -> str:
        data = _utf8(password)
        match self.scheme:
            case Scheme.BCRYPT:
                salt = bcrypt.gensalt(rounds=self.cost, prefix=b"2a")
                return bcrypt.hashpw(data[:BCRYPT_MAX_BYTES], salt).decode("ascii")
            case Scheme.PBKDF2 | Scheme.PBKDF2_STRETCH:
                salt = secrets.token_bytes(PBKDF2_SALT_BYTES)
                key = self._pbkdf2(data, salt, PBKDF2_KEY_BYTES)
                return f"{self.scheme.prefix}{self.cost}${_b64(salt)}${_b64(key)}"
            case Scheme.SSHA256:
                salt = secrets.token_bytes(SSHA256_SALT_BYTES)
                digest = hashlib.sha256(data + salt).digest()
                return f"{self.scheme.prefix}{_b64(salt)}{_b64(digest)}"
            case Scheme.SHA1:
                return self.scheme.prefix + _b64(hashlib.sha1(data).digest())  # noqa: S324
            case Scheme.MD5:
                return self.scheme.prefix + _b64(hashlib.md5(data).digest())  # noqa: S324
            case Scheme.NOOP:
                return data.decode("utf-8")

    def verify(self, password: Password, stored_hash: str) -> bool:
        """Whether `password` matches `stored_hash`, compared in constant time. A malformed hash
        or one of another scheme is a mismatch, never an exception."""
        data = _utf8(password)
        try:
            expected = stored_hash.encode("ascii")
        except UnicodeEncodeError:
            expected = None
        match self.scheme:
            case Scheme.BCRYPT:
                # Any bcrypt hasher verifies any cost, as in Elasticsearch.
                if expected is None or not _is_bcrypt(stored_hash):
                    return False
                try:
                    computed = bcrypt.hashpw(data[:BCRYPT_MAX_BYTES], expected)
                except ValueError:
                    return False
                return hmac.compare_digest(computed, expected)
            case Scheme.PBKDF2 | Scheme.PBKDF2_STRETCH:
                return expected is not None and self._verify_pbkdf2(data, stored_hash)
            case Scheme.SSHA256:
                prefix = self.scheme.prefix
                if expected is None or not stored_hash.startswith(prefix):
                    return False
                body = stored_hash[len(prefix) :]
                salt = _b64decode(body[:_SSHA256_SALT_CHARS])
                if salt is None:
                    return False
                computed = _b64(hashlib.sha256(data + salt).digest()).encode("ascii")
                return hmac.compare_digest(computed, body[_SSHA256_SALT_CHARS:].encode("ascii"))
            case Scheme.SHA1 | Scheme.MD5:
                if expected is None or not stored_hash.startswith(self.scheme.prefix):
                    return False
                return hmac.compare_digest(self.hash(data).encode("ascii"), expected)
            case Scheme.NOOP:
                return hmac.compare_digest(data, stored_hash.encode("utf-8", "replace"))

    def _pbkdf2(self, data: bytes, salt: bytes, key_bytes: int) -> bytes:
        if self.scheme is Scheme.PBKDF2_STRETCH:
            data = hashlib.sha512(data).hexdigest().encode("ascii")
        return hashlib.pbkdf2_hmac("sha512", data, salt, self.cost, key_bytes)

    def _verify_pbkdf2(self, data: bytes, stored: str) -> bool:
        prefix = self.scheme.prefix
        if not stored.startswith(prefix):
            return False
        iterations, sep1, rest = stored[len(prefix) :].partition("$")
        salt_text, sep2, key_text = rest.partition("$")
        if not (sep1 and sep2 and _DIGITS.fullmatch(iterations)) or int(iterations) != self.cost:
            return False
        # Elasticsearch sizes the key from the stored base64: whole 128-bit blocks.
        key_bits = len(key_text) * 3 // 64 * 128
        salt = _b64decode(salt_text)
        if key_bits <= 0 or salt is None or len(salt) < PBKDF2_MIN_SALT_BYTES:
            return False
        computed = _b64(self._pbkdf2(data, salt, key_bits // 8)).encode("ascii")
        return hmac.compare_digest(computed, key_text.encode("ascii"))


def _build() -> dict[str, Hasher]:
    hashers: dict[str, Hasher] = {"bcrypt": Hasher("bcrypt", Scheme.BCRYPT, DEFAULT_BCRYPT_COST)}
    for cost in _BCRYPT_COSTS:
        name = f"bcrypt{cost}"
        hashers[name] = hashers["bcrypt"] if cost == 10 else Hasher(name, Scheme.BCRYPT, cost)
    for base, scheme in (("pbkdf2", Scheme.PBKDF2), ("pbkdf2_stretch", Scheme.PBKDF2_STRETCH)):
        hashers[base] = Hasher(base, scheme, DEFAULT_PBKDF2_ITERATIONS)
        for iterations in _PBKDF2_ITERATIONS:
            hashers[f"{base}_{iterations}"] = Hasher(f"{base}_{iterations}", scheme, iterations)
    # `pbkdf2_10000` is the default instance itself in Elasticsearch; the stretch one is not.
    hashers["pbkdf2_10000"] = hashers["pbkdf2"]
    hashers["ssha256"] = Hasher("ssha256", Scheme.SSHA256)
    hashers["sha1"] = Hasher("sha1", Scheme.SHA1)
    hashers["md5"] = Hasher("md5", Scheme.MD5)
    hashers["noop"] = hashers["clear_text"] = Hasher("noop", Scheme.NOOP)
    return hashers


_HASHERS = _build()

# Names valid for stored hashes (`xpack.security.authc.password_hashing.algorithm`), in
# Elasticsearch's order; caches also take `ssha256`, `sha1`, `md5`, `noop` and `clear_text`.
STORED_HASH_ALGORITHMS: tuple[str, ...] = tuple(
    name for name in _HASHERS if name.startswith(("bcrypt", "pbkdf2"))
)
CACHE_HASH_ALGORITHMS: tuple[str, ...] = tuple(_HASHERS)


def resolve_hasher(name: str) -> Hasher:
    """The hasher for an algorithm name, case-insensitive, as `Hasher.resolve`."""
    hasher = _HASHERS.get(name.lower())
    if hasher is None:
        raise ValueError(f"unknown hash function [{name}]")
    return hasher


def stored_hash_algorithm(name: str) -> str:
    """Validate a setting naming a hash to store (bcrypt or PBKDF2 only); returns it lower-cased."""
    if name.lower() not in STORED_HASH_ALGORITHMS:
        raise ValueError(
            f"Invalid algorithm: {name}. Valid values for password hashing are "
            f"[{', '.join(STORED_HASH_ALGORITHMS)}]"
        )
    return name.lower()


def _pbkdf2_iterations(stored: str, prefix: str) -> int:
    text, separator, _ = stored[len(prefix) :].partition("$")
    if not separator or not _DIGITS.fullmatch(text):
        raise ValueError(_NO_ITERATIONS)
    return int(text)


def hasher_for_hash(stored: str) -> Hasher:
    """The hasher that made `stored`, from its prefix and cost, as `Hasher.resolveFromHash`.

    Raises `ValueError` for a cost Elasticsearch has no hasher for (such as `$2a$15$`) and for
    an unrecognised string: where Elasticsearch would compare such a string as clear text,
    Bastion refuses it. The message never contains the hash."""
    if _is_bcrypt(stored):
        cost_text = stored[4 : len(stored) - 54]
        if not _DIGITS.fullmatch(cost_text):
            raise ValueError(_UNRECOGNISED)
        cost = int(cost_text)
        return (
            _HASHERS["bcrypt"] if cost == DEFAULT_BCRYPT_COST else resolve_hasher(f"bcrypt{cost}")
        )
    for scheme, base in ((Scheme.PBKDF2_STRETCH, "pbkdf2_stretch"), (Scheme.PBKDF2, "pbkdf2")):
        if stored.startswith(scheme.prefix):
            iterations = _pbkdf2_iterations(stored, scheme.prefix)
            if iterations == DEFAULT_PBKDF2_ITERATIONS:
                return _HASHERS[base]
            return resolve_hasher(f"{base}_{iterations}")
    for scheme, name in ((Scheme.SHA1, "sha1"), (Scheme.MD5, "md5"), (Scheme.SSHA256, "ssha256")):
        if stored.startswith(scheme.prefix):
            return _HASHERS[name]
    raise ValueError(_UNRECOGNISED)


def verify_hash(password: Password, stored_hash: str) -> bool:
    """Verify against whatever hasher made `stored_hash`; an unrecognised hash never matches."""
    try:
        hasher = hasher_for_hash(stored_hash)
    except ValueError:
        return False
    return hasher.verify(password, stored_hash)
