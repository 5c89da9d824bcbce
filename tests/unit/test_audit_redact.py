"""Secrets never reach the audit log through `request.body`."""

from __future__ import annotations

import orjson
import pytest

from bastion.audit.redact import REDACTED, UNPARSABLE, redact_body

SECRET = "s3cr3t-value-never-logged"


@pytest.mark.parametrize(
    "body",
    [
        {"password": SECRET, "roles": ["a"]},  # put user
        {"password_hash": SECRET, "roles": []},
        {"password": SECRET},  # change password
        {"grant_type": "password", "username": "u", "password": SECRET},  # token grant
        {"grant_type": "refresh_token", "refresh_token": SECRET},
        {"grant_type": "_kerberos", "kerberos_ticket": SECRET},
        {"token": SECRET},  # invalidate token
        {"grant_type": "access_token", "access_token": SECRET, "api_key": {"name": "k"}},
        {"api_key": SECRET, "grant_type": "password"},
        {"client_authentication": {"scheme": "SharedSecret", "value": "x", "credentials": SECRET}},
        {"deep": [{"nested": {"Password": SECRET}}]},
        {"secret": SECRET, "client_secret": SECRET},
    ],
)
def test_json_bodies(body: dict[str, object]) -> None:
    shown = redact_body(orjson.dumps(body))
    assert SECRET not in shown
    assert REDACTED in shown


def test_other_fields_survive() -> None:
    shown = orjson.loads(redact_body(b'{"password":"x","roles":["r1"],"full_name":"A B"}'))
    assert shown == {"password": REDACTED, "roles": ["r1"], "full_name": "A B"}


def test_bulk_body_line_by_line() -> None:
    body = (
        b'{"index":{"_index":"users"}}\n'
        + orjson.dumps({"name": "x", "password": SECRET})
        + b'\n{"delete":{"_index":"a","_id":"1"}}\n'
    )
    shown = redact_body(body)
    assert SECRET not in shown
    lines = shown.split("\n")
    assert orjson.loads(lines[0]) == {"index": {"_index": "users"}}
    assert orjson.loads(lines[1])["password"] == REDACTED


def test_unparsable_is_withheld() -> None:
    assert redact_body(b"password=" + SECRET.encode()) == UNPARSABLE
    assert SECRET not in redact_body(b'{"a":1}\n{"password":"' + SECRET.encode() + b'"')
