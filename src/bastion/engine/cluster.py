"""The managed engine: N OpenSearch nodes on loopback, started, watched and stopped by Bastion.

Each node is a child JVM running the `BastionEngine` launcher with its own `path.home` under the
Bastion home (`engine/<node>/`), data under `data/engine/<node>/` and output appended to
`logs/engine/<node>.log`. Ports are chosen once, so a restarted node comes back where the gateway
expects it. A node that dies is restarted with exponential backoff; the JVM also receives SIGTERM
if Bastion itself dies (PR_SET_PDEATHSIG), so no orphan Java process outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bastion.children import die_with_parent
from bastion.engine.install import LAUNCHER_CLASS, EngineError, EngineInstall
from bastion.home import BastionHome

log = logging.getLogger(__name__)

STOP_TIMEOUT = 25.0
BACKOFF_MAX = 30.0
HEALTHY_RESET = 60.0  # a node up this long starts its backoff again from 1 s


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    http_port: int
    transport_port: int
    home: Path
    data: Path
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def _opensearch_yml(spec: NodeSpec, cluster_name: str, nodes: Sequence[NodeSpec]) -> str:
    lines = [
        f"cluster.name: {cluster_name}",
        f"node.name: {spec.name}",
        "network.host: 127.0.0.1",
        f"http.port: {spec.http_port}",
        f"transport.port: {spec.transport_port}",
        f"path.data: {spec.data}",
        f"path.logs: {spec.log_file.parent}",
        # Bastion's gateway enforces its own limit; the engine must accept whatever passes it.
        "http.max_content_length: 2147483647b",
        # Authorized wildcards are forwarded as explicit index lists, which can be long.
        "http.max_initial_line_length: 1mb",
    ]
    if len(nodes) == 1:
        lines.append("discovery.type: single-node")
    else:
        seeds = ", ".join(f'"127.0.0.1:{n.transport_port}"' for n in nodes)
        managers = ", ".join(f'"{n.name}"' for n in nodes)
        lines += [
            f"discovery.seed_hosts: [{seeds}]",
            f"cluster.initial_cluster_manager_nodes: [{managers}]",
        ]
    return "\n".join(lines) + "\n"


class ManagedEngine:
    """Starts, supervises and stops the engine nodes of one Bastion home."""

    def __init__(
        self,
        install: EngineInstall,
        home: BastionHome,
        *,
        nodes: int = 1,
        cluster_name: str = "bastion",
        heap_min: str = "512m",
        heap_max: str = "1g",
        startup_timeout: float = 180.0,
    ) -> None:
        self._install = install
        self._cluster_name = cluster_name
        self._heap = (heap_min, heap_max)
        self._startup_timeout = startup_timeout
        self.specs = tuple(
            NodeSpec(
                name=f"engine-{i}",
                http_port=_free_port(),
                transport_port=_free_port(),
                home=home.root / "engine" / f"engine-{i}",
                data=home.data_dir / "engine" / f"engine-{i}",
                log_file=home.logs_dir / "engine" / f"engine-{i}.log",
            )
            for i in range(nodes)
        )
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(spec.url for spec in self.specs)

    def pids(self) -> list[int]:
        return [p.pid for p in self._processes.values() if p.returncode is None]

    def _prepare(self, spec: NodeSpec) -> None:
        config = spec.home / "config"
        for folder in (config, spec.data, spec.log_file.parent, spec.home / "tmp"):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        (config / "opensearch.yml").write_text(
            _opensearch_yml(spec, self._cluster_name, self.specs)
        )
        (config / "log4j2.properties").write_bytes(self._install.log_config.read_bytes())

    async def _launch(self, spec: NodeSpec) -> asyncio.subprocess.Process:
        heap_min, heap_max = self._heap
        command = [
            str(self._install.java),
            f"-Xms{heap_min}",
            f"-Xmx{heap_max}",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            "-Dfile.encoding=UTF-8",
            "-Dlog4j2.formatMsgNoLookups=true",
            f"-Djava.io.tmpdir={spec.home / 'tmp'}",
            "-cp",
            self._install.classpath,
            LAUNCHER_CLASS,
            str(spec.home),
            str(spec.home / "config"),
        ]
        with spec.log_file.open("ab") as output:
            output.write(f"--- bastion: starting {spec.name} at {time.ctime()}\n".encode())
            output.flush()
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=die_with_parent,
                start_new_session=True,  # Ctrl-C reaches Bastion only; Bastion stops the JVM.
            )
        self._processes[spec.name] = process
        return process

    def log_tail(self, lines: int = 40) -> str:
        tails = []
        for spec in self.specs:
            try:
                text = spec.log_file.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                text = ["(no log)"]
            tails.append(f"--- {spec.log_file} (last {lines} lines)\n" + "\n".join(text))
        return "\n".join(tails)

    async def start(self) -> None:
        """Launch every node and wait until the cluster is formed and healthy."""
        for spec in self.specs:
            self._prepare(spec)
            await self._launch(spec)
        try:
            await self._wait_healthy()
        except EngineError:
            await self.stop()
            raise
        self._watchers = [asyncio.create_task(self._watch(spec)) for spec in self.specs]

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        url = f"{self.specs[0].url}/_cluster/health"
        params = {
            "wait_for_nodes": str(len(self.specs)),
            "wait_for_status": "yellow",
            "timeout": "1s",
        }
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                for spec in self.specs:
                    process = self._processes[spec.name]
                    if process.returncode is not None:
                        raise EngineError(
                            f"engine node {spec.name} exited with code {process.returncode} "
                            f"during start-up\n{self.log_tail()}"
                        )
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    timeout = aiohttp.ClientTimeout(total=5)
                    async with session.get(url, params=params, timeout=timeout) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.5)
        raise EngineError(
            f"the engine was not healthy within {self._startup_timeout:.0f}s "
            f"(bastion.engine.startup_timeout)\n{self.log_tail()}"
        )

    async def _watch(self, spec: NodeSpec) -> None:
        """Restart a node that exits on its own, waiting 1 s, 2 s, 4 s… (at most 30 s)."""
        backoff = 1.0
        while not self._stopping:
            process = self._processes[spec.name]
            started = time.monotonic()
            code = await process.wait()
            if self._stopping:
                return
            if time.monotonic() - started > HEALTHY_RESET:
                backoff = 1.0
            log.warning(
                "engine node %s exited with code %s; restarting in %.0fs (log: %s)",
                spec.name,
                code,
                backoff,
                spec.log_file,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            if not self._stopping:
                await self._launch(spec)

    async def stop(self) -> None:
        """SIGTERM every node, wait for a clean exit, SIGKILL what is left after 25 s."""
        self._stopping = True
        for watcher in self._watchers:
            watcher.cancel()
        running = [p for p in self._processes.values() if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        if not running:
            return
        await asyncio.wait([asyncio.create_task(p.wait()) for p in running], timeout=STOP_TIMEOUT)
        for process in running:
            if process.returncode is None:
                log.warning(
                    "engine process %s did not stop in %.0fs; killing it", process.pid, STOP_TIMEOUT
                )
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
