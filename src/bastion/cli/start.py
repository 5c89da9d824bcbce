"""`bastion start`: run the engine and the gateway until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bastion import supervisor
from bastion.cli.common import add_home_options, fail, load
from bastion.cli.progress import ProgressBar
from bastion.config import SettingsError


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "start",
        help="run Bastion: the managed engine (installed on first run) and the gateway",
        description="Run the gateway on 127.0.0.1:9200 in front of a managed OpenSearch "
        "(installed on first run), or in front of an external cluster with --backend.",
    )
    add_home_options(parser)
    parser.add_argument("--port", type=int, help="gateway port (http.port, default 9200)")
    parser.add_argument("--host", help="gateway IP address (http.host)")
    parser.add_argument("--workers", type=int, help="gateway processes (bastion.workers)")
    parser.add_argument(
        "--backend",
        metavar="URL[,URL…]",
        help="an external OpenSearch/Elasticsearch cluster instead of the managed engine",
    )
    parser.add_argument("--nodes", type=int, help="managed engine nodes (bastion.engine.nodes)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        home, settings = load(
            args,
            **{
                "http.port": args.port,
                "http.host": args.host,
                "bastion.workers": args.workers,
                "bastion.backend.hosts": args.backend,
                "bastion.engine.nodes": args.nodes,
            },
        )
    except SettingsError as error:
        return fail(str(error))
    bar = ProgressBar("installing the engine")

    def announce(message: str) -> None:
        bar.finish()
        print(message, file=sys.stderr, flush=True)

    try:
        asyncio.run(supervisor.run(settings, home, bar, announce))
    except supervisor.StartError as error:
        bar.finish()
        return fail(str(error))
    return 0
