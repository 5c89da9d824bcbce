"""The data set and the three workloads: GET by id, a `match` search, a `_bulk` of 500 docs.

Documents are generated from a fixed seed, so every run searches the same corpus: a title of 3
and a body of 20 words drawn uniformly from a vocabulary of 1,000 made-up words, so that a
one-word `match` query hits about 2% of the documents (about 2,000 of 100,000) and returns the
top 10. The corpus is loaded straight into the engine, never through the gateway.
"""

from __future__ import annotations

import base64
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen import lua_string
from procs import BenchError

INDEX = "bench"
BULK_INDEX = "bench-bulk"
BULK_DOCS = 500
BULK_BODIES = 16  # distinct bulk bodies with disjoint ids: 8,000 docs at most, overwritten
LOAD_BATCH = 5_000
VOCABULARY_SIZE = 1_000
SEED = 20_240_101
MAPPING = {
    "properties": {
        "title": {"type": "text"},
        "body": {"type": "text"},
        "tag": {"type": "keyword"},
        "n": {"type": "integer"},
        "ts": {"type": "date"},
    }
}
TAGS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")


def vocabulary(size: int = VOCABULARY_SIZE) -> list[str]:
    """Pronounceable made-up words (`"bakolu"`): the analyzer keeps them whole."""
    rng = random.Random(SEED)
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = rng.randint(2, 3)
        word = "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(syllables))
        words[word] = None
    return list(words)


def document(number: int, rng: random.Random, words: list[str], body_words: int) -> dict[str, Any]:
    return {
        "title": " ".join(rng.choices(words, k=3)),
        "body": " ".join(rng.choices(words, k=body_words)),
        "tag": rng.choice(TAGS),
        "n": number,
        "ts": 1_704_067_200_000 + number * 1000,  # epoch millis from 2024-01-01
    }


def bulk_lines(ids: range, rng: random.Random, words: list[str], body_words: int) -> bytes:
    lines = []
    for number in ids:
        lines.append(json.dumps({"index": {"_id": str(number)}}))
        lines.append(json.dumps(document(number, rng, words, body_words)))
    return ("\n".join(lines) + "\n").encode()


# --- HTTP helpers (stdlib: a few dozen set-up requests need no client library) --------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def basic_auth(password: str | None, username: str = "elastic") -> dict[str, str]:
    if password is None:
        return {}
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def other_credentials(gateway: str, elastic: dict[str, str], kind: str) -> dict[str, str]:
    """An API key or a bearer token for `elastic`, made through the gateway."""
    if kind == "apikey":
        body = json.dumps({"name": "bench"}).encode()
        made = expect_ok(
            call(f"{gateway}/_security/api_key", "POST", body, headers=elastic), "an API key"
        )
        return {"Authorization": f"ApiKey {made['encoded']}"}
    body = json.dumps({"grant_type": "client_credentials"}).encode()
    made = expect_ok(
        call(f"{gateway}/_security/oauth2/token", "POST", body, headers=elastic), "a token"
    )
    return {"Authorization": f"Bearer {made['access_token']}"}


def call(
    url: str,
    method: str,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
    timeout: float = 300.0,
) -> Reply:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if body is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers.items()), error.read())
    except OSError as error:
        raise BenchError(f"{method} {url} failed: {error}") from None


def expect_ok(reply: Reply, what: str) -> Any:
    if reply.status >= 300:
        raise BenchError(f"{what} answered {reply.status}: {reply.body[:500]!r}")
    return reply.json()


def create_index(engine: str, name: str, refresh_interval: str) -> None:
    settings = {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "refresh_interval": refresh_interval,
    }
    body = json.dumps({"settings": settings, "mappings": MAPPING}).encode()
    expect_ok(call(f"{engine}/{name}", "PUT", body), f"creating index {name}")


def load_corpus(engine: str, docs: int, words: list[str]) -> float:
    """Index `docs` documents with _bulk (no refresh meanwhile), then merge to one segment so
    that every run searches the same index shape. Returns the seconds it took."""
    started = time.monotonic()
    create_index(engine, INDEX, "-1")
    rng = random.Random(SEED)
    for first in range(0, docs, LOAD_BATCH):
        lines = bulk_lines(range(first, min(first + LOAD_BATCH, docs)), rng, words, 20)
        reply = call(f"{engine}/{INDEX}/_bulk", "POST", lines, content_type="application/x-ndjson")
        if expect_ok(reply, "loading the corpus")["errors"]:
            raise BenchError(f"loading the corpus: some documents failed: {reply.body[:500]!r}")
    settings = json.dumps({"index": {"refresh_interval": "1s"}}).encode()
    expect_ok(call(f"{engine}/{INDEX}/_settings", "PUT", settings), "setting refresh_interval")
    expect_ok(call(f"{engine}/{INDEX}/_forcemerge?max_num_segments=1", "POST"), "force merge")
    expect_ok(call(f"{engine}/{INDEX}/_refresh", "POST"), "refresh")
    count = expect_ok(call(f"{engine}/{INDEX}/_count", "GET"), "count")["count"]
    if count != docs:
        raise BenchError(f"the corpus has {count} documents, expected {docs}")
    create_index(engine, BULK_INDEX, "1s")
    return time.monotonic() - started


def write_bulk_bodies(folder: Path, words: list[str]) -> list[Path]:
    """BULK_BODIES request bodies of BULK_DOCS small documents each, with disjoint ids, so that
    concurrent requests seldom update the same document and the index stays bounded."""
    rng = random.Random(SEED + 1)
    paths = []
    for number in range(BULK_BODIES):
        path = folder / f"bulk-{number}.ndjson"
        first = number * BULK_DOCS
        path.write_bytes(bulk_lines(range(first, first + BULK_DOCS), rng, words, 8))
        paths.append(path)
    return paths


# --- workloads -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One request of the workload, sent once per target before measuring, to check it works."""

    method: str
    path: str
    body: bytes | None
    content_type: str
    valid: Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    title: str
    connections: int
    goal_ratio: float
    request_lua: str  # defines wrk's `request()`; `headers` (auth) is set by the runner
    sample: Sample
    body_must_contain: str | None = None  # counted as a failure when a 200 body lacks it
    user: tuple[str, str] | None = None  # (username, password) instead of `elastic`


def lua_headers(auth: dict[str, str], content_type: str | None) -> str:
    """Lua code building the header table each request copies (wrk.format mutates it)."""
    fields = dict(auth)
    if content_type:
        fields["Content-Type"] = content_type
    pairs = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in fields.items())
    return (
        f"local base_headers = {{{pairs}}}\n"
        "local function headers()\n"
        "  local copy = {}\n"
        "  for k, v in pairs(base_headers) do copy[k] = v end\n"
        "  return copy\n"
        "end\n"
    )


def get_by_id(docs: int, connections: int) -> Workload:
    request = (
        "math.randomseed(os.time())\n"
        "request = function()\n"
        f'  return wrk.format("GET", "/{INDEX}/_doc/" .. math.random(0, {docs - 1}), headers())\n'
        "end\n"
    )
    sample = Sample("GET", f"/{INDEX}/_doc/{docs // 2}", None, "", lambda r: r["found"] is True)
    return Workload("get", "GET by id", connections, 0.7, request, sample)


def match_search(words: list[str], connections: int) -> Workload:
    table = ", ".join(lua_string(word) for word in words)
    request = (
        "math.randomseed(os.time())\n"
        f"local words = {{{table}}}\n"
        "request = function()\n"
        "  local word = words[math.random(#words)]\n"
        '  local body = \'{"query":{"match":{"body":"\' .. word .. \'"}}}\'\n'
        f'  return wrk.format("POST", "/{INDEX}/_search", headers(), body)\n'
        "end\n"
    )
    body = json.dumps({"query": {"match": {"body": words[0]}}}).encode()
    sample = Sample(
        "POST",
        f"/{INDEX}/_search",
        body,
        "application/json",
        lambda r: r["hits"]["total"]["value"] > 0 and len(r["hits"]["hits"]) == 10,
    )
    return Workload("search", "match search", connections, 0.9, request, sample)


def bulk(bodies: list[Path], connections: int) -> Workload:
    files = ", ".join(lua_string(str(path)) for path in bodies)
    request = (
        "local bodies = {}\n"
        f"for _, name in ipairs({{{files}}}) do\n"
        '  local file = assert(io.open(name, "rb"))\n'
        '  table.insert(bodies, file:read("*a"))\n'
        "  file:close()\n"
        "end\n"
        "local next_body = 0\n"
        "request = function()\n"
        "  next_body = next_body % #bodies + 1\n"
        f'  return wrk.format("POST", "/{BULK_INDEX}/_bulk", headers(), bodies[next_body])\n'
        "end\n"
    )
    sample = Sample(
        "POST",
        f"/{BULK_INDEX}/_bulk",
        bodies[0].read_bytes(),
        "application/x-ndjson",
        lambda r: r["errors"] is False and len(r["items"]) == BULK_DOCS,
    )
    # The engine writes `"errors":false` near the start of a fully successful bulk response.
    return Workload(
        "bulk", f"_bulk of {BULK_DOCS} docs", connections, 0.95, request, sample, '"errors":false'
    )


# The authorization workload: a user with 50 roles of 20 index patterns each searches `logs-*`
# across 500 indices (`bench/authz_cost.py` has the same shape, in process). The roles cover every
# index, so the engine searches the same 500 indices for both targets.
AUTHZ_ROLES = 50
AUTHZ_INDICES_PER_ROLE = 10
AUTHZ_PATTERNS_PER_ROLE = 20
AUTHZ_USER = ("bench-authz", "bench-authz-password")


def authz_indices() -> list[str]:
    return [f"logs-s{r:02d}-{k}" for r in range(AUTHZ_ROLES) for k in range(AUTHZ_INDICES_PER_ROLE)]


def authz_roles() -> dict[str, Any]:
    roles: dict[str, Any] = {}
    for r in range(AUTHZ_ROLES):
        patterns = [f"logs-s{r:02d}-{k}*" for k in range(AUTHZ_INDICES_PER_ROLE)]
        patterns += [
            f"other-{r:02d}-{k}-*" for k in range(AUTHZ_PATTERNS_PER_ROLE - AUTHZ_INDICES_PER_ROLE)
        ]
        roles[f"bench_role_{r:02d}"] = {
            "cluster": ["monitor"],
            "indices": [{"names": patterns, "privileges": ["read", "view_index_metadata"]}],
        }
    return roles


def load_authz(engine: str, gateway: str, elastic: dict[str, str]) -> float:
    """500 one-document indices straight into the engine; the roles and the user through the
    gateway, as `elastic`. Returns the seconds it took."""
    started = time.monotonic()
    template = {
        "index_patterns": ["logs-s*"],
        "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0}},
    }
    body = json.dumps(template).encode()
    expect_ok(call(f"{engine}/_index_template/bench-logs", "PUT", body), "logs template")
    lines = []
    for number, name in enumerate(authz_indices()):
        lines.append(json.dumps({"index": {"_index": name, "_id": "1"}}))
        lines.append(json.dumps({"message": f"event {number}", "n": number}))
    reply = call(
        f"{engine}/_bulk?refresh=true",
        "POST",
        ("\n".join(lines) + "\n").encode(),
        content_type="application/x-ndjson",
    )
    if expect_ok(reply, "creating the 500 indices")["errors"]:
        raise BenchError(f"creating the 500 indices: some failed: {reply.body[:500]!r}")
    roles = json.dumps({"roles": authz_roles()}).encode()
    expect_ok(call(f"{gateway}/_security/role", "POST", roles, headers=elastic), "the roles")
    user = {"password": AUTHZ_USER[1], "roles": sorted(authz_roles())}
    expect_ok(
        call(
            f"{gateway}/_security/user/{AUTHZ_USER[0]}",
            "PUT",
            json.dumps(user).encode(),
            headers=elastic,
        ),
        "the authz user",
    )
    return time.monotonic() - started


def flush_all(engine: str) -> None:
    """Commit every index now. Otherwise the engine flushes each shard written during the set-up
    when it has been idle for 5 minutes (`indices.memory.shard_inactive_time`): with the authz
    workload's 500 indices, that fell in the search workload's third gateway round and cost the
    engine up to twice its CPU per search for that round."""
    expect_ok(call(f"{engine}/_flush?expand_wildcards=all", "POST"), "flushing the indices")


def authz_search(connections: int) -> Workload:
    body = '{"size":10,"query":{"match_all":{}}}'
    request = (
        "request = function()\n"
        f'  return wrk.format("POST", "/logs-*/_search", headers(), {lua_string(body)})\n'
        "end\n"
    )
    sample = Sample(
        "POST",
        "/logs-*/_search",
        body.encode(),
        "application/json",
        lambda r: r["hits"]["total"]["value"] == len(authz_indices()),
    )
    return Workload(
        "authz",
        "search logs-* (50 roles, 500 indices)",
        connections,
        0.9,
        request,
        sample,
        user=AUTHZ_USER,
    )


def check_sample(base: str, workload: Workload, auth: dict[str, str]) -> int:
    """Send the workload's sample request; return the response size in bytes."""
    sample = workload.sample
    reply = call(
        base + sample.path,
        sample.method,
        sample.body,
        headers=auth,
        content_type=sample.content_type,
    )
    if reply.status == 401:
        raise BenchError(
            f"{base} answered 401 to {workload.title}: the gateway wants credentials and the "
            "runner found no `elastic` password in its first-start banner (see gateway.log)"
        )
    if not workload.sample.valid(expect_ok(reply, f"{workload.title} at {base}")):
        raise BenchError(f"{workload.title} at {base}: unexpected answer {reply.body[:500]!r}")
    return len(reply.body)
