"""Index expression resolution with authorization, after Elasticsearch's
`IndicesAndAliasesResolver`.

An expression (`logs-*,-logs-old,<app-{now/d}>,metrics`) is resolved against the cached cluster
metadata:

- wildcards (and `_all`, `*`, or no expression at all) expand only to the indices, aliases and
  data streams the user may access for the action, honouring `expand_wildcards` (open, closed,
  hidden, all, none); a hidden index is matched by a wildcard only with `hidden`, or when both
  the pattern and the name start with a dot;
- `-pattern` after a wildcard removes names from what the wildcards added;
- an explicit name the user may not access is denied (403), unless `ignore_unavailable` is set,
  when it is dropped silently; an explicit name that does not exist is kept for the engine to
  answer (404, or auto-create on writes);
- `<static{now/d{yyyy.MM.dd|UTC}}>` date math resolves in UTC.

The result names exactly what was authorized, and is what Bastion forwards. When wildcards
resolve to nothing, the forwarded expression is `*,-*`, which the engine treats as no index.
"""

from __future__ import annotations

import datetime
import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bastion.backend.metadata import ClusterMetadata

NO_INDICES = "*,-*"
_WILDCARD = re.compile(r"[*?]")


@dataclass(frozen=True, slots=True)
class IndicesOptions:
    expand_open: bool = True
    expand_closed: bool = False
    expand_hidden: bool = False
    ignore_unavailable: bool = False
    allow_no_indices: bool = True

    @staticmethod
    def from_query(query: Mapping[str, str], default_expand: str = "open") -> IndicesOptions:
        if not query:
            return _defaults(default_expand)
        expand = {
            part.strip()
            for part in query.get("expand_wildcards", default_expand).split(",")
            if part.strip()
        }
        if "all" in expand:
            expand = {"open", "closed", "hidden"}
        return IndicesOptions(
            expand_open="open" in expand,
            expand_closed="closed" in expand,
            expand_hidden="hidden" in expand,
            ignore_unavailable=query.get("ignore_unavailable", "false") == "true",
            allow_no_indices=query.get("allow_no_indices", "true") != "false",
        )


@functools.lru_cache(maxsize=8)
def _defaults(default_expand: str) -> IndicesOptions:
    """The options of a request without query parameters (most of them), parsed once."""
    return IndicesOptions.from_query({"expand_wildcards": default_expand})


@dataclass(frozen=True, slots=True)
class ResolvedIndices:
    names: tuple[str, ...]  # what to forward, in order
    denied: tuple[str, ...]  # explicitly named and not authorized
    had_wildcards: bool

    @property
    def expression(self) -> str:
        return ",".join(self.names) if self.names else NO_INDICES


# --- date math -------------------------------------------------------------------------

_DATE_MATH = re.compile(r"\{([^{}]*(?:\{[^{}]*\})?)\}")
_JAVA_TO_STRFTIME = (
    ("yyyy", "%Y"),
    ("YYYY", "%Y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("yy", "%y"),
)
_UNITS = {
    "y": "years",
    "M": "months",
    "w": "weeks",
    "d": "days",
    "h": "hours",
    "H": "hours",
    "m": "minutes",
    "s": "seconds",
}


class DateMathError(ValueError):
    pass


def _round(moment: datetime.datetime, unit: str) -> datetime.datetime:
    if unit == "y":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        start = moment - datetime.timedelta(days=moment.weekday())
        return start.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit in ("h", "H"):
        return moment.replace(minute=0, second=0, microsecond=0)
    if unit == "m":
        return moment.replace(second=0, microsecond=0)
    return moment.replace(microsecond=0)


def _shift(moment: datetime.datetime, amount: int, unit: str) -> datetime.datetime:
    if unit == "y":
        return moment.replace(year=moment.year + amount)
    if unit == "M":
        month = moment.month - 1 + amount
        return moment.replace(year=moment.year + month // 12, month=month % 12 + 1)
    return moment + datetime.timedelta(**{_UNITS[unit]: amount})


_MATH_STEP = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")


def _evaluate(expression: str, now: datetime.datetime) -> str:
    math, _, fmt = expression.partition("{")
    fmt = fmt.rstrip("}").split("|")[0] or "yyyy.MM.dd"
    if not math.startswith("now"):
        raise DateMathError(f"invalid dynamic name expression [{expression}]")
    moment, rest = now, math[3:]
    position = 0
    for step in _MATH_STEP.finditer(rest):
        if step.start() != position:
            raise DateMathError(f"invalid date math [{math}]")
        position = step.end()
        if step.group(4):
            moment = _round(moment, step.group(4))
        else:
            sign = 1 if step.group(1) == "+" else -1
            moment = _shift(moment, sign * int(step.group(2)), step.group(3))
    if position != len(rest):
        raise DateMathError(f"invalid date math [{math}]")
    for java, python in _JAVA_TO_STRFTIME:
        fmt = fmt.replace(java, python)
    return moment.strftime(fmt)


def resolve_date_math(expression: str, now: datetime.datetime | None = None) -> str:
    """`<logs-{now/d}>` → `logs-2024.03.01` (UTC); other names are returned unchanged."""
    if not (expression.startswith("<") and expression.endswith(">")):
        return expression
    moment = now or datetime.datetime.now(datetime.UTC)
    inner = expression[1:-1]
    return _DATE_MATH.sub(lambda match: _evaluate(match.group(1), moment), inner)


# --- resolution ------------------------------------------------------------------------


def split_expression(expression: str | None) -> list[str]:
    return [part for part in (expression or "").split(",") if part]


def _candidates(metadata: ClusterMetadata, options: IndicesOptions, pattern: str) -> Iterable[str]:
    dotted = pattern.startswith(".")
    for index in metadata.indices.values():
        if index.data_stream is not None and not pattern.startswith(".ds-"):
            continue  # backing indices are reached through their data stream
        if index.hidden and not (options.expand_hidden or (dotted and index.name.startswith("."))):
            continue
        if (index.open and options.expand_open) or (not index.open and options.expand_closed):
            yield index.name
    yield from metadata.aliases
    yield from metadata.data_streams


def resolve(
    expressions: list[str],
    metadata: ClusterMetadata,
    options: IndicesOptions,
    authorized: Callable[[str], bool],
    now: datetime.datetime | None = None,
) -> ResolvedIndices:
    """Resolve `expressions` to what the user may access; see the module docstring."""
    if not expressions or expressions == ["_all"]:
        expressions = ["*"]
    chosen: dict[str, None] = {}
    denied: list[str] = []
    had_wildcards = False
    for position, raw in enumerate(expressions):
        if raw.startswith("-") and had_wildcards and position > 0:
            pattern = resolve_date_math(raw[1:])
            for name in [n for n in chosen if fnmatch.fnmatchcase(n, pattern)]:
                del chosen[name]
            continue
        expression = resolve_date_math(raw)
        if expression in ("_all", "*") or _WILDCARD.search(expression):
            had_wildcards = True
            if not (options.expand_open or options.expand_closed or options.expand_hidden):
                continue
            for name in _candidates(metadata, options, expression):
                if fnmatch.fnmatchcase(name, expression) and authorized(name):
                    chosen[name] = None
            continue
        if authorized(expression):
            if metadata.exists(expression) or not options.ignore_unavailable:
                chosen[expression] = None
        elif not options.ignore_unavailable:
            denied.append(expression)
    return ResolvedIndices(tuple(chosen), tuple(denied), had_wildcards)
