"""`bastion keystore`: manage secure settings, as `elasticsearch-keystore` does.

Passwords and values are prompted on a terminal; otherwise they are read from stdin one line
each (the keystore password first), as Elasticsearch's tools read them. Errors exit with 65
(Elasticsearch's DATA_ERROR); `has-passwd` exits 1 when there is no password.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bastion.home import resolve_home
from bastion.keystore import (
    Entry,
    Keystore,
    KeystoreError,
    KeystoreNotFound,
    has_password,
    keystore_path,
    locked,
    read_secret_line,
    validate_setting_name,
)

DATA_ERROR = 65
NO_PASSWORD = 1


class _Exit(Exception):
    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "keystore",
        help="manage secure settings (passwords, keys) in config/bastion.keystore",
        description="Manage the secure settings of config/bastion.keystore, an AES-256-GCM "
        "encrypted file with an optional password, as elasticsearch-keystore does. Values are "
        "prompted on a terminal, else read from stdin one line each (password first).",
    )
    sub = parser.add_subparsers(dest="keystore_command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, run: Callable[[argparse.Namespace], None]) -> Any:
        child: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        child.add_argument(
            "--home", metavar="PATH", help="Bastion home (default: $BASTION_HOME or ~/.bastion)"
        )
        child.add_argument(
            "-s", "--silent", action="store_true", help="show only errors and requested values"
        )
        child.set_defaults(run=lambda args: _run(run, args))
        return child

    create = command("create", "create a new keystore holding a random keystore.seed", _create)
    create.add_argument(
        "-p", "--password", action="store_true", help="prompt for a password to protect it"
    )
    command("list", "list the names of the settings in the keystore", _list)
    add = command(
        "add", "add string settings, prompting for each value (or one line each on stdin)", _add
    )
    add.add_argument("names", nargs="+", metavar="SETTING")
    add.add_argument(
        "-f", "--force", action="store_true", help="overwrite existing settings without asking"
    )
    add.add_argument(
        "-x", "--stdin", action="store_true", help="read the values from stdin, one line each"
    )
    add_file = command("add-file", "add settings whose values are the contents of files", _add_file)
    add_file.add_argument("pairs", nargs="+", metavar="SETTING PATH")
    add_file.add_argument(
        "-f", "--force", action="store_true", help="overwrite existing settings without asking"
    )
    remove = command("remove", "remove settings from the keystore", _remove)
    remove.add_argument("names", nargs="+", metavar="SETTING")
    show = command("show", "print the value of a setting", _show)
    show.add_argument("name", metavar="SETTING")
    show.add_argument("-o", "--output", metavar="FILE", help="write the value to FILE (0600)")
    command("passwd", "change the keystore password (empty removes it)", _passwd)
    command(
        "has-passwd",
        "exit 0 if the keystore is password-protected, 1 if it is not",
        _has_passwd,
    )
    command("upgrade", "rewrite the keystore in the current format (with a new salt)", _upgrade)


def _run(run: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> int:
    try:
        run(args)
    except _Exit as done:
        if done.message:
            print(done.message, file=sys.stderr if done.code else sys.stdout)
        return done.code
    except KeystoreNotFound as error:
        print(f"ERROR: {error}. Use 'create' command to create one.", file=sys.stderr)
        return DATA_ERROR
    except KeystoreError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return DATA_ERROR
    return 0


def _path(args: argparse.Namespace) -> Path:
    return keystore_path(resolve_home(args.home).config_dir)


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.silent:
        print(message)


def _confirm(question: str) -> bool:
    answer = input(f"{question} [y/N]") if sys.stdin.isatty() else sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _open(path: Path) -> tuple[Keystore, str]:
    """The keystore and its password, prompted only when it has one."""
    password = ""
    if has_password(path):
        password = read_secret_line("Enter password for the bastion keystore : ")
    return Keystore.load(path, password), password


def _new_password() -> str:
    password = read_secret_line(
        "Enter new password for the bastion keystore (empty for no password): "
    )
    if read_secret_line("Enter same password again: ") != password:
        raise _Exit(DATA_ERROR, "ERROR: Passwords are not equal, exiting.")
    return password


def _update(path: Path, password: str, change: Callable[[Keystore], Keystore]) -> None:
    """Apply `change` to the keystore as it is now, under the lock, so concurrent writers
    all land."""
    with locked(path):
        keystore = Keystore.load(path, password)
        change(keystore).save(path, password)


def _create(args: argparse.Namespace) -> None:
    path = _path(args)
    if path.exists() and not _confirm("A bastion keystore already exists. Overwrite?"):
        raise _Exit(0, "Exiting without creating keystore.")
    password = _new_password() if args.password else ""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with locked(path):
        Keystore.create().save(path, password)
    _say(args, f"Created bastion keystore in {path}")


def _open_or_create(args: argparse.Namespace) -> tuple[Keystore, str]:
    path = _path(args)
    if path.exists():
        return _open(path)
    if not args.force and not _confirm("The bastion keystore does not exist. Create it?"):
        raise _Exit(0, "Exiting without creating keystore.")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with locked(path):
        if not path.exists():  # another command may have created it meanwhile
            Keystore.create().save(path, "")
    return Keystore.load(path, ""), ""


def _check_overwrite(args: argparse.Namespace, keystore: Keystore, names: list[str]) -> None:
    for name in names:
        validate_setting_name(name)
        overwrite = name not in keystore.entries or args.force
        if not overwrite and not _confirm(f"Setting {name} already exists. Overwrite?"):
            raise _Exit(0, "Exiting without modifying keystore.")


def _add(args: argparse.Namespace) -> None:
    names: list[str] = args.names
    if len(set(names)) != len(names):
        raise KeystoreError("Setting names must be distinct")
    keystore, password = _open_or_create(args)
    _check_overwrite(args, keystore, names)
    values: dict[str, bytes] = {}
    for name in names:
        if args.stdin or not sys.stdin.isatty():
            value = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        else:
            value = read_secret_line(f"Enter value for {name}: ")
        values[name] = value.encode()

    def change(current: Keystore) -> Keystore:
        for name, value in values.items():
            current = current.with_entry(name, Entry("string", value))
        return current

    _update(_path(args), password, change)


def _add_file(args: argparse.Namespace) -> None:
    pairs: list[str] = args.pairs
    if len(pairs) % 2:
        raise KeystoreError("add-file takes pairs of a setting name and a file path")
    files = dict(zip(pairs[::2], pairs[1::2], strict=True))
    for name in files:
        validate_setting_name(name)
    contents: dict[str, bytes] = {}
    for name, file in files.items():
        try:
            contents[name] = Path(file).read_bytes()
        except FileNotFoundError:
            raise KeystoreError(f"File [{file}] does not exist") from None
        except OSError as error:
            raise KeystoreError(f"cannot read [{file}]: {error.strerror}") from None
    keystore, password = _open_or_create(args)
    _check_overwrite(args, keystore, list(files))

    def change(current: Keystore) -> Keystore:
        for name, value in contents.items():
            current = current.with_entry(name, Entry("file", value))
        return current

    _update(_path(args), password, change)


def _list(args: argparse.Namespace) -> None:
    keystore, _ = _open(_path(args))
    for name in keystore.names():
        print(name)


def _remove(args: argparse.Namespace) -> None:
    keystore, password = _open(_path(args))
    for name in args.names:
        if name not in keystore.entries:
            raise KeystoreError(f"Setting [{name}] does not exist in the keystore.")

    def change(current: Keystore) -> Keystore:
        for name in args.names:
            current = current.without(name)
        return current

    _update(_path(args), password, change)


def _show(args: argparse.Namespace) -> None:
    keystore, _ = _open(_path(args))
    entry = keystore.entries.get(args.name)
    if entry is None:
        raise KeystoreError(f"Setting [{args.name}] does not exist in the keystore.")
    if args.output:
        descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(entry.value)
        return
    if entry.type == "string":
        print(entry.value.decode())
    else:
        sys.stdout.buffer.write(entry.value)
        sys.stdout.buffer.flush()


def _passwd(args: argparse.Namespace) -> None:
    path = _path(args)
    _, password = _open(path)
    new_password = _new_password()
    with locked(path):
        Keystore.load(path, password).save(path, new_password)
    _say(args, "Bastion keystore password changed successfully.")


def _has_passwd(args: argparse.Namespace) -> None:
    try:
        protected = has_password(_path(args))
    except KeystoreNotFound:
        raise _Exit(NO_PASSWORD, "ERROR: Bastion keystore not found") from None
    if not protected:
        raise _Exit(NO_PASSWORD, "ERROR: Keystore is not password-protected")
    _say(args, "Keystore is password-protected")


def _upgrade(args: argparse.Namespace) -> None:
    path = _path(args)
    _, password = _open(path)
    _update(path, password, lambda keystore: keystore)
