"""`bastion.backend.ssl.*`: the TLS context, and the engine client against a local TLS server."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bastion.backend.client import EngineClient, EngineTLSError
from bastion.backend.tls import BackendSSLError, engine_ssl_context
from bastion.config.settings import Settings

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
Pair = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def issue(path: Path, name: str, issuer: Pair | None = None, passphrase: str = "") -> Pair:
    """A CA (no issuer) or a leaf for localhost and 127.0.0.1: `<path>.pem` and `<path>.key`."""
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
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    path.with_suffix(".pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return certificate, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    ca = issue(folder / "ca", "Test CA")
    issue(folder / "other-ca", "Other CA")
    issue(folder / "server", "engine", ca)
    issue(folder / "client", "bastion", ca, passphrase="secret-passphrase")
    return folder


def settings(url: str, **values: object) -> Settings:
    return Settings(
        {
            "bastion.backend.hosts": (url,),
            **{f"bastion.backend.ssl.{k}": v for k, v in values.items()},
        }
    )


def test_no_context_for_plain_http(pki: Path) -> None:
    assert engine_ssl_context(settings("http://127.0.0.1:9200"), pki) is None


def test_verification_modes(pki: Path) -> None:
    url = "https://localhost:9200"
    full = engine_ssl_context(settings(url, certificate_authorities=("ca.pem",)), pki)
    assert full is not None
    assert (full.check_hostname, full.verify_mode) == (True, ssl.CERT_REQUIRED)
    chain = engine_ssl_context(settings(url, verification_mode="certificate"), pki)
    assert chain is not None
    assert (chain.check_hostname, chain.verify_mode) == (False, ssl.CERT_REQUIRED)
    none = engine_ssl_context(settings(url, verification_mode="none"), pki)
    assert none is not None
    assert (none.check_hostname, none.verify_mode) == (False, ssl.CERT_NONE)


def test_unusable_files_name_the_setting(pki: Path) -> None:
    url = "https://localhost:9200"
    with pytest.raises(BackendSSLError, match="certificate_authorities"):
        engine_ssl_context(settings(url, certificate_authorities=("missing.pem",)), pki)
    with pytest.raises(BackendSSLError, match="must be set together"):
        engine_ssl_context(settings(url, certificate="client.pem"), pki)
    with pytest.raises(BackendSSLError, match=r"bastion\.backend\.ssl\.key") as raised:
        engine_ssl_context(
            settings(url, certificate="client.pem", key="client.key", key_passphrase="nope-x"), pki
        )
    assert "nope-x" not in str(raised.value)
    # An encrypted key without a passphrase fails instead of prompting on the terminal.
    with pytest.raises(BackendSSLError):
        engine_ssl_context(settings(url, certificate="client.pem", key="client.key"), pki)


@asynccontextmanager
async def tls_server(pki: Path, *, require_client: bool = False) -> AsyncIterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    if require_client:
        context.load_verify_locations(pki / "ca.pem")
        context.verify_mode = ssl.CERT_REQUIRED

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(OK)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def fetch(url: str, pki: Path, **values: object) -> tuple[int, object]:
    client = EngineClient(
        [url],
        max_connections=2,
        timeout=5,
        ssl_context=engine_ssl_context(settings(url, **values), pki),
    )
    try:
        return await client.json("GET", "/")
    finally:
        await client.close()


def test_the_client_verifies_the_engine(pki: Path) -> None:
    async def scenario() -> None:
        async with tls_server(pki) as port:
            ca = ("ca.pem",)
            local, by_ip = f"https://localhost:{port}", f"https://127.0.0.1:{port}"
            assert await fetch(local, pki, certificate_authorities=ca) == (200, {})
            assert await fetch(by_ip, pki, certificate_authorities=ca) == (200, {})
            with pytest.raises(EngineTLSError, match="certificate_authorities"):
                await fetch(local, pki, certificate_authorities=("other-ca.pem",))
            assert await fetch(local, pki, verification_mode="none") == (200, {})

    asyncio.run(scenario())


def test_mutual_tls(pki: Path) -> None:
    async def scenario() -> None:
        async with tls_server(pki, require_client=True) as port:
            url = f"https://localhost:{port}"
            with pytest.raises(EngineTLSError, match=r"bastion\.backend\.ssl\.certificate"):
                await fetch(url, pki, certificate_authorities=("ca.pem",))
            answer = await fetch(
                url,
                pki,
                certificate_authorities=("ca.pem",),
                certificate="client.pem",
                key="client.key",
                key_passphrase="secret-passphrase",
            )
            assert answer == (200, {})

    asyncio.run(scenario())
