"""Checking the enrollment answer and writing the enrolled home (`bastion enroll`)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bastion.config.settings import load_settings
from bastion.supervisor import _banner_text
from bastion.tls.autoconfig import AutoConfiguration
from bastion.tls.enrolled import (
    EnrolledHomeError,
    configured_reason,
    parse_node_enrollment,
    write_enrolled_home,
)
from bastion.tls.pki import Issued, load_certificates, new_ca

ENGINE = "http://127.0.0.1:9201"


@pytest.fixture(scope="module")
def ca() -> Issued:
    return new_ca(key_size=2048)


def answer(ca: Issued, **changes: Any) -> dict[str, Any]:
    key = ca.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    body = {
        "http_ca_key": base64.b64encode(key).decode(),
        "http_ca_cert": base64.b64encode(
            ca.certificate.public_bytes(serialization.Encoding.DER)
        ).decode(),
        "nodes_addresses": ["127.0.0.1:9200"],
        "engine_hosts": [ENGINE],
    }
    return {**body, **changes}


def test_answer_must_carry_the_fingerprinted_ca_and_its_key(ca: Issued) -> None:
    parsed = parse_node_enrollment(answer(ca), ca.fingerprint())
    assert parsed.engine_hosts == (ENGINE,)
    assert "ca=" not in repr(parsed)
    with pytest.raises(EnrolledHomeError, match="not the one the token's fingerprint names"):
        parse_node_enrollment(answer(ca), "cd" * 32)
    other = new_ca(key_size=2048)
    wrong_key = answer(ca, http_ca_key=answer(other)["http_ca_key"])
    with pytest.raises(EnrolledHomeError, match="not usable"):
        parse_node_enrollment(wrong_key, ca.fingerprint())
    for hosts in ([], ["ftp://x"], ['http://a"\nb'], "http://a", None):
        with pytest.raises(EnrolledHomeError, match="engine_hosts"):
            parse_node_enrollment(answer(ca, engine_hosts=hosts), ca.fingerprint())
    bodies: tuple[Any, ...] = ([], {"http_ca_cert": "%%%"}, {})
    for body in bodies:
        with pytest.raises(EnrolledHomeError):
            parse_node_enrollment(body, ca.fingerprint())


def test_write_enrolled_home(ca: Issued, tmp_path: Path) -> None:
    settings_file = tmp_path / "bastion.yml"
    settings_file.write_text("cluster.name: demo\n")
    assert configured_reason(load_settings(settings_file, environ={}), tmp_path) is None
    written = write_enrolled_home(
        parse_node_enrollment(answer(ca), ca.fingerprint()), tmp_path, "127.0.0.1"
    )
    certs = tmp_path / "certs"
    assert (certs / "http_ca.key").stat().st_mode & 0o777 == 0o600
    assert (certs / "http.key").stat().st_mode & 0o777 == 0o600
    leaf, chained_ca = load_certificates(certs / "http.crt")
    assert chained_ca == ca.certificate
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    settings = load_settings(settings_file, environ={})
    assert settings.values["bastion.backend.hosts"] == (ENGINE,)
    assert settings.values["cluster.name"] == "demo"
    assert written["xpack.security.http.ssl.enabled"] == "true"
    reason = configured_reason(settings, tmp_path)
    assert "exists" in (reason or "")


def test_configured_homes_are_refused(tmp_path: Path) -> None:
    tls = load_settings(None, {"xpack.security.http.ssl.enabled": "false"}, environ={})
    assert "xpack.security.http.ssl" in (configured_reason(tls, tmp_path) or "")
    backend = load_settings(None, {"bastion.backend.hosts": ENGINE}, environ={})
    assert "bastion.backend.hosts" in (configured_reason(backend, tmp_path) or "")


def test_banner_shows_the_kibana_token_or_how_to_make_one(tmp_path: Path) -> None:
    tls = AutoConfiguration(tmp_path / "http_ca.crt", "ab" * 32, {})
    token = "eyJ2ZXIiOiI4LjE3LjAi" * 10
    banner = _banner_text("pw", tls, token)
    assert "Kibana enrollment token (valid for 30 minutes" in banner
    assert banner.count(token) == 1
    assert "bastion create-enrollment-token -s node" in banner
    failed = _banner_text("pw", tls, None)
    assert "could not be created" in failed
    assert "bastion create-enrollment-token -s kibana" in failed
    assert "enrollment" not in _banner_text(None, tls, None)


def test_a_failed_write_leaves_no_certificates(ca: Issued, tmp_path: Path) -> None:
    (tmp_path / "bastion.yml").mkdir()  # the settings cannot be written
    with pytest.raises(OSError, match="directory"):
        write_enrolled_home(
            parse_node_enrollment(answer(ca), ca.fingerprint()), tmp_path, "127.0.0.1"
        )
    assert list((tmp_path / "certs").iterdir()) == []
