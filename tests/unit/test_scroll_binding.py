"""Sealed scroll ids: owner-bound, tamper-evident, and rewritten in requests and answers."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from bastion.authz.scroll_binding import ScrollSeal
from bastion.rest.errors import ElasticsearchError

SEAL = ScrollSeal(b"k" * 32)
ALICE = "default_native\x00alice"
BOB = "default_native\x00bob"


def test_round_trip_for_the_owner_only() -> None:
    sealed = SEAL.seal("FGluY2x1ZGVfY29udGV4dF91dWlk==", ALICE)
    assert sealed.startswith("bsc1_")
    assert SEAL.open(sealed, ALICE) == "FGluY2x1ZGVfY29udGV4dF91dWlk=="
    attempts: list[Callable[[], str]] = [
        lambda: SEAL.open(sealed, BOB),
        lambda: SEAL.open(sealed[:-2] + "AA", ALICE),
        lambda: SEAL.open("FGluY2x1ZGVfY29udGV4dF91dWlk==", ALICE),
        lambda: ScrollSeal(b"x" * 32).open(sealed, ALICE),
        lambda: SEAL.open("bsc1_%%%.%%", ALICE),
    ]
    for wrong in attempts:
        with pytest.raises(ElasticsearchError) as raised:
            wrong()
        assert raised.value.status == 404
        assert raised.value.error_type == "search_context_missing_exception"
    assert "k" * 32 not in repr(SEAL)


def test_response_id_is_sealed_and_the_rest_untouched() -> None:
    raw = b'{"_scroll_id":"ENGINEID==","took":1,"hits":{"hits":[{"_source":{"_scroll_id":"x"}}]}}'
    sealed = orjson.loads(SEAL.seal_response(raw, ALICE))
    assert SEAL.open(sealed["_scroll_id"], ALICE) == "ENGINEID=="
    assert sealed["hits"]["hits"][0]["_source"]["_scroll_id"] == "x"
    assert SEAL.seal_response(b'{"took":1}', ALICE) == b'{"took":1}'


def test_request_ids_are_opened_in_path_query_and_body() -> None:
    one, two = SEAL.seal("E1", ALICE), SEAL.seal("E2", ALICE)
    path_qs, body, clear_all = SEAL.open_request(
        path=f"/_search/scroll/{one},{two}", query={}, raw_query="", body=None, owner=ALICE
    )
    assert (path_qs, body, clear_all) == ("/_search/scroll/E1,E2", None, False)
    path_qs, _, _ = SEAL.open_request(
        path="/_search/scroll",
        query={"scroll_id": one},
        raw_query=f"scroll=1m&scroll_id={one}",
        body=None,
        owner=ALICE,
    )
    assert path_qs == "/_search/scroll?scroll=1m&scroll_id=E1"
    _, body, _ = SEAL.open_request(
        path="/_search/scroll",
        query={},
        raw_query="",
        body=orjson.dumps({"scroll": "1m", "scroll_id": [one, two]}),
        owner=ALICE,
    )
    assert body is not None
    assert orjson.loads(body) == {"scroll": "1m", "scroll_id": ["E1", "E2"]}
    for clear in ("/_search/scroll/_all",):
        assert SEAL.open_request(path=clear, query={}, raw_query="", body=None, owner=BOB)[2]
    assert SEAL.open_request(
        path="/_search/scroll", query={}, raw_query="", body=b'{"scroll_id":"_all"}', owner=BOB
    )[2]
    with pytest.raises(ElasticsearchError):
        SEAL.open_request(
            path=f"/_search/scroll/{one}", query={}, raw_query="", body=None, owner=BOB
        )
    with pytest.raises(ElasticsearchError) as raised:
        SEAL.open_request(path="/_search/scroll", query={}, raw_query="", body=b"[", owner=BOB)
    assert raised.value.error_type == "parse_exception"
