"""The file realm's files in the config folder, in Elasticsearch's formats.

- `users`: one `username:hash` per line (any hash format of `password_hashing`).
- `users_roles`: one `role:user1,user2` per line; a user's roles are every line naming it.

Lines starting with `#` are comments; blank lines are ignored. A malformed line is skipped and
reported with its line number, never with its hash: parsing never fails. Writes replace a file
atomically (temporary file in the same folder, fsync, rename) with mode 0600. As with
Elasticsearch's tools, a rewrite keeps the entries but not the comments.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from bastion.authc.password_hashing import hasher_for_hash
from bastion.authc.validation import role_name_error, username_error

log = logging.getLogger(__name__)

USERS_FILE = "users"
USERS_ROLES_FILE = "users_roles"
FILE_MODE = 0o600
# The file realm allows longer names than the native realm's 507 (document ids), as in ES.
MAX_NAME_LENGTH = 1024

_LINES = re.compile(r"\r\n|\r|\n")  # Java's readAllLines line ends
_JAVA_TRIM = "".join(chr(code) for code in range(0x21))  # String.trim(): every char <= ' '
_USERS_DELIMITER = re.compile(r"[ \t\n\x0b\f\r]*,[ \t\n\x0b\f\r]*")  # Java's \s*,\s*


class FileUsersError(Exception):
    """A file that exists but cannot be read; the message names the file, never its content."""


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line [{self.line}]: {self.message}"


@dataclass(frozen=True, slots=True)
class ParsedUsers:
    """The `users` file: username → stored hash, in file order."""

    hashes: Mapping[str, str]
    problems: tuple[LineProblem, ...] = ()

    def __repr__(self) -> str:  # never show the hashes
        return f"ParsedUsers(usernames={list(self.hashes)!r}, problems={self.problems!r})"


@dataclass(frozen=True, slots=True)
class ParsedUsersRoles:
    """The `users_roles` file, turned around: username → roles, in file order."""

    roles: Mapping[str, tuple[str, ...]]
    problems: tuple[LineProblem, ...] = ()

    def roles_of(self, username: str) -> tuple[str, ...]:
        return self.roles.get(username, ())


def _shown(name: str, limit: int = 100) -> str:
    """A name as a message may show it: escaped (no control characters reach a log or a
    terminal) and cut short."""
    escaped = name.encode("unicode_escape").decode("ascii")
    return escaped if len(escaped) <= limit else escaped[:limit] + "…"


def _lines(text: str) -> list[str]:
    lines = _LINES.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # a final line end does not start a line
    return lines


def parse_users(text: str, reserved: Collection[str] = ()) -> ParsedUsers:
    """Parse a `users` file. Names in `reserved` (the reserved realm's users, the anonymous
    user) are skipped, as Elasticsearch does while its reserved realm is enabled."""
    hashes: dict[str, str] = {}
    problems: list[LineProblem] = []
    for number, raw in enumerate(_lines(text), start=1):
        if raw.startswith("#"):
            continue
        line = raw.strip(_JAVA_TRIM)
        if not line:
            continue
        colon = line.find(":")
        if colon <= 0 or colon == len(line) - 1:
            problems.append(LineProblem(number, "invalid entry, skipped: expected [username:hash]"))
            continue
        username, password_hash = line[:colon], line[colon + 1 :]
        error = username_error(username, MAX_NAME_LENGTH)
        if error is None and username in reserved:
            error = f"Username [{username}] is reserved and may not be used."
        if error is not None:
            problems.append(
                LineProblem(number, f"invalid username [{_shown(username)}], skipped: {error}")
            )
            continue
        if username in hashes:
            problems.append(
                LineProblem(number, f"user [{username}] again, this line replaces the earlier one")
            )
        try:
            hasher_for_hash(password_hash)
        except ValueError:
            # Kept, so a rewrite does not lose it, but it never matches a password.
            problems.append(
                LineProblem(
                    number,
                    f"unsupported password hash for user [{username}]; the user cannot log in",
                )
            )
        hashes[username] = password_hash
    return ParsedUsers(MappingProxyType(hashes), tuple(problems))


def parse_users_roles(text: str) -> ParsedUsersRoles:
    """Parse a `users_roles` file."""
    roles: dict[str, list[str]] = {}
    problems: list[LineProblem] = []
    for number, line in enumerate(_lines(text), start=1):
        if line.startswith("#") or not line.strip(_JAVA_TRIM):
            continue
        colon = line.find(":")
        if colon <= 0 or colon == len(line) - 1:
            problems.append(
                LineProblem(number, "invalid entry, skipped: expected [role:user1,user2]")
            )
            continue
        role = line[:colon].strip(_JAVA_TRIM)
        error = role_name_error(role, MAX_NAME_LENGTH)
        if error is not None:
            problems.append(LineProblem(number, f"invalid role [{_shown(role)}], skipped: {error}"))
            continue
        users = [
            user for user in _USERS_DELIMITER.split(line[colon + 1 :].strip(_JAVA_TRIM)) if user
        ]
        if not users:
            problems.append(LineProblem(number, f"no users for role [{role}], skipped"))
            continue
        for user in users:
            user_roles = roles.setdefault(user, [])
            if role not in user_roles:
                user_roles.append(role)
    frozen = {user: tuple(user_roles) for user, user_roles in roles.items()}
    return ParsedUsersRoles(MappingProxyType(frozen), tuple(problems))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise FileUsersError(f"could not read [{path}]: it is not UTF-8 text") from None
    except OSError as error:
        raise FileUsersError(f"could not read [{path}]: {error.strerror}") from None


def read_users(path: Path, reserved: Collection[str] = ()) -> ParsedUsers | None:
    """The parsed `users` file, or None when it does not exist. Raises `FileUsersError`."""
    text = _read(path)
    return None if text is None else parse_users(text, reserved)


def read_users_roles(path: Path) -> ParsedUsersRoles | None:
    """The parsed `users_roles` file, or None when it does not exist. Raises `FileUsersError`."""
    text = _read(path)
    return None if text is None else parse_users_roles(text)


def log_problems(path: Path, problems: Iterable[LineProblem]) -> None:
    for problem in problems:
        log.error("[%s] line [%d]: %s", path, problem.line, problem.message)


def _check_name(kind: str, name: str, forbidden: str) -> None:
    # Such a name would read back as something else.
    if not name or any(char in forbidden for char in name):
        raise ValueError(f"{kind} [{name}] cannot be written to the file")


def format_users(hashes: Mapping[str, str]) -> str:
    lines = []
    for username, password_hash in hashes.items():
        _check_name("user", username, ":\r\n")
        if "\n" in password_hash or "\r" in password_hash:
            raise ValueError(f"the password hash of user [{username}] cannot be written")
        lines.append(f"{username}:{password_hash}\n")
    return "".join(lines)


def format_users_roles(roles: Mapping[str, Sequence[str]]) -> str:
    users_by_role: dict[str, list[str]] = {}
    for username, user_roles in roles.items():
        _check_name("user", username, ":,\r\n")
        for role in user_roles:
            _check_name("role", role, ":\r\n")
            members = users_by_role.setdefault(role, [])
            if username not in members:
                members.append(username)
    return "".join(f"{role}:{','.join(users)}\n" for role, users in users_by_role.items())


def write_atomically(path: Path, text: str, mode: int = FILE_MODE) -> None:
    """Replace `path` with `text` so that readers see the old or the new file, never a part."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            os.fchmod(file.fileno(), mode)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    # The rename itself is durable only once the folder is synced.
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_users(path: Path, hashes: Mapping[str, str]) -> None:
    write_atomically(path, format_users(hashes))


def write_users_roles(path: Path, roles: Mapping[str, Sequence[str]]) -> None:
    write_atomically(path, format_users_roles(roles))
