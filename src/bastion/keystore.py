"""Bastion's keystore: secure settings in `<home>/config/bastion.keystore`, as Elasticsearch's
`elasticsearch.keystore`.

File layout (version 1), all integers big-endian:

    magic "BSTNKEYS" | version u8 | has_password u8 | kdf u8 | iterations u32 |
    salt 16 bytes | nonce 12 bytes | ciphertext length u32 | AES-256-GCM ciphertext + 16-byte tag

The header (everything before the ciphertext) is the AEAD's associated data, so a changed
header fails decryption like a changed ciphertext. The key is PBKDF2-HMAC-SHA512 of the (maybe
empty) password; the plaintext is JSON `{name: [type, base64 value]}`. The recorded ciphertext
length tells a truncated file (corrupt) from a wrong password.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import getpass
import logging
import os
import re
import secrets
import string
import struct
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

log = logging.getLogger(__name__)

KEYSTORE_FILENAME = "bastion.keystore"
SEED_SETTING = "keystore.seed"
PASSPHRASE_FILE_ENV = "BASTION_KEYSTORE_PASSPHRASE_FILE"  # noqa: S105 - a variable name
FORMAT_VERSION = 1
KDF_PBKDF2_HMAC_SHA512 = 1
# Elasticsearch's keystore uses PBKDF2-HMAC-SHA512 with 210,000 iterations (OWASP's figure).
PBKDF2_ITERATIONS = 210_000
# A hostile header must not make loading take hours.
MAX_ITERATIONS = 10_000_000
MAGIC = b"BSTNKEYS"
_HEADER = struct.Struct(">8sBBBI16s12sI")
_TAG_LENGTH = 16
_SEED_ALPHABET = string.ascii_letters + string.digits + "!@#$%^&*-_=+?"
# Elasticsearch's rule for names in the keystore (KeyStoreWrapper.ALLOWED_SETTING_NAME).
ALLOWED_SETTING_NAME = re.compile(r"[A-Za-z0-9_\-.]+")

EntryType = Literal["string", "file"]


class KeystoreError(Exception):
    """The keystore cannot be used; the message says why and is safe to show."""


class KeystoreNotFound(KeystoreError):
    pass


class WrongPassword(KeystoreError):
    def __init__(self) -> None:
        super().__init__("Provided keystore password was incorrect")


class CorruptKeystore(KeystoreError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"Keystore has been corrupted or tampered with: {detail}")


def keystore_path(config_dir: Path) -> Path:
    return config_dir / KEYSTORE_FILENAME


def validate_setting_name(name: str) -> None:
    if not ALLOWED_SETTING_NAME.fullmatch(name):
        raise KeystoreError(
            f"Setting name [{name}] does not match the allowed setting name pattern "
            f"[{ALLOWED_SETTING_NAME.pattern}]"
        )


@dataclass(frozen=True, slots=True)
class Entry:
    type: EntryType
    value: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SecureSettings:
    """A read-only view of the keystore's entries, for the rest of Bastion."""

    _entries: Mapping[str, Entry] = field(default_factory=dict, repr=False)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get_string(self, name: str) -> str:
        """Raises KeyError when missing, KeystoreError when the entry is a file."""
        entry = self._entries[name]
        if entry.type != "string":
            raise KeystoreError(f"Secure setting [{name}] is a file, not a string")
        return entry.value.decode()

    def get_file(self, name: str) -> bytes:
        """The bytes of a file entry (a string entry gives its UTF-8 bytes)."""
        return self._entries[name].value


@dataclass(frozen=True, slots=True)
class Keystore:
    entries: Mapping[str, Entry] = field(default_factory=dict, repr=False)
    has_password: bool = False

    @classmethod
    def create(cls) -> Keystore:
        """A new keystore holding only a random `keystore.seed`, as Elasticsearch's does."""
        seed = "".join(secrets.choice(_SEED_ALPHABET) for _ in range(20))
        return cls({SEED_SETTING: Entry("string", seed.encode())})

    @classmethod
    def load(cls, path: Path, password: str) -> Keystore:
        """Raises KeystoreNotFound, WrongPassword or CorruptKeystore."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeystoreNotFound(f"Bastion keystore not found at [{path}]") from None
        except OSError as error:
            raise KeystoreError(f"cannot read the keystore [{path}]: {error.strerror}") from None
        return cls.decrypt(data, password)

    @property
    def secure_settings(self) -> SecureSettings:
        return SecureSettings(dict(self.entries))

    def names(self) -> list[str]:
        return sorted(self.entries)

    def get_string(self, name: str) -> str:
        return self.secure_settings.get_string(name)

    def get_file(self, name: str) -> bytes:
        return self.secure_settings.get_file(name)

    def with_entry(self, name: str, entry: Entry) -> Keystore:
        validate_setting_name(name)
        if entry.type == "string":
            _check_string_value(name, entry.value)
        return Keystore({**self.entries, name: entry}, self.has_password)

    def without(self, name: str) -> Keystore:
        return Keystore({k: v for k, v in self.entries.items() if k != name}, self.has_password)

    def encrypt(self, password: str) -> bytes:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        plaintext = orjson.dumps(
            {name: [e.type, base64.b64encode(e.value).decode()] for name, e in self.entries.items()}
        )
        header = _HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            1 if password else 0,
            KDF_PBKDF2_HMAC_SHA512,
            PBKDF2_ITERATIONS,
            salt,
            nonce,
            len(plaintext) + _TAG_LENGTH,
        )
        key = _derive_key(password, salt, PBKDF2_ITERATIONS)
        return header + AESGCM(key).encrypt(nonce, plaintext, header)

    @classmethod
    def decrypt(cls, data: bytes, password: str) -> Keystore:
        if len(data) < _HEADER.size:
            raise CorruptKeystore(f"the file is {len(data)} bytes, shorter than its header")
        magic, version, has_password, kdf, iterations, salt, nonce, length = _HEADER.unpack_from(
            data
        )
        if magic != MAGIC:
            raise CorruptKeystore("this is not a Bastion keystore")
        if version != FORMAT_VERSION:
            raise CorruptKeystore(f"unknown keystore format version [{version}]")
        if kdf != KDF_PBKDF2_HMAC_SHA512 or not 1 <= iterations <= MAX_ITERATIONS:
            raise CorruptKeystore("unknown key derivation parameters")
        if has_password not in (0, 1):
            raise CorruptKeystore("bad header")
        ciphertext = data[_HEADER.size :]
        if len(ciphertext) != length:
            raise CorruptKeystore(f"expected {length} bytes of data, found {len(ciphertext)}")
        header = data[: _HEADER.size]
        try:
            plaintext = AESGCM(_derive_key(password, salt, iterations)).decrypt(
                nonce, ciphertext, header
            )
        except InvalidTag:
            # A keystore without a password opens with the empty one; failing, it was altered.
            if password or has_password:
                raise WrongPassword() from None
            raise CorruptKeystore("the data does not decrypt") from None
        return cls(_parse_entries(plaintext), bool(has_password))

    def save(self, path: Path, password: str) -> None:
        """Write atomically (temporary file, fsync, rename), readable by the owner only."""
        _write_atomically(path, self.encrypt(password))


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise writers of the keystore at `path` (an fcntl lock on a sibling lock file), so
    that two concurrent read-modify-write commands both land."""
    lock = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


def _write_atomically(path: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)  # mkstemp's mode already; said for the reader
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _derive_key(password: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA512(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(password.encode())


def _check_string_value(name: str, value: bytes) -> None:
    # Elasticsearch allows ASCII only in string settings; Bastion takes any UTF-8 text.
    try:
        value.decode()
    except UnicodeDecodeError:
        raise KeystoreError(f"String value of setting [{name}] must be valid UTF-8") from None


def _parse_entries(plaintext: bytes) -> dict[str, Entry]:
    try:
        raw = orjson.loads(plaintext)
        entries: dict[str, Entry] = {}
        for name, (kind, encoded) in raw.items():
            if kind not in ("string", "file") or not isinstance(encoded, str):
                raise ValueError(name)
            entries[name] = Entry(kind, base64.b64decode(encoded, validate=True))
    except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError, binascii.Error):
        raise CorruptKeystore("the entries are malformed") from None
    return entries


@dataclass(slots=True)
class SecureSettingsSource:
    """One worker's current secure settings and the password that opens the keystore.

    `reload` re-reads the file (Elasticsearch's reload_secure_settings) and then replaces the
    reload marker next to it; every worker of the gateway calls `follow` periodically and
    re-reads the keystore when the marker changed, so all of them see a reload."""

    path: Path
    password: str = field(repr=False)
    current: SecureSettings = field(default_factory=SecureSettings)
    _seen: tuple[int, int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._seen = self._marker_state()

    @property
    def marker(self) -> Path:
        return self.path.with_name(self.path.name + ".reload")

    def load(self) -> None:
        """The initial read. A missing or unreadable keystore means no secure settings (the
        features needing one then fail), not a worker that cannot start: the supervisor
        already refused to start with a bad keystore."""
        try:
            self.current = Keystore.load(self.path, self.password).secure_settings
        except KeystoreNotFound:
            self.current = SecureSettings()
        except KeystoreError as error:
            log.warning("no secure settings in this worker: %s", error)
            self.current = SecureSettings()

    def reload(self, password: str | None = None) -> None:
        """Re-read with `password` (None: the one known), then tell the other workers.
        Raises KeystoreError and then keeps the settings it had."""
        chosen = self.password if password is None else password
        try:
            keystore = Keystore.load(self.path, chosen)
        except KeystoreNotFound:
            raise KeystoreError("Keystore is missing") from None
        self.current = keystore.secure_settings
        self.password = chosen
        _write_atomically(self.marker, secrets.token_hex(16).encode())
        self._seen = self._marker_state()

    def follow(self) -> None:
        """Re-read when another worker reloaded; on failure keep the current settings."""
        state = self._marker_state()
        if state == self._seen:
            return
        self._seen = state
        try:
            self.current = Keystore.load(self.path, self.password).secure_settings
        except KeystoreError as error:
            log.warning("secure settings not reloaded in this worker: %s", error)

    def _marker_state(self) -> tuple[int, int] | None:
        try:
            status = self.marker.stat()
        except FileNotFoundError:
            return None
        return status.st_ino, status.st_mtime_ns


def read_secret_line(prompt: str) -> str:
    """A password from the terminal without echo, or the first line of stdin when it is not a
    terminal (as Elasticsearch's tools read one); end of input gives the empty password."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().removesuffix("\n").removesuffix("\r")


def open_for_start(config_dir: Path) -> tuple[Keystore, str]:
    """The keystore `bastion start` runs with, and its password: from the file named by
    `$BASTION_KEYSTORE_PASSPHRASE_FILE`, else prompted (or read from stdin) when the keystore
    has one. A missing keystore is created empty, with a seed, as Elasticsearch 8 does."""
    path = keystore_path(config_dir)
    password = ""
    if passphrase_file := os.environ.get(PASSPHRASE_FILE_ENV):
        try:
            text = Path(passphrase_file).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise KeystoreError(
                f"cannot read {PASSPHRASE_FILE_ENV} [{passphrase_file}]: {error}"
            ) from None
        password = text.removesuffix("\n").removesuffix("\r")
    with locked(path):
        if not path.exists():
            keystore = Keystore.create()
            keystore.save(path, password)
            return keystore, password
    if not passphrase_file and _header_says_password(path):
        password = read_secret_line("Enter password for the bastion keystore : ")
    return Keystore.load(path, password), password


def _header_says_password(path: Path) -> bool:
    try:
        return has_password(path)
    except KeystoreError:
        return False  # loading then reports what is wrong


def has_password(path: Path) -> bool:
    """Whether the keystore at `path` is password-protected (read from its header, as
    `has-passwd` needs no password). Raises KeystoreNotFound or CorruptKeystore."""
    try:
        with path.open("rb") as stream:
            header = stream.read(_HEADER.size)
    except FileNotFoundError:
        raise KeystoreNotFound(f"Bastion keystore not found at [{path}]") from None
    if len(header) < _HEADER.size or header[: len(MAGIC)] != MAGIC:
        raise CorruptKeystore("this is not a Bastion keystore")
    return bool(_HEADER.unpack(header)[2])
