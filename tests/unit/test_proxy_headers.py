"""Header rewriting on the way to the engine (pure)."""

from __future__ import annotations

from typing import cast

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bastion.rest.proxy import engine_headers, engine_media_type
from bastion.transport.http import Request, encode_relayed_head


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("application/vnd.elasticsearch+json; compatible-with=8", "application/json"),
        ("application/vnd.elasticsearch+json;compatible-with=7", "application/json"),
        ("application/vnd.elasticsearch+x-ndjson; compatible-with=8", "application/x-ndjson"),
        ("application/json", "application/json"),
        ("application/json; charset=UTF-8", "application/json; charset=UTF-8"),
        (
            "application/vnd.elasticsearch+json; compatible-with=8, text/plain",
            "application/json, text/plain",
        ),
    ],
)
def test_compatibility_types_become_plain(given: str, expected: str) -> None:
    assert engine_media_type(given) == expected


class ClientRequest:
    """The two parts of a `Request` that `engine_headers` reads."""

    def __init__(self, headers: list[tuple[str, str]], remote: str) -> None:
        self.headers = CIMultiDictProxy(CIMultiDict(headers))
        self.remote = remote


def test_engine_headers_drop_hop_by_hop_and_credentials_and_extend_x_forwarded_for() -> None:
    request = ClientRequest(
        [
            ("Host", "gateway:9200"),
            ("Connection", "keep-alive"),
            ("Content-Length", "12"),
            ("Authorization", "Basic eDp5"),
            ("es-security-runas-user", "someone"),
            ("ES-Secondary-Authorization", "ApiKey c2VjcmV0"),
            ("Content-Type", "application/vnd.elasticsearch+json; compatible-with=8"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Forwarded-For", "10.0.0.2"),
            ("X-Opaque-Id", "t-1"),
            ("Accept-Encoding", "gzip"),
        ],
        "127.0.0.1",
    )
    encoded = engine_headers(cast(Request, request))
    assert encoded == (
        b"Content-Type: application/json\r\n"
        b"X-Opaque-Id: t-1\r\n"
        b"Accept-Encoding: gzip\r\n"
        b"X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"
    )
    plain = engine_headers(cast(Request, request), drop=frozenset({"accept-encoding"}))
    assert b"Accept-Encoding" not in plain


def test_a_relayed_head_is_the_engine_s_lines_plus_the_server_s_own() -> None:
    head = encode_relayed_head(404, [(b"content-type", b"application/json")], 7, False)
    assert head == (
        b"HTTP/1.1 404 Not Found\r\n"
        b"content-type: application/json\r\n"
        b"X-Elastic-Product: Elasticsearch\r\n"
        b"Content-Length: 7\r\n"
        b"Connection: close\r\n\r\n"
    )
    assert encode_relayed_head(599, [], 0, True).startswith(b"HTTP/1.1 599 Unknown\r\n")
