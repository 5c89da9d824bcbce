"""The gateway's overhead, measured: the same workloads straight at the engine and through the
gateway, in one run.

    python bench/run.py [--duration 10] [--rounds 4] [--docs 100000] [--connections N]

It starts its own engine and gateway (temporary homes, 127.0.0.1 only, pinned to CPUs) and loads
the corpus into the engine directly. For each workload (GET by id, `match` search, `_bulk` of 500
documents) it checks one request on both targets and warms the engine up; then, workload by
workload, it warms both targets up again and runs `--rounds` measured rounds of `--duration`
seconds, direct and gateway alternating, the order flipped every round so that drift (JIT,
merges, other tenants) falls on both. A run during which other processes were busy is repeated
(`--max-noise`, `--retries`). It prints requests/s, p50/p99, CPU per request (gateway, engine,
load generator), the gateway/direct ratio and the goals, writes a JSON record to bench/results/
and stops all it started, on errors and Ctrl-C too. Placement and figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import loadgen
import procs
import report
import workloads
from procs import BenchError, Service

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEFAULT_CONNECTIONS = {"get": 16, "search": 16, "bulk": 4, "authz": 8}
GATEWAY_WARMUP = 5.0  # seconds: Python has no JIT; this fills the pools and credential cache
ENGINE_REWARM = 10.0  # seconds of a workload straight at the engine just before measuring it
WORKLOAD_ORDER = ("get", "search", "bulk", "authz")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description=__doc__.split("\n\n", 1)[0] if __doc__ else None
    )
    add = parser.add_argument
    add("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    add("--rounds", type=int, default=4, help="measured runs per workload and target (default "
        "4: an even number puts each target first equally often)")  # fmt: skip
    add("--warmup", type=float, default=30.0, help="seconds of each workload straight at the "
        "engine before measuring anything (its JIT needs them; default 30)")  # fmt: skip
    add("--docs", type=int, default=100_000, help="documents in the searched index")
    add("--connections", type=int, help="connections for every workload (default: get 16, "
        "search 16, bulk 4)")  # fmt: skip
    add("--workloads", default=",".join(WORKLOAD_ORDER), help="subset, e.g. get,search")
    add("--workers", type=int, default=1, help="gateway worker processes (default 1)")
    add("--engine-cpus", default="1", help="CPUs of the engine (default 1)")
    add("--gateway-cpus", default="0", help="CPUs of the gateway workers (default 0)")
    add("--loadgen-cpus", default="0", help="CPUs of wrk (default 0)")
    add("--loadgen-policy", choices=("batch", "normal"), default="batch", help="scheduling "
        "policy of wrk: batch (default; SCHED_BATCH, so that wrk does not preempt the gateway "
        "on their shared core at every answer) or normal")  # fmt: skip
    add("--engine-slice-us", type=int, default=300, metavar="US", help="scheduler slice of "
        "every engine thread, in µs (default 300; 0: the kernel's default; Linux "
        "6.12+). A short slice lets the engine's network thread take its one core from the "
        "search threads at once, as it could with a core to spare")  # fmt: skip
    add("--no-pin", action="store_true", help="let the scheduler place everything")
    add("--heap", default="2g", help="engine JVM heap, min = max (default 2g)")
    add("--gateway-setting", action="append", default=[], metavar="KEY=VALUE",
        help="passed to the gateway as -E KEY=VALUE (repeatable)")  # fmt: skip
    add("--engine-timeout", type=float, default=900.0, help="seconds to wait for the engine "
        "(the first run installs it)")  # fmt: skip
    add("--max-noise", type=float, default=0.1, help="cores other processes may use during a "
        "run before it is repeated (default 0.1)")  # fmt: skip
    add("--retries", type=int, default=3, help="repeats of a noisy run (default 3)")
    add("--quiet-wait", type=float, default=120.0, help="longest wait for a quiet machine "
        "before each run (seconds, default 120)")  # fmt: skip
    add("--no-save", action="store_true", help="do not write bench/results/bench-*.json")
    add("--check", action="store_true", help="exit with status 2 when a goal is missed")
    add("--keep", action="store_true", help="keep the temporary homes and logs")
    add("--credentials", choices=("basic", "apikey", "bearer"), default="basic",
        help="how the workloads authenticate as elastic: Basic (default), an API key or a "
        "bearer token, each made through the gateway before measuring")  # fmt: skip
    add("--reference", default="", metavar="NAMES", help="also measure these C proxies "
        "(nginx, haproxy, or nginx,haproxy) forwarding without security, on the gateway's CPUs: "
        "what forwarding alone costs here (apt-get install nginx-light haproxy)")  # fmt: skip
    add("--label", default="", help="free text stored with the results (e.g. what was changed)")
    args = parser.parse_args(argv)
    unknown = set(args.workloads.split(",")) - set(WORKLOAD_ORDER)
    if unknown:
        parser.error(f"unknown workload(s) {sorted(unknown)}; choose from {WORKLOAD_ORDER}")
    unknown = set(filter(None, args.reference.split(","))) - procs.REFERENCES.keys()
    if unknown:
        parser.error(
            f"unknown reference(s) {sorted(unknown)}; choose from {list(procs.REFERENCES)}"
        )
    if args.duration < 1 or args.rounds < 1 or args.docs < 1:
        parser.error("--duration, --rounds and --docs must be at least 1")
    if args.retries < 0:
        parser.error("--retries cannot be negative")
    if args.engine_slice_us and not 100 <= args.engine_slice_us <= 100_000:
        parser.error("--engine-slice-us must be 0 or between 100 and 100000 (the kernel's limits)")
    return args


@dataclass(frozen=True, slots=True)
class Placement:
    engine: frozenset[int] | None
    gateway: frozenset[int] | None
    loadgen: frozenset[int] | None
    loadgen_batch: bool
    engine_slice_us: int | None  # None: the kernel's default

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Placement:
        batch = args.loadgen_policy == "batch"
        slice_us = args.engine_slice_us or None
        if args.no_pin:
            return cls(None, None, None, batch, slice_us)
        return cls(
            procs.parse_cpus(args.engine_cpus),
            procs.parse_cpus(args.gateway_cpus),
            procs.parse_cpus(args.loadgen_cpus),
            batch,
            slice_us,
        )

    def describe(self) -> dict[str, str]:
        def cpus(value: frozenset[int] | None) -> str:
            return ",".join(map(str, sorted(value))) if value is not None else "any"

        return {
            "engine": cpus(self.engine),
            "gateway": cpus(self.gateway),
            "loadgen": cpus(self.loadgen),
            "loadgen_policy": "batch" if self.loadgen_batch else "normal",
            "engine_slice": f"{self.engine_slice_us} µs" if self.engine_slice_us else "default",
        }

    def text(self) -> str:
        cpus = self.describe()
        slices = f" ({cpus['engine_slice']} slices)" if self.engine_slice_us else ""
        return (
            f"engine on CPU {cpus['engine']}{slices}, gateway on {cpus['gateway']}, "
            f"wrk on {cpus['loadgen']} ({cpus['loadgen_policy']})"
        )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _interrupt(signum: int, _: FrameType | None) -> None:
    # SIGTERM takes the same path as Ctrl-C: unwind, stopping the engine and gateway.
    raise KeyboardInterrupt(f"signal {signum}")


class Bench:
    def __init__(self, args: argparse.Namespace, wrk: str, placement: Placement) -> None:
        self.args = args
        self.wrk = wrk
        self.placement = placement
        self.work = Path(tempfile.mkdtemp(prefix="bastion-bench-"))
        self.engine: Service | None = None
        self.gateway: Service | None = None
        self.references: list[Service] = []
        self.auth: dict[str, str] = {}
        self.runs: list[report.Run] = []
        self.meta: dict[str, Any] = {}

    def run(self) -> int:
        failed = True
        try:
            result = self._run()
            failed = False
            return result
        finally:
            self._stop()
            if failed or self.args.keep:
                say(f"logs and homes kept in {self.work}")
            else:
                shutil.rmtree(self.work, ignore_errors=True)

    def _stop(self) -> None:
        # The proxies first: they drain into the engine.
        for service in (*self.references, self.gateway, self.engine):
            if service is not None:
                say(f"stopping the {service.name}")
                procs.stop(service)

    def _run(self) -> int:
        words = workloads.vocabulary()
        selected = self._workloads(words)
        self._start(words)
        self.meta = self._meta(selected)
        scripts = {workload.name: self._prepare(workload) for workload in selected}
        # The engine's JIT keeps improving for a minute or more on one core: give it every
        # workload once before measuring anything, then a shorter reminder before each one.
        say(f"warming the engine up: {self.args.warmup:.0f}s of each workload")
        for workload in selected:
            self._wrk(self._targets()["direct"], scripts[workload.name], workload, self.args.warmup)
        for workload in selected:
            self._measure(workload, scripts[workload.name])
        return self._report(selected)

    def _start(self, words: list[str]) -> None:
        say(f"starting the engine ({self.placement.text()})")
        self.engine = procs.start_engine(
            self.work / "engine-home",
            self.placement.engine,
            self.args.heap,
            self.args.engine_timeout,
            self.placement.engine_slice_us,
        )
        wanted = self.placement.engine_slice_us
        if wanted is not None and procs.slice_of(self.engine.process.pid) != wanted * 1000:
            say(
                "warning: this kernel ignores a process's own scheduler slice (Linux 6.12 and "
                "later honour it); the engine runs with the default slice, which lowers the "
                "search ratio (docs/performance.md)"
            )
            self.placement = dataclasses.replace(self.placement, engine_slice_us=None)
        say(f"engine at {self.engine.url}; loading {self.args.docs:,} documents into it")
        seconds = workloads.load_corpus(self.engine.url, self.args.docs, words)
        say(f"loaded in {seconds:.1f}s; starting the gateway")
        self.gateway = procs.start_gateway(
            self.work / "gateway-home",
            self.engine.url,
            self.args.workers,
            self.placement.gateway,
            self.args.gateway_setting,
        )
        # The same header goes to both targets: the engine ignores it; the gateway checks it
        # and, as it does with every client's credentials, does not forward it.
        self.auth = workloads.basic_auth(self.gateway.elastic_password)
        if self.auth and self.args.credentials != "basic":
            self.auth = workloads.other_credentials(
                self.gateway.url, self.auth, self.args.credentials
            )
        how = {"basic": "Basic", "apikey": "an API key", "bearer": "a bearer token"}
        say(
            f"gateway at {self.gateway.url}"
            + (f" (as elastic, with {how[self.args.credentials]})" if self.auth else "")
        )
        chosen = self.args.reference.split(",")
        for name in (name for name in procs.REFERENCES if name in chosen):
            home = self.work / f"{name}-home"
            proxy = procs.start_reference(name, home, self.engine.url, self.placement.gateway)
            self.references.append(proxy)
            say(f"{name} at {proxy.url}, on the gateway's CPUs")
        if "authz" in self.args.workloads.split(","):
            say("creating 500 indices, 50 roles and their user for the authz workload")
            seconds = workloads.load_authz(self.engine.url, self.gateway.url, self.auth)
            say(f"done in {seconds:.1f}s")
        workloads.flush_all(self.engine.url)

    def _workloads(self, words: list[str]) -> list[workloads.Workload]:
        chosen = self.args.workloads.split(",")

        def connections(name: str) -> int:
            return int(self.args.connections or DEFAULT_CONNECTIONS[name])

        made = {
            "get": lambda: workloads.get_by_id(self.args.docs, connections("get")),
            "search": lambda: workloads.match_search(words, connections("search")),
            "bulk": lambda: workloads.bulk(
                workloads.write_bulk_bodies(self.work, words), connections("bulk")
            ),
            "authz": lambda: workloads.authz_search(connections("authz")),
        }
        return [made[name]() for name in WORKLOAD_ORDER if name in chosen]

    def _targets(self) -> dict[str, str]:
        assert self.engine is not None
        assert self.gateway is not None
        targets = {"direct": self.engine.url, "gateway": self.gateway.url}
        targets.update((proxy.name, proxy.url) for proxy in self.references)
        return targets

    def _prepare(self, workload: workloads.Workload) -> Path:
        """Write the workload's wrk script and check one request of it on both targets."""
        script = self.work / f"{workload.name}.lua"
        content_type = workload.sample.content_type or None
        auth = self.auth
        if workload.user is not None and self.auth:
            auth = workloads.basic_auth(workload.user[1], workload.user[0])
        script.write_text(
            workloads.lua_headers(auth, content_type)
            + loadgen.script(workload.request_lua, workload.body_must_contain)
        )
        sizes = {
            target: workloads.check_sample(url, workload, auth)
            for target, url in self._targets().items()
        }
        self.meta["response_bytes"][workload.name] = sizes
        return script

    def _measure(self, workload: workloads.Workload, script: Path) -> None:
        targets = self._targets()
        say(f"{workload.title}: {workload.connections} connections")
        self._wrk(targets["direct"], script, workload, ENGINE_REWARM)
        for proxy in (name for name in targets if name != "direct"):
            self._wrk(targets[proxy], script, workload, GATEWAY_WARMUP)
        for number in range(self.args.rounds):
            # Flip the order every round: whatever drifts during the run hits every target.
            order = list(targets) if number % 2 == 0 else list(targets)[::-1]
            for target in order:
                self._measure_one(workload, target, targets[target], script, number)

    def _measure_one(
        self, workload: workloads.Workload, target: str, url: str, script: Path, number: int
    ) -> None:
        """One measured run. On a shared machine, wait for the other tenants to go quiet
        first, and run again (up to `--retries` times) when they were busy meanwhile."""
        for attempt in range(self.args.retries + 1):
            self._wait_quiet()
            before = self._snapshot()
            load = self._wrk(url, script, workload, self.args.duration)
            usage = procs.usage_between(before, self._snapshot())
            noise = usage.other / usage.wall
            if noise <= self.args.max_noise or attempt == self.args.retries:
                break
            say(f"  round {number + 1} {target}: other processes used {noise:.2f} cores; again")
        self.runs.append(report.Run(workload.name, target, number + 1, load, usage))
        failed = f", {load.failures} FAILED" if load.failures else ""
        say(
            f"  round {number + 1}/{self.args.rounds} {target:<7} {load.rate:>9,.0f} req/s  "
            f"p50 {load.p50_ms:6.2f} ms  p99 {load.p99_ms:7.2f} ms  noise {noise:.2f}{failed}"
        )

    def _snapshot(self) -> procs.Snapshot:
        assert self.engine is not None
        assert self.gateway is not None
        return procs.Snapshot.take(self.gateway, self.engine, self.references)

    def _wait_quiet(self) -> None:
        """Wait (at most `--quiet-wait` seconds) for a second in which processes that are not
        the benchmark's use less than `--max-noise` cores."""
        deadline = time.monotonic() + self.args.quiet_wait
        while True:
            before = self._snapshot()
            time.sleep(1.0)
            usage = procs.usage_between(before, self._snapshot())
            if usage.other / usage.wall <= self.args.max_noise or time.monotonic() > deadline:
                return

    def _wrk(
        self, url: str, script: Path, workload: workloads.Workload, seconds: float
    ) -> loadgen.LoadResult:
        return loadgen.run_wrk(
            self.wrk,
            url,
            script,
            connections=workload.connections,
            seconds=seconds,
            cpus=self.placement.loadgen,
            batch=self.placement.loadgen_batch,
        )

    def _report(self, selected: list[workloads.Workload]) -> int:
        names = [w.name for w in selected]
        rows = report.rows_of(self.runs, names)
        found = report.goals(rows, {w.name: w.goal_ratio for w in selected})
        titles = {w.name: w.title for w in selected}
        measured = self.meta["git"] or self.meta["bastion_source"]
        label = f" [{self.args.label}]" if self.args.label else ""
        print(f"\nbastion: {measured}{label}; {self.meta['engine']}")
        print(f"placement: {self.placement.text()}; gateway workers: {self.args.workers}")
        print(f"gateway interpreter: {self.meta['machine']['python_executable']}")
        print(report.table(rows, titles))
        print(
            "\nµs/req = CPU time per request (proxy: the gateway's worker processes, or the "
            "reference proxy's);\nnoise = mean cores used by processes that are not the "
            "benchmark's during the runs (other tenants)"
        )
        print("goals (plain forwarding):")
        print(report.goal_lines(found))
        if any(row.other_cores > self.args.max_noise for row in rows):
            say("warning: other processes used CPU during the runs; the figures are noisy")
        if not self.args.no_save:
            path = report.save(
                RESULTS, self.meta["stamp"], report.record(self.meta, rows, self.runs, found)
            )
            print(f"\nsaved {path.relative_to(HERE.parent)}")
        missed = [goal for goal in found if not goal.met]
        return 2 if self.args.check and missed else 0

    def _meta(self, selected: list[workloads.Workload]) -> dict[str, Any]:
        assert self.engine is not None
        engine = workloads.expect_ok(workloads.call(self.engine.url, "GET"), "engine info")
        spec = importlib.util.find_spec("bastion")
        source = Path(spec.origin).parent if spec and spec.origin else None
        return {
            "label": self.args.label,
            "stamp": time.strftime("%Y%m%d-%H%M%S"),
            "argv": sys.argv[1:],
            "placement": self.placement.describe(),
            "gateway_workers": self.args.workers,
            "gateway_settings": self.args.gateway_setting,
            "authenticated": bool(self.auth),
            "credentials": self.args.credentials,
            "references": {
                proxy.name: _first_line([procs.reference_binary(proxy.name), "-v"])
                for proxy in self.references
            },
            "docs": self.args.docs,
            "duration": self.args.duration,
            "rounds": self.args.rounds,
            "warmup": self.args.warmup,
            "max_noise": self.args.max_noise,
            "connections": {w.name: w.connections for w in selected},
            "response_bytes": {},
            "engine": f"{engine['version'].get('distribution', '?')} {engine['version']['number']}",
            "bastion_source": str(source),
            "git": _git_state(source),
            "machine": _machine(),
        }


def _git_state(source: Path | None) -> str | None:
    """The commit of the bastion that was measured, if it is this checkout's `src/`."""
    if source is None or not source.is_relative_to(HERE.parent):
        return None  # a copy elsewhere (PYTHONPATH): its origin is the user's to record (--label)

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(HERE.parent), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    revision = git("rev-parse", "--short", "HEAD")
    if not revision:
        return None
    return revision + (
        " + uncommitted changes in src/" if git("status", "--porcelain", "src") else ""
    )


def _machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions: dict[str, str | None] = {}
    for package in ("aiohttp", "uvloop", "multidict", "yarl"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        # The gateway runs on this interpreter; how it was built moves the figures (performance.md)
        "python_executable": os.path.realpath(sys.executable),
        "kernel": platform.release(),
        "wrk": _first_line(["wrk", "--version"]),
        **versions,
    }


def _first_line(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).split("\n", 1)[0].strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        wrk = loadgen.require_wrk()
        return Bench(args, wrk, Placement.from_args(args)).run()
    except BenchError as error:
        say(f"bench: {error}")
        return 1
    except KeyboardInterrupt:
        say("bench: interrupted; what it started is stopped")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
