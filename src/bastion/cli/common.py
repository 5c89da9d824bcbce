"""Options and helpers shared by the command groups."""

from __future__ import annotations

import argparse
import sys

from bastion.config import Settings, SettingsError, load_settings
from bastion.home import BastionHome, resolve_home


def add_home_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home", metavar="PATH", help="Bastion home (default: $BASTION_HOME or ~/.bastion)"
    )
    parser.add_argument(
        "-E",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a setting, as in bastion.yml (repeatable)",
    )


def fail(message: str) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return 1


def load(args: argparse.Namespace, **flags: object) -> tuple[BastionHome, Settings]:
    """The home (created if new) and its settings, with -E and the given flags on top.
    Raises `SettingsError`."""
    home = resolve_home(args.home)
    home.create()
    overrides: dict[str, object] = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SettingsError(f"-E expects KEY=VALUE, got [{item}]")
        overrides[key.strip()] = value
    overrides.update({key: value for key, value in flags.items() if value is not None})
    return home, load_settings(home.settings_file, overrides)
