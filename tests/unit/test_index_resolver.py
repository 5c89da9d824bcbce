"""Index expression resolution with authorization (pure)."""

from __future__ import annotations

import datetime

import pytest

from bastion.authz.index_resolver import (
    IndicesOptions,
    resolve,
    resolve_date_math,
    split_expression,
)
from bastion.backend.metadata import ClusterMetadata

STATE = {
    "metadata": {
        "indices": {
            "logs-1": {"state": "open", "aliases": ["logs"]},
            "logs-2": {"state": "open", "aliases": ["logs"]},
            "logs-old": {"state": "close", "aliases": []},
            "secret": {"state": "open", "aliases": []},
            ".hidden-dot": {"state": "open", "settings": {"index": {"hidden": "true"}}},
            "hidden-plain": {"state": "open", "settings": {"index": {"hidden": "true"}}},
            ".ds-metrics-000001": {"state": "open"},
        },
        "data_stream": {
            "data_stream": {"metrics": {"indices": [{"index_name": ".ds-metrics-000001"}]}}
        },
    }
}
METADATA = ClusterMetadata.from_state(STATE)
OPEN = IndicesOptions()


def everything_but_secret(name: str) -> bool:
    return name != "secret"


def names(expression: str, options: IndicesOptions = OPEN) -> tuple[str, ...]:
    return resolve(split_expression(expression), METADATA, options, everything_but_secret).names


def test_metadata_from_cluster_state() -> None:
    assert METADATA.aliases["logs"] == ("logs-1", "logs-2")
    assert METADATA.indices[".hidden-dot"].hidden
    assert not METADATA.indices["logs-old"].open
    assert METADATA.data_streams["metrics"] == (".ds-metrics-000001",)
    assert METADATA.indices[".ds-metrics-000001"].data_stream == "metrics"


def test_wildcards_expand_only_to_authorized_names() -> None:
    assert set(names("*")) == {"logs-1", "logs-2", "logs", "metrics"}
    assert set(names("")) == set(names("_all")) == set(names("*"))
    assert "secret" not in names("s*")
    assert resolve(["s*"], METADATA, OPEN, everything_but_secret).expression == "*,-*"


def test_exclusions_apply_after_wildcards() -> None:
    assert set(names("logs*,-logs-2")) == {"logs-1", "logs"}


def test_explicit_unauthorized_name_is_denied_or_dropped() -> None:
    result = resolve(["logs-1", "secret"], METADATA, OPEN, everything_but_secret)
    assert result.denied == ("secret",)
    lenient = IndicesOptions(ignore_unavailable=True)
    result = resolve(["logs-1", "secret"], METADATA, lenient, everything_but_secret)
    assert (result.names, result.denied) == (("logs-1",), ())


def test_missing_explicit_name_is_kept_for_the_engine() -> None:
    assert names("new-index") == ("new-index",)
    assert names("new-index", IndicesOptions(ignore_unavailable=True)) == ()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"expand_wildcards": "open"}, {"logs-1", "logs-2"}),
        ({"expand_wildcards": "closed"}, {"logs-old"}),
        ({"expand_wildcards": "all"}, {"logs-1", "logs-2", "logs-old"}),
        ({"expand_wildcards": "none"}, set()),
    ],
)
def test_expand_wildcards(query: dict[str, str], expected: set[str]) -> None:
    options = IndicesOptions.from_query(query)
    assert set(names("logs-*", options)) == expected


def test_hidden_indices_need_hidden_or_a_dot_pattern() -> None:
    assert ".hidden-dot" not in names("*")
    assert ".hidden-dot" in names(".h*")
    assert "hidden-plain" not in names("hidden*")
    assert "hidden-plain" in names(
        "hidden*", IndicesOptions.from_query({"expand_wildcards": "open,hidden"})
    )


def test_date_math() -> None:
    now = datetime.datetime(2024, 3, 15, 13, 45, tzinfo=datetime.UTC)
    assert resolve_date_math("<logs-{now/d}>", now) == "logs-2024.03.15"
    assert resolve_date_math("<logs-{now/M{yyyy.MM}}>", now) == "logs-2024.03"
    assert resolve_date_math("<logs-{now-1d/d}>", now) == "logs-2024.03.14"
    assert resolve_date_math("<logs-{now-1M/M{yyyy.MM}}>", now) == "logs-2024.02"
    assert resolve_date_math("plain", now) == "plain"
    with pytest.raises(ValueError, match="date math"):
        resolve_date_math("<logs-{now+x}>", now)
