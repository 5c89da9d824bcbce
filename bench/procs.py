"""The processes the benchmark starts (engine, gateway, load generator) and their CPU time.

Each child is pinned with `sched_setaffinity` before it executes, so the JVM sizes its thread
pools for the CPUs it really has, and gets PR_SET_PDEATHSIG, so nothing outlives the runner even
when it is killed outright. CPU time comes from /proc (utime + stime of every process of a tree),
which needs no dependency and counts every thread of the JVM.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bastion.children import die_with_parent

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ENGINE_READY = re.compile(r"^engine-0: (http://127\.0\.0\.1:\d+)", re.MULTILINE)
GATEWAY_READY = re.compile(r"Bastion is serving (http://127\.0\.0\.1:\d+)")
# The first start of a gateway with security shows the generated `elastic` password once, in a
# box: the line after this one holds it.
PASSWORD_LINE = "Password for the elastic user"
STOP_TIMEOUT = 40.0  # the gateway drains for up to 20 s, the engine gets 25 s


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


@dataclass(slots=True)
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    elastic_password: str | None = None


def parse_cpus(text: str) -> frozenset[int] | None:
    """`"0"`, `"0,1"` or `"0-1"` → a CPU set; empty → None (not pinned)."""
    cpus: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    if not cpus:
        return None
    missing = cpus - os.sched_getaffinity(0)
    if missing:
        raise BenchError(f"CPU(s) {sorted(missing)} are not available to this process")
    return frozenset(cpus)


def child_setup(
    cpus: frozenset[int] | None, *, batch: bool = False, slice_us: int | None = None
) -> Callable[[], None]:
    """A `preexec_fn`: pin the child (the JVM inherits it) and tie its life to ours. `batch`
    puts it in `SCHED_BATCH`: it then never preempts a process it wakes on a shared core.
    `slice_us` asks for that scheduler slice (its threads inherit it)."""

    def setup() -> None:
        die_with_parent()
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        if batch:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        if slice_us is not None:
            # A kernel that refuses it runs the child anyway; the runner checks `slice_of`.
            with contextlib.suppress(OSError):
                set_slice(slice_us * 1000)

    return setup


# sched_setattr(2) has no wrapper in Python's os module.
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}


def set_slice(nanoseconds: int) -> None:
    """Give the calling thread an EEVDF slice of its own (Linux 6.12+; older kernels ignore
    it, which `slice_of` shows): SCHED_NORMAL with `sched_runtime` set."""
    number = _SCHED_SETATTR.get(platform.machine())
    if number is None:
        raise OSError(f"sched_setattr is not known on {platform.machine()}")
    # struct sched_attr (SCHED_ATTR_SIZE_VER1): size, policy, flags, nice, priority, runtime,
    # deadline, period, util_min, util_max.
    attr = struct.pack("IIQiIQQQII", 56, os.SCHED_OTHER, 0, 0, 0, nanoseconds, 0, 0, 0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, 0, ctypes.create_string_buffer(attr, len(attr)), 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"sched_setattr: {os.strerror(error)}")


def slice_of(pid: int) -> int | None:
    """The scheduler slice of a process in ns, from /proc (None if the kernel does not say)."""
    try:
        text = Path(f"/proc/{pid}/sched").read_text()
    except OSError:
        return None
    found = re.search(r"^se\.slice\s*:\s*(\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def spawn(
    name: str,
    command: Sequence[str],
    log: Path,
    cpus: frozenset[int] | None,
    slice_us: int | None = None,
) -> Service:
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # The runner starts no threads, so a preexec_fn is safe.
            preexec_fn=child_setup(cpus, slice_us=slice_us),  # noqa: PLW1509
            # Its own session: Ctrl-C reaches only the runner, which then stops it in order.
            start_new_session=True,
        )
    return Service(name, process, log)


def log_tail(service: Service, lines: int = 30) -> str:
    try:
        text = service.log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        text = ["(no log)"]
    return f"--- {service.log} (last {lines} lines)\n" + "\n".join(text)


def wait_ready(service: Service, ready: re.Pattern[str], timeout: float) -> str:
    """Poll the service's log until `ready` matches; return its first group (the URL)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = service.log.read_text(errors="replace")
        match = ready.search(text)
        if match:
            return match.group(1)
        _check_running(service)
        time.sleep(0.2)
    raise BenchError(f"the {service.name} was not ready within {timeout:.0f}s\n{log_tail(service)}")


def wait_listening(service: Service, port: int, timeout: float) -> None:
    """Poll until the service accepts connections on `port` (one that logs no ready line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_running(service)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1.0):
            return
        time.sleep(0.1)
    raise BenchError(f"the {service.name} was not listening within {timeout:.0f}s")


def _check_running(service: Service) -> None:
    if service.process.poll() is not None:
        raise BenchError(
            f"the {service.name} exited with code {service.process.returncode} while "
            f"starting\n{log_tail(service)}"
        )


@contextlib.contextmanager
def stopped_on_failure(service: Service) -> Iterator[None]:
    """A service that fails to start (or a Ctrl-C meanwhile) is stopped."""
    try:
        yield
    except BaseException:
        stop(service)
        raise


def ready_or_stopped(service: Service, ready: re.Pattern[str], timeout: float) -> str:
    """`wait_ready`, stopping a service that fails to start."""
    with stopped_on_failure(service):
        return wait_ready(service, ready, timeout)


def banner_password(log_text: str) -> str | None:
    lines = log_text.splitlines()
    for number, line in enumerate(lines[:-1]):
        if PASSWORD_LINE in line:
            return lines[number + 1].strip("┃ \t") or None
    return None


def bastion_command(*args: str) -> list[str]:
    # `-m bastion` runs whichever bastion this interpreter imports (PYTHONPATH picks a copy).
    return [sys.executable, "-m", "bastion", *args]


def start_engine(
    home: Path,
    cpus: frozenset[int] | None,
    heap: str,
    timeout: float,
    slice_us: int | None = None,
) -> Service:
    command = bastion_command(
        "engine",
        "start",
        "--home",
        str(home),
        "-E",
        f"bastion.engine.heap.min={heap}",
        "-E",
        f"bastion.engine.heap.max={heap}",
    )
    service = spawn("engine", command, home.parent / "engine.log", cpus, slice_us)
    service.url = ready_or_stopped(service, ENGINE_READY, timeout)
    return service


def start_gateway(
    home: Path,
    engine_url: str,
    workers: int,
    cpus: frozenset[int] | None,
    settings: Iterable[str],
) -> Service:
    port = free_port()
    command = bastion_command(
        "start",
        "--home",
        str(home),
        "--backend",
        engine_url,
        "--port",
        str(port),
        "--workers",
        str(workers),
        # The goals are for plain forwarding, and the engine is measured over plain HTTP too.
        "-E",
        "xpack.security.http.ssl.enabled=false",
        *(arg for setting in settings for arg in ("-E", setting)),
    )
    service = spawn("gateway", command, home.parent / "gateway.log", cpus)
    service.url = ready_or_stopped(service, GATEWAY_READY, 120.0)
    service.elastic_password = banner_password(service.log.read_text(errors="replace"))
    return service


# Reference proxies: C proxies forwarding to the engine as the gateway does (a keep-alive pool
# of connections to it, X-Forwarded-For), with no security at all.
# nginx reads each request body whole before forwarding it, as the gateway does, in memory.
NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {home}/nginx.pid;
error_log stderr;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {home}/client-body;
  proxy_temp_path {home}/proxy;
  fastcgi_temp_path {home}/fastcgi;
  uwsgi_temp_path {home}/uwsgi;
  scgi_temp_path {home}/scgi;
  upstream engine {{ server {engine}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 100m;
    client_body_buffer_size 1m;
    location / {{
      proxy_pass http://engine;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffers 64 16k;
      proxy_busy_buffers_size 64k;
    }}
  }}
}}
"""
# HAProxy streams bodies instead, moving them through the kernel with splice(2) where it can.
HAPROXY_CONF = """\
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend bench
  bind 127.0.0.1:{port}
  default_backend engine
backend engine
  option splice-auto
  server engine-0 {engine}
"""
REFERENCES = {
    # name: (Debian package, configuration, its file name, command after the binary)
    "nginx": ("nginx-light", NGINX_CONF, "nginx.conf", ("-p", "{home}", "-c", "{conf}")),
    "haproxy": ("haproxy", HAPROXY_CONF, "haproxy.cfg", ("-db", "-f", "{conf}")),
}


def reference_binary(name: str) -> str:
    binary = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if binary is None:
        package = REFERENCES[name][0]
        raise BenchError(f"--reference {name} needs {name}: apt-get install {package}")
    return binary


def start_reference(name: str, home: Path, engine_url: str, cpus: frozenset[int] | None) -> Service:
    """A reference proxy (one of REFERENCES) in front of the engine, on the gateway's CPUs."""
    binary = reference_binary(name)
    _, template, file_name, arguments = REFERENCES[name]
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = home / file_name
    conf.write_text(
        template.format(home=home, engine=engine_url.removeprefix("http://"), port=port)
    )
    command = [binary, *(arg.format(home=home, conf=conf) for arg in arguments)]
    service = spawn(name, command, home.parent / f"{name}.log", cpus)
    service.url = f"http://127.0.0.1:{port}"
    with stopped_on_failure(service):
        wait_listening(service, port, 30.0)
    return service


def stop(service: Service) -> None:
    """SIGTERM, then SIGKILL to the whole session if it has not exited in time."""
    process = service.process
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --- CPU accounting ------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks) of a live process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = text.rpartition(")")[2].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def process_table() -> dict[int, tuple[int, int]]:
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def descendants(root: int, table: dict[int, tuple[int, int]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def machine_busy_ticks() -> int:
    """Non-idle CPU ticks of the whole machine, all cores (first line of /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = values[3], values[4]
    return sum(values[:8]) - idle - iowait  # guest time is already counted in user


def _rusage_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


KERNEL_THREADS_PARENT = 2  # kthreadd: every kernel thread (ksoftirqd, kworker…) descends from it


@dataclass(frozen=True, slots=True)
class Snapshot:
    """CPU counters at one instant; the difference of two is what a run consumed."""

    wall: float
    gateway: dict[int, int]  # worker pid → ticks
    gateway_supervisor: int
    engine: int
    references: dict[str, int]  # reference proxy name → ticks of its processes
    kernel: int
    machine: int
    children: float  # seconds, processes we waited for (the load generator)
    runner: float

    @classmethod
    def take(cls, gateway: Service, engine: Service, references: Iterable[Service]) -> Snapshot:
        table = process_table()
        workers = descendants(gateway.process.pid, table)
        engine_tree = descendants(engine.process.pid, table) | {engine.process.pid}
        kernel = descendants(KERNEL_THREADS_PARENT, table) | {KERNEL_THREADS_PARENT}

        def ticks(pids: Iterable[int]) -> int:
            return sum(table[pid][1] for pid in pids if pid in table)

        return cls(
            wall=time.monotonic(),
            gateway={pid: table[pid][1] for pid in workers},
            gateway_supervisor=ticks([gateway.process.pid]),
            engine=ticks(engine_tree),
            references={
                proxy.name: ticks(descendants(proxy.process.pid, table) | {proxy.process.pid})
                for proxy in references
            },
            kernel=ticks(kernel),
            machine=machine_busy_ticks(),
            children=_rusage_seconds(resource.RUSAGE_CHILDREN),
            runner=_rusage_seconds(resource.RUSAGE_SELF),
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU seconds used between two snapshots, by whom."""

    wall: float
    gateway: float  # the worker processes: what "gateway CPU per request" counts
    engine: float
    references: dict[str, float]  # reference proxy name → its CPU seconds
    loadgen: float
    kernel: float  # kernel threads, e.g. ksoftirqd delivering loopback packets under load
    other: float  # user processes that are not ours: noise from other tenants of the machine


def usage_between(before: Snapshot, after: Snapshot) -> Usage:
    if before.gateway.keys() != after.gateway.keys():
        raise BenchError("a gateway worker restarted during the run; see gateway.log")
    gateway = sum(after.gateway[pid] - before.gateway[pid] for pid in after.gateway)
    ticks = {
        "supervisor": after.gateway_supervisor - before.gateway_supervisor,
        "engine": after.engine - before.engine,
        "kernel": after.kernel - before.kernel,
    }
    machine = (after.machine - before.machine) / CLOCK_TICKS
    loadgen = after.children - before.children
    runner = after.runner - before.runner
    references = {
        name: (after.references[name] - before.references[name]) / CLOCK_TICKS
        for name in after.references
    }
    ours = (gateway + sum(ticks.values())) / CLOCK_TICKS + sum(references.values())
    return Usage(
        wall=after.wall - before.wall,
        gateway=gateway / CLOCK_TICKS,
        engine=ticks["engine"] / CLOCK_TICKS,
        references=references,
        loadgen=loadgen,
        kernel=ticks["kernel"] / CLOCK_TICKS,
        other=max(0.0, machine - ours - loadgen - runner),
    )
