"""`bastion start` on an empty home turns HTTPS on once: certificates, settings, banner."""

from __future__ import annotations

import hashlib
import http.client
import ssl
from pathlib import Path

from tests.conftest import ELASTIC, Gateway, basic, launch_gateway, run_bastion


def snapshot(home: Path) -> dict[str, tuple[str, int, int]]:
    """Content hash, modification time and mode of every file under config/."""
    return {
        str(path.relative_to(home)): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
            path.stat().st_mode & 0o777,
        )
        for path in sorted((home / "config").rglob("*"))
        if path.is_file() and not path.name.startswith("bastion.keystore")
    }


def status_over_https(gateway: Gateway) -> int:
    context = ssl.create_default_context(
        cafile=str(gateway.home / "config" / "certs" / "http_ca.crt")
    )
    port = int(gateway.url.rsplit(":", 1)[1])
    connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=30)
    try:
        connection.request("GET", "/", headers={"Authorization": basic(*ELASTIC)})
        return connection.getresponse().status
    finally:
        connection.close()


def test_first_start_configures_tls_once(engine_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = launch_gateway(engine_url, home, tls=True)
    try:
        assert status_over_https(first) == 200
    finally:
        first.process.stop()
    output = "".join(first.process.output)
    assert "SHA-256 fingerprint of that CA certificate" in output
    assert str(home / "config" / "certs" / "http_ca.crt") in output
    assert "┏" in output
    files = snapshot(home)
    assert files["config/certs/http.key"][2] == 0o600
    assert files["config/certs/http_ca.key"][2] == 0o600
    assert files["config/certs/http_ca.crt"][2] == 0o644

    second = launch_gateway(engine_url, home, tls=True)
    try:
        assert status_over_https(second) == 200
    finally:
        second.process.stop()
    again = "".join(second.process.output)
    assert "fingerprint" not in again
    assert "┏" not in again
    assert "Bastion is serving https://" in again
    assert snapshot(home) == files


def test_configured_tls_settings_are_left_alone(engine_url: str, tmp_path: Path) -> None:
    gateway = launch_gateway(engine_url, tmp_path)  # xpack.security.http.ssl.enabled=false
    gateway.process.stop()
    assert not (tmp_path / "config" / "certs").exists()
    assert "AUTO CONFIGURATION" not in (tmp_path / "config" / "bastion.yml").read_text()
    assert "Bastion is serving http://" in "".join(gateway.process.output)


def test_leftover_certificates_without_settings_stop_start_up(
    engine_url: str, tmp_path: Path
) -> None:
    certs = tmp_path / "config" / "certs"
    certs.mkdir(parents=True)
    (certs / "http.crt").write_text("left over\n")
    process = run_bastion("start", "--home", str(tmp_path), "--port", "0", "--backend", engine_url)
    process.wait_for(r"http\.crt exists", timeout=120)
    assert process.popen.wait(60) == 1
    assert (certs / "http.crt").read_text() == "left over\n"
