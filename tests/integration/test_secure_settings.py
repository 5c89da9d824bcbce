"""The keystore through a running gateway: created at first start, opened with
`BASTION_KEYSTORE_PASSPHRASE_FILE`, `bootstrap.password`, and `reload_secure_settings`."""

from __future__ import annotations

import asyncio
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bastion.keystore import SEED_SETTING, Entry, Keystore, keystore_path
from tests.conftest import (
    ELASTIC,
    GatewayFactory,
    _set_elastic_password,
    http_request,
    run_bastion,
)


def reload(url: str, body: dict[str, Any] | None = None, path: str = "/_nodes") -> Any:
    status, _, raw = http_request(
        url,
        "POST",
        f"{path}/reload_secure_settings",
        orjson.dumps(body) if body is not None else None,
        {"Content-Type": "application/json"},
    )
    assert status == 200, raw
    return orjson.loads(raw)


def test_first_start_creates_a_keystore_and_reload_answers_as_elasticsearch(
    start_gateway: GatewayFactory,
) -> None:
    gateway = start_gateway("--workers", "2")
    path = keystore_path(gateway.home / "config")
    assert Keystore.load(path, "").names() == [SEED_SETTING]

    answer = reload(gateway.url)
    assert answer["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    [(node_id, node)] = answer["nodes"].items()
    assert node == {"name": node_id}
    assert "cluster_name" in answer

    wrong = reload(gateway.url, {"secure_settings_password": "not-the-password"})
    [node] = wrong["nodes"].values()
    assert node["reload_exception"] == {
        "type": "security_exception",
        "reason": "Provided keystore password was incorrect",
    }

    assert reload(gateway.url, path=f"/_nodes/{node_id}")["nodes"].keys() == {node_id}
    assert reload(gateway.url, path="/_nodes/no-such-node")["_nodes"]["total"] == 0


def test_reload_needs_the_manage_privilege(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway()
    user, password = f"monitor-{secrets.token_hex(4)}", "monitor-password"
    status, _, raw = http_request(
        gateway.url,
        "PUT",
        f"/_security/user/{user}",
        orjson.dumps({"password": password, "roles": ["monitoring_user"]}),
        {"Content-Type": "application/json"},
    )
    assert status == 200, raw
    status, _, raw = http_request(
        gateway.url, "POST", "/_nodes/reload_secure_settings", auth=(user, password)
    )
    assert status == 403
    assert b"cluster:admin/nodes/reload_secure_settings" in raw


def test_bad_body_is_a_parse_error(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway()
    status, _, raw = http_request(
        gateway.url,
        "POST",
        "/_nodes/reload_secure_settings",
        b'{"password": "x"}',
        {"Content-Type": "application/json"},
    )
    assert status == 400
    assert orjson.loads(raw)["error"]["type"] == "x_content_parse_exception"


def test_password_protected_keystore_with_the_passphrase_file(
    start_gateway: GatewayFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "gateway-0"  # the home start_gateway gives its first gateway
    (home / "config").mkdir(parents=True)
    path = keystore_path(home / "config")
    Keystore.create().save(path, "keystore-pw")
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("keystore-pw\n")
    monkeypatch.setenv("BASTION_KEYSTORE_PASSPHRASE_FILE", str(passphrase))
    gateway = start_gateway()
    assert "keystore-pw" not in "".join(gateway.process.output)

    before = path.read_bytes()
    # Without a password in the body, the one Bastion started with opens the keystore.
    assert "reload_exception" not in next(iter(reload(gateway.url)["nodes"].values()))
    ok = reload(gateway.url, {"secure_settings_password": "keystore-pw"})
    assert "reload_exception" not in next(iter(ok["nodes"].values()))
    assert path.read_bytes() == before


def test_wrong_passphrase_stops_start_up(
    engine_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    Keystore.create().save(keystore_path(tmp_path / "config"), "right")
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("wrong")
    process = run_bastion(
        "start",
        "--home",
        str(tmp_path),
        "--port",
        "0",
        "--backend",
        engine_url,
        env={"BASTION_KEYSTORE_PASSPHRASE_FILE": str(passphrase)},
    )
    try:
        process.wait_for(r"cannot open the keystore: Provided keystore password was incorrect")
        assert process.popen.wait(30) == 1
    finally:
        process.stop()


@pytest.fixture
def no_elastic_password(engine_url: str) -> Iterator[None]:
    """The security store as before a first start: no `elastic` password (restored after)."""
    request = urllib.request.Request(
        f"{engine_url}/.bastion-security/_doc/reserved-user-elastic?refresh=true",
        method="DELETE",
    )
    with urllib.request.urlopen(request, timeout=30):
        pass
    try:
        yield
    finally:
        asyncio.run(_set_elastic_password(engine_url))


def test_bootstrap_password_becomes_the_elastic_password(
    no_elastic_password: None, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    config = tmp_path / "gateway-0" / "config"
    config.mkdir(parents=True)
    bootstrap = "bootstrap-Pa55word"
    Keystore.create().with_entry("bootstrap.password", Entry("string", bootstrap.encode())).save(
        keystore_path(config), ""
    )
    gateway = start_gateway()
    output = "".join(gateway.process.output)
    assert "Password for the elastic user" not in output
    assert bootstrap not in output
    status, _, _ = http_request(gateway.url, "GET", "/", auth=("elastic", bootstrap))
    assert status == 200
    status, _, _ = http_request(gateway.url, "GET", "/", auth=ELASTIC)
    assert status == 401
