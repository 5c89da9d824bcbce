"""Enrollment end to end: `bastion create-enrollment-token`, `bastion enroll` into a second home,
that home's gateway serving the same users, and the Kibana enrollment API."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion.cli.enrollment_token import first_start_kibana_token
from bastion.enrollment import EnrollmentToken
from tests.conftest import ELASTIC, Gateway, basic, free_port, launch_gateway, run_bastion


def bastion(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def https(
    port: int,
    method: str,
    path: str,
    authorization: str,
    ca: Path,
    body: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(ca))
    connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=60)
    try:
        connection.request(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={"Authorization": authorization, "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def port_of(gateway: Gateway) -> int:
    return int(gateway.url.rsplit(":", 1)[1])


def ca_of(home: Path) -> Path:
    return home / "config" / "certs" / "http_ca.crt"


@pytest.fixture(scope="module")
def first(engine_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = launch_gateway(engine_url, tmp_path_factory.mktemp("first"), tls=True)
    yield gateway
    gateway.process.stop()


def create_token(gateway: Gateway, scope: str) -> subprocess.CompletedProcess[str]:
    url = f"https://127.0.0.1:{port_of(gateway)}"
    return bastion(
        "create-enrollment-token", "-s", scope, "--home", str(gateway.home), "--url", url
    )


def node_token(gateway: Gateway) -> EnrollmentToken:
    made = create_token(gateway, "node")
    assert made.returncode == 0, made.stderr
    return EnrollmentToken.decode(made.stdout)


def test_enrolled_gateway_serves_the_same_users(
    first: Gateway, engine_url: str, tmp_path: Path
) -> None:
    token = node_token(first)
    assert token.addresses == (f"127.0.0.1:{port_of(first)}",)
    assert token.version == "8.17.0"
    ca_der = ssl.PEM_cert_to_DER_cert(ca_of(first.home).read_text())
    assert token.fingerprint == hashlib.sha256(ca_der).hexdigest()

    second = tmp_path / "second"
    enrolled = bastion("enroll", "--home", str(second), "--token", "-", stdin=token.encode())
    assert enrolled.returncode == 0, enrolled.stderr
    assert "bastion start --home" in enrolled.stdout
    certs = second / "config" / "certs"
    assert ca_of(second).read_bytes() == ca_of(first.home).read_bytes()
    assert (certs / "http_ca.key").stat().st_mode & 0o777 == 0o600
    assert (certs / "http.key").stat().st_mode & 0o777 == 0o600
    assert (certs / "http.crt").read_bytes() != (first.home / "config/certs/http.crt").read_bytes()
    settings = (second / "config" / "bastion.yml").read_text()
    assert f'bastion.backend.hosts: ["{engine_url}"]' in settings
    assert "BEGIN SECURITY AUTO CONFIGURATION" in settings

    again = bastion("enroll", "--home", str(second), "--token", token.encode())
    assert again.returncode != 0
    assert "already configured" in again.stderr

    port = free_port()
    process = run_bastion(
        "start", "--home", str(second), "--port", str(port),
        "-E", "bastion.security.authc.brute_force.enabled=false",
    )  # fmt: skip
    try:
        process.wait_for(r"Bastion is serving https://")
        status, body = https(
            port, "GET", "/_security/_authenticate", basic(*ELASTIC), ca_of(second)
        )
        assert status == 200
        assert body["username"] == "elastic"
        # A user created through the first gateway signs in on the second.
        user = {"password": "enrolled-pass", "roles": ["viewer"]}
        status, _ = https(
            port_of(first),
            "PUT",
            "/_security/user/enr-bob",
            basic(*ELASTIC),
            ca_of(first.home),
            user,
        )
        assert status == 200
        status, body = https(
            port,
            "GET",
            "/_security/_authenticate",
            basic("enr-bob", "enrolled-pass"),
            ca_of(second),
        )
        assert (status, body["username"]) == (200, "enr-bob")
    finally:
        process.stop()
    assert "┏" not in "".join(process.output)  # no first-start banner on an enrolled home


def test_tampered_fingerprint_writes_nothing(first: Gateway, tmp_path: Path) -> None:
    token = node_token(first)
    forged = EnrollmentToken(token.version, token.addresses, "ab" * 32, token.api_key)
    home = tmp_path / "forged"
    done = bastion("enroll", "--home", str(home), "--token", forged.encode())
    assert done.returncode != 0
    assert "does not present a CA certificate with the token's fingerprint" in done.stderr
    assert not home.exists()


def test_invalidated_key_is_a_clear_error(first: Gateway, tmp_path: Path) -> None:
    token = node_token(first)
    key_id = token.api_key.split(":", 1)[0]
    status, body = https(
        port_of(first), "DELETE", "/_security/api_key", basic(*ELASTIC), ca_of(first.home),
        {"ids": [key_id]},
    )  # fmt: skip
    assert status == 200, body
    home = tmp_path / "late"
    done = bastion("enroll", "--home", str(home), "--token", token.encode())
    assert done.returncode != 0
    assert "rejected the enrollment token's API key" in done.stderr
    assert not home.exists()


def test_node_key_may_only_enroll_a_node(first: Gateway) -> None:
    token = node_token(first)
    ca = ca_of(first.home)
    status, _ = https(port_of(first), "GET", "/_security/enroll/kibana", token.authorization, ca)
    assert status == 403
    status, _ = https(port_of(first), "GET", "/_cluster/health", token.authorization, ca)
    assert status == 403


def test_kibana_token_yields_a_working_service_token(first: Gateway) -> None:
    made = create_token(first, "kibana")
    assert made.returncode == 0, made.stderr
    token = EnrollmentToken.decode(made.stdout)
    ca = ca_of(first.home)
    status, body = https(port_of(first), "GET", "/_security/enroll/kibana", token.authorization, ca)
    assert status == 200, body
    assert body["token"]["name"].startswith("enroll-process-token-")
    assert base64.b64decode(body["http_ca"]) == ssl.PEM_cert_to_DER_cert(ca.read_text())
    bearer = "Bearer " + body["token"]["value"]
    status, who = https(port_of(first), "GET", "/_security/_authenticate", bearer, ca)
    assert (status, who["username"]) == (200, "elastic/kibana")
    status, _ = https(port_of(first), "GET", "/_security/enroll/node", token.authorization, ca)
    assert status == 403


def test_first_start_kibana_token_decodes(first: Gateway) -> None:
    encoded = first_start_kibana_token("127.0.0.1", port_of(first), ca_of(first.home), ELASTIC[1])
    token = EnrollmentToken.decode(encoded)
    status, _ = https(
        port_of(first), "GET", "/_security/enroll/kibana", token.authorization, ca_of(first.home)
    )
    assert status == 200


def test_scope_and_home_errors(first: Gateway, tmp_path: Path) -> None:
    client = create_token(first, "client")
    assert client.returncode != 0
    assert "invalid scope [client]" in client.stderr
    plain = bastion("create-enrollment-token", "-s", "node", "--home", str(tmp_path / "empty"))
    assert plain.returncode != 0
    assert "enrollment needs the HTTP CA" in plain.stderr
    assert len(plain.stderr.strip().splitlines()) == 1
