"""Service account token values, names, the tokens file and the built-in accounts."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from bastion.authc.service_accounts import file_tokens
from bastion.authc.service_accounts.accounts import SERVICE_ACCOUNTS, accounts_matching
from bastion.authc.service_accounts.token import (
    ServiceToken,
    new_token,
    parse_bearer,
    token_name_error,
)


def test_bearer_value_has_elasticsearch_format() -> None:
    token = ServiceToken("elastic", "fleet-server", "token1", "secret")
    value = token.bearer_value()
    assert value.startswith("AAEAA")
    assert "=" not in value
    raw = base64.b64decode(value + "=" * (-len(value) % 4))
    assert raw == b"\x00\x01\x00\x01elastic/fleet-server/token1:secret"
    assert parse_bearer(value) == token


@pytest.mark.parametrize(
    "value",
    ["", "AAEAA", "not base64!", base64.b64encode(b"\x00\x01\x00\x01a/b:s").decode()],
)
def test_other_values_are_not_service_tokens(value: str) -> None:
    assert parse_bearer(value) is None


def test_new_tokens_are_random_and_secret_is_hidden() -> None:
    first, second = new_token("elastic", "kibana", "t"), new_token("elastic", "kibana", "t")
    assert first.secret != second.secret
    assert first.secret not in repr(first)


@pytest.mark.parametrize("name", ["a", "token-1", "A_b", "x" * 256])
def test_valid_token_names(name: str) -> None:
    assert token_name_error(name) is None


@pytest.mark.parametrize("name", ["", "_hidden", "a b", "a/b", "x" * 257, "é"])
def test_invalid_token_names(name: str) -> None:
    assert token_name_error(name) is not None


def test_tokens_file_round_trip_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "config" / "service_tokens"
    file_tokens.write(path, {"elastic/fleet-server/b": "h2", "elastic/kibana/a": "h1"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "elastic/fleet-server/b:h2\nelastic/kibana/a:h1\n"
    assert file_tokens.read(path) == {"elastic/fleet-server/b": "h2", "elastic/kibana/a": "h1"}


def test_bad_lines_are_skipped(tmp_path: Path) -> None:
    text = "# comment\nelastic/fleet-server/ok:hash\nbroken\na/b:hash\nelastic/x/_bad:h\n"
    assert file_tokens.parse(text, tmp_path) == {"elastic/fleet-server/ok": "hash"}


def test_file_view_reloads_on_change(tmp_path: Path) -> None:
    path = tmp_path / "service_tokens"
    view = file_tokens.FileTokens(path)
    assert view.tokens == {}
    file_tokens.write(path, {"elastic/kibana/t": "h"})
    assert view.reload()
    assert view.tokens == {"elastic/kibana/t": "h"}
    assert not view.reload()


def test_built_in_accounts() -> None:
    assert set(SERVICE_ACCOUNTS) == {
        "elastic/fleet-server",
        "elastic/fleet-server-remote",
        "elastic/kibana",
        "elastic/enterprise-search-server",
    }
    fleet = SERVICE_ACCOUNTS["elastic/fleet-server"]
    assert fleet.role_descriptor.cluster == ("monitor", "manage_own_api_key")
    assert fleet.role_descriptor.name == "elastic/fleet-server"
    assert fleet.as_user().roles == ("elastic/fleet-server",)
    assert fleet.as_user().metadata == {"_elastic_service_account": True}
    assert [a.principal for a in accounts_matching("elastic", "kibana")] == ["elastic/kibana"]
    assert accounts_matching("other", None) == []
