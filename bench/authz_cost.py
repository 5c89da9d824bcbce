"""What authorizing one request costs, in process: a user with 50 roles of 20 index patterns each
searches `logs-*` across 500 indices, and writes a `_bulk` of 500 documents to one of them.

    python bench/authz_cost.py [--seconds 3]

It builds the real `AuthorizationService` over a real `RoleStore` (the roles come from a
`roles.yml` in a temporary folder, so no engine is needed) and a metadata snapshot of the 500
indices, then times `authorize()` for a few requests: the first call (role compilation and the
wildcard expansion), then warm calls in a loop for `--seconds`. It prints µs per call. The
end-to-end figure with the engine is the `authz` workload of `bench/run.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from types import MappingProxyType

import yaml
from multidict import MultiDict

from bastion.authc.user import Authentication, RealmRef, User
from bastion.authz.role_store import RoleStore
from bastion.authz.service import AuthorizationService
from bastion.backend.client import EngineClient
from bastion.backend.metadata import ClusterMetadata, IndexMetadata, MetadataCache
from bastion.rest.routes import match_raw
from bastion.store.security_index import SecurityIndex
from workloads import bulk_lines, vocabulary

ROLES = 50
PATTERNS_PER_ROLE = 20
INDICES_PER_ROLE = 10  # 50 × 10 = 500 indices


def index_names() -> list[str]:
    return [f"logs-s{r:02d}-{k}" for r in range(ROLES) for k in range(INDICES_PER_ROLE)]


def role_definitions() -> dict[str, object]:
    """Role r grants read and write on its 10 `logs-s<r>-<k>*` patterns and on 10 patterns that
    match nothing, so together the 50 roles cover the 500 indices exactly once."""
    roles: dict[str, object] = {}
    for r in range(ROLES):
        patterns = [f"logs-s{r:02d}-{k}*" for k in range(INDICES_PER_ROLE)]
        patterns += [f"other-{r:02d}-{k}-*" for k in range(PATTERNS_PER_ROLE - INDICES_PER_ROLE)]
        roles[f"bench_role_{r:02d}"] = {
            "cluster": ["monitor"],
            "indices": [
                {"names": patterns, "privileges": ["read", "view_index_metadata", "write"]}
            ],
        }
    return roles


async def measure(seconds: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bastion-authz-bench-"))
    (folder / "roles.yml").write_text(yaml.safe_dump(role_definitions()))
    engine = EngineClient(["http://127.0.0.1:9"], max_connections=1, timeout=1.0)
    roles = RoleStore(SecurityIndex(engine), folder / "roles.yml")
    metadata = MetadataCache(engine, 3600.0)
    metadata.current = ClusterMetadata(
        MappingProxyType({name: IndexMetadata(name) for name in index_names()})
    )
    service = AuthorizationService(roles, metadata)
    realm = RealmRef("default_file", "file")
    user = User("bench", tuple(sorted(role_definitions())))
    authentication = Authentication(user, realm, realm)
    # The benchmark's bulk (a distinct action line per item, `{"index": {"_id": "7"}}`), the
    # same documents as Beats and Logstash send them (one action line repeated for every item),
    # and as Elastic Agent sends two data streams (two action lines, interleaved).
    bulk = bulk_lines(range(500), random.Random(1), vocabulary(), 20)
    sources = bulk.split(b"\n")[1::2]
    repeated = b"".join(b'{"create":{}}\n' + source + b"\n" for source in sources)
    streams = [b'{"create":{"_index":"logs-s07-%d"}}\n' % k for k in (3, 4)]
    interleaved = b"".join(streams[n % 2] + s + b"\n" for n, s in enumerate(sources))
    cases: dict[str, tuple[str, str, bytes | None]] = {
        "search logs-* (500 indices)": ("POST", "/logs-*/_search", None),
        "search one index": ("POST", "/logs-s07-3/_search", None),
        "get a document": ("GET", "/logs-s07-3/_doc/1", None),
        "cluster health": ("GET", "/_cluster/health", None),
        "bulk of 500, distinct actions": ("POST", "/logs-s07-3/_bulk", bulk),
        "bulk of 500, one action line": ("POST", "/logs-s07-3/_bulk", repeated),
        "bulk of 500, two streams": ("POST", "/_bulk", interleaved),
    }
    print(f"{ROLES} roles × {PATTERNS_PER_ROLE} patterns, {len(index_names())} indices")
    for title, (method, path, body) in cases.items():
        query: MultiDict[str] = MultiDict()
        match = match_raw(method, path)

        async def once(
            m: str = method, p: str = path, q: MultiDict[str] = query, b: bytes | None = body
        ) -> None:
            await service.authorize(
                authentication, match=match_raw(m, p), method=m, raw_path=p, query=q, body=b
            )

        roles.invalidate()
        started = time.perf_counter()
        await once()
        first = time.perf_counter() - started
        calls = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            for _ in range(100):
                await once()
            calls += 100
        warm = (time.perf_counter() - started) / calls
        assert match is not None
        print(
            f"{title:<30} first {first * 1e6:9.0f} µs   warm {warm * 1e6:7.1f} µs/call "
            f"({calls:,} calls, action {match.action})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/authz_cost.py", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="warm loop per case")
    args = parser.parse_args(argv)
    asyncio.run(measure(args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
