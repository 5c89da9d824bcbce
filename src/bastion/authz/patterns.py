"""Whether one index name pattern covers another: every name the requested pattern can match is
also matched by the granted one. `_has_privileges` asks this for patterns (`logs-*`), where
Elasticsearch compares automata.

For `*`/`?` wildcards the answer is decided symbolically: the granted pattern must match the
requested pattern's own tokens, where a granted `*` takes any run of tokens, a granted `?` one
literal or `?` (never a `*`, which may stand for no character or many), and a literal only the
same literal. That is sound — a "yes" is always right — and complete for the patterns roles are
made of; the rare unions it cannot see (`?*` against `*?`) answer "no", the safe side.
"""

from __future__ import annotations

import functools

from bastion.authz.permission import compile_names


def _is_regex(pattern: str) -> bool:
    return len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/")


def covers(granted: str, requested: str) -> bool:
    if not _is_regex(requested) and "*" not in requested and "?" not in requested:
        return compile_names([granted]).fullmatch(requested) is not None  # a plain name
    if _is_regex(requested):
        return set(granted) == {"*"}  # only a match-all pattern surely covers a regular expression
    if _is_regex(granted):
        return granted == "/.*/"
    return _glob_covers(granted, requested)


@functools.lru_cache(maxsize=4096)
def _glob_covers(granted: str, requested: str) -> bool:
    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(granted):
            return j == len(requested)
        symbol = granted[i]
        if symbol == "*":
            return match(i + 1, j) or (j < len(requested) and match(i, j + 1))
        if j == len(requested):
            return False
        other = requested[j]
        if symbol == "?":
            return other != "*" and match(i + 1, j + 1)
        return symbol == other and match(i + 1, j + 1)

    return match(0, 0)
