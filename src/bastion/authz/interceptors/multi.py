"""`_mget` and `_msearch`: each document or search is authorized on its own. Denied ones are
answered with a 403 error in their place; the rest go to the engine (narrowed to what the user
may access)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson


class MultiFormatError(ValueError):
    """A malformed body; answered 400 like Elasticsearch's parse errors."""


def _error(reason: str) -> dict[str, Any]:
    cause = {"type": "security_exception", "reason": reason}
    return {"root_cause": [cause], **cause}


# --- _mget -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MgetDecision:
    body: bytes | None  # what to forward; None when every document was denied
    denied: dict[int, dict[str, Any]]
    total: int


def authorize_mget(
    body: bytes, default_index: str | None, deny_reason: Callable[[str], str | None]
) -> MgetDecision:
    """`deny_reason(index)` is None when reading from `index` is allowed."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MultiFormatError(f"failed to parse the mget request: {error.msg}") from None
    if not isinstance(request, dict):
        raise MultiFormatError("failed to parse the mget request: expected an object")
    docs: Any
    if "ids" in request:
        if default_index is None or not isinstance(request["ids"], list):
            raise MultiFormatError("[ids] needs an index in the path and a list of ids")
        docs = [{"_index": default_index, "_id": doc_id} for doc_id in request["ids"]]
    else:
        docs = request.get("docs")
        if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
            raise MultiFormatError("unknown key [docs] or missing documents in the mget request")
    kept: list[dict[str, Any]] = []
    denied: dict[int, dict[str, Any]] = {}
    for position, doc in enumerate(docs):
        index = doc.get("_index", default_index)
        if not isinstance(index, str):
            raise MultiFormatError("index is missing for doc " + str(position))
        reason = deny_reason(index)
        if reason is None:
            kept.append({**doc, "_index": index})
        else:
            denied[position] = {"_index": index, "_id": doc.get("_id"), "error": _error(reason)}
    rest = {k: v for k, v in request.items() if k not in ("ids", "docs")}
    forwarded = orjson.dumps({**rest, "docs": kept}) if kept else None
    return MgetDecision(forwarded, denied, len(docs))


def merge_mget_response(engine: dict[str, Any] | None, decision: MgetDecision) -> dict[str, Any]:
    answered = iter(engine.get("docs", []) if engine else [])
    return {
        "docs": [
            decision.denied[i] if i in decision.denied else next(answered)
            for i in range(decision.total)
        ]
    }


# --- _msearch --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MsearchDecision:
    body: bytes | None
    denied: dict[int, dict[str, Any]]
    total: int


def authorize_msearch(
    body: bytes,
    default_index: str | None,
    narrow: Callable[[str | None], tuple[str | None, str | None]],
) -> MsearchDecision:
    """`narrow(expression)` returns (authorized expression, None) or (None, denial reason)."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    if len(lines) % 2:
        raise MultiFormatError("The msearch request must be terminated by a newline [\\n]")
    kept: list[bytes] = []
    denied: dict[int, dict[str, Any]] = {}
    for position in range(len(lines) // 2):
        header_line, search_line = lines[2 * position], lines[2 * position + 1]
        try:
            header = orjson.loads(header_line)
        except orjson.JSONDecodeError as error:
            raise MultiFormatError(f"failed to parse the msearch header: {error.msg}") from None
        if not isinstance(header, dict):
            raise MultiFormatError("an msearch header must be an object")
        requested = header.get("index", default_index)
        if isinstance(requested, list):
            requested = ",".join(str(part) for part in requested)
        if requested is not None and not isinstance(requested, str):
            raise MultiFormatError("[index] of an msearch header must be a string or a list")
        expression, reason = narrow(requested)
        if reason is not None:
            denied[position] = {"error": _error(reason), "status": 403}
            continue
        kept += [orjson.dumps({**header, "index": expression}), search_line]
    forwarded = b"\n".join(kept) + b"\n" if kept else None
    return MsearchDecision(forwarded, denied, len(lines) // 2)


def merge_msearch_response(
    engine: dict[str, Any] | None, decision: MsearchDecision
) -> dict[str, Any]:
    answered = iter(engine.get("responses", []) if engine else [])
    return {
        "took": engine.get("took", 0) if engine else 0,
        "responses": [
            decision.denied[i] if i in decision.denied else next(answered)
            for i in range(decision.total)
        ],
    }
