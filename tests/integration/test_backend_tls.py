"""TLS to an external engine: stunnel terminates TLS in front of the session engine (OpenSearch
without its security plugin speaks plain HTTP only), and gateways start against it."""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import GatewayFactory, free_port, http_request, run_bastion

PASSPHRASE = "client-key-passphrase"

pytestmark = pytest.mark.skipif(
    shutil.which("stunnel4") is None and shutil.which("stunnel") is None,
    reason="stunnel4 is not installed (apt-get install stunnel4)",
)


def _issue(
    path: Path,
    name: str,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    dns: tuple[str, ...] = (),
    passphrase: str | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A CA (no issuer) or a leaf it signs, written as `<path>.pem` and `<path>.key`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    certificate = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    path.with_suffix(".pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    path.with_suffix(".key").chmod(0o600)
    return certificate, key


@dataclass(frozen=True)
class Terminators:
    pki: Path
    tls_port: int  # TLS, any client
    mtls_port: int  # TLS, client certificate signed by the CA required


def _wait_listening(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"stunnel exited: {process.stdout.read() if process.stdout else ''!r}"
            )
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"stunnel is not listening on {port}")


@pytest.fixture(scope="module")
def terminators(engine_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terminators]:
    pki = tmp_path_factory.mktemp("backend-pki")
    ca = _issue(pki / "ca", "Test engine CA")
    _issue(pki / "other-ca", "Some other CA")
    _issue(pki / "server", "engine", issuer=ca, dns=("localhost",))
    _issue(pki / "client", "bastion", issuer=ca, passphrase=PASSPHRASE)
    engine = urlsplit(engine_url)
    tls_port, mtls_port = free_port(), free_port()
    (pki / "stunnel.conf").write_text(
        f"foreground = yes\npid =\nsyslog = no\ndebug = 3\n"
        f"cert = {pki / 'server.pem'}\nkey = {pki / 'server.key'}\n"
        f"[tls]\naccept = 127.0.0.1:{tls_port}\nconnect = {engine.netloc}\n"
        f"[mtls]\naccept = 127.0.0.1:{mtls_port}\nconnect = {engine.netloc}\n"
        f"CAfile = {pki / 'ca.pem'}\nverifyChain = yes\n"
    )
    binary = shutil.which("stunnel4") or shutil.which("stunnel") or "stunnel"
    process = subprocess.Popen(
        [binary, str(pki / "stunnel.conf")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        _wait_listening(tls_port, process, deadline)
        _wait_listening(mtls_port, process, deadline)
        yield Terminators(pki, tls_port, mtls_port)
    finally:
        process.terminate()
        process.wait(10)


def _serves_the_engine(gateway_url: str) -> None:
    status, _, body = http_request(gateway_url, "GET", "/")
    assert status == 200, body
    assert b"opensearch" in body
    status, _, body = http_request(
        gateway_url,
        "PUT",
        "/tls-books/_doc/1?refresh=true",
        b'{"title":"over tls"}',
        {"Content-Type": "application/json"},
    )
    assert status in (200, 201), body
    status, _, body = http_request(gateway_url, "GET", "/tls-books/_doc/1")
    assert (status, b"over tls" in body) == (200, True)


def _start_fails(backend: str, tmp_path: Path, expected: str, *settings: str) -> str:
    """`bastion start` exits with an error whose output matches `expected`; the output."""
    args = [f"-E{setting}" for setting in settings]
    process = run_bastion(
        "start", "--home", str(tmp_path / "home"), "--port", str(free_port()),
        "--backend", backend, *args,
    )  # fmt: skip
    try:
        process.wait_for(expected, timeout=60)
        assert process.popen.wait(60) != 0
    finally:
        process.stop()
    output = "".join(process.output)
    assert "Bastion is serving" not in output
    return output


def test_a_verified_connection_serves_requests(
    terminators: Terminators, start_gateway: GatewayFactory
) -> None:
    gateway = start_gateway(
        "-E", f"bastion.backend.ssl.certificate_authorities={terminators.pki / 'ca.pem'}",
        backend=f"https://localhost:{terminators.tls_port}",
    )  # fmt: skip
    _serves_the_engine(gateway.url)


def test_an_unknown_ca_stops_start_up(terminators: Terminators, tmp_path: Path) -> None:
    output = _start_fails(
        f"https://localhost:{terminators.tls_port}",
        tmp_path,
        "certificate does not verify",
        f"bastion.backend.ssl.certificate_authorities={terminators.pki / 'other-ca.pem'}",
    )
    assert "add the certificate authority that signed it to" in output
    assert "bastion.backend.ssl.certificate_authorities" in output


def test_a_host_name_mismatch_stops_start_up_unless_verification_is_certificate(
    terminators: Terminators, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    ca = f"bastion.backend.ssl.certificate_authorities={terminators.pki / 'ca.pem'}"
    backend = f"https://127.0.0.1:{terminators.tls_port}"  # the certificate names localhost only
    output = _start_fails(backend, tmp_path, "certificate does not verify", ca)
    assert "bastion.backend.ssl.verification_mode" in output
    gateway = start_gateway(
        "-E", ca, "-E", "bastion.backend.ssl.verification_mode=certificate", backend=backend
    )
    _serves_the_engine(gateway.url)


def test_verification_mode_none_accepts_any_certificate(
    terminators: Terminators, start_gateway: GatewayFactory
) -> None:
    gateway = start_gateway(
        "-E", f"bastion.backend.ssl.certificate_authorities={terminators.pki / 'other-ca.pem'}",
        "-E", "bastion.backend.ssl.verification_mode=none",
        backend=f"https://127.0.0.1:{terminators.tls_port}",
    )  # fmt: skip
    _serves_the_engine(gateway.url)


def test_mutual_tls_with_the_client_certificate(
    terminators: Terminators, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    backend = f"https://localhost:{terminators.mtls_port}"
    ca = f"bastion.backend.ssl.certificate_authorities={terminators.pki / 'ca.pem'}"
    output = _start_fails(backend, tmp_path, "(refused|closed) the TLS connection", ca)
    assert "bastion.backend.ssl.certificate" in output
    gateway = start_gateway(
        "-E", ca,
        "-E", f"bastion.backend.ssl.certificate={terminators.pki / 'client.pem'}",
        "-E", f"bastion.backend.ssl.key={terminators.pki / 'client.key'}",
        "-E", f"bastion.backend.ssl.key_passphrase={PASSPHRASE}",
        backend=backend,
    )  # fmt: skip
    _serves_the_engine(gateway.url)
    assert PASSPHRASE not in "".join(gateway.process.output)


def test_a_wrong_key_passphrase_stops_start_up(terminators: Terminators, tmp_path: Path) -> None:
    output = _start_fails(
        f"https://localhost:{terminators.mtls_port}",
        tmp_path,
        "cannot load bastion.backend.ssl.certificate",
        f"bastion.backend.ssl.certificate_authorities={terminators.pki / 'ca.pem'}",
        f"bastion.backend.ssl.certificate={terminators.pki / 'client.pem'}",
        f"bastion.backend.ssl.key={terminators.pki / 'client.key'}",
        "bastion.backend.ssl.key_passphrase=wrong",
    )
    assert "wrong" not in output
