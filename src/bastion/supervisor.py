"""`bastion start`: the supervisor process that runs the engine and the gateway workers.

Order on start: engine (managed, or check the external one), then N worker processes on one
port. Order on SIGINT/SIGTERM: workers drain and exit, then the engine stops. A worker or an
engine node that dies is restarted; the others keep serving meanwhile (engine down → 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from bastion.audit import stats as audit_stats
from bastion.authc.bootstrap import bootstrap_elastic_password
from bastion.authc.native_users import NativeUsers
from bastion.authc.password_hashing import resolve_hasher
from bastion.backend.client import EngineClient, EngineTLSError, EngineUnavailable
from bastion.backend.tls import BackendSSLError, engine_ssl_context
from bastion.children import die_with_parent
from bastion.cli.enrollment_token import first_start_kibana_token
from bastion.cli.local_admin import ToolError
from bastion.config import settings as s
from bastion.config.settings import Settings, load_settings
from bastion.engine.cluster import ManagedEngine
from bastion.engine.install import EngineError, install
from bastion.home import BastionHome
from bastion.keystore import KeystoreError, open_for_start
from bastion.store.security_index import SecurityIndex, StoreError
from bastion.tls.autoconfig import AutoConfiguration, AutoConfigurationError, auto_configure
from bastion.tls.pki import PkiError
from bastion.tls.server_context import HttpSslError, check_exposure, http_tls

log = logging.getLogger(__name__)

WORKER_READY_TIMEOUT = 30.0
WORKER_STOP_TIMEOUT = 25.0


class StartError(Exception):
    """Bastion cannot start; the message says why and what to do."""


def _reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) with SO_REUSEPORT: fixes port 0 to one number for every worker
    and fails early, with a clear message, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        if port:
            # SO_REUSEPORT would let us share a port with another Bastion: refuse if one listens.
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                if probe.connect_ex((host, port)) == 0:
                    raise OSError(98, "Address already in use")
    except OSError as error:
        sock.close()
        raise StartError(
            f"cannot listen on {host}:{port}: {error.strerror}; is another Bastion or "
            "Elasticsearch running? Choose another port with --port or http.port"
        ) from None
    return sock


class Worker:
    def __init__(self, index: int, spec: bytes) -> None:
        self.index = index
        self._spec = spec
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bastion.transport.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops workers in order
        )
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(self._spec + b"\n")
        await process.stdin.drain()
        process.stdin.close()
        self.process = process
        try:
            line = await asyncio.wait_for(process.stdout.readline(), WORKER_READY_TIMEOUT)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise StartError(f"gateway worker {self.index} failed to start (see the log above)")

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), WORKER_STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _check_external(urls: tuple[str, ...], settings: Settings, config_dir: Path) -> None:
    """A TLS problem stops start-up: it is configuration, and it would not go away by waiting."""
    try:
        ssl_context = engine_ssl_context(settings, config_dir)
    except BackendSSLError as error:
        raise StartError(str(error)) from None
    client = EngineClient(urls, max_connections=2, timeout=10.0, ssl_context=ssl_context)
    try:
        info = await client.get_json("/")
    except EngineTLSError as error:
        raise StartError(str(error)) from None
    except EngineUnavailable as error:
        log.warning("the external engine is not reachable yet (%s); serving 503 until it is", error)
        return
    finally:
        await client.close()
    version = info.get("version", {}) if isinstance(info, dict) else {}
    log.info(
        "external engine: %s %s",
        version.get("distribution", "elasticsearch"),
        version.get("number"),
    )


async def _open_keystore(config_dir: Path) -> tuple[str, str | None]:
    """The keystore's password (the keystore is created on first start) and its
    `bootstrap.password`, if any."""
    try:
        keystore, password = await asyncio.to_thread(open_for_start, config_dir)
        bootstrap = keystore.get_string("bootstrap.password")
    except KeyError:
        bootstrap = None
    except KeystoreError as error:
        raise StartError(f"cannot open the keystore: {error}") from None
    return password, bootstrap


async def _bootstrap_security(
    urls: tuple[str, ...],
    settings: Settings,
    config_dir: Path,
    bootstrap_password: str | None = None,
) -> str | None:
    """Create the security index and the `elastic` password on first start: the keystore's
    `bootstrap.password` if set (then nothing is shown), else a generated one."""
    ssl_context = engine_ssl_context(settings, config_dir)
    client = EngineClient(urls, max_connections=2, timeout=60.0, ssl_context=ssl_context)
    try:
        index = SecurityIndex(client)
        await index.ensure()
        hasher = resolve_hasher(settings.get(s.PASSWORD_HASHING_ALGORITHM))
        return await bootstrap_elastic_password(NativeUsers(index), hasher, bootstrap_password)
    except EngineUnavailable as error:
        log.warning("security set-up postponed, the engine is not reachable: %s", error)
        return None
    except StoreError as error:
        raise StartError(f"cannot set up the security index in the engine: {error}") from None
    finally:
        await client.close()


async def _kibana_enrollment_token(
    host: str, port: int, password: str, tls: AutoConfiguration
) -> str | None:
    """Elasticsearch's first start shows a Kibana enrollment token; made here by calling the
    gateway that now serves, as `elastic`. A failure only changes what the banner says."""
    try:
        return await asyncio.to_thread(
            first_start_kibana_token, host, port, tls.ca_certificate, password
        )
    except ToolError as error:
        log.warning("could not create the Kibana enrollment token: %s", error)
        return None


async def _first_start_banner(
    password: str | None, tls: AutoConfiguration | None, host: str, port: int
) -> str:
    kibana_token = None
    if password and tls:
        kibana_token = await _kibana_enrollment_token(host, port, password, tls)
    return _banner_text(password, tls, kibana_token)


def _banner_text(
    password: str | None, tls: AutoConfiguration | None, kibana_token: str | None = None
) -> str:
    lines = ["Bastion security is on. This is shown once: keep it safe."]
    if password:
        lines += [
            "",
            "Password for the elastic user (reset it with PUT /_security/user/elastic/_password):",
            f"  {password}",
        ]
    if tls:
        lines += [
            "",
            "HTTPS is on. CA certificate, for clients to trust (curl --cacert, ca_certs):",
            f"  {tls.ca_certificate}",
            "SHA-256 fingerprint of that CA certificate:",
            f"  {tls.ca_fingerprint}",
        ]
    if password and tls:
        lines += ["", *_kibana_lines(kibana_token)]
    # The token stays on one line (to copy it whole); it may overflow the frame.
    width = max(len(line) for line in lines if kibana_token is None or kibana_token not in line)
    width += 2
    rule = "━" * width
    body = "\n".join(f"┃ {line:<{width - 2}} ┃" for line in lines)
    return f"┏{rule}┓\n{body}\n┗{rule}┛"


def _kibana_lines(kibana_token: str | None) -> list[str]:
    later = "bastion create-enrollment-token -s kibana"
    if kibana_token is None:
        return [
            "The Kibana enrollment token could not be created (see the log above);",
            f"create one later with: {later}",
        ]
    return [
        "Kibana enrollment token (valid for 30 minutes; a new one: " + later + "):",
        f"  {kibana_token}",
        "To add a gateway: bastion create-enrollment-token -s node, then on the new one",
        "  bastion enroll --token <token> --home <new home>",
    ]


def _check_exposure(settings: Settings) -> None:
    try:
        check_exposure(settings)
    except HttpSslError as error:
        raise StartError(str(error)) from None


async def _configure_tls(
    settings: Settings, config_dir: Path, keystore_password: str
) -> tuple[AutoConfiguration | None, Settings]:
    """First start: certificates and TLS settings (tls/autoconfig.py); every start: check that
    the workers will be able to build their TLS context."""
    host = settings.get(s.HTTP_HOST)
    try:
        tls = await asyncio.to_thread(auto_configure, settings, config_dir, host)
        if tls is not None:
            settings = Settings({**settings.values, **load_settings(None, tls.settings, {}).values})
        await asyncio.to_thread(http_tls, settings, config_dir, keystore_password)
    except (AutoConfigurationError, HttpSslError, PkiError, OSError) as error:
        raise StartError(str(error)) from None
    return tls, settings


async def run(
    settings: Settings,
    home: BastionHome,
    progress: Callable[[int, int, str], None],
    announce: Callable[[str], None],
) -> None:
    """Start everything, serve until SIGINT/SIGTERM, stop everything. Raises `StartError`."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    host, port = settings.get(s.HTTP_HOST), settings.get(s.HTTP_PORT)
    _check_exposure(settings)
    reservation = _reserve_port(host, port)
    port = reservation.getsockname()[1]
    engine: ManagedEngine | None = None
    workers: list[Worker] = []
    try:
        keystore_password, bootstrap_password = await _open_keystore(home.config_dir)
        urls = settings.get(s.BACKEND_HOSTS)
        if urls:
            await _check_external(urls, settings, home.config_dir)
        else:
            try:
                version = settings.get(s.ENGINE_VERSION)
                java_home = settings.get(s.ENGINE_JAVA_HOME)
                engine_install = await asyncio.to_thread(install, version, progress, java_home)
                engine = ManagedEngine(
                    engine_install,
                    home,
                    nodes=settings.get(s.ENGINE_NODES),
                    cluster_name=settings.get(s.CLUSTER_NAME),
                    heap_min=settings.get(s.ENGINE_HEAP_MIN),
                    heap_max=settings.get(s.ENGINE_HEAP_MAX),
                    startup_timeout=settings.get(s.ENGINE_STARTUP_TIMEOUT),
                )
                announce(f"starting the engine (OpenSearch {version}, logs in {home.logs_dir})")
                start = asyncio.create_task(engine.start())
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not start.done():
                    start.cancel()
                    return
                stopped.cancel()
                start.result()
            except EngineError as error:
                raise StartError(str(error)) from None
            urls = engine.urls
        password = await _bootstrap_security(urls, settings, home.config_dir, bootstrap_password)
        tls, settings = await _configure_tls(settings, home.config_dir, keystore_password)
        spec = orjson.dumps(
            {
                "settings": dict(settings.values),
                "engine_urls": list(urls),
                "port": port,
                "config_dir": str(home.config_dir),
                "keystore_password": keystore_password,  # stdin, never a command line
            }
        )
        workers = _new_workers(settings, spec, home)
        for worker in workers:
            await worker.start()
        reservation.close()
        if password or tls:
            announce(await _first_start_banner(password, tls, host, port))
        scheme = "https" if settings.get(s.HTTP_SSL_ENABLED) else "http"
        announce(f"Bastion is serving {scheme}://{host}:{port} ({len(workers)} worker(s))")
        await _supervise(workers, stop)
    finally:
        reservation.close()
        await asyncio.gather(*(worker.stop() for worker in workers))
        if engine is not None:
            await engine.stop()
        announce("Bastion stopped")


def _new_workers(settings: Settings, spec: bytes, home: BastionHome) -> list[Worker]:
    audit_stats.reset(home.logs_dir)  # the shared audit counters count from this start
    return [Worker(i, spec) for i in range(settings.get(s.WORKERS))]


async def _supervise(workers: list[Worker], stop: asyncio.Event) -> None:
    """Restart a worker that dies, until asked to stop."""
    while not stop.is_set():
        waits = {asyncio.create_task(w.process.wait()): w for w in workers if w.process is not None}
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({*waits, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (*waits, stopped):
            if task not in done:
                task.cancel()
        if stop.is_set():
            return
        for task in done:
            worker = waits.get(task)
            if worker is not None:
                log.warning(
                    "gateway worker %d exited (%s); restarting it", worker.index, task.result()
                )
                await asyncio.sleep(1.0)
                with contextlib.suppress(StartError):
                    await worker.start()
