"""Entry point of a gateway worker process: `python -m bastion.transport.worker`.

The supervisor writes the worker's settings as one JSON line on stdin, then waits for `ready`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from bastion.config.settings import Settings
from bastion.transport.server import run_worker


def main() -> None:
    spec = orjson.loads(sys.stdin.readline())
    run_worker(
        Settings(spec["settings"]),
        spec["engine_urls"],
        spec["port"],
        Path(spec["config_dir"]),
        spec.get("keystore_password", ""),
    )


if __name__ == "__main__":
    main()
