"""The first start's Kibana enrollment token: a real first start (managed engine, so the
`elastic` password is generated), the token shown once in the banner, and it works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bastion.enrollment import EnrollmentToken
from tests.conftest import free_port, run_bastion
from tests.e2e.test_enrollment import https


@pytest.mark.slow
def test_first_start_shows_a_working_kibana_enrollment_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    process = run_bastion("start", "--home", str(home), "--port", str(port))
    try:
        process.wait_for(r"Kibana enrollment token \(valid for 30 minutes")
        encoded = process.wait_for(r"┃\s+([A-Za-z0-9+/=]{100,})\s+┃").group(1)
        process.wait_for(r"Bastion is serving https://")
        token = EnrollmentToken.decode(encoded)
        assert token.addresses == (f"127.0.0.1:{port}",)
        ca = home / "config" / "certs" / "http_ca.crt"
        status, body = https(port, "GET", "/_security/enroll/kibana", token.authorization, ca)
        assert status == 200, body
        assert body["token"]["value"]
    finally:
        process.stop()
    output = "".join(process.output)
    assert output.count(encoded) == 1
    assert "bastion create-enrollment-token -s node" in output
    assert re.search(r"could not create the Kibana enrollment token", output) is None
