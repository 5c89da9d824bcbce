"""What authenticating one request costs, in process: `Authorization: Basic` checked by the real
`AuthenticationService` and file realm, with a cold and a warm credential cache.

    python bench/authc_cost.py [--seconds 3]

The first check of a password runs the slow hash (bcrypt, cost 10 by default); every later
request of the same user with the same password is a credential-cache hit, which is what a busy
gateway pays per request. The end-to-end figure (the whole request, through the gateway, as a
ratio to the engine alone) is the GET workload of `bench/run.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
from pathlib import Path

from bastion.authc.credential_cache import CredentialCache
from bastion.authc.file_users import write_users, write_users_roles
from bastion.authc.password_hashing import resolve_hasher
from bastion.authc.realms.file import FileRealm
from bastion.authc.service import AuthenticationService
from bastion.authc.user import User

PASSWORD = "bench-password"


async def measure(seconds: float, algorithm: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bastion-authc-bench-"))
    write_users(folder / "users", {"bench": resolve_hasher(algorithm).hash(PASSWORD)})
    write_users_roles(folder / "users_roles", {"bench": ["superuser"]})
    cache = CredentialCache[User](ttl=1200.0, max_users=100_000)
    service = AuthenticationService([FileRealm("file1", 0, folder, cache)], anonymous=None)
    header = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()

    async def once() -> None:
        await service.authenticate(header, None, "/", "127.0.0.1")

    started = time.perf_counter()
    await once()
    cold = time.perf_counter() - started
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            await once()
        calls += 100
    warm = (time.perf_counter() - started) / calls
    print(f"hash {algorithm}: first check {cold * 1e3:.1f} ms (the slow hash)")
    print(f"warm cache: {warm * 1e6:.1f} µs per authentication ({calls:,} calls)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/authc_cost.py", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="warm loop length")
    parser.add_argument("--algorithm", default="bcrypt", help="password hash (default bcrypt)")
    args = parser.parse_args(argv)
    asyncio.run(measure(args.seconds, args.algorithm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
