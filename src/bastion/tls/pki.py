"""Certificate primitives: CAs, signed certificates, PEM and PKCS#12 files.

Certificates carry the extensions Elasticsearch's auto-configuration and `elasticsearch-certutil`
put on theirs: a CA has a critical `basicConstraints CA:TRUE` and `keyCertSign, cRLSign` key
usage; a leaf has `CA:FALSE`, the subject alternative names it was asked for and server/client
extended key usage; both carry subject and authority key identifiers so chains build without
guessing. Files are written atomically (temporary file in the same folder, fsync, rename) with
their mode set before any byte is written: 0600 for anything holding a private key.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

DEFAULT_CA_COMMON_NAME = "Bastion security auto-configuration HTTP CA"
# What Elasticsearch's security auto-configuration issues for the HTTP layer.
AUTO_CONFIG_HTTP_CA_DAYS = 3 * 365
AUTO_CONFIG_HTTP_CA_KEY_SIZE = 4096
AUTO_CONFIG_HTTP_CERTIFICATE_DAYS = 2 * 365
AUTO_CONFIG_HTTP_KEY_SIZE = 4096
CERTIFICATE_FILE_MODE = 0o644
KEY_FILE_MODE = 0o600
# Back-dating absorbs clock skew between the machine issuing and the one verifying.
_NOT_BEFORE_SKEW = datetime.timedelta(minutes=5)
_RSA_PUBLIC_EXPONENT = 65537
_MIN_KEY_SIZE = 1024
_MAX_KEY_SIZE = 8192


class PkiError(ValueError):
    """A certificate, key or keystore that cannot be created or read; the message is safe to
    show (it never contains key material or passphrases)."""


class PasswordRequired(PkiError):
    """The private key is encrypted and no password was given."""


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)

    def fingerprint(self) -> str:
        return sha256_fingerprint(self.certificate)


def sha256_fingerprint(certificate: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the DER certificate, no colons (the enrollment token's `fgr`)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def new_rsa_key(key_size: int) -> rsa.RSAPrivateKey:
    if not _MIN_KEY_SIZE <= key_size <= _MAX_KEY_SIZE:
        raise PkiError(
            f"key size must be between {_MIN_KEY_SIZE} and {_MAX_KEY_SIZE} bits, got [{key_size}]"
        )
    return rsa.generate_private_key(public_exponent=_RSA_PUBLIC_EXPONENT, key_size=key_size)


def new_ca(
    common_name: str = DEFAULT_CA_COMMON_NAME, *, days: int = 1095, key_size: int = 4096
) -> Issued:
    """A self-signed certificate authority named `CN=<common_name>`."""
    return new_ca_from_name(_common_name(common_name), days=days, key_size=key_size)


def new_ca_from_name(subject: x509.Name, *, days: int = 1095, key_size: int = 4096) -> Issued:
    """A self-signed certificate authority with a full distinguished name."""
    key = new_rsa_key(key_size)
    builder = _builder(subject, subject, key.public_key(), days)
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    return Issued(builder.sign(key, hashes.SHA256()), key)


def new_certificate(
    ca: Issued,
    common_name: str,
    *,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    days: int = 1095,
    key_size: int = 2048,
    server: bool = True,
    client: bool = True,
) -> Issued:
    """A certificate for `CN=<common_name>` with the given names, signed by `ca`."""
    return new_certificate_from_name(
        ca,
        _common_name(common_name),
        dns=dns,
        ips=ips,
        days=days,
        key_size=key_size,
        server=server,
        client=client,
    )


def new_certificate_from_name(
    ca: Issued,
    subject: x509.Name,
    *,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    common_names: Sequence[str] = (),
    days: int = 1095,
    key_size: int = 2048,
    server: bool = True,
    client: bool = True,
) -> Issued:
    """A certificate for a full distinguished name, signed by `ca`."""
    key = new_rsa_key(key_size)
    return Issued(
        sign_public_key(
            ca,
            subject,
            key.public_key(),
            dns=dns,
            ips=ips,
            common_names=common_names,
            days=days,
            server=server,
            client=client,
        ),
        key,
    )


def new_csr(
    subject: x509.Name,
    *,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    common_names: Sequence[str] = (),
    key_size: int = 2048,
    server_only: bool = False,
) -> tuple[x509.CertificateSigningRequest, rsa.RSAPrivateKey]:
    """A PKCS#10 request (with its new key) asking for the given names; `server_only` also
    asks for the key and extended key usages of an HTTPS server certificate."""
    names = subject_alternative_names(dns, ips, common_names)
    key = new_rsa_key(key_size)
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if server_only:
        builder = builder.add_extension(_key_usage(cert_sign=False), critical=True).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(key, hashes.SHA256()), key


def issued_from(certificate: x509.Certificate, key: PrivateKey) -> Issued:
    """Pair a certificate read from one file with a key read from another; `PkiError` if the
    key is not the certificate's (signing with it would produce unverifiable certificates)."""
    ours = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if ours != theirs:
        raise PkiError("the private key does not match the certificate")
    return Issued(certificate, key)


def sign_public_key(
    ca: Issued,
    subject: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    *,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    common_names: Sequence[str] = (),
    days: int = 1095,
    server: bool = True,
    client: bool = True,
) -> x509.Certificate:
    """A leaf certificate for someone else's public key (what signing a CSR comes down to)."""
    if not is_ca(ca.certificate):
        raise PkiError("the issuing certificate is not a certificate authority")
    names = subject_alternative_names(dns, ips, common_names)
    builder = _builder(subject, ca.certificate.subject, public_key, days)
    return _sign_leaf(builder, ca.key, names, server=server, client=client)


def new_self_signed_certificate(
    subject: x509.Name,
    *,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    common_names: Sequence[str] = (),
    days: int = 1095,
    key_size: int = 2048,
) -> Issued:
    """A leaf certificate signed by its own key (`certutil cert --self-signed`)."""
    names = subject_alternative_names(dns, ips, common_names)
    key = new_rsa_key(key_size)
    builder = _builder(subject, subject, key.public_key(), days)
    return Issued(_sign_leaf(builder, key, names, server=True, client=True), key)


def _sign_leaf(
    builder: x509.CertificateBuilder,
    signing_key: PrivateKey,
    names: list[x509.GeneralName],
    *,
    server: bool,
    client: bool,
) -> x509.Certificate:
    builder = builder.add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=False
    ).add_extension(_key_usage(cert_sign=False), critical=True)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
        critical=False,
    )
    return builder.sign(signing_key, hashes.SHA256())


def subject_alternative_names(
    dns: Sequence[str] = (), ips: Sequence[str] = (), common_names: Sequence[str] = ()
) -> list[x509.GeneralName]:
    """DNS, IP and common-name general names; a malformed entry raises `PkiError` naming it.

    A common name is an `otherName` with the CN object identifier, as certutil's `cn`
    instance field writes it (for transport-layer name checks)."""
    names: list[x509.GeneralName] = []
    for name in dns:
        if not name or any(c.isspace() or c in "/\\,\"'" for c in name) or not name.isascii():
            raise PkiError(f"[{name}] is not a valid DNS name")
        names.append(x509.DNSName(name))
    for text in ips:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise PkiError(f"[{text}] is not a valid IP address") from None
        names.append(x509.IPAddress(address))
    for common_name in common_names:
        if not common_name:
            raise PkiError("[] is not a valid common name")
        names.append(x509.OtherName(NameOID.COMMON_NAME, _der_utf8_string(common_name)))
    return names


def _der_utf8_string(text: str) -> bytes:
    value = text.encode()
    length = len(value)
    if length < 0x80:
        return bytes([0x0C, length]) + value
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x0C, 0x80 | len(size)]) + size + value


def parse_distinguished_name(text: str) -> x509.Name:
    """A distinguished name (`CN=x, O=y`) as a name; `PkiError` if it is not one.

    RFC 4514 syntax, with the blanks around `,` and `=` that Java's `X500Principal` (and so
    Elasticsearch) accepts."""
    invalid = PkiError(f"[{text}] is not a valid X.500 distinguished name")
    try:
        name = x509.Name.from_rfc4514_string(_without_blanks(text))
    except ValueError:
        raise invalid from None
    if not list(name):
        raise invalid
    return name


def _without_blanks(text: str) -> str:
    """`CN = a b , O=c` as `CN=a b,O=c`: blanks around unescaped separators dropped."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=+":
            parts += [_strip_blanks("".join(current)), char]
            current = []
            continue
        current.append(char)
    parts.append(_strip_blanks("".join(current)))
    return "".join(parts)


def _strip_blanks(value: str) -> str:
    value = value.lstrip()
    trimmed = value.rstrip()
    # An odd run of trailing backslashes escapes the first blank: that one is the value's.
    backslashes = len(trimmed) - len(trimmed.rstrip("\\"))
    if backslashes % 2 and len(trimmed) < len(value):
        trimmed += value[len(trimmed)]
    return trimmed


def write_certificates(path: Path, certificates: Sequence[x509.Certificate]) -> None:
    """PEM certificates, in order, mode 0644."""
    _write_atomically(path, pem_certificates(certificates), CERTIFICATE_FILE_MODE)


def pem_certificates(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def write_private_key(path: Path, key: PrivateKey, passphrase: bytes | None = None) -> None:
    """The key as PEM PKCS#8 (encrypted when a non-empty passphrase is given), mode 0600."""
    _write_atomically(path, pem_private_key(key, passphrase), KEY_FILE_MODE)


def pem_private_key(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def write_pkcs12(
    path: Path,
    issued: Issued,
    ca_certificates: Sequence[x509.Certificate] = (),
    passphrase: bytes | None = None,
    friendly_name: str | None = None,
) -> None:
    """A PKCS#12 keystore holding the key, its certificate and the CA chain, mode 0600."""
    data = pkcs12_bytes(issued, ca_certificates, passphrase, friendly_name)
    _write_atomically(path, data, KEY_FILE_MODE)


def pkcs12_bytes(
    issued: Issued,
    ca_certificates: Sequence[x509.Certificate] = (),
    passphrase: bytes | None = None,
    friendly_name: str | None = None,
) -> bytes:
    # Without a passphrase the entries are stored unencrypted under a MAC keyed with the empty
    # password, which OpenSSL and Java's keytool open with an empty password.
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode() if friendly_name else None,
        issued.key,
        issued.certificate,
        list(ca_certificates) or None,
        encryption,
    )


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM file; `PkiError` if it cannot be read or holds none."""
    data = _read(path, "certificate")
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise PkiError(f"[{path}] does not contain a PEM encoded certificate") from None
    return certificates


def load_private_key(path: Path, passphrase: bytes | None = None) -> PrivateKey:
    """A PEM private key (PKCS#8 or traditional, encrypted or not)."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, passphrase or None)
    except TypeError:
        # Raised for a missing passphrase on an encrypted key and for an unexpected one.
        if passphrase:
            raise PkiError(f"the private key [{path}] is not encrypted") from None
        raise PasswordRequired(
            f"the private key [{path}] is encrypted and needs a password"
        ) from None
    except ValueError:
        raise PkiError(
            f"cannot read the private key [{path}]: wrong password or not a PEM private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError(f"the private key [{path}] is neither an RSA nor an EC key")
    return key


def load_pkcs12(path: Path, passphrase: bytes | None) -> tuple[Issued, list[x509.Certificate]]:
    """The key entry of a PKCS#12 keystore and the other certificates it holds."""
    data = _read(path, "keystore")
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, passphrase or b"")
    except ValueError:
        # OpenSSL treats "no password" and "empty password" as different; accept either.
        if passphrase:
            raise PkiError(
                f"cannot read the keystore [{path}]: wrong password or not a PKCS#12 file"
            ) from None
        try:
            key, certificate, others = pkcs12.load_key_and_certificates(data, None)
        except ValueError:
            raise PkiError(
                f"cannot read the keystore [{path}]: wrong password or not a PKCS#12 file"
            ) from None
    if certificate is None or key is None:
        raise PkiError(f"the keystore [{path}] does not contain a private key entry")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError(f"the key in [{path}] is neither an RSA nor an EC key")
    return Issued(certificate, key), list(others)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise PkiError(f"cannot read the {what} file [{path}]: {error.strerror}") from None


def _common_name(common_name: str) -> x509.Name:
    if not common_name:
        raise PkiError("a certificate needs a non-empty common name")
    try:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    except ValueError as error:
        raise PkiError(f"[{common_name}] is not a valid common name: {error}") from None


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    days: int,
) -> x509.CertificateBuilder:
    if days < 1:
        raise PkiError(f"validity must be at least one day, got [{days}]")
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _NOT_BEFORE_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def is_ca(certificate: x509.Certificate) -> bool:
    """Whether the certificate may sign others (basic constraints `CA:TRUE`)."""
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def write_new_file(path: Path, data: bytes, mode: int = KEY_FILE_MODE) -> None:
    """Create `path` with `data`, complete or not at all; `FileExistsError` if it exists (the
    check and the creation are one step, so a file appearing meanwhile is never replaced)."""
    _write_atomically(path, data, mode, replace=False)


def _write_atomically(path: Path, data: bytes, mode: int, *, replace: bool = True) -> None:
    """Write `path` from a synced temporary file; readers see the old or the new file, never
    a part."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if not replace:
        os.unlink(temporary)
    # The rename itself is durable only once the folder is synced.
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
