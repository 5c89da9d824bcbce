"""Enrollment tokens in Elasticsearch's format."""

from __future__ import annotations

import base64
import json

import pytest

from bastion.enrollment import EnrollmentError, EnrollmentToken, split_address

FINGERPRINT = "ab" * 32


def test_round_trip_and_elasticsearch_layout() -> None:
    token = EnrollmentToken("8.17.0", ("127.0.0.1:9200", "[::1]:9200"), FINGERPRINT, "id:secret")
    encoded = token.encode()
    assert json.loads(base64.b64decode(encoded)) == {
        "ver": "8.17.0",
        "adr": ["127.0.0.1:9200", "[::1]:9200"],
        "fgr": FINGERPRINT,
        "key": "id:secret",
    }
    assert EnrollmentToken.decode(encoded) == token
    assert token.authorization == "ApiKey " + base64.b64encode(b"id:secret").decode()
    assert "secret" not in repr(token)
    assert split_address("[::1]:9200") == ("::1", 9200)


def _encoded(**fields: object) -> str:
    body = {"ver": "8.17.0", "adr": ["h:1"], "fgr": FINGERPRINT, "key": "a:b", **fields}
    return base64.b64encode(json.dumps(body).encode()).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("not base64!", "not base64 JSON"),
        (base64.b64encode(b"[1]").decode(), "not a JSON object"),
        (_encoded(adr=[]), "addresses"),
        (_encoded(adr=["no-port"]), "addresses"),
        (_encoded(adr=["h:99999"]), "addresses"),
        (_encoded(fgr="abc"), "fingerprint"),
        (_encoded(fgr="zz" * 32), "not hex"),
        (_encoded(key="no-colon"), "API key"),
        (_encoded(ver=None), "version"),
    ],
)
def test_bad_tokens(text: str, message: str) -> None:
    with pytest.raises(EnrollmentError) as raised:
        EnrollmentToken.decode(text)
    assert message in str(raised.value)
