"""`bastion audit verify <files…>`: check audit log files for tampering (see docs/audit.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bastion.audit.chain import SIGNING_KEY_FILE, read_key
from bastion.audit.setup import SIGNING_KEY_SETTING
from bastion.audit.verify import verify
from bastion.cli.common import fail
from bastion.home import resolve_home
from bastion.keystore import (
    Keystore,
    KeystoreError,
    has_password,
    keystore_path,
    read_secret_line,
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "audit", help="work with the audit log (verify its integrity)"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify_parser = actions.add_parser(
        "verify",
        help="check the hash chain and signed checkpoints of audit log files (rotated ones too)",
    )
    verify_parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    verify_parser.add_argument(
        "--home", metavar="PATH", help="Bastion home whose signing key to use"
    )
    verify_parser.add_argument(
        "--key-file", type=Path, metavar="PATH", help="the signing key (hex), if not the home's"
    )
    verify_parser.set_defaults(run=run_verify)


def _key(args: argparse.Namespace) -> bytes | None:
    """--key-file, else the keystore's entry, else the home's key file; None if none exists."""
    if args.key_file is not None:
        return read_key(args.key_file)
    config_dir = resolve_home(args.home).config_dir
    path = keystore_path(config_dir)
    if path.exists():
        password = (
            read_secret_line("Enter password for the bastion keystore : ")
            if (has_password(path))
            else ""
        )
        secure = Keystore.load(path, password).secure_settings
        if SIGNING_KEY_SETTING in secure:
            return secure.get_string(SIGNING_KEY_SETTING).encode()
    key_file = config_dir / SIGNING_KEY_FILE
    return read_key(key_file) if key_file.exists() else None


def run_verify(args: argparse.Namespace) -> int:
    try:
        key = _key(args)
    except (OSError, ValueError, KeystoreError) as error:
        return fail(f"cannot read the audit signing key: {error}")
    for path in args.files:
        if not path.is_file():
            return fail(f"no such file [{path}]")
    report = verify(args.files, key)
    if report.problem is not None:
        print(f"TAMPERED: {report.problem}")
        return 1
    print(
        f"OK: {report.files} file(s), {report.lines} line(s), sequence "
        f"{report.first_sequence}..{report.last_sequence}, {report.checkpoints} checkpoint(s)"
        + ("" if key is not None else " (signatures NOT checked: no signing key)")
        + (
            f"; the last {report.unsigned_tail} line(s) follow the last checkpoint"
            if report.unsigned_tail
            else ""
        )
    )
    return 0
