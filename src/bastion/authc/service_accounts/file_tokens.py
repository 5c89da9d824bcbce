"""`config/service_tokens`: `namespace/service/token_name:hash`, one token a line, as
Elasticsearch's file. Read by the gateways (reloaded when it changes) and written by
`bastion service-tokens`: atomically, mode 0600."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bastion.authc.service_accounts.token import token_name_error

log = logging.getLogger(__name__)

FILE_NAME = "service_tokens"


class ServiceTokensFileError(Exception):
    pass


def parse(text: str, source: Path) -> dict[str, str]:
    """qualified token name → hash; a malformed line is skipped and logged."""
    tokens: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        qualified, sep, password_hash = line.partition(":")
        parts = qualified.split("/")
        if not sep or not password_hash or len(parts) != 3 or token_name_error(parts[2]):
            log.error("invalid line [%d] in service tokens file [%s], skipping", number, source)
            continue
        tokens[qualified] = password_hash
    return tokens


def read(path: Path) -> dict[str, str]:
    """The tokens of the file; a missing file has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise ServiceTokensFileError(f"cannot read [{path}]: {error}") from None
    return parse(text, path)


def write(path: Path, tokens: Mapping[str, str]) -> None:
    """Replace the file at once: readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{name}:{tokens[name]}\n" for name in sorted(tokens))
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{FILE_NAME}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class FileTokens:
    """The gateway's view of the file, re-read when its inode, size or mtime change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._tokens: dict[str, str] = {}
        self.reload()

    @property
    def tokens(self) -> Mapping[str, str]:
        return self._tokens

    def reload(self) -> bool:
        try:
            stat = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self._tokens = read(self.path)
        except ServiceTokensFileError as error:
            log.error("%s; keeping the previous service tokens", error)
            return False
        return True
