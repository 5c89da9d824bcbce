"""The tamper-evidence of the audit log: a hash chain over the lines and signed checkpoints.

Every line ends with `"event.hash":"<hex>"}`: SHA-256 of the previous line's hash, a newline,
and this line as written minus that last field (the bytes up to `,"event.hash"` plus `}`), so
the hashed content is exactly what is on disk, with no re-serialization. Every
`CHECKPOINT_INTERVAL` events, and as the last line before a rotation, a checkpoint line signs
the chain so far with HMAC-SHA256: a reader who recomputes the chain after editing lines cannot
forge the signature without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

import orjson

GENESIS = "0" * 64  # the "previous hash" of the very first line
HASH_FIELD = b',"event.hash":"'
HASH_SUFFIX_LEN = len(HASH_FIELD) + 64 + 2  # ,"event.hash":"<64 hex>"}
CHECKPOINT_INTERVAL = 1000
CHECKPOINT_TYPE = "bastion_checkpoint"
SIGNING_KEY_FILE = "audit_signing.key"


def link(previous: str, content: bytes) -> str:
    return hashlib.sha256(previous.encode() + b"\n" + content).hexdigest()


def chained_line(fields: dict[str, object], previous: str) -> tuple[bytes, str]:
    """(the line with its `event.hash` and newline, that hash)."""
    content = orjson.dumps(fields)
    digest = link(previous, content)
    return content[:-1] + HASH_FIELD + digest.encode() + b'"}\n', digest


def split_line(line: bytes) -> tuple[bytes, str] | None:
    """(hashed content, recorded hash) of a chained line without its newline; None if it has
    no well-formed `event.hash` ending."""
    if len(line) <= HASH_SUFFIX_LEN or not line.endswith(b'"}'):
        return None
    cut = len(line) - HASH_SUFFIX_LEN
    if line[cut : cut + len(HASH_FIELD)] != HASH_FIELD:
        return None
    recorded = line[cut + len(HASH_FIELD) : -2].decode("ascii", "replace")
    return line[:cut] + b"}", recorded


def sign(key: bytes, sequence: int, chain_hash: str) -> str:
    return hmac.new(key, f"{sequence}:{chain_hash}".encode(), hashlib.sha256).hexdigest()


def signature_valid(key: bytes, sequence: int, chain_hash: str, signature: str) -> bool:
    return hmac.compare_digest(sign(key, sequence, chain_hash), signature)


def load_or_create_key(config_dir: Path) -> bytes:
    """The checkpoint key: `<config>/audit_signing.key` (0600), created atomically on first
    use; when two workers race, the first rename wins and both read the winner's key."""
    path = config_dir / SIGNING_KEY_FILE
    if not path.exists():
        config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=config_dir, prefix=".audit_signing.")
        try:
            os.write(fd, secrets.token_hex(32).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)  # fails if another worker created it first: keep theirs
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return read_key(path)


def read_key(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path} does not hold a hex key") from None
    if len(key) < 32:
        raise ValueError(f"{path} holds a key shorter than 256 bits")
    return key
