"""Per-item authorization of bulk, mget and msearch bodies (pure)."""

from __future__ import annotations

import orjson
import pytest

from bastion.authz.interceptors.bulk import (
    BulkFormatError,
    authorize_bulk,
    bulk_targets,
    merge_bulk_response,
    parse_bulk,
)
from bastion.authz.interceptors.multi import (
    MultiFormatError,
    authorize_mget,
    authorize_msearch,
    merge_mget_response,
    merge_msearch_response,
)

BULK = (
    b'{"index":{"_index":"ok","_id":"1"}}\n{"a":1}\n'
    b'{"delete":{"_index":"secret","_id":"2"}}\n'
    b'{"create":{"_id":"3"}}\n{"a":3}\n'
    b'{"update":{"_index":"secret","_id":"4"}}\n{"doc":{"a":4}}\n'
)


def test_bulk_items_are_split_with_their_actions() -> None:
    items = parse_bulk(BULK, "default")
    assert [(i.operation, i.index_name, i.id) for i in items] == [
        ("index", "ok", "1"),
        ("delete", "secret", "2"),
        ("create", "default", "3"),
        ("update", "secret", "4"),
    ]
    assert items[2].action == "indices:data/write/index:op_type/create"


def test_bulk_targets_are_the_distinct_pairs_in_order() -> None:
    body = BULK + b'{"index":{"_index":"ok","_id":"5"}}\n{"a":5}\n{"delete":{"_id":"6"}}\n'
    assert bulk_targets(body, "default") == [
        ("index", "ok"),
        ("delete", "secret"),
        ("create", "default"),
        ("update", "secret"),
        ("delete", "default"),
    ]
    assert bulk_targets(b'{"index":{}}\n{"a":1}\n', None) == [("index", None)]


def test_a_repeated_action_line_is_one_target_per_item() -> None:
    """Beats and Logstash send one action line for every item; it is read once, but every item
    keeps its own lines, and a bad line after the repeats still names its own number."""
    creates = b'{"create":{"_index":"logs"}}\n{"a":1}\n' * 3
    body = creates + b'{"delete":{"_id":"9"}}\n' * 2
    items = parse_bulk(body, "default")
    assert [(i.operation, i.index_name, i.id, i.lines[-1]) for i in items] == [
        ("create", "logs", None, b'{"a":1}'),
        ("create", "logs", None, b'{"a":1}'),
        ("create", "logs", None, b'{"a":1}'),
        ("delete", "default", "9", b'{"delete":{"_id":"9"}}'),
        ("delete", "default", "9", b'{"delete":{"_id":"9"}}'),
    ]
    assert bulk_targets(body, "default") == [("create", "logs"), ("delete", "default")]
    assert parse_bulk(b"\n\n" + body + b"\n \n", "default") == items
    with pytest.raises(BulkFormatError, match=r"^Malformed action/metadata line \[7\]$"):
        bulk_targets(creates + b"not json\n", None)
    with pytest.raises(BulkFormatError, match="must be terminated by a newline"):
        bulk_targets(b'{"index":{}}\n{"a":1}\n{"index":{}}\n', None)


def test_denied_bulk_items_are_removed_and_answered_in_place() -> None:
    items = parse_bulk(BULK, "default")
    decision = authorize_bulk(items, lambda i: "no" if i.index_name == "secret" else None)
    assert decision.body == (
        b'{"index":{"_index":"ok","_id":"1"}}\n{"a":1}\n{"create":{"_id":"3"}}\n{"a":3}\n'
    )
    engine = {
        "took": 5,
        "errors": False,
        "items": [{"index": {"_id": "1"}}, {"create": {"_id": "3"}}],
    }
    merged = merge_bulk_response(engine, decision)
    assert merged["errors"] is True
    assert [next(iter(item)) for item in merged["items"]] == ["index", "delete", "create", "update"]
    assert merged["items"][1]["delete"]["status"] == 403
    assert merged["items"][1]["delete"]["error"]["type"] == "security_exception"


def test_all_denied_bulk_forwards_nothing() -> None:
    decision = authorize_bulk(parse_bulk(BULK, "d"), lambda i: "no")
    assert decision.body is None
    assert len(merge_bulk_response(None, decision)["items"]) == 4


@pytest.mark.parametrize(
    "body", [b"not json\n", b'{"index":{}}\n', b'{"frobnicate":{}}\n{}\n', b'["x"]\n']
)
def test_malformed_bulk(body: bytes) -> None:
    with pytest.raises(BulkFormatError) as parsed:
        parse_bulk(body, None)
    with pytest.raises(BulkFormatError) as targeted:
        bulk_targets(body, None)
    assert str(targeted.value) == str(parsed.value)


def test_mget_per_document() -> None:
    body = orjson.dumps({"docs": [{"_index": "ok", "_id": "1"}, {"_index": "secret", "_id": "2"}]})
    decision = authorize_mget(body, None, lambda index: "no" if index == "secret" else None)
    assert orjson.loads(decision.body or b"") == {"docs": [{"_index": "ok", "_id": "1"}]}
    merged = merge_mget_response({"docs": [{"_index": "ok", "_id": "1", "found": True}]}, decision)
    assert merged["docs"][1]["error"]["type"] == "security_exception"
    ids = authorize_mget(b'{"ids":["1","2"]}', "secret", lambda index: "no")
    assert ids.body is None
    assert len(merge_mget_response(None, ids)["docs"]) == 2
    with pytest.raises(MultiFormatError):
        authorize_mget(b'{"ids":["1"]}', None, lambda index: None)


def test_msearch_narrows_and_denies() -> None:
    body = b'{"index":"logs-*"}\n{"query":{"match_all":{}}}\n{"index":"secret"}\n{}\n{}\n{}\n'

    def narrow(expression: str | None) -> tuple[str | None, str | None]:
        if expression == "secret":
            return None, "no"
        return ("logs-1" if expression == "logs-*" else "default"), None

    decision = authorize_msearch(body, "default", narrow)
    assert (
        decision.body
        == b'{"index":"logs-1"}\n{"query":{"match_all":{}}}\n{"index":"default"}\n{}\n'
    )
    merged = merge_msearch_response({"took": 1, "responses": [{"a": 1}, {"b": 2}]}, decision)
    assert merged["responses"][1]["status"] == 403
    assert merged["responses"][2] == {"b": 2}
