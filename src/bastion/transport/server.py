"""The HTTP server of one gateway worker process (aiohttp on uvloop).

Several workers share one port with SO_REUSEPORT; the kernel spreads connections among them.
See docs/architecture.md for why aiohttp.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from bastion.backend.client import EngineClient
from bastion.config import settings as s
from bastion.config.settings import Settings
from bastion.rest.info import ClusterInfo
from bastion.rest.pipeline import RestPipeline
from bastion.rest.security.app_privileges import ApplicationPrivilegeApi
from bastion.rest.security.realms import RealmApi
from bastion.rest.security.role_mappings import RoleMappingApi
from bastion.rest.security.roles import RoleApi
from bastion.rest.security.users import UserApi
from bastion.security import Security

SHUTDOWN_GRACE = 20.0  # seconds in-flight requests get to finish after SIGTERM


async def _elastic_product(_: web.Request, response: web.StreamResponse) -> None:
    # Official Elasticsearch clients refuse a server that does not send this header.
    response.headers["X-Elastic-Product"] = "Elasticsearch"
    # aiohttp would otherwise announce its own and Python's versions.
    response.headers["Server"] = "bastion"


def build_app(settings: Settings, engine_urls: Sequence[str], config_dir: Path) -> web.Application:
    engine = EngineClient(
        engine_urls,
        max_connections=settings.get(s.BACKEND_MAX_CONNECTIONS),
        timeout=settings.get(s.BACKEND_REQUEST_TIMEOUT),
    )
    info = ClusterInfo(
        engine,
        cluster_name=settings.get(s.CLUSTER_NAME),
        node_name=settings.get(s.NODE_NAME),
        version=settings.get(s.INFO_VERSION),
    )
    security = Security(settings, engine, config_dir)
    pipeline = RestPipeline(
        engine,
        info,
        security,
        max_content_length=settings.get(s.HTTP_MAX_CONTENT_LENGTH),
        read_timeout=settings.get(s.HTTP_READ_TIMEOUT),
    )
    # aiohttp enforces client_max_size while reading a body sent without Content-Length.
    app = web.Application(
        client_max_size=settings.get(s.HTTP_MAX_CONTENT_LENGTH), middlewares=[pipeline.middleware]
    )
    app.router.add_get("/", pipeline.cluster_info)
    app.router.add_routes(RoleApi(security).routes())  # before users: `user/_has_privileges`
    app.router.add_routes(UserApi(security).routes())
    app.router.add_routes(RoleMappingApi(security).routes())
    app.router.add_routes(ApplicationPrivilegeApi(security).routes())
    node = {"cluster_name": settings.get(s.CLUSTER_NAME), "node_name": settings.get(s.NODE_NAME)}
    app.router.add_routes(RealmApi(security, **node).routes())
    app.router.add_route("*", "/{tail:.*}", pipeline.forward)  # everything else: the engine
    app.on_response_prepare.append(_elastic_product)

    async def start_security(_: web.Application) -> None:
        security.start()

    async def close(_: web.Application) -> None:
        await security.stop()
        await engine.close()

    app.on_startup.append(start_security)
    app.on_cleanup.append(close)
    return app


async def serve(
    settings: Settings, engine_urls: Sequence[str], port: int, config_dir: Path
) -> None:
    """Serve until SIGTERM or SIGINT, then let in-flight requests finish."""
    runner = web.AppRunner(
        build_app(settings, engine_urls, config_dir),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE,
        keepalive_timeout=settings.get(s.HTTP_IDLE_TIMEOUT),
        max_line_size=settings.get(s.HTTP_MAX_INITIAL_LINE_LENGTH),
        max_field_size=settings.get(s.HTTP_MAX_HEADER_SIZE),
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.get(s.HTTP_HOST), port, reuse_port=True, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)  # the supervisor waits for this line
    await stop.wait()
    await runner.cleanup()


def run_worker(settings: Settings, engine_urls: Sequence[str], port: int, config_dir: Path) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        pass
    try:
        asyncio.run(serve(settings, engine_urls, port, config_dir))
    except OSError as error:
        print(f"bastion worker: cannot listen on port {port}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
