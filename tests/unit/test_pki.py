"""Certificate primitives: extensions, chains, file modes, round trips and hostile input."""

from __future__ import annotations

import hashlib
import ipaddress
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from bastion.tls import pki

# Small keys keep the suite fast; sizes are checked separately.
SMALL = 1024


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.new_ca(key_size=SMALL)


@pytest.fixture(scope="module")
def leaf(ca: pki.Issued) -> pki.Issued:
    return pki.new_certificate(
        ca, "node-1", dns=["localhost", "node-1.example"], ips=["127.0.0.1", "::1"], key_size=SMALL
    )


def test_ca_is_self_signed_with_ca_extensions(ca: pki.Issued) -> None:
    cert = ca.certificate
    assert cert.subject.rfc4514_string() == "CN=Bastion security auto-configuration HTTP CA"
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_ca_defaults_follow_auto_configuration() -> None:
    ca = pki.new_ca(days=30)
    assert ca.key.key_size == 4096
    lifetime = ca.certificate.not_valid_after_utc - ca.certificate.not_valid_before_utc
    assert 30 <= lifetime.days <= 31


def test_leaf_is_signed_by_ca_with_names_and_usages(ca: pki.Issued, leaf: pki.Issued) -> None:
    cert = leaf.certificate
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.subject.rfc4514_string() == "CN=node-1"
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "node-1.example"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    usages = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest


def test_leaf_default_key_size_and_server_only(ca: pki.Issued) -> None:
    server = pki.new_certificate(ca, "http", client=False)
    assert server.key.key_size == 2048
    usages = list(
        server.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert usages == [ExtendedKeyUsageOID.SERVER_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        server.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_fingerprint_is_lowercase_sha256_of_der(leaf: pki.Issued) -> None:
    der = leaf.certificate.public_bytes(serialization.Encoding.DER)
    assert leaf.fingerprint() == hashlib.sha256(der).hexdigest()
    assert pki.sha256_fingerprint(leaf.certificate) == leaf.fingerprint()
    assert len(leaf.fingerprint()) == 64
    assert leaf.fingerprint() == leaf.fingerprint().lower()


def test_repr_hides_the_key(leaf: pki.Issued) -> None:
    text = repr(leaf)
    assert "key" not in text.replace("certificate", "")
    assert "PRIVATE" not in text


@pytest.mark.parametrize(
    ("dns", "ips", "message"),
    [
        ((), ("300.1.1.1",), "[300.1.1.1] is not a valid IP address"),
        ((), ("localhost",), "[localhost] is not a valid IP address"),
        (("bad name",), (), "[bad name] is not a valid DNS name"),
        (("",), (), "[] is not a valid DNS name"),
    ],
)
def test_bad_names_are_rejected(
    ca: pki.Issued, dns: tuple[str, ...], ips: tuple[str, ...], message: str
) -> None:
    with pytest.raises(pki.PkiError) as error:
        pki.new_certificate(ca, "x", dns=dns, ips=ips, key_size=SMALL)
    assert str(error.value) == message


def test_bad_parameters_are_rejected(ca: pki.Issued, leaf: pki.Issued) -> None:
    with pytest.raises(pki.PkiError, match="validity"):
        pki.new_ca(days=0, key_size=SMALL)
    with pytest.raises(pki.PkiError, match="key size"):
        pki.new_ca(key_size=512)
    with pytest.raises(pki.PkiError, match="not a certificate authority"):
        pki.new_certificate(leaf, "x", key_size=SMALL)
    with pytest.raises(pki.PkiError, match="common name"):
        pki.new_certificate(ca, "", key_size=SMALL)


def test_distinguished_names() -> None:
    name = pki.parse_distinguished_name("CN=Elastic Certificate Tool Autogenerated CA,O=Acme")
    ca = pki.new_ca_from_name(name, key_size=SMALL)
    assert ca.certificate.subject == name
    with pytest.raises(pki.PkiError, match="distinguished name"):
        pki.parse_distinguished_name("not a dn")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CN=My CA, O=Acme", "CN=My CA,O=Acme"),
        (" CN = a b , OU = x ", "CN=a b,OU=x"),
        ("CN=a\\, b,O=c", "CN=a\\, b,O=c"),
        ("CN=a\\ , O=b", "CN=a\\ ,O=b"),
        ("CN=x+UID=1", "CN=x+UID=1"),
    ],
)
def test_distinguished_names_with_blanks(text: str, expected: str) -> None:
    assert pki.parse_distinguished_name(text).rfc4514_string() == expected


@pytest.mark.parametrize("text", ["", "=x", "CN=x,BAD=1", "CN"])
def test_invalid_distinguished_names(text: str) -> None:
    with pytest.raises(pki.PkiError, match=r"is not a valid X\.500 distinguished name"):
        pki.parse_distinguished_name(text)


def test_pem_files_round_trip_with_modes(tmp_path: Path, ca: pki.Issued, leaf: pki.Issued) -> None:
    certs = tmp_path / "chain.crt"
    key = tmp_path / "node.key"
    pki.write_certificates(certs, [leaf.certificate, ca.certificate])
    pki.write_private_key(key, leaf.key)
    assert stat.S_IMODE(certs.stat().st_mode) == 0o644
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert pki.load_certificates(certs) == [leaf.certificate, ca.certificate]
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = pki.load_private_key(key)
    assert loaded.private_numbers() == leaf.key.private_numbers()
    assert sorted(tmp_path.iterdir()) == sorted([certs, key])


def test_encrypted_private_key(tmp_path: Path, leaf: pki.Issued) -> None:
    key = tmp_path / "node.key"
    pki.write_private_key(key, leaf.key, b"s3cret")
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert pki.load_private_key(key, b"s3cret").private_numbers() == leaf.key.private_numbers()
    with pytest.raises(pki.PkiError, match="needs a password"):
        pki.load_private_key(key)
    with pytest.raises(pki.PkiError) as error:
        pki.load_private_key(key, b"wrong")
    assert "wrong password" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_existing_file_is_replaced_atomically(tmp_path: Path, leaf: pki.Issued) -> None:
    key = tmp_path / "node.key"
    key.write_text("old")
    key.chmod(0o644)
    pki.write_private_key(key, leaf.key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["node.key"]


@pytest.mark.parametrize("passphrase", [None, b"", b"p12-pass"])
def test_pkcs12_round_trip(
    tmp_path: Path, ca: pki.Issued, leaf: pki.Issued, passphrase: bytes | None
) -> None:
    path = tmp_path / "node.p12"
    pki.write_pkcs12(path, leaf, [ca.certificate], passphrase, friendly_name="node-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    issued, others = pki.load_pkcs12(path, passphrase)
    assert issued.certificate == leaf.certificate
    assert issued.key.private_numbers() == leaf.key.private_numbers()
    assert others == [ca.certificate]
    # OpenSSL opens it with the same password and sees the friendly name.
    out = subprocess.run(
        [
            "openssl",
            "pkcs12",
            "-in",
            str(path),
            "-nokeys",
            "-passin",
            f"pass:{(passphrase or b'').decode()}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "friendlyName: node-1" in out


def test_pkcs12_wrong_password(tmp_path: Path, leaf: pki.Issued) -> None:
    path = tmp_path / "node.p12"
    pki.write_pkcs12(path, leaf, passphrase=b"right")
    with pytest.raises(pki.PkiError, match="wrong password"):
        pki.load_pkcs12(path, b"wrong")
    with pytest.raises(pki.PkiError, match="wrong password"):
        pki.load_pkcs12(path, None)


def test_hostile_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\xffnot pem at all")
    with pytest.raises(pki.PkiError, match="does not contain a PEM encoded certificate"):
        pki.load_certificates(junk)
    with pytest.raises(pki.PkiError, match="not a PEM private key"):
        pki.load_private_key(junk)
    with pytest.raises(pki.PkiError, match="not a PKCS#12 file"):
        pki.load_pkcs12(junk, None)
    with pytest.raises(pki.PkiError, match="cannot read the certificate file"):
        pki.load_certificates(tmp_path / "missing.crt")
    assert issubclass(pki.PkiError, ValueError)


def test_openssl_verifies_the_chain(tmp_path: Path, ca: pki.Issued, leaf: pki.Issued) -> None:
    pki.write_certificates(tmp_path / "ca.crt", [ca.certificate])
    pki.write_certificates(tmp_path / "node.crt", [leaf.certificate])
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "node-1.example",
            "-CAfile",
            str(tmp_path / "ca.crt"),
            str(tmp_path / "node.crt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_certificate_signing_request(tmp_path: Path) -> None:
    subject = pki.parse_distinguished_name("CN=node-1,O=Acme")
    request, key = pki.new_csr(
        subject, dns=["node-1.example"], ips=["10.0.0.1"], key_size=SMALL, server_only=True
    )
    assert request.is_signature_valid
    assert request.subject == subject
    assert request.public_key() == key.public_key()
    names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["node-1.example"]
    usages = request.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_common_names_become_other_names(ca: pki.Issued) -> None:
    issued = pki.new_certificate_from_name(
        ca, pki.parse_distinguished_name("CN=x"), common_names=["node.cluster"], key_size=SMALL
    )
    names = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    (other,) = names.value.get_values_for_type(x509.OtherName)
    assert other.type_id == x509.NameOID.COMMON_NAME
    assert other.value == b"\x0c\x0cnode.cluster"


def test_self_signed_leaf() -> None:
    issued = pki.new_self_signed_certificate(
        pki.parse_distinguished_name("CN=solo"), dns=["solo"], key_size=SMALL
    )
    issued.certificate.verify_directly_issued_by(issued.certificate)
    assert not pki.is_ca(issued.certificate)


def test_issued_from_requires_the_matching_key(ca: pki.Issued, leaf: pki.Issued) -> None:
    assert pki.issued_from(ca.certificate, ca.key) == ca
    with pytest.raises(pki.PkiError, match="does not match"):
        pki.issued_from(ca.certificate, leaf.key)


def test_write_new_file_never_replaces(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    pki.write_new_file(path, b"first")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        pki.write_new_file(path, b"second")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.zip"]


def test_missing_password_is_told_apart(tmp_path: Path, leaf: pki.Issued) -> None:
    key = tmp_path / "node.key"
    pki.write_private_key(key, leaf.key, b"pw")
    with pytest.raises(pki.PasswordRequired):
        pki.load_private_key(key)
