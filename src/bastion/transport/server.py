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
from bastion.backend.tls import engine_ssl_context
from bastion.config import settings as s
from bastion.config.settings import Settings
from bastion.rest.bastion_stats import BastionStatsApi
from bastion.rest.cluster_settings import ClusterSettingsApi
from bastion.rest.info import ClusterInfo
from bastion.rest.pipeline import RestPipeline
from bastion.rest.secure_settings import ReloadSecureSettingsApi
from bastion.rest.security.api_keys import ApiKeyApi
from bastion.rest.security.app_privileges import ApplicationPrivilegeApi
from bastion.rest.security.enrollment import EnrollmentApi
from bastion.rest.security.realms import RealmApi
from bastion.rest.security.role_mappings import RoleMappingApi
from bastion.rest.security.roles import RoleApi
from bastion.rest.security.service_accounts import ServiceAccountApi
from bastion.rest.security.tokens import TokenApi
from bastion.rest.security.users import UserApi
from bastion.security import Security
from bastion.tls.server_context import HttpSslError, ReloadingContext, http_tls
from bastion.transport.connection_filter import ConnectionFilter, bound_addresses
from bastion.transport.listener import GatedSite

SHUTDOWN_GRACE = 20.0  # seconds in-flight requests get to finish after SIGTERM
CONNECTION_FILTER = web.AppKey("connection_filter", ConnectionFilter)


async def _elastic_product(_: web.Request, response: web.StreamResponse) -> None:
    # Official Elasticsearch clients refuse a server that does not send this header.
    response.headers["X-Elastic-Product"] = "Elasticsearch"
    # aiohttp would otherwise announce its own and Python's versions.
    response.headers["Server"] = "bastion"


def build_app(
    settings: Settings, engine_urls: Sequence[str], config_dir: Path, keystore_password: str = ""
) -> web.Application:
    engine = EngineClient(
        engine_urls,
        max_connections=settings.get(s.BACKEND_MAX_CONNECTIONS),
        timeout=settings.get(s.BACKEND_REQUEST_TIMEOUT),
        ssl_context=engine_ssl_context(settings, config_dir),
    )
    info = ClusterInfo(
        engine,
        cluster_name=settings.get(s.CLUSTER_NAME),
        node_name=settings.get(s.NODE_NAME),
        version=settings.get(s.INFO_VERSION),
    )
    security = Security(settings, engine, config_dir, keystore_password=keystore_password)
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
    app.router.add_routes(ApiKeyApi(security).routes())
    node = {"cluster_name": settings.get(s.CLUSTER_NAME), "node_name": settings.get(s.NODE_NAME)}
    app.router.add_routes(RealmApi(security, **node).routes())
    app.router.add_routes(TokenApi(security).routes())
    app.router.add_routes(ServiceAccountApi(security, **node).routes())
    app.router.add_routes(EnrollmentApi(security, config_dir, engine_urls).routes())
    app.router.add_routes(ReloadSecureSettingsApi(security, **node).routes())
    app.router.add_routes(ClusterSettingsApi(security, engine).routes())
    audit_enabled = settings.get(s.AUDIT_ENABLED)
    app.router.add_routes(
        BastionStatsApi(config_dir.parent / "logs", audit_enabled=audit_enabled).routes()
    )
    app.router.add_route("*", "/{tail:.*}", pipeline.forward)  # everything else: the engine
    app.on_response_prepare.append(_elastic_product)

    # The listener consults it for every accepted connection (IP filtering).
    app[CONNECTION_FILTER] = ConnectionFilter(security.dynamic, bound_addresses(settings))
    app[CONNECTION_FILTER].audit_listener = security.audit.connection

    async def start_security(_: web.Application) -> None:
        await security.reload_dynamic()  # stored IP filter rules apply before the first accept
        security.start()

    async def close(_: web.Application) -> None:
        await security.stop()
        await engine.close()

    app.on_startup.append(start_security)
    app.on_cleanup.append(close)
    return app


async def serve(
    settings: Settings,
    engine_urls: Sequence[str],
    port: int,
    config_dir: Path,
    keystore_password: str = "",
) -> None:
    """Serve until SIGTERM or SIGINT, then let in-flight requests finish."""
    app = build_app(settings, engine_urls, config_dir, keystore_password)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE,
        keepalive_timeout=settings.get(s.HTTP_IDLE_TIMEOUT),
        max_line_size=settings.get(s.HTTP_MAX_INITIAL_LINE_LENGTH),
        max_field_size=settings.get(s.HTTP_MAX_HEADER_SIZE),
    )
    await runner.setup()
    tls = _http_tls(settings, config_dir, keystore_password)
    site = GatedSite(
        runner,
        settings.get(s.HTTP_HOST),
        port,
        ssl_context=tls.current if tls is not None else lambda: None,
        connection_filter=app[CONNECTION_FILTER],
    )
    await site.start()
    interval = settings.get(s.RESOURCE_RELOAD_INTERVAL_HIGH)
    watch = asyncio.create_task(tls.watch(interval)) if tls is not None else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)  # the supervisor waits for this line
    await stop.wait()
    if watch is not None:
        watch.cancel()
    await runner.cleanup()


def _http_tls(
    settings: Settings, config_dir: Path, keystore_password: str
) -> ReloadingContext | None:
    try:
        return http_tls(settings, config_dir, keystore_password)
    except HttpSslError as error:
        print(f"bastion worker: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def run_worker(
    settings: Settings,
    engine_urls: Sequence[str],
    port: int,
    config_dir: Path,
    keystore_password: str = "",
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        pass
    try:
        asyncio.run(serve(settings, engine_urls, port, config_dir, keystore_password))
    except OSError as error:
        print(f"bastion worker: cannot listen on port {port}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
