"""Per-item authorization of bulk, mget and msearch bodies (pure)."""

from __future__ import annotations

import orjson
import pytest

from bastion.authz.interceptors.bulk import (
    BulkFormatError,
    _uniform_first_item,
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


def test_interleaved_streams_keep_their_own_targets() -> None:
    """Elastic Agent interleaves data streams; each action line is read once, every item keeps
    its own target, and a bad line after the repeats still names its own number."""
    logs, metrics = b'{"create":{"_index":"logs-a"}}', b'{"create":{"_index":"metrics-b"}}'
    body = b"".join(line + b'\n{"n":%d}\n' % n for n, line in enumerate([logs, metrics] * 3))
    assert bulk_targets(body, None) == [("create", "logs-a"), ("create", "metrics-b")]
    assert [(i.index_name, i.lines[1]) for i in parse_bulk(body, None)][:3] == [
        ("logs-a", b'{"n":0}'),
        ("metrics-b", b'{"n":1}'),
        ("logs-a", b'{"n":2}'),
    ]
    with pytest.raises(BulkFormatError, match=r"^Malformed action/metadata line \[13\]$"):
        bulk_targets(body + b"{not json\n", None)
    # Past the lines it remembers, a line is read again: the same answers.
    many = _items([b'{"create":{"_index":"s-%d"}}' % (n % 300) for n in range(600)])
    assert bulk_targets(many, None) == [("create", f"s-{n}") for n in range(300)]
    assert [i.index_name for i in parse_bulk(many, None)] == [f"s-{n % 300}" for n in range(600)]


def _items(action_lines: list[bytes]) -> bytes:
    return b"".join(line + b'\n{"a":1}\n' for line in action_lines)


def _line_by_line(body: bytes, default: str | None) -> list[tuple[str, str | None]]:
    return list(dict.fromkeys((i.operation, i.index_name) for i in parse_bulk(body, default)))


# Bodies whose action lines differ only in a plain `_id`: read in one pass of the regex engine.
UNIFORM = [
    _items([b'{"index": {"_id": "%d"}}' % n for n in range(5)]),  # the benchmark's
    _items([b'{"index":{"_id":"%d","_index":"logs"}}' % n for n in range(5)]),  # Python helpers
    _items([b'{"create":{"_index":"logs-app-default"}}'] * 5),  # Beats, Elastic Agent
    _items([b'{ "create" : { "_index" : "a", "_id" : "x-%d" } }' % n for n in range(3)]),
    _items([b'{"index":{}}', b'{"index":{}}']),
    _items([b'{"index":{"_id":""}}', b'{"index":{"_id":"a b!#$%&()*+,-./:;<=>?@[]^_`{|}~"}}']),
    b'{"index":{}}\n \t{"a":1}\r\n',
]
# Bodies that look uniform at first: read line by line, with the same answers and errors.
MIXED = [
    _items([b'{"index":{"_id":"1"}}', b'{"index":{"_id":"2","_index":"secret"}}']),
    _items([b'{"index":{"_id":"1","_index":"a"}}', b'{"index":{"_id":"2","_index":"ab"}}']),
    _items([b'{"index":{"_id":"1"}}', b'{"index":{"_id":"a\\"b"}}']),  # an escaped quote
    _items([b'{"index":{"_id":"1"}}', b'{"index":{"_id":"\xc3\xa9"}}']),
    _items([b'{"index":{"_id":"1"}}', b'{"index":{"_id":2}}']),
    _items([b'{"index":{"_id":"1"}}', b'{"create":{"_id":"2"}}']),
    _items([b'{"index":{"_id":"1"}}', b'{"index": {"_id":"2"}}']),
    _items([b'{"index":{"_index":"\xc3\xa9"}}'] * 2),
    _items([b'{"update":{"_id":"1"}}'] * 2),
    _items([b'{"index":{"_index":"%s"}}' % (b"a" * 256)] * 2),  # longer than a name can be
    _items([b'{"index":{}}']) + b'{"delete":{"_index":"secret","_id":"1"}}\n',
    _items([b'{"index":{}}']) + b"\n" + _items([b'{"index":{}}']),
    _items([b'{"index":{}}']) + b'{"index":{}}\r\n{"a":1}\n',
    _items([b'{"index":{}}'] * 2)[:-1],  # no newline at the end
]
BAD = [
    _items([b'{"index":{"_id":"1"}}', b'{"index":{"_id":"2"},"_index":"secret"}']),
    _items([b'{"index":{}}']) + b'{"index":{}}\n \n',
    _items([b'{"index":{}}']) + b'{"index":{}}\n\n{"a":1}\n',
    _items([b'{"index":{}}']) + b'{"index":{}}',
    _items([b'{"index":{"_id":"1"}}']) + b'{"index":{"_id":"1"}},"x":{"_index":"secret"}}\n{}\n',
]


@pytest.mark.parametrize("body", UNIFORM)
def test_uniform_bulk_is_read_in_one_pass(body: bytes) -> None:
    assert _uniform_first_item(body) is not None
    assert bulk_targets(body, "default") == _line_by_line(body, "default")
    assert len(bulk_targets(body, "default")) == 1


@pytest.mark.parametrize("body", MIXED)
def test_other_bulks_are_read_line_by_line(body: bytes) -> None:
    assert _uniform_first_item(body) is None
    assert bulk_targets(body, "default") == _line_by_line(body, "default")


@pytest.mark.parametrize("body", BAD)
def test_a_bad_bulk_gets_the_same_error_either_way(body: bytes) -> None:
    assert _uniform_first_item(body) is None
    with pytest.raises(BulkFormatError) as parsed:
        parse_bulk(body, None)
    with pytest.raises(BulkFormatError) as targeted:
        bulk_targets(body, None)
    assert str(targeted.value) == str(parsed.value)


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
