"""The load generator: wrk, closed loop (a fixed number of connections, each with one request in
flight) for a fixed time, driven by a generated Lua script.

wrk rather than a Python generator: it costs a few µs of CPU per request (the runner measures
it), far less than any Python client, and the load generator shares its core with the gateway.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from procs import BenchError, child_setup

WRK_MISSING = (
    "wrk, the load generator, is not installed.\n"
    "  Debian/Ubuntu: sudo apt-get install -y wrk\n"
    "  elsewhere: build it from https://github.com/wg/wrk (make; put `wrk` on PATH)"
)
RESULT_MARK = "BENCH-RESULT "
REQUEST_TIMEOUT = "30s"  # wrk's default (2 s) would count a slow bulk as a socket error

# Appended to every script. `response` is only defined when a body check is asked for, because
# wrk then has to hand every body to Lua. Thread states are separate Lua states, hence the
# `threads` table and `thread:get` to sum counters in `done`.
_COMMON_LUA = """
threads = {}
body_errors = 0
setup = function(thread) table.insert(threads, thread) end
%(response)s
done = function(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + (thread:get("body_errors") or 0) end
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"non_2xx":%%d,"socket_errors":%%d,"body_errors":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout, failed))
end
"""
_RESPONSE_CHECK_LUA = """
response = function(status, headers, body)
  if not string.find(body, %s, 1, true) then body_errors = body_errors + 1 end
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    body_errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        return self.non_2xx + self.socket_errors + self.body_errors


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError(WRK_MISSING)
    return path


def lua_string(text: str) -> str:
    """A Lua string literal (JSON's escapes are valid Lua for the ASCII we generate)."""
    return json.dumps(text)


def script(request_lua: str, body_must_contain: str | None) -> str:
    """A full wrk script: the workload's `request` function plus result reporting."""
    response = _RESPONSE_CHECK_LUA % lua_string(body_must_contain) if body_must_contain else ""
    return request_lua + _COMMON_LUA % {"response": response, "mark": RESULT_MARK}


def parse_result(stdout: str) -> LoadResult:
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARK):
            raw = json.loads(line[len(RESULT_MARK) :])
            return LoadResult(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                p50_ms=raw["p50_us"] / 1e3,
                p99_ms=raw["p99_us"] / 1e3,
                max_ms=raw["max_us"] / 1e3,
                non_2xx=raw["non_2xx"],
                socket_errors=raw["socket_errors"],
                body_errors=raw["body_errors"],
            )
    raise BenchError(f"wrk printed no result line:\n{stdout}")


def run_wrk(
    wrk: str,
    url: str,
    script_file: Path,
    *,
    connections: int,
    seconds: float,
    cpus: frozenset[int] | None,
    batch: bool,
) -> LoadResult:
    command = [
        wrk,
        "--threads",
        "1",  # one core for the load generator at most; more threads only contend
        "--connections",
        str(connections),
        "--duration",
        f"{max(1, round(seconds))}s",
        "--timeout",
        REQUEST_TIMEOUT,
        "--script",
        str(script_file),
        url,
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 60,  # wrk stops itself; this only guards against a hang
            preexec_fn=child_setup(cpus, batch=batch),  # safe: the runner starts no threads
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {seconds + 60:.0f}s") from None
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    return parse_result(done.stdout)
