"""`bastion users useradd|userdel|passwd|roles|list`: file realm users, as `elasticsearch-users`.

It edits `<home>/config/users` and `<home>/config/users_roles`; new passwords are hashed with
`xpack.security.authc.password_hashing.algorithm`. Errors read and exit as Elasticsearch's tool
does (`ERROR: User [x] already exists, with exit code 70`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from bastion.authc import file_users
from bastion.authc.file_users import FileUsersError, ParsedUsers, ParsedUsersRoles
from bastion.authc.native_users import RESERVED_USERS
from bastion.authc.password_hashing import resolve_hasher
from bastion.authc.validation import password_error, role_name_error, username_error
from bastion.authz.reserved_roles import RESERVED_ROLE_NAMES
from bastion.cli.common import add_home_options, fail, load
from bastion.config import SettingsError
from bastion.config import settings as s

# Exit codes of Elasticsearch's command line tools (`ExitCodes`).
USAGE = 64
DATA_ERROR = 65
NO_USER = 67
CODE_ERROR = 70
IO_ERROR = 74
CONFIG = 78

ROLES_FILE = "roles.yml"
DEFAULT_ANONYMOUS_USERNAME = "_anonymous"


class UsersToolError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """Option errors exit with Elasticsearch's usage code, not argparse's 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        fail(f"{message}, with exit code {USAGE}")
        sys.exit(USAGE)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # Unknown options would otherwise reach the top-level parser and exit with 2.
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "users",
        help="manage file realm users (config/users and config/users_roles)",
        description="Add, remove and list the file realm's users, change their passwords and "
        "roles, as elasticsearch-users does.",
    )
    actions = parser.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser
    )

    def action(name: str, help_text: str, run: Callable[[argparse.Namespace], int]) -> Any:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        add_home_options(sub)
        sub.set_defaults(run=run)
        return sub

    useradd = action("useradd", "add a file user", run_useradd)
    useradd.add_argument("username", nargs="*", metavar="USERNAME", help="the user")
    useradd.add_argument("-p", "--password", help="the password (prompted for when absent)")
    useradd.add_argument("-r", "--roles", default="", help="comma-separated roles of the user")

    userdel = action("userdel", "remove a file user and their roles", run_userdel)
    userdel.add_argument("username", nargs="*", metavar="USERNAME", help="the user")

    passwd = action("passwd", "change a file user's password", run_passwd)
    passwd.add_argument("username", nargs="*", metavar="USERNAME", help="the user")
    passwd.add_argument("-p", "--password", help="the password (prompted for when absent)")

    roles = action("roles", "add or remove roles of a file user, or list them", run_roles)
    roles.add_argument("username", nargs="*", metavar="USERNAME", help="the user")
    roles.add_argument("-a", "--add", default="", help="comma-separated roles to add")
    roles.add_argument("-r", "-R", "--remove", default="", help="comma-separated roles to remove")

    listing = action("list", "list file users and their roles", run_list)
    listing.add_argument("username", nargs="?", metavar="USERNAME", help="only this user")


@dataclass(frozen=True, slots=True)
class _Files:
    users: Path
    users_roles: Path
    roles_yml: Path
    reserved: frozenset[str]
    algorithm: str
    min_password_length: int

    def read_users(self) -> ParsedUsers:
        parsed = file_users.read_users(self.users, self.reserved)
        if parsed is None:  # a new home has no file yet: no users
            return ParsedUsers({})
        _warn_problems(self.users, parsed.problems)
        return parsed

    def read_users_roles(self) -> ParsedUsersRoles:
        parsed = file_users.read_users_roles(self.users_roles)
        if parsed is None:
            return ParsedUsersRoles({})
        _warn_problems(self.users_roles, parsed.problems)
        return parsed

    def known_roles(self) -> frozenset[str]:
        try:
            tree = yaml.safe_load(self.roles_yml.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            tree = None
        defined = {str(name) for name in tree} if isinstance(tree, dict) else set()
        return RESERVED_ROLE_NAMES | defined


def _warn_problems(path: Path, problems: tuple[file_users.LineProblem, ...]) -> None:
    for problem in problems:
        print(
            f"Warning: [{path}] line [{problem.line}]: {problem.message}",
            file=sys.stderr,
        )


def _run(args: argparse.Namespace, command: Callable[[_Files, argparse.Namespace], None]) -> int:
    try:
        home, settings = load(args)
        config = home.config_dir
        reserved = {*RESERVED_USERS, DEFAULT_ANONYMOUS_USERNAME, settings.get(s.ANONYMOUS_USERNAME)}
        files = _Files(
            config / file_users.USERS_FILE,
            config / file_users.USERS_ROLES_FILE,
            config / ROLES_FILE,
            frozenset(reserved),
            settings.get(s.PASSWORD_HASHING_ALGORITHM),
            settings.get(s.PASSWORD_MIN_LENGTH),
        )
        command(files, args)
    except SettingsError as error:
        return _fail(str(error), CONFIG)
    except UsersToolError as error:
        return _fail(str(error), error.code)
    except FileUsersError as error:
        return _fail(str(error), IO_ERROR)
    except OSError as error:
        return _fail(f"could not write [{error.filename}]: {error.strerror}", IO_ERROR)
    except KeyboardInterrupt:  # Ctrl-C at a password prompt: nothing was written
        print(file=sys.stderr)
        return 130
    return 0


def _fail(message: str, code: int) -> int:
    fail(f"{message}, with exit code {code}")
    return code


def _username(files: _Files, values: list[str]) -> str:
    if not values:
        raise UsersToolError("Missing username argument", USAGE)
    if len(values) > 1:
        raise UsersToolError(
            f"Expected a single username argument, found extra: [{', '.join(values)}]", USAGE
        )
    username = values[0]
    error = username_error(username, file_users.MAX_NAME_LENGTH)
    if error is None and username in files.reserved:
        error = f"Username [{username}] is reserved and may not be used."
    if error is None and ":" in username:
        error = "User names in the users file cannot contain [:]."  # the field separator
    if error is not None:
        raise UsersToolError(f"Invalid username [{username}]... {error}", DATA_ERROR)
    return username


def _roles(files: _Files, value: str) -> list[str]:
    if not value:
        return []
    roles = value.split(",")
    while roles and not roles[-1]:  # Java's split drops trailing empty strings
        roles.pop()
    for role in roles:
        error = role_name_error(role, file_users.MAX_NAME_LENGTH)
        if error is None and ":" in role:
            error = "Role names in the users_roles file cannot contain [:]."
        if error is not None:
            raise UsersToolError(f"Invalid role [{role}]... {error}", DATA_ERROR)
    known = files.known_roles()
    unknown = [role for role in dict.fromkeys(roles) if role not in known]
    if unknown:
        print(
            f"Warning: roles [{', '.join(unknown)}] are neither built in nor defined in "
            f"[{files.roles_yml}]. Check the names; ignore this for roles created with the API. "
            "The user gets every role given.",
            file=sys.stderr,
        )
        print(f"Known roles: [{', '.join(sorted(known))}]", file=sys.stderr)
    return roles


def _read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    # Not a terminal (a pipe, a test): read a line, as Elasticsearch's terminal does.
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise UsersToolError("unable to read the password from standard input", IO_ERROR)
    return line.rstrip("\r\n")


def _password(value: str | None, minimum: int) -> str:
    password = value if value is not None else _read_secret("Enter new password: ")
    if error := password_error(password, minimum):
        raise UsersToolError(f"Invalid password...{error}", DATA_ERROR)
    if value is None and _read_secret("Retype new password: ") != password:
        raise UsersToolError("Password mismatch", DATA_ERROR)
    return password


def _missing(username: str) -> UsersToolError:
    return UsersToolError(f"User [{username}] doesn't exist", NO_USER)


def _useradd(files: _Files, args: argparse.Namespace) -> None:
    username = _username(files, args.username)
    users = files.read_users()
    if username in users.hashes:
        raise UsersToolError(f"User [{username}] already exists", CODE_ERROR)
    roles = _roles(files, args.roles)
    password_hash = resolve_hasher(files.algorithm).hash(
        _password(args.password, files.min_password_length)
    )
    file_users.write_users(files.users, {**users.hashes, username: password_hash})
    if roles:
        user_roles = files.read_users_roles()
        file_users.write_users_roles(files.users_roles, {**user_roles.roles, username: roles})


def _userdel(files: _Files, args: argparse.Namespace) -> None:
    username = _username(files, args.username)
    users = files.read_users()
    if username not in users.hashes:
        raise _missing(username)
    remaining = {name: value for name, value in users.hashes.items() if name != username}
    file_users.write_users(files.users, remaining)
    user_roles = files.read_users_roles()
    if username in user_roles.roles:
        others = {name: roles for name, roles in user_roles.roles.items() if name != username}
        file_users.write_users_roles(files.users_roles, others)


def _passwd(files: _Files, args: argparse.Namespace) -> None:
    username = _username(files, args.username)
    users = files.read_users()
    if username not in users.hashes:
        raise _missing(username)
    password_hash = resolve_hasher(files.algorithm).hash(
        _password(args.password, files.min_password_length)
    )
    file_users.write_users(files.users, {**users.hashes, username: password_hash})


def _roles_command(files: _Files, args: argparse.Namespace) -> None:
    username = _username(files, args.username)
    added, removed = _roles(files, args.add), _roles(files, args.remove)
    if not added and not removed:
        _list(files, username)
        return
    if username not in files.read_users().hashes:
        raise _missing(username)
    user_roles = files.read_users_roles()
    kept = [
        role
        for role in dict.fromkeys([*user_roles.roles_of(username), *added])
        if role not in removed
    ]
    updated = {name: roles for name, roles in user_roles.roles.items() if name != username}
    if kept:
        updated[username] = tuple(kept)
    file_users.write_users_roles(files.users_roles, updated)


def _list(files: _Files, username: str | None) -> None:
    users = files.read_users()
    user_roles = files.read_users_roles()
    known = files.known_roles()
    if username is not None:
        if username not in users.hashes:
            raise _missing(username)
        rows = [(username, user_roles.roles_of(username))]
    else:
        rows = list(user_roles.roles.items())
        rows += [(name, ()) for name in users.hashes if name not in user_roles.roles]
        if not rows:
            print("No users found")
            return
    unknown_found = False
    for name, roles in rows:
        marked = [role if role in known else f"{role}*" for role in roles]
        unknown_found = unknown_found or any(role not in known for role in roles)
        print(f"{name:<15}: {','.join(marked) or '-'}")
    if unknown_found:
        print()
        print(
            f" [*]   Role is neither built in nor defined in [{files.roles_yml}]; "
            "ignore this for roles created with the API."
        )


def run_useradd(args: argparse.Namespace) -> int:
    return _run(args, _useradd)


def run_userdel(args: argparse.Namespace) -> int:
    return _run(args, _userdel)


def run_passwd(args: argparse.Namespace) -> int:
    return _run(args, _passwd)


def run_roles(args: argparse.Namespace) -> int:
    return _run(args, _roles_command)


def run_list(args: argparse.Namespace) -> int:
    return _run(args, lambda files, parsed: _list(files, parsed.username))
