"""HTTPS on the gateway: auto-configured certificates, handshakes with curl and the official
client, refused protocols, client-certificate modes, certificate reload and a TLS scan."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from elasticsearch import Elasticsearch

from bastion.tls import pki
from tests.conftest import (
    ELASTIC,
    ELASTIC_PASSWORD,
    Gateway,
    GatewayFactory,
    basic,
    free_port,
    launch_gateway,
)


def ca_file(gateway: Gateway) -> Path:
    return gateway.home / "config" / "certs" / "http_ca.crt"


def client_context(
    cafile: Path,
    certificate: tuple[Path, Path] | None = None,
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cafile))
    if certificate is not None:
        context.load_cert_chain(*map(str, certificate))
    if versions is not None:
        context.minimum_version, context.maximum_version = versions
    return context


def https_get(url: str, context: ssl.SSLContext, path: str = "/") -> tuple[int, bytes]:
    port = int(url.rsplit(":", 1)[1])
    connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": basic(*ELASTIC)})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def tls_gateway(engine_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway whose first start auto-configured HTTPS."""
    gateway = launch_gateway(engine_url, tmp_path_factory.mktemp("tls-gateway"), tls=True)
    yield gateway
    gateway.process.stop()


def test_first_start_issues_certificates_and_prints_the_ca(tls_gateway: Gateway) -> None:
    certs = tls_gateway.home / "config" / "certs"
    output = "".join(tls_gateway.process.output)
    ca_pem = (certs / "http_ca.crt").read_bytes()
    ca = x509.load_pem_x509_certificate(ca_pem)
    assert pki.sha256_fingerprint(ca) in output
    assert str(certs / "http_ca.crt") in output
    assert "Bastion is serving https://" in output
    for key in ("http.key", "http_ca.key"):
        assert (certs / key).stat().st_mode & 0o777 == 0o600
    settings = (tls_gateway.home / "config" / "bastion.yml").read_text()
    assert "BEGIN SECURITY AUTO CONFIGURATION" in settings
    assert "xpack.security.http.ssl.certificate: certs/http.crt" in settings
    leaf = x509.load_pem_x509_certificates((certs / "http.crt").read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert socket.gethostname() in names.get_values_for_type(x509.DNSName)
    addresses = {str(a) for a in names.get_values_for_type(x509.IPAddress)}
    assert {"127.0.0.1", "::1"} <= addresses


def test_curl_trusts_the_generated_ca(tls_gateway: Gateway) -> None:
    port = tls_gateway.url.rsplit(":", 1)[1]
    result = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--cacert",
            str(ca_file(tls_gateway)),
            "-u",
            f"elastic:{ELASTIC_PASSWORD}",
            f"https://localhost:{port}/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tagline"] == "You Know, for Search"


def test_official_client_with_ca_certs(tls_gateway: Gateway) -> None:
    port = tls_gateway.url.rsplit(":", 1)[1]
    client = Elasticsearch(
        f"https://localhost:{port}", ca_certs=str(ca_file(tls_gateway)), basic_auth=ELASTIC
    )
    try:
        assert client.info()["version"]["number"]
    finally:
        client.close()


def test_plain_http_to_the_https_port_is_closed(tls_gateway: Gateway) -> None:
    port = int(tls_gateway.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        connection.getresponse()
    connection.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_12_and_13_are_served(tls_gateway: Gateway, version: ssl.TLSVersion) -> None:
    context = client_context(ca_file(tls_gateway), versions=(version, version))
    assert https_get(tls_gateway.url, context)[0] == 200


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_10_and_11_are_refused(tls_gateway: Gateway, version: ssl.TLSVersion) -> None:
    context = client_context(ca_file(tls_gateway), versions=(version, version))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer the old protocol at all
    with pytest.raises(ssl.SSLError):
        https_get(tls_gateway.url, context)


def test_tls_scan(tls_gateway: Gateway) -> None:
    from sslyze.plugins.certificate_info.implementation import CertificateInfoExtraArgument
    from sslyze.plugins.scan_commands import ScanCommand
    from sslyze.scanner.models import (
        ScanCommandsExtraArguments,
        ServerScanRequest,
        ServerScanStatusEnum,
    )
    from sslyze.scanner.scanner import Scanner
    from sslyze.server_setting import ServerNetworkLocation

    from bastion.tls.server_context import TLS12_CIPHER_SUITES, TLS13_CIPHER_SUITES

    port = int(tls_gateway.url.rsplit(":", 1)[1])
    request = ServerScanRequest(
        server_location=ServerNetworkLocation("localhost", port, ip_address="127.0.0.1"),
        scan_commands={
            ScanCommand.CERTIFICATE_INFO,
            ScanCommand.SSL_2_0_CIPHER_SUITES,
            ScanCommand.SSL_3_0_CIPHER_SUITES,
            ScanCommand.TLS_1_0_CIPHER_SUITES,
            ScanCommand.TLS_1_1_CIPHER_SUITES,
            ScanCommand.TLS_1_2_CIPHER_SUITES,
            ScanCommand.TLS_1_3_CIPHER_SUITES,
            ScanCommand.TLS_COMPRESSION,
            ScanCommand.SESSION_RENEGOTIATION,
            ScanCommand.HEARTBLEED,
            ScanCommand.OPENSSL_CCS_INJECTION,
        },
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca_file(tls_gateway))
        ),
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    [result] = list(scanner.get_results())
    assert result.scan_status == ServerScanStatusEnum.COMPLETED
    scan = result.scan_result
    assert scan is not None

    def accepted(attempt: object) -> list[str]:
        outcome = attempt.result  # type: ignore[attr-defined]
        assert outcome is not None, attempt
        return [suite.cipher_suite.name for suite in outcome.accepted_cipher_suites]

    for old in (
        scan.ssl_2_0_cipher_suites,
        scan.ssl_3_0_cipher_suites,
        scan.tls_1_0_cipher_suites,
        scan.tls_1_1_cipher_suites,
    ):
        assert accepted(old) == []
    tls12 = accepted(scan.tls_1_2_cipher_suites)
    assert tls12
    assert set(tls12) <= set(TLS12_CIPHER_SUITES)
    assert set(accepted(scan.tls_1_3_cipher_suites)) <= set(TLS13_CIPHER_SUITES)
    assert scan.tls_compression.result is not None
    assert scan.tls_compression.result.supports_compression is False
    renegotiation = scan.session_renegotiation.result
    assert renegotiation is not None
    assert renegotiation.supports_secure_renegotiation
    assert not renegotiation.is_vulnerable_to_client_renegotiation_dos
    assert scan.heartbleed.result is not None
    assert not scan.heartbleed.result.is_vulnerable_to_heartbleed
    assert scan.openssl_ccs_injection.result is not None
    assert not scan.openssl_ccs_injection.result.is_vulnerable_to_ccs_injection
    certificate_info = scan.certificate_info.result
    assert certificate_info is not None
    [deployment] = certificate_info.certificate_deployments
    assert deployment.received_chain_has_valid_order
    supplied = [
        r for r in deployment.path_validation_results if r.trust_store.name == "Supplied CA file"
    ]
    assert supplied
    assert supplied[0].was_validation_successful


def issue(folder: Path, name: str, ca: pki.Issued | None = None) -> tuple[pki.Issued, Path, Path]:
    """A CA (when `ca` is None) or a certificate for localhost signed by `ca`, as PEM files."""
    folder.mkdir(parents=True, exist_ok=True)
    if ca is None:
        issued = pki.new_ca(f"test CA {name}", days=2, key_size=2048)
    else:
        issued = pki.new_certificate(
            ca, "localhost", dns=["localhost"], ips=["127.0.0.1"], days=2, key_size=2048
        )
    certificate, key = folder / f"{name}.crt", folder / f"{name}.key"
    pki.write_certificates(certificate, [issued.certificate])
    pki.write_private_key(key, issued.key)
    return issued, certificate, key


def explicit_tls_args(certificate: Path, key: Path, *extra: str) -> tuple[str, ...]:
    return (
        "-E",
        f"xpack.security.http.ssl.certificate={certificate}",
        "-E",
        f"xpack.security.http.ssl.key={key}",
        *extra,
    )


@pytest.mark.parametrize("mode", ["none", "optional", "required"])
def test_client_authentication_modes(
    start_gateway: GatewayFactory, tmp_path: Path, mode: str
) -> None:
    certs = tmp_path / "pki"
    ca, ca_crt, _ = issue(certs, "ca")
    _, server_crt, server_key = issue(certs, "server", ca)
    _, client_crt, client_key = issue(certs, "client", ca)
    gateway = start_gateway(
        *explicit_tls_args(
            server_crt,
            server_key,
            "-E",
            f"xpack.security.http.ssl.client_authentication={mode}",
            "-E",
            f"xpack.security.http.ssl.certificate_authorities={ca_crt}",
        ),
        tls=True,
    )
    with_certificate = client_context(ca_crt, certificate=(client_crt, client_key))
    assert https_get(gateway.url, with_certificate)[0] == 200
    without = client_context(ca_crt)
    if mode == "required":
        with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected)):
            https_get(gateway.url, without)
    else:
        assert https_get(gateway.url, without)[0] == 200
    # A certificate from a CA the gateway does not trust is refused whenever one is asked for.
    stranger_ca, _, _ = issue(tmp_path / "other", "ca")
    _, stranger_crt, stranger_key = issue(tmp_path / "other", "client", stranger_ca)
    stranger = client_context(ca_crt, certificate=(stranger_crt, stranger_key))
    if mode == "none":
        assert https_get(gateway.url, stranger)[0] == 200
    else:
        with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected)):
            https_get(gateway.url, stranger)


def test_certificate_reload_keeps_open_connections(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    certs = tmp_path / "pki"
    first_ca, first_ca_crt, _ = issue(certs, "first-ca")
    _, server_crt, server_key = issue(certs, "server", first_ca)
    gateway = start_gateway(
        *explicit_tls_args(server_crt, server_key, "-E", "resource.reload.interval.high=1s"),
        tls=True,
    )
    port = int(gateway.url.rsplit(":", 1)[1])
    kept = http.client.HTTPSConnection(
        "localhost", port, context=client_context(first_ca_crt), timeout=30
    )
    try:
        kept.request("GET", "/", headers={"Authorization": basic(*ELASTIC)})
        response = kept.getresponse()
        response.read()
        assert response.status == 200

        second_ca, second_ca_crt, _ = issue(certs, "second-ca")
        replacement, _, _ = issue(tmp_path / "staging", "server", second_ca)
        pki.write_private_key(server_key, replacement.key)
        pki.write_certificates(server_crt, [replacement.certificate])

        deadline = time.monotonic() + 30
        while True:
            try:
                assert https_get(gateway.url, client_context(second_ca_crt))[0] == 200
                break
            except ssl.SSLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        with pytest.raises(ssl.SSLError):
            https_get(gateway.url, client_context(first_ca_crt))
        # The connection made before the change still serves requests.
        kept.request("GET", "/", headers={"Authorization": basic(*ELASTIC)})
        response = kept.getresponse()
        response.read()
        assert response.status == 200
    finally:
        kept.close()


def test_plain_http_beyond_loopback_needs_the_override(engine_url: str, tmp_path: Path) -> None:
    from tests.conftest import run_bastion

    process = run_bastion(
        "start",
        "--home",
        str(tmp_path),
        "--port",
        str(free_port()),
        "--backend",
        engine_url,
        "--host",
        "0.0.0.0",
        "-E",
        "xpack.security.http.ssl.enabled=false",
    )
    process.wait_for(r"loopback.*bastion\.http\.allow_insecure_non_loopback", timeout=60)
    assert process.popen.wait(60) == 1


def test_denied_connections_are_closed_before_the_handshake(tmp_path: Path) -> None:
    from aiohttp import web

    from bastion.transport.http import Handler, HttpServer, Limits, Request, Response, Router
    from bastion.transport.listener import GatedListener

    ca, ca_crt, _ = issue(tmp_path, "ca")
    _, server_crt, server_key = issue(tmp_path, "server", ca)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(server_crt, server_key)
    consulted: list[str] = []
    allow = [False]

    def connection_filter(address: str) -> bool:
        consulted.append(address)
        return allow[0]

    async def scenario() -> tuple[type[BaseException] | None, int]:
        async def hello(_: Request) -> Response:
            return web.Response(text="hello")

        async def middleware(request: Request, handler: Handler) -> Response:
            return await handler(request)

        server = HttpServer(Limits(4096, 8192, 1 << 20, 10.0), Router([], hello), middleware)
        port = free_port()
        site = GatedListener(
            server,
            "127.0.0.1",
            port,
            ssl_context=lambda: server_context,
            connection_filter=connection_filter,
        )
        await site.start()
        client = client_context(ca_crt)
        refused: type[BaseException] | None = None
        try:
            try:
                await asyncio.open_connection("localhost", port, ssl=client)
            except (ssl.SSLError, ConnectionError) as error:
                refused = type(error)
            allow[0] = True
            reader, writer = await asyncio.open_connection("localhost", port, ssl=client)
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            status = int((await reader.readline()).split()[1])
            writer.close()
        finally:
            await site.stop()
            await server.shutdown(1.0)
        return refused, status

    refused, status = asyncio.run(scenario())
    assert refused is not None
    assert status == 200
    assert consulted == ["127.0.0.1", "127.0.0.1"]


def test_a_key_of_another_certificate_is_a_clear_error(tmp_path: Path) -> None:
    from bastion.config.settings import Settings
    from bastion.tls.server_context import HttpSslConfig, HttpSslError, build_context

    ca, _, _ = issue(tmp_path, "ca")
    _, server_crt, _ = issue(tmp_path / "one", "server", ca)
    _, _, other_key = issue(tmp_path / "two", "server", ca)
    settings = Settings(
        {
            "xpack.security.http.ssl.certificate": str(server_crt),
            "xpack.security.http.ssl.key": str(other_key),
        }
    )
    config = HttpSslConfig.from_settings(settings, tmp_path)
    with pytest.raises(HttpSslError, match="do not belong together"):
        build_context(config)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("xpack.security.http.ssl.supported_protocols", "TLSv1.1", "only TLSv1.3 and TLSv1.2"),
        ("xpack.security.http.ssl.cipher_suites", "TLS_RSA_WITH_AES_128_CBC_SHA", "not supported"),
        ("xpack.security.http.ssl.client_authentication", "sometimes", "expected [none]"),
    ],
)
def test_weak_or_unknown_tls_values_are_refused(key: str, value: str, message: str) -> None:
    from bastion.config.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(None, {key: value}, {})


def test_key_passphrase_from_the_keystore(tmp_path: Path) -> None:
    from bastion.config.settings import Settings
    from bastion.keystore import Entry, Keystore
    from bastion.tls.server_context import HttpSslConfig, HttpSslError, build_context

    ca, _, _ = issue(tmp_path, "ca")
    server, server_crt, server_key = issue(tmp_path, "server", ca)
    pki.write_private_key(server_key, server.key, b"secret passphrase")
    settings = Settings(
        {
            "xpack.security.http.ssl.certificate": str(server_crt),
            "xpack.security.http.ssl.key": str(server_key),
        }
    )
    secure = (
        Keystore.create()
        .with_entry(
            "xpack.security.http.ssl.secure_key_passphrase",
            Entry("string", b"secret passphrase"),
        )
        .secure_settings
    )
    build_context(HttpSslConfig.from_settings(settings, tmp_path, secure))
    with pytest.raises(HttpSslError, match="needs a password"):
        build_context(HttpSslConfig.from_settings(settings, tmp_path))
    both = Settings({**settings.values, "xpack.security.http.ssl.key_passphrase": "x"})
    with pytest.raises(HttpSslError, match="cannot both be set"):
        HttpSslConfig.from_settings(both, tmp_path, secure)


def test_https_from_a_pkcs12_keystore(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    ca, ca_crt, _ = issue(tmp_path, "ca")
    server, _, _ = issue(tmp_path, "server", ca)
    keystore = tmp_path / "http.p12"
    keystore.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"http",
            server.key,
            server.certificate,
            [ca.certificate],
            BestAvailableEncryption(b"p12-password"),
        )
    )
    gateway = start_gateway(
        "-E",
        f"xpack.security.http.ssl.keystore.path={keystore}",
        "-E",
        "xpack.security.http.ssl.keystore.password=p12-password",
        tls=True,
    )
    assert https_get(gateway.url, client_context(ca_crt))[0] == 200
