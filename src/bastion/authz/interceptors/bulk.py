"""`_bulk`: every item is authorized on its own, as Elasticsearch does for its shard requests.

Items the user may not perform are taken out of the body sent to the engine and answered with
a 403 item error in their original place; the others proceed. When nothing is left, the engine
is not called at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

# The action Elasticsearch authorizes for each bulk operation.
ITEM_ACTIONS = {
    "index": "indices:data/write/index:op_type/index",
    "create": "indices:data/write/index:op_type/create",
    "update": "indices:data/write/update",
    "delete": "indices:data/write/delete",
}


_REMEMBERED_LINES = 256  # distinct action lines remembered per body: data streams in a bulk


class BulkFormatError(ValueError):
    """The body is not a bulk body; Elasticsearch answers 400 with this message."""


class BulkItem(NamedTuple):  # immutable; a tuple because one is built per item (0.26 µs, not 1)
    position: int
    operation: str
    index_name: str | None
    id: str | None
    lines: tuple[bytes, ...]  # the action line, then the source line unless a delete

    @property
    def action(self) -> str:
        return ITEM_ACTIONS[self.operation]


def _actions(
    body: bytes, default_index: str | None
) -> Iterator[tuple[tuple[str, str | None], dict[str, Any], bytes, bytes | None]]:
    """Each item's (operation, target index), metadata, action line and source line (None for a
    delete), in order. Raises `BulkFormatError` with Elasticsearch's message."""
    lines = body.split(b"\n")
    count = len(lines)
    # Beats, Logstash and Elastic Agent repeat one action line per data stream: read each once.
    # Bounded, so that a body of distinct lines does not also keep a dict per line.
    seen: dict[bytes, tuple[tuple[str, str | None], dict[str, Any]]] = {}
    i = 0
    while i < count:  # written for speed (inline, no call per item): it runs for every item
        line = lines[i]
        known = seen.get(line)
        if known is not None:
            target, meta = known
        else:
            if not line or line.isspace():
                i += 1
                continue
            try:
                header = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise BulkFormatError(f"Malformed action/metadata line [{i + 1}]") from None
            if type(header) is not dict or len(header) != 1:
                raise BulkFormatError(
                    f"Malformed action/metadata line [{i + 1}], expected a simple value for field "
                    "[_index] but found [START_OBJECT]"
                )
            [(operation, meta)] = header.items()
            if operation not in ITEM_ACTIONS or type(meta) is not dict:
                raise BulkFormatError(
                    f"Action/metadata line [{i + 1}] contains an unknown parameter [{operation}]"
                )
            index = meta.get("_index", default_index)
            if index is not None and type(index) is not str:
                raise BulkFormatError(f"Malformed action/metadata line [{i + 1}]")
            target = (operation, index)
            if len(seen) < _REMEMBERED_LINES:
                seen[line] = (target, meta)
        if target[0] == "delete":
            yield target, meta, line, None
            i += 1
        else:
            source = lines[i + 1] if i + 1 < count else b""
            if not source or source.isspace():
                raise BulkFormatError("The bulk request must be terminated by a newline [\\n]")
            yield target, meta, line, source
            i += 2


# Bytes a JSON string holds as themselves: printable ASCII but `"` and `\\`. A string made of
# them has one reading in every JSON parser.
_PLAIN = rb"[\x20\x21\x23-\x5b\x5d-\x7e]"
# Bounded by Elasticsearch's limits on names (255 bytes) and ids (512), so that each cached
# pattern below stays small.
_INDEX = rb'"_index" ?: ?"' + _PLAIN + rb'{1,255}"'
_ID = rb'"_id" ?: ?"(?P<id>' + _PLAIN + rb'{0,512})"'
_ID_AFTER_INDEX = _ID.replace(b"<id>", b"<id2>")
_META = rb"(?:%s(?: ?, ?%s)?|%s(?: ?, ?%s)?)?" % (_ID, _INDEX, _INDEX, _ID_AFTER_INDEX)
# An index or create action line whose metadata is at most `_index` and `_id`, as plain strings,
# with at most one space between tokens: what clients and the benchmark send.
_PLAIN_ACTION = re.compile(rb'\{ ?"(?:index|create)" ?: ?\{ ?' + _META + rb" ?\} ?\}")


@lru_cache(maxsize=64)  # clients send one shape of action line; a few per cluster
def _uniform_items(prefix: bytes, suffix: bytes | None) -> re.Pattern[bytes]:
    """Items whose action lines are `prefix` + a plain `_id` + `suffix` (the whole line when
    `suffix` is None), each followed by a source line that is not blank."""
    action = re.escape(prefix)
    if suffix is not None:
        action += _PLAIN + b"*" + re.escape(suffix)
    return re.compile(rb"(?:" + action + rb"\n[ \t\r\x0b\x0c]*+[^\s].*\n)*+")


def _uniform_first_item(body: bytes) -> bytes | None:
    """The first item, when every action line is the first one but for a plain `_id`: then all
    items share its (operation, index). One pass of the regex engine instead of a Python loop
    over the items; a body of any other shape is read line by line."""
    end = body.find(b"\n")
    match = _PLAIN_ACTION.fullmatch(body, 0, end) if end > 0 else None
    if match is None:
        return None
    group = match.lastgroup  # the `_id` that matched, if any: the only capturing groups
    if group is None:
        pattern = _uniform_items(body[:end], None)
    else:
        pattern = _uniform_items(body[: match.start(group)], body[match.end(group) : end])
    if pattern.fullmatch(body) is None:
        return None
    return body[: body.index(b"\n", end + 1) + 1]


def bulk_targets(body: bytes, default_index: str | None) -> list[tuple[str, str | None]]:
    """The distinct (operation, index) pairs of a bulk, in the order they first appear: all that
    authorizing it needs when no item is denied, without building a `BulkItem` per item."""
    first = _uniform_first_item(body)
    if first is not None:  # read as any other item
        return [next(_actions(first, default_index))[0]]
    return list(dict.fromkeys(map(itemgetter(0), _actions(body, default_index))))


def parse_bulk(body: bytes, default_index: str | None) -> list[BulkItem]:
    items: list[BulkItem] = []
    for (operation, index), meta, line, source in _actions(body, default_index):
        doc_id = meta.get("_id")
        items.append(
            BulkItem(
                len(items),
                operation,
                index,
                None if doc_id is None else str(doc_id),
                (line,) if source is None else (line, source),
            )
        )
    return items


def _denied_item(item: BulkItem, reason: str) -> dict[str, Any]:
    error = {"type": "security_exception", "reason": reason}
    entry: dict[str, Any] = {"_index": item.index_name, "status": 403, "error": error}
    if item.id is not None:
        entry["_id"] = item.id
    return {item.operation: entry}


@dataclass(frozen=True, slots=True)
class BulkDecision:
    body: bytes | None  # what to forward; None when every item was denied
    denied: dict[int, dict[str, Any]]  # position → item error
    total: int


def authorize_bulk(
    items: list[BulkItem], deny_reason: Callable[[BulkItem], str | None]
) -> BulkDecision:
    """`deny_reason(item)` is None when the item is allowed, else the 403 reason."""
    kept: list[bytes] = []
    denied: dict[int, dict[str, Any]] = {}
    for item in items:
        reason = deny_reason(item)
        if reason is None:
            kept.extend(item.lines)
        else:
            denied[item.position] = _denied_item(item, reason)
    body = b"\n".join(kept) + b"\n" if kept else None
    return BulkDecision(body, denied, len(items))


def merge_bulk_response(engine: dict[str, Any] | None, decision: BulkDecision) -> dict[str, Any]:
    """Put the denied items back in their places among the engine's answers."""
    answered = iter(engine.get("items", []) if engine else [])
    items = [
        decision.denied[position] if position in decision.denied else next(answered)
        for position in range(decision.total)
    ]
    merged: dict[str, Any] = {"took": engine.get("took", 0) if engine else 0, "errors": True}
    if engine and "ingest_took" in engine:
        merged["ingest_took"] = engine["ingest_took"]
    merged["items"] = items
    return merged
