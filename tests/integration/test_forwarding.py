"""The gateway in front of the real engine: the official client and raw HTTP edge cases."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch, helpers

from tests.conftest import ELASTIC, Gateway, GatewayFactory, http_request


def raw(
    gateway: Gateway,
    method: str,
    path: str,
    body: bytes | Iterator[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    return http_request(gateway.url, method, path, body, headers)


@pytest.fixture
def client(gateway: Gateway) -> Elasticsearch:
    return Elasticsearch(gateway.url, basic_auth=ELASTIC, request_timeout=30)


def test_info_is_elasticsearch_8_shaped(gateway: Gateway) -> None:
    status, headers, body = raw(gateway, "GET", "/")
    assert status == 200
    assert headers["x-elastic-product"] == "Elasticsearch"
    info = json.loads(body)
    assert info["version"]["number"].startswith("8.")
    assert info["tagline"] == "You Know, for Search"
    assert info["bastion"]["engine"]["distribution"] == "opensearch"
    assert set(info) >= {"name", "cluster_name", "cluster_uuid", "version"}
    status, headers, body = raw(gateway, "HEAD", "/")
    assert (status, body) == (200, b"")


def test_official_client_index_get_search_bulk(client: Elasticsearch) -> None:
    assert client.info()["version"]["number"].startswith("8.")
    client.index(index="books", id="1", document={"title": "dune"}, refresh=True)
    assert client.get(index="books", id="1")["_source"] == {"title": "dune"}
    ok, errors = helpers.bulk(
        client,
        ({"_index": "books", "_id": str(i), "title": f"book {i}"} for i in range(2, 202)),
        refresh=True,
    )
    assert (ok, errors) == (200, [])
    found = client.search(index="books", query={"match": {"title": "dune"}})
    assert found["hits"]["total"]["value"] == 1
    assert client.count(index="books")["count"] == 201
    assert client.exists(index="books", id="1")
    assert not client.exists(index="books", id="nope")


def test_engine_errors_pass_through(client: Elasticsearch, gateway: Gateway) -> None:
    status, headers, body = raw(gateway, "GET", "/no-such-index/_doc/1")
    assert status == 404
    assert headers["x-elastic-product"] == "Elasticsearch"
    assert json.loads(body)["error"]["type"] == "index_not_found_exception"


def test_compatibility_media_types_are_accepted(gateway: Gateway) -> None:
    compat = "application/vnd.elasticsearch+json; compatible-with=8"
    status, _, body = raw(
        gateway,
        "PUT",
        "/compat/_doc/1?refresh=true",
        b'{"a":1}',
        {"Content-Type": compat, "Accept": compat},
    )
    assert status == 201, body
    ndjson = "application/vnd.elasticsearch+x-ndjson; compatible-with=8"
    bulk = b'{"index":{"_index":"compat","_id":"2"}}\n{"a":2}\n'
    status, _, body = raw(gateway, "POST", "/_bulk", bulk, {"Content-Type": ndjson})
    assert status == 200, body
    assert json.loads(body)["errors"] is False


def test_encoded_ids_and_opaque_id_pass_unchanged(gateway: Gateway) -> None:
    status, _, _ = raw(
        gateway,
        "PUT",
        "/paths/_doc/a%2Fb?refresh=true",
        b"{}",
        {"Content-Type": "application/json"},
    )
    assert status == 201
    status, headers, body = raw(gateway, "GET", "/paths/_doc/a%2Fb", headers={"X-Opaque-Id": "t-1"})
    assert status == 200
    assert json.loads(body)["_id"] == "a/b"
    assert headers.get("x-opaque-id") == "t-1"


def test_large_response_streams_intact(client: Elasticsearch, gateway: Gateway) -> None:
    text = "x" * 2000
    helpers.bulk(
        client, ({"_index": "big", "_id": str(i), "text": text} for i in range(1000)), refresh=True
    )
    status, headers, body = raw(gateway, "GET", "/big/_search?size=1000")
    assert status == 200
    assert len(body) > 2_000_000
    assert len(json.loads(body)["hits"]["hits"]) == 1000
    assert headers["x-elastic-product"] == "Elasticsearch"


def test_oversize_body_gets_413(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway("-E", "http.max_content_length=1kb")
    big = b'{"text":"' + b"x" * 2048 + b'"}'
    status, headers, body = raw(
        gateway, "PUT", "/limits/_doc/1", big, {"Content-Type": "application/json"}
    )
    assert status == 413
    error = json.loads(body)
    assert error["status"] == 413
    assert error["error"]["type"] == "content_too_long_exception"
    assert "http.max_content_length [1024]" in error["error"]["reason"]
    assert headers["x-elastic-product"] == "Elasticsearch"
    # Without Content-Length (chunked), the limit applies while reading.
    chunks = iter([big[:1000], big[1000:]])
    status, _, body = raw(
        gateway,
        "PUT",
        "/limits/_doc/1",
        chunks,
        {"Content-Type": "application/json"},  # http.client sends it chunked
    )
    assert status == 413
    # A body within the limit still works on the same gateway.
    status, _, _ = raw(
        gateway, "PUT", "/limits/_doc/2", b'{"a":1}', {"Content-Type": "application/json"}
    )
    assert status == 201


def test_unreachable_engine_is_503_in_elasticsearch_shape(
    start_gateway: GatewayFactory,
) -> None:
    from tests.conftest import free_port

    gateway = start_gateway(backend=f"http://127.0.0.1:{free_port()}")
    status, headers, body = raw(gateway, "GET", "/books/_search")
    assert status == 503
    assert headers["x-elastic-product"] == "Elasticsearch"
    error = json.loads(body)
    assert error["status"] == 503
    assert error["error"]["type"] == "engine_unavailable_exception"
    assert error["error"]["root_cause"][0]["type"] == "engine_unavailable_exception"


def test_two_workers_share_one_port(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway("--workers", "2")
    for _ in range(20):
        status, _, _ = raw(gateway, "GET", "/")
        assert status == 200


class RecordingRelay:
    """A TCP relay to the session engine that keeps every byte sent towards it, to see what the
    gateway forwards. Bytes are copied unchanged both ways."""

    def __init__(self, engine_url: str) -> None:
        target = urlsplit(engine_url)
        self._target = (target.hostname or "127.0.0.1", target.port or 9200)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sent = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def sent(self) -> bytes:
        with self._lock:
            return bytes(self._sent)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            engine = socket.create_connection(self._target)
            threading.Thread(target=self._pump, args=(client, engine, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(engine, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        with source, sink:
            while data := source.recv(65536):
                if record:
                    with self._lock:
                        self._sent += data
                sink.sendall(data)

    def close(self) -> None:
        self._listener.close()


def test_the_client_credentials_never_reach_the_engine(
    engine_url: str, start_gateway: GatewayFactory
) -> None:
    relay = RecordingRelay(engine_url)
    try:
        gateway = start_gateway(backend=relay.url)
        client = Elasticsearch(gateway.url, basic_auth=ELASTIC, request_timeout=30)
        client.index(index="forwarded", id="1", document={"a": 1}, refresh=True)
        client.options(opaque_id="trace-7").search(index="forwarded")
        key = client.security.create_api_key(name="forwarding")["encoded"]
        keyed = Elasticsearch(gateway.url, api_key=key, request_timeout=30)
        assert keyed.count(index="forwarded")["count"] == 1
        sent = relay.sent
    finally:
        relay.close()
    assert b"POST /forwarded/_search" in sent
    assert b"x-opaque-id: trace-7" in sent.lower()  # end-to-end headers still pass
    assert b"authorization:" not in sent.lower()
    assert base64.b64encode(":".join(ELASTIC).encode()) not in sent
    assert key.encode() not in sent
