"""`bastion engine install|start`: the managed engine on its own, for set-up and debugging."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from bastion.cli.common import add_home_options, fail, load
from bastion.cli.progress import ProgressBar
from bastion.config import SettingsError
from bastion.config import settings as s
from bastion.engine.cluster import ManagedEngine
from bastion.engine.install import EngineError, install


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "engine", help="install or run the managed OpenSearch engine on its own"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    install_parser = actions.add_parser(
        "install", help="fetch OpenSearch from Maven Central into the engine cache (idempotent)"
    )
    add_home_options(install_parser)
    install_parser.add_argument("--version", dest="engine_version", help="OpenSearch version")
    install_parser.set_defaults(run=run_install)
    start_parser = actions.add_parser(
        "start", help="run the engine in the foreground and print its URLs (for debugging)"
    )
    add_home_options(start_parser)
    start_parser.add_argument("--nodes", type=int, help="number of nodes (default 1)")
    start_parser.set_defaults(run=run_start)


def run_install(args: argparse.Namespace) -> int:
    try:
        _, settings = load(args, **{"bastion.engine.version": args.engine_version})
        bar = ProgressBar("installing the engine")
        done = install(settings.get(s.ENGINE_VERSION), bar, settings.get(s.ENGINE_JAVA_HOME))
        bar.finish()
    except (SettingsError, EngineError) as error:
        return fail(str(error))
    print(f"OpenSearch {done.version} is installed in {done.root}")
    return 0


def run_start(args: argparse.Namespace) -> int:
    try:
        home, settings = load(args, **{"bastion.engine.nodes": args.nodes})
        bar = ProgressBar("installing the engine")
        done = install(settings.get(s.ENGINE_VERSION), bar, settings.get(s.ENGINE_JAVA_HOME))
        bar.finish()
    except (SettingsError, EngineError) as error:
        return fail(str(error))
    engine = ManagedEngine(
        done,
        home,
        nodes=settings.get(s.ENGINE_NODES),
        cluster_name=settings.get(s.CLUSTER_NAME),
        heap_min=settings.get(s.ENGINE_HEAP_MIN),
        heap_max=settings.get(s.ENGINE_HEAP_MAX),
        startup_timeout=settings.get(s.ENGINE_STARTUP_TIMEOUT),
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await engine.start()
        for spec in engine.specs:
            print(f"{spec.name}: {spec.url} (log: {spec.log_file})", flush=True)
        try:
            await stop.wait()
        finally:
            await engine.stop()

    try:
        asyncio.run(serve())
    except EngineError as error:
        return fail(str(error))
    print("engine stopped", file=sys.stderr)
    return 0
