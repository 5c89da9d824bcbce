"""The `bastion` command: one module per command group."""

from __future__ import annotations

import argparse
import logging
import sys

from bastion import __version__
from bastion.cli import (
    audit,
    certutil,
    engine,
    enroll,
    enrollment_token,
    keystore,
    reset_password,
    service_tokens,
    start,
    users,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bastion",
        description="Bastion: Elasticsearch security in front of a search engine.",
    )
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start.register(commands)
    engine.register(commands)
    users.register(commands)
    reset_password.register(commands)
    enrollment_token.register(commands)
    enroll.register(commands)
    service_tokens.register(commands)
    certutil.register(commands)
    keystore.register(commands)
    audit.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s][%(levelname)s][%(name)s] %(message)s"
    )
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
