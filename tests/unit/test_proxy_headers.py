"""Header rewriting on the way to the engine (pure)."""

from __future__ import annotations

import pytest

from bastion.rest.proxy import engine_media_type


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
