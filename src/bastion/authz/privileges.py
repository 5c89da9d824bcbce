"""Elasticsearch 8 named privileges: cluster and index privilege names mapped to action patterns.

The tables below are data: one row per named privilege, with the action patterns it includes and
the ones it carves out, as Elasticsearch 8.17/8.18 defines them (`ClusterPrivilegeResolver`,
`IndexPrivilege`). Patterns are Elasticsearch wildcards: `*` any string, `?` any one character,
a backslash escapes the next character.

A privilege string in a role that is not a name but looks like an action (`cluster:monitor/*`,
`indices:data/read/search`) is a raw pattern; like Elasticsearch, Bastion lowercases it and appends
`*`, so `indices:data/read/search` also grants `indices:data/read/search[phase/query]`.

`manage_own_api_key` is the one privilege whose grant depends on the request: it covers the API key
actions (`cluster:admin/xpack/security/api_key/*`) only for the caller's own keys. Its patterns are
therefore never folded into a compiled predicate; the predicate carries an `own_api_keys` flag and
the authorization engine decides ownership from the request (`ActionPredicate.own_api_key_action`).

Ordering follows Elasticsearch wherever it shows: denial messages and "unknown privilege" errors
list names from least to most privileged, which Elasticsearch computes by automaton inclusion; so
does this module (`_Glob`, `_subset`), at first use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

Kind = Literal["cluster", "index"]


class UnknownPrivilegeError(ValueError):
    """A privilege string that is neither a known name nor an action pattern of its kind."""


@dataclass(frozen=True, slots=True)
class Privilege:
    """One named privilege: the actions it grants are `include` minus `exclude`."""

    name: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    # manage_own_api_key: `include` is granted only for requests about the caller's own API keys.
    own_api_keys_only: bool = False


def _p(name: str, *include: str, exclude: tuple[str, ...] = (), own: bool = False) -> Privilege:
    return Privilege(name, include, exclude, own)


# Action names Elasticsearch's tables reference through Java constants, spelled out.
_CLUSTER_STATE = "cluster:monitor/state"
_HAS_PRIVILEGES = "cluster:admin/xpack/security/user/has_privileges"
_INVALIDATE_TOKEN = "cluster:admin/xpack/security/token/invalidate"  # noqa: S105 (an action)
_DELEGATE_PKI = "cluster:admin/xpack/security/delegate_pki"
_ILM_STATUS = "cluster:admin/ilm/operation_mode/get"
_SNAPSHOT_STATUS = "cluster:admin/snapshot/status"
_CONNECTOR_SECRETS_READ = ("cluster:admin/xpack/connector/secret/get",)
_CONNECTOR_SECRETS_WRITE = (
    "cluster:admin/xpack/connector/secret/delete",
    "cluster:admin/xpack/connector/secret/post",
    "cluster:admin/xpack/connector/secret/put",
)
_REMOTE_CLUSTER_BASE = (
    "cluster:internal/remote_cluster/handshake",
    "cluster:internal/remote_cluster/nodes",
    "cluster:internal/admin/tasks/ban",
    "cluster:internal/admin/tasks/cancel_child",
    "cluster:monitor/xpack/info",
)
_ALL_CLUSTER = ("cluster:*", "indices:admin/template/*", "indices:admin/index_template/*")
_ALL_SECURITY = ("cluster:admin/xpack/security/*",)
_TRANSFORM_MONITOR = ("cluster:monitor/data_frame/*", "cluster:monitor/transform/*")
_TRANSFORM_MANAGE = ("cluster:admin/data_frame/*", *_TRANSFORM_MONITOR, "cluster:admin/transform/*")
_PIPELINES = ("cluster:admin/ingest/pipeline/*",)
_SEARCH_SHARDS = ("indices:admin/shards/search_shards", "indices:admin/search/search_shards")
_RESOLVE_INDEX = "indices:admin/resolve/index"
_RESOLVE_CLUSTER = "indices:admin/resolve/cluster"
_AUTO_PUT_MAPPING = "indices:admin/mapping/auto_put"
_AUTO_CREATE = "indices:admin/auto_create"
_FIELD_CAPS = "indices:data/read/field_caps*"
_ROLLUP_CAPS = "indices:data/read/xpack/rollup/get/index/caps*"
_SIMULATE_BULK = "indices:data/write/simulate/bulk*"

CLUSTER_PRIVILEGES: Final[Mapping[str, Privilege]] = {
    p.name: p
    for p in (
        _p("none"),
        _p("all", *_ALL_CLUSTER),
        _p(
            "monitor",
            "cluster:monitor/*",
            "indices:admin/template/get",
            "cluster:admin/component_template/get",
            "indices:admin/index_template/get",
        ),
        _p(
            "monitor_connector",
            "cluster:admin/xpack/connector/get",
            "cluster:admin/xpack/connector/list",
            "cluster:admin/xpack/connector/sync_job/get",
            "cluster:admin/xpack/connector/sync_job/list",
        ),
        _p(
            "monitor_inference",
            "cluster:monitor/xpack/inference*",
            "cluster:monitor/xpack/ml/trained_models/deployment/infer",
        ),
        _p("monitor_ml", "cluster:monitor/xpack/ml/*"),
        _p("monitor_text_structure", "cluster:monitor/text_structure/*"),
        _p("monitor_data_frame_transforms", *_TRANSFORM_MONITOR),  # deprecated alias
        _p("monitor_transform", *_TRANSFORM_MONITOR),
        _p("monitor_watcher", "cluster:monitor/xpack/watcher/*"),
        _p("monitor_rollup", "cluster:monitor/xpack/rollup/*"),
        _p("monitor_enrich", "cluster:monitor/xpack/enrich/*", "cluster:admin/xpack/enrich/get"),
        # `stats*` on purpose: also cluster:monitor/stats[n] and cluster:monitor/stats/remote.
        _p("monitor_stats", "cluster:monitor/stats*"),
        _p("manage", *_ALL_CLUSTER, exclude=_ALL_SECURITY),
        _p(
            "manage_connector",
            "cluster:admin/xpack/connector/*",
            exclude=_CONNECTOR_SECRETS_READ + _CONNECTOR_SECRETS_WRITE,
        ),
        _p(
            "manage_inference",
            "cluster:admin/xpack/inference/*",
            "cluster:monitor/xpack/inference*",  # no slash: also the POST inference action
            "cluster:admin/xpack/ml/trained_models/deployment/start",
            "cluster:admin/xpack/ml/trained_models/deployment/stop",
            "cluster:monitor/xpack/ml/trained_models/deployment/infer",
        ),
        _p("manage_ml", "cluster:admin/xpack/ml/*", "cluster:monitor/xpack/ml/*"),
        _p("manage_data_frame_transforms", *_TRANSFORM_MANAGE),  # deprecated alias
        _p("manage_transform", *_TRANSFORM_MANAGE),
        _p("manage_token", "cluster:admin/xpack/security/token/*"),
        _p("manage_watcher", "cluster:admin/xpack/watcher/*", "cluster:monitor/xpack/watcher/*"),
        _p(
            "manage_index_templates",
            "indices:admin/template/*",
            "indices:admin/index_template/*",
            "cluster:admin/component_template/*",
        ),
        _p("manage_ingest_pipelines", *_PIPELINES),
        _p(
            "read_pipeline",
            "cluster:admin/ingest/pipeline/get",
            "cluster:admin/ingest/pipeline/simulate",
        ),
        _p("transport_client", "cluster:monitor/nodes/liveness", _CLUSTER_STATE),
        _p("manage_security", *_ALL_SECURITY, exclude=(_DELEGATE_PKI,)),
        _p(
            "read_security",
            "cluster:admin/xpack/security/api_key/get",
            "cluster:admin/xpack/security/api_key/query",
            "cluster:admin/xpack/security/privilege/builtin/get",
            "cluster:admin/xpack/security/privilege/get",
            "cluster:admin/xpack/security/profile/get",
            "cluster:admin/xpack/security/profile/has_privileges",
            "cluster:admin/xpack/security/profile/suggest",
            "cluster:admin/xpack/security/role/get",
            "cluster:admin/xpack/security/role/query",
            "cluster:admin/xpack/security/role_mapping/get",
            "cluster:admin/xpack/security/service_account/get",
            "cluster:admin/xpack/security/service_account/credential/get*",
            "cluster:admin/xpack/security/user/get",
            "cluster:admin/xpack/security/user/query",
            "cluster:admin/xpack/security/user/list_privileges",
            _HAS_PRIVILEGES,
            "cluster:admin/xpack/security/settings/get",
        ),
        _p(
            "manage_saml",
            "cluster:admin/xpack/security/saml/*",
            _INVALIDATE_TOKEN,
            "cluster:admin/xpack/security/token/refresh",
            "cluster:monitor/xpack/security/saml/metadata",
        ),
        _p("manage_oidc", "cluster:admin/xpack/security/oidc/*"),
        _p("manage_api_key", "cluster:admin/xpack/security/api_key/*"),
        _p("grant_api_key", "cluster:admin/xpack/security/api_key/grant*"),
        _p("manage_service_account", "cluster:admin/xpack/security/service_account/*"),
        _p("manage_user_profile", "cluster:admin/xpack/security/profile/*"),
        _p("manage_pipeline", *_PIPELINES),
        _p("manage_rollup", "cluster:admin/xpack/rollup/*", "cluster:monitor/xpack/rollup/*"),
        _p("manage_autoscaling", "cluster:admin/autoscaling/*"),
        _p("manage_ccr", "cluster:admin/xpack/ccr/*", _CLUSTER_STATE, _HAS_PRIVILEGES),
        _p("read_ccr", _CLUSTER_STATE, _HAS_PRIVILEGES),
        _p(
            "create_snapshot",
            "cluster:admin/snapshot/create",
            _SNAPSHOT_STATUS + "*",
            "cluster:admin/snapshot/get",
            _SNAPSHOT_STATUS,
            "cluster:admin/repository/get",
        ),
        _p(
            "monitor_snapshot",
            _SNAPSHOT_STATUS + "*",
            "cluster:admin/snapshot/get",
            _SNAPSHOT_STATUS,
            "cluster:admin/repository/get",
        ),
        _p("manage_ilm", "cluster:admin/ilm/*"),
        _p("read_ilm", "cluster:admin/ilm/get", _ILM_STATUS),
        _p(
            "manage_slm",
            "cluster:admin/slm/*",
            "cluster:admin/ilm/start",
            "cluster:admin/ilm/stop",
            _ILM_STATUS,
        ),
        _p("read_slm", "cluster:admin/slm/status", "cluster:admin/slm/get", _ILM_STATUS),
        _p("delegate_pki", _DELEGATE_PKI, _INVALIDATE_TOKEN),
        _p("manage_own_api_key", "cluster:admin/xpack/security/api_key/*", own=True),
        _p("manage_enrich", "cluster:admin/xpack/enrich/*", "cluster:monitor/xpack/enrich/*"),
        _p("manage_logstash_pipelines", "cluster:admin/logstash/pipeline/*"),
        _p("read_fleet_secrets", "cluster:admin/fleet/secrets/get"),
        _p(
            "write_fleet_secrets",
            "cluster:admin/fleet/secrets/post",
            "cluster:admin/fleet/secrets/delete",
        ),
        _p("cancel_task", "cluster:admin/tasks/cancel*"),
        _p("manage_search_application", "cluster:admin/xpack/application/search_application/*"),
        _p(
            "manage_search_synonyms",
            "cluster:admin/synonyms/*",
            "cluster:admin/synonyms_sets/*",
            "cluster:admin/synonym_rules/*",
        ),
        _p("manage_behavioral_analytics", "cluster:admin/xpack/application/analytics/*"),
        _p(
            "post_behavioral_analytics_event",
            "cluster:admin/xpack/application/analytics/post_event",
        ),
        _p("manage_search_query_rules", "cluster:admin/xpack/query_rules/*"),
        # The two cross_cluster_* privileges exist for cross-cluster API keys, not for roles.
        _p(
            "cross_cluster_search",
            *_REMOTE_CLUSTER_BASE,
            "cluster:monitor/xpack/enrich/esql/resolve_policy",
            "cluster:internal:data/read/esql/open_exchange",
            "cluster:internal:data/read/esql/exchange",
        ),
        _p("cross_cluster_replication", *_REMOTE_CLUSTER_BASE, _CLUSTER_STATE),
        _p("read_connector_secrets", *_CONNECTOR_SECRETS_READ),
        _p("write_connector_secrets", *_CONNECTOR_SECRETS_WRITE),
        # Deprecated in 8.16 and granting nothing, kept so that old roles still parse.
        _p("monitor_data_stream_global_retention"),
        _p("manage_data_stream_global_retention"),
    )
}

INDEX_PRIVILEGES: Final[Mapping[str, Privilege]] = {
    p.name: p
    for p in (
        _p("none"),
        _p("all", "indices:*", "internal:transport/proxy/indices:*"),
        _p("read", "indices:data/read/*", _RESOLVE_INDEX, _RESOLVE_CLUSTER),
        _p(
            "read_cross_cluster",
            "internal:transport/proxy/indices:data/read/*",
            *_SEARCH_SHARDS,
            _RESOLVE_CLUSTER,
            "indices:data/read/esql",
            "indices:data/read/esql/compute",
        ),
        _p("create", "indices:data/write/index*", "indices:data/write/bulk*", _SIMULATE_BULK),
        _p(
            "create_doc",
            "indices:data/write/index",
            "indices:data/write/index[*",
            "indices:data/write/index:op_type/create",
            "indices:data/write/bulk*",
            _SIMULATE_BULK,
        ),
        _p(
            "index",
            "indices:data/write/index*",
            "indices:data/write/bulk*",
            "indices:data/write/update*",
            _SIMULATE_BULK,
        ),
        _p("delete", "indices:data/write/delete*", "indices:data/write/bulk*"),
        # Since 8.0 only the automatic (dynamic) mapping update, never indices:admin/mapping/put.
        _p("write", "indices:data/write/*", _AUTO_PUT_MAPPING),
        _p("monitor", "indices:monitor/*"),
        _p("manage", "indices:monitor/*", "indices:admin/*", _FIELD_CAPS, _ROLLUP_CAPS),
        _p(
            "create_index", "indices:admin/create", _AUTO_CREATE, "indices:admin/data_stream/create"
        ),
        _p("delete_index", "indices:admin/delete", "indices:admin/data_stream/delete"),
        _p(
            "view_index_metadata",
            "indices:admin/aliases/get",
            "indices:admin/get",
            "indices:admin/mappings/fields/get*",
            "indices:admin/mappings/get",
            *_SEARCH_SHARDS,
            "indices:admin/validate/query*",
            "indices:monitor/settings/get",
            "indices:admin/ilm/explain",
            "indices:admin/data_stream/lifecycle/get",
            "indices:admin/data_stream/lifecycle/explain",
            "indices:admin/data_stream/get",
            _RESOLVE_INDEX,
            _RESOLVE_CLUSTER,
            _FIELD_CAPS,
            _ROLLUP_CAPS,
            "indices:monitor/transform/checkpoint*",
            "indices:monitor/get/metering/stats",  # serverless only, harmless here
            "indices:admin/get/metering/stats",  # serverless only, harmless here
        ),
        _p(
            "manage_follow_index",
            "indices:admin/xpack/ccr/put_follow",
            "indices:admin/xpack/ccr/unfollow",
            "indices:admin/close*",
            "indices:admin/data_stream/promote",
            "indices:admin/rollover",
        ),
        _p("manage_leader_index", "indices:admin/xpack/ccr/forget_follower*"),
        _p("manage_ilm", "indices:admin/ilm/*"),
        _p("manage_data_stream_lifecycle", "indices:admin/data_stream/lifecycle/*"),
        _p(
            "maintenance",
            "indices:admin/refresh*",
            "indices:admin/flush*",
            "indices:admin/synced_flush",
            "indices:admin/forcemerge*",
        ),
        _p("auto_configure", _AUTO_PUT_MAPPING, _AUTO_CREATE),
        _p(
            "cross_cluster_replication",
            "indices:data/read/xpack/ccr/shard_changes*",
            "indices:monitor/stats*",
            "indices:admin/seq_no/add_retention_lease*",
            "indices:admin/seq_no/remove_retention_lease*",
            "indices:admin/seq_no/renew_retention_lease*",
        ),
        _p(
            "cross_cluster_replication_internal",
            "indices:internal/admin/ccr/restore/session/clear*",
            "indices:internal/admin/ccr/restore/file_chunk/get*",
            "indices:internal/admin/ccr/restore/session/put*",
            "internal:transport/proxy/indices:internal/admin/ccr/restore/session/clear*",
            "internal:transport/proxy/indices:internal/admin/ccr/restore/file_chunk/get*",
        ),
    )
}

# Cluster privileges a role may grant towards a remote cluster (`remote_cluster` in a role).
REMOTE_CLUSTER_PRIVILEGES: Final[tuple[str, ...]] = ("monitor_enrich", "monitor_stats")

_TABLES: Final[Mapping[Kind, Mapping[str, Privilege]]] = {
    "cluster": CLUSTER_PRIVILEGES,
    "index": INDEX_PRIVILEGES,
}

# What a raw privilege string must look like to be taken as an action pattern (tested against the
# string itself, as Elasticsearch does): `all`'s actions for each kind.
_RAW_CLUSTER = re.compile(
    r"cluster:.*|indices:admin/template/.*|indices:admin/index_template/.*", re.S
)
_RAW_INDEX = re.compile(r"indices:.*|internal:transport/proxy/indices:.*", re.S)
_RAW: Final[Mapping[Kind, re.Pattern[str]]] = {"cluster": _RAW_CLUSTER, "index": _RAW_INDEX}


def is_cluster_action(action: str) -> bool:
    """Whether Elasticsearch treats `action` as a cluster action (including template actions)."""
    return _RAW_CLUSTER.fullmatch(action) is not None


def is_index_action(action: str) -> bool:
    return _RAW_INDEX.fullmatch(action) is not None


# ---------------------------------------------------------------------------------------------
# Wildcard patterns: regular expressions for matching, small automata for inclusion.

_OTHER_CHAR = "\x00"  # in inclusion tests, stands for every character no pattern mentions
_NOTHING = re.compile(r"(?!)")
_API_KEY_ACTIONS = "cluster:admin/xpack/security/api_key/*"


def _glob_tokens(pattern: str) -> list[tuple[str, str]]:
    """("lit", c) / ("any", "") / ("star", ""), with Elasticsearch's backslash escape."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            tokens.append(("lit", pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            if not tokens or tokens[-1][0] != "star":  # `**` is `*`
                tokens.append(("star", ""))
        elif c == "?":
            tokens.append(("any", ""))
        else:
            tokens.append(("lit", c))
        i += 1
    return tokens


def _glob_regex(pattern: str) -> str:
    return "".join(
        ".*" if kind == "star" else "." if kind == "any" else re.escape(char)
        for kind, char in _glob_tokens(pattern)
    )


def _group_regex(include: Iterable[str], exclude: Iterable[str] = ()) -> str | None:
    """One regex for `include` minus `exclude`, or None if nothing is included."""
    inc = "|".join(dict.fromkeys(map(_glob_regex, include)))
    if not inc:
        return None
    exc = "|".join(dict.fromkeys(map(_glob_regex, exclude)))
    return rf"(?!(?:{exc})\Z)(?:{inc})" if exc else inc


@dataclass(frozen=True, slots=True)
class _Language:
    """A set of action names: those matching any of `include` and none of `exclude`."""

    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()


def _language(privilege: Privilege) -> _Language:
    return _Language(privilege.include, privilege.exclude)


@functools.cache
def _language_regex(language: _Language) -> re.Pattern[str]:
    pattern = _group_regex(language.include, language.exclude)
    return re.compile(pattern, re.S) if pattern is not None else _NOTHING


class _Glob:
    """A wildcard pattern as an NFA over token positions; a state is a bitmask of positions."""

    __slots__ = ("closure", "length", "literals", "prefix", "stars")

    def __init__(self, pattern: str) -> None:
        tokens = _glob_tokens(pattern)
        self.length = len(tokens)
        self.stars = tuple(kind == "star" for kind, _ in tokens)
        # None for `?` and `*` (any character), else the literal character.
        self.literals = tuple(char if kind == "lit" else None for kind, char in tokens)
        prefix = []
        for kind, char in tokens:
            if kind != "lit":
                break
            prefix.append(char)
        self.prefix = "".join(prefix)
        # closure[i]: position i and every position reachable from it by skipping stars.
        closure = [0] * (self.length + 1)
        for i in range(self.length, -1, -1):
            closure[i] = 1 << i
            if i < self.length and self.stars[i]:
                closure[i] |= closure[i + 1]
        self.closure = tuple(closure)

    @property
    def is_literal(self) -> bool:
        return len(self.prefix) == self.length

    def covers(self, other: _Glob) -> bool:
        """Sufficient test for other ⊆ self: self is `prefix*` and other starts with prefix."""
        return (
            self.length == len(self.prefix) + 1
            and self.stars[-1]
            and other.prefix.startswith(self.prefix)
        )

    def overlaps(self, other: _Glob) -> bool:
        """Necessary test for a common match: one literal prefix extends the other."""
        return self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix)

    def accepts(self, state: int) -> bool:
        return bool(state >> self.length & 1)

    def step(self, state: int, char: str) -> int:
        out = 0
        while state:
            low = state & -state
            state ^= low
            i = low.bit_length() - 1
            if i == self.length:
                continue
            if self.stars[i]:
                out |= self.closure[i]
            elif self.literals[i] is None or self.literals[i] == char:
                out |= self.closure[i + 1]
        return out


@functools.cache
def _glob(pattern: str) -> _Glob:
    return _Glob(pattern)


def _subset(small: _Language, big: Sequence[_Language]) -> bool:
    """Whether every action of `small` is in the union of `big` (language inclusion).

    Inclusion of a union splits pattern by pattern; most patterns are settled by a sample string
    or by a covering `prefix*` pattern, and only the rest need the exhaustive search.
    """
    if not small.include:
        return True
    if _has_witness(small, big):
        return False
    return all(_pattern_subset(pattern, small.exclude, big) for pattern in small.include)


def _has_witness(small: _Language, big: Sequence[_Language]) -> bool:
    """Cheap disproof: a sample string of `small` (each `*` as nothing or as one character) that
    no group of `big` matches."""
    in_small = _language_regex(small).fullmatch
    in_big = [_language_regex(language).fullmatch for language in big]
    for pattern in small.include:
        tokens = _glob_tokens(pattern)
        for star in ("", _OTHER_CHAR):
            sample = "".join(
                char if kind == "lit" else star if kind == "star" else _OTHER_CHAR
                for kind, char in tokens
            )
            if in_small(sample) is not None and all(match(sample) is None for match in in_big):
                return True
    return False


def _pattern_subset(pattern: str, exclude: tuple[str, ...], big: Sequence[_Language]) -> bool:
    glob = _glob(pattern)
    for language in big:
        if any(_glob(p).covers(glob) for p in language.include) and not any(
            _glob(p).overlaps(glob) for p in language.exclude
        ):
            return True
    if glob.is_literal:
        action = glob.prefix
        if _language_regex(_Language(exclude)).fullmatch(action) is not None:
            return True  # carved out of `small`: nothing to cover
        return any(_language_regex(language).fullmatch(action) is not None for language in big)
    return _search(_Language((pattern,), exclude), big)


def _search(small: _Language, big: Sequence[_Language]) -> bool:
    """Inclusion by depth-first search over the product of the patterns' automata, for a string
    that `small` accepts and no group of `big` does. The alphabet is the characters the patterns
    mention plus one stand-in for all others, which is exact for wildcard patterns."""
    inc_a = [_glob(p) for p in small.include]

    def relevant(patterns: Iterable[str]) -> list[_Glob]:
        return [g for g in map(_glob, patterns) if any(g.overlaps(a) for a in inc_a)]

    exc_a = relevant(small.exclude)
    groups = [(relevant(language.include), relevant(language.exclude)) for language in big]
    globs = [*inc_a, *exc_a]
    b_ranges: list[tuple[range, range]] = []  # positions of each big group in a product state
    for inc, exc in groups:
        if inc:
            at = len(globs)
            b_ranges.append((range(at, at + len(inc)), range(at + len(inc), at + len(inc + exc))))
            globs += inc + exc
    a_inc = range(len(inc_a))
    a_exc = range(len(inc_a), len(inc_a) + len(exc_a))
    alphabet = sorted({c for g in globs for c in g.literals if c is not None} | {_OTHER_CHAR})

    def accepted(state: tuple[int, ...], where: range) -> bool:
        return any(globs[k].accepts(state[k]) for k in where)

    start = tuple(g.closure[0] for g in globs)
    seen = {start}
    todo = [start]
    while todo:
        state = todo.pop()
        in_small = accepted(state, a_inc) and not accepted(state, a_exc)
        if in_small and not any(
            accepted(state, inc) and not accepted(state, exc) for inc, exc in b_ranges
        ):
            return False
        if not any(state[k] for k in a_inc):
            continue  # no string of `small` continues from here
        for char in alphabet:
            following = tuple(g.step(s, char) for g, s in zip(globs, state, strict=True))
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return True


# ---------------------------------------------------------------------------------------------
# Names, raw patterns and Elasticsearch's orderings.


def _raw_pattern(kind: Kind, name: str) -> str | None:
    """The action pattern a raw privilege string stands for, or None if it is not one."""
    lowered = name.lower()
    if _RAW[kind].fullmatch(lowered) is not None:
        return lowered + "*"
    return None


def _lookup(kind: Kind, name: str) -> Privilege:
    """The named privilege (case-insensitive), or an unnamed one for a raw action pattern."""
    raw = _raw_pattern(kind, name)
    if raw is not None:
        return Privilege(name.lower(), (raw,))
    privilege = _TABLES[kind].get(name.lower())
    if privilege is None:
        raise UnknownPrivilegeError(privilege_error(kind, name))
    return privilege


def _cluster_implies(holder: Privilege, other: Privilege) -> bool:
    """Elasticsearch's `ClusterPermission.implies` between two cluster privileges.

    The request-dependent manage_own_api_key implies only itself; a plain privilege implies it when
    its actions cover all API key actions, since a plain grant allows whatever the conditional one
    could. (Elasticsearch's documented name order only comes out with this rule.)
    """
    if holder.own_api_keys_only and not other.own_api_keys_only:
        return False
    return _subset(_language(other), [_language(holder)])


@functools.cache
def access_order(kind: Kind) -> tuple[str, ...]:
    """Privilege names from least to most privileged, in Elasticsearch's order.

    Cluster: by how many other privileges each one implies, then by name. Index: by how many other
    privileges each one is a subset of (most first), then by name. Computed on first use (~0.1 s).
    """
    table = _TABLES[kind]
    privileges = list(table.values())
    if kind == "cluster":
        implied = {
            p.name: sum(q is not p and _cluster_implies(p, q) for q in privileges)
            for p in privileges
        }
        return tuple(sorted(table, key=lambda name: (implied[name], name)))
    supersets = {
        p.name: sum(q is not p and _subset(_language(p), [_language(q)]) for q in privileges)
        for p in privileges
    }
    return tuple(sorted(table, key=lambda name: (-supersets[name], name)))


# ---------------------------------------------------------------------------------------------
# Validation, with Elasticsearch's messages.


def privilege_error(kind: Kind, name: str) -> str | None:
    """Elasticsearch's message for a privilege string it rejects, or None if it is valid."""
    lowered = name.lower()
    if lowered in _TABLES[kind] or _raw_pattern(kind, name) is not None:
        return None
    if kind == "cluster":
        return (
            f"unknown cluster privilege [{lowered}]. a privilege must be either one of the "
            f"predefined cluster privilege names [{','.join(access_order('cluster'))}] "
            "or a pattern over one of the available cluster actions"
        )
    # Elasticsearch 8.0-8.18 prints the entries of its ordered privilege map: `name=[name]`.
    entries = ",".join(f"{n}=[{n}]" for n in access_order("index"))
    return (
        f"unknown index privilege [{lowered}]. a privilege must be either one of the "
        f"predefined fixed indices privileges [{entries}] "
        "or a pattern over one of the available index actions"
    )


def privilege_errors(kind: Kind, names: Iterable[str]) -> list[str]:
    """One message per rejected privilege string, in input order, duplicates once."""
    errors = (privilege_error(kind, name) for name in dict.fromkeys(names))
    return [error for error in errors if error is not None]


def is_valid(kind: Kind, name: str) -> bool:
    return privilege_error(kind, name) is None


# ---------------------------------------------------------------------------------------------
# Compiled predicates.


@dataclass(frozen=True, slots=True, eq=False)
class ActionPredicate:
    """What a set of privilege strings grants, as one compiled regex over action names.

    `own_api_keys`: the set holds manage_own_api_key and nothing that grants every API key action
    outright; for an `own_api_key_action` the engine must then check that the request concerns the
    caller's own keys (`__call__` alone says no for those).
    """

    names: frozenset[str]
    regex: re.Pattern[str]
    own_api_keys: bool = False

    def __call__(self, action: str) -> bool:
        return self.regex.fullmatch(action) is not None

    def own_api_key_action(self, action: str) -> bool:
        """Whether `action` is allowed provided the request concerns the caller's own API keys."""
        return (
            self.own_api_keys
            and _OWN_API_KEY_REGEX.fullmatch(action) is not None
            and self.regex.fullmatch(action) is None
        )


_OWN_API_KEY_REGEX = re.compile(_glob_regex(_API_KEY_ACTIONS), re.S)


def _predicate_regex(privileges: Sequence[Privilege]) -> re.Pattern[str]:
    """One regex for the union of `privileges`. Patterns already covered by a plain `prefix*`
    pattern are dropped, so that a set holding `all` compiles to a two-branch regex."""
    plain = [_glob(p) for q in privileges if not q.exclude for p in q.include]
    wide = [g for g in plain if g.length == len(g.prefix) + 1 and g.stars[-1]]

    def needed(pattern: str) -> bool:
        glob = _glob(pattern)
        return not any(w is not glob and w.covers(glob) for w in wide)

    parts: list[str] = []
    simple = [p for q in privileges if not q.exclude for p in q.include if needed(p)]
    if simple:
        parts.append(_group_regex(simple) or "")
    for privilege in privileges:
        if privilege.exclude:
            part = _group_regex(filter(needed, privilege.include), privilege.exclude)
            if part is not None:
                parts.append(part)
    if not parts:
        return _NOTHING
    return re.compile("|".join(f"(?:{part})" for part in parts), re.S)


@functools.lru_cache(maxsize=4096)
def _compile(kind: Kind, names: frozenset[str]) -> ActionPredicate:
    resolved = [_lookup(kind, name) for name in sorted(names)]  # sorted: deterministic regex
    plain = [p for p in resolved if not p.own_api_keys_only]
    own = len(plain) < len(resolved) and not _subset(
        _Language((_API_KEY_ACTIONS,)), [_language(p) for p in plain]
    )
    return ActionPredicate(names, _predicate_regex(plain), own)


def compile_cluster(privileges: Iterable[str]) -> ActionPredicate:
    """Compile cluster privilege names and raw `cluster:` patterns (cached by the set of strings).
    Raises UnknownPrivilegeError with Elasticsearch's message for an invalid string."""
    return _compile("cluster", frozenset(privileges))


def compile_index(privileges: Iterable[str]) -> ActionPredicate:
    """Compile index privilege names and raw `indices:` patterns (cached by the set of strings).
    Raises UnknownPrivilegeError with Elasticsearch's message for an invalid string."""
    return _compile("index", frozenset(privileges))


# ---------------------------------------------------------------------------------------------
# Denial messages, `_has_privileges`, `_builtin`.


def privileges_granting(action: str, kind: Kind, *, own_api_key: bool = False) -> list[str]:
    """Named privileges that grant `action`, least privileged first and `all` last, as
    Elasticsearch lists them in a 403 ("... is granted by the index privileges [read,all]").

    `own_api_key`: the request concerns the caller's own API keys, so manage_own_api_key counts.
    """
    table = _TABLES[kind]
    return [
        name
        for name in access_order(kind)
        if (own_api_key or not table[name].own_api_keys_only)
        and _language_regex(_language(table[name])).fullmatch(action) is not None
    ]


def implies(kind: Kind, held: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether the privileges `held` cover every action of each privilege `wanted`, as
    `_has_privileges` decides: by action-set inclusion, not by name. Raises UnknownPrivilegeError
    for an invalid string on either side."""
    resolved = [_lookup(kind, name) for name in frozenset(held)]
    held_own = any(p.own_api_keys_only for p in resolved)
    languages = [_language(p) for p in resolved if not p.own_api_keys_only]
    for name in frozenset(wanted):
        privilege = _lookup(kind, name)
        if privilege.own_api_keys_only and held_own:
            continue
        if not _subset(_language(privilege), languages):
            return False
    return True


def builtin_privileges() -> dict[str, Any]:
    """The body of `GET /_security/privilege/_builtin`, names sorted as Elasticsearch sorts them."""
    return {
        "cluster": sorted(CLUSTER_PRIVILEGES),
        "index": sorted(INDEX_PRIVILEGES),
        "remote_cluster": sorted(REMOTE_CLUSTER_PRIVILEGES),
    }
