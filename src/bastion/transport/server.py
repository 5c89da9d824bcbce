"""The HTTP server of one gateway worker process (Bastion's own HTTP/1.1 protocol on uvloop).

Several workers share one port with SO_REUSEPORT; the kernel spreads connections among them.
See docs/architecture.md for the choice of server.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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
from bastion.transport import http as route
from bastion.transport.connection_filter import ConnectionFilter, bound_addresses
from bastion.transport.http import HttpServer, Limits, Router
from bastion.transport.listener import GatedListener

SHUTDOWN_GRACE = 20.0  # seconds in-flight requests get to finish after SIGTERM


@dataclass(frozen=True, slots=True)
class Gateway:
    """One worker's server, the filter its listener consults for every accepted connection
    (IP filtering), and what must run before the first request and after the last."""

    server: HttpServer
    connection_filter: ConnectionFilter
    startup: Callable[[], Awaitable[None]]
    cleanup: Callable[[], Awaitable[None]]


def build_gateway(
    settings: Settings, engine_urls: Sequence[str], config_dir: Path, keystore_password: str = ""
) -> Gateway:
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
    node = {"cluster_name": settings.get(s.CLUSTER_NAME), "node_name": settings.get(s.NODE_NAME)}
    audit_enabled = settings.get(s.AUDIT_ENABLED)
    routes = [
        route.get("/", pipeline.cluster_info),
        *RoleApi(security).routes(),  # before users: `user/_has_privileges`
        *UserApi(security).routes(),
        *RoleMappingApi(security).routes(),
        *ApplicationPrivilegeApi(security).routes(),
        *ApiKeyApi(security).routes(),
        *RealmApi(security, **node).routes(),
        *TokenApi(security).routes(),
        *ServiceAccountApi(security, **node).routes(),
        *EnrollmentApi(security, config_dir, engine_urls).routes(),
        *ReloadSecureSettingsApi(security, **node).routes(),
        *ClusterSettingsApi(security, engine).routes(),
        *BastionStatsApi(config_dir.parent / "logs", audit_enabled=audit_enabled).routes(),
    ]
    limits = Limits(
        max_initial_line_length=settings.get(s.HTTP_MAX_INITIAL_LINE_LENGTH),
        max_header_size=settings.get(s.HTTP_MAX_HEADER_SIZE),
        max_content_length=settings.get(s.HTTP_MAX_CONTENT_LENGTH),
        idle_timeout=settings.get(s.HTTP_IDLE_TIMEOUT),
    )
    # Everything that is not a local API goes to the engine.
    server = HttpServer(limits, Router(routes, pipeline.forward), pipeline.middleware)
    connection_filter = ConnectionFilter(security.dynamic, bound_addresses(settings))
    connection_filter.audit_listener = security.audit.connection

    async def startup() -> None:
        await security.reload_dynamic()  # stored IP filter rules apply before the first accept
        security.start()

    async def cleanup() -> None:
        await security.stop()
        await engine.close()

    return Gateway(server, connection_filter, startup, cleanup)


async def serve(
    settings: Settings,
    engine_urls: Sequence[str],
    port: int,
    config_dir: Path,
    keystore_password: str = "",
) -> None:
    """Serve until SIGTERM or SIGINT, then let in-flight requests finish."""
    gateway = build_gateway(settings, engine_urls, config_dir, keystore_password)
    await gateway.startup()
    # What start-up built lives as long as the worker: keep it out of every later collection.
    gc.collect()
    gc.freeze()
    tls = _http_tls(settings, config_dir, keystore_password)
    listener = GatedListener(
        gateway.server,
        settings.get(s.HTTP_HOST),
        port,
        ssl_context=tls.current if tls is not None else lambda: None,
        connection_filter=gateway.connection_filter,
    )
    try:
        await listener.start()
    except OSError:
        await gateway.cleanup()
        raise
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
    await listener.stop()
    await gateway.server.shutdown(SHUTDOWN_GRACE)
    await gateway.cleanup()


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
