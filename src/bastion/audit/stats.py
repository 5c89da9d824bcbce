"""Audit counters shared by a gateway's workers, readable when the disk is full.

Each worker owns one small file, `<logs>/.audit-stats/<pid>.json`, created at its start with a
fixed size; the writer thread overwrites it in place (`pwrite`, no new disk blocks), so the
counters still update when a full disk is what loses the events. `GET /_bastion/stats` sums
the files; the supervisor empties the folder at start, so the sums count since then.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import orjson

STATS_DIR = ".audit-stats"
_SIZE = 256  # bytes per worker file: room for the counters as JSON, padded with spaces
COUNTERS = ("written", "lost")  # the log file's, in `<pid>.json`
INDEX_COUNTERS = ("shipped", "failed")  # the index output's, in `<pid>.index.json`
INDEX_SUFFIX = ".index"


def stats_dir(logs_dir: Path) -> Path:
    return logs_dir / STATS_DIR


def reset(logs_dir: Path) -> None:
    """At gateway start: forget the counters of earlier runs."""
    shutil.rmtree(stats_dir(logs_dir), ignore_errors=True)


class StatsFile:
    """One worker's counters of one output (`suffix` "" for the log file, `INDEX_SUFFIX`)."""

    def __init__(self, logs_dir: Path, suffix: str = "") -> None:
        folder = stats_dir(logs_dir)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / f"{os.getpid()}{suffix}.json"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.write(dict.fromkeys(INDEX_COUNTERS if suffix else COUNTERS, 0))

    def write(self, counters: dict[str, int]) -> None:
        data = orjson.dumps(counters)
        os.pwrite(self._fd, data + b" " * (_SIZE - len(data)), 0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def totals(logs_dir: Path) -> dict[str, Any]:
    """The counters summed over every worker since the gateway started, `workers`: how many
    workers have reported (restarted workers included), and `index` (the index output's
    counters) when any worker shipped."""
    sums = dict.fromkeys(COUNTERS, 0)
    index = dict.fromkeys(INDEX_COUNTERS, 0)
    workers = shippers = 0
    with contextlib.suppress(FileNotFoundError):
        for path in stats_dir(logs_dir).glob("*.json"):
            try:
                counters = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            if not isinstance(counters, dict):
                continue
            shipper = path.name.endswith(INDEX_SUFFIX + ".json")
            target = index if shipper else sums
            shippers += shipper
            workers += not shipper
            for name in target:
                value = counters.get(name)
                if isinstance(value, int):
                    target[name] += value
    answer: dict[str, Any] = {**sums, "workers": workers}
    if shippers:
        answer["index"] = index
    return answer
