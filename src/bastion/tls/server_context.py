"""The gateway's TLS server context, built from the `xpack.security.http.ssl.*` settings.

Protocols are TLS 1.2 and 1.3 only; TLS 1.2 offers only ECDHE key exchange with AEAD ciphers
(AES-GCM, ChaCha20-Poly1305), TLS 1.3 its three AEAD suites. Compression and renegotiation are
off and the server's cipher order wins. Key material comes from PEM files (`certificate`, `key`)
or a PKCS#12 keystore (`keystore.path`), never both, as in Elasticsearch. `ReloadingContext`
rebuilds the context when one of its files changes; connections already established keep the
context they were made with.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from bastion.config import settings as s
from bastion.config.settings import Settings
from bastion.keystore import KeystoreError, SecureSettings, SecureSettingsSource, keystore_path
from bastion.tls.pki import (
    Issued,
    PkiError,
    is_ca,
    load_certificates,
    load_pkcs12,
    load_private_key,
    pem_certificates,
    pem_private_key,
)

log = logging.getLogger(__name__)

PROTOCOLS = {"TLSv1.3": ssl.TLSVersion.TLSv1_3, "TLSv1.2": ssl.TLSVersion.TLSv1_2}
# IANA (and Java) names of the TLS 1.2 suites Bastion offers, strongest first, and OpenSSL's names.
TLS12_CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
}
# Python's ssl module cannot narrow TLS 1.3 suites; all three are AEAD, so they are always on.
TLS13_CIPHER_SUITES = (
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256",
)
CLIENT_AUTHENTICATION = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}


class HttpSslError(Exception):
    """The HTTP TLS configuration cannot be used; the message names the setting."""


def parse_supported_protocols(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    names = tuple(str(item).strip() for item in items if str(item).strip())
    for name in names:
        if name not in PROTOCOLS:
            raise ValueError(f"[{name}] is not supported; Bastion serves only TLSv1.3 and TLSv1.2")
    if not names:
        raise ValueError("at least one protocol is needed")
    return names


def parse_cipher_suites(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    names = tuple(str(item).strip() for item in items if str(item).strip())
    allowed = (*TLS13_CIPHER_SUITES, *TLS12_CIPHER_SUITES)
    for name in names:
        if name not in allowed:
            raise ValueError(
                f"[{name}] is not supported; Bastion offers only these suites: {', '.join(allowed)}"
            )
    return names


def parse_client_authentication(value: Any) -> str:
    mode = str(value).strip().lower()
    if mode not in CLIENT_AUTHENTICATION:
        raise ValueError("expected [none], [optional] or [required]")
    return mode


def is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


def check_exposure(settings: Settings) -> None:
    """Plain HTTP only on loopback, unless the user also sets the override explicitly."""
    if settings.get(s.HTTP_SSL_ENABLED) or is_loopback(settings.get(s.HTTP_HOST)):
        return
    if settings.get(s.HTTP_ALLOW_INSECURE_NON_LOOPBACK):
        log.warning(
            "serving plain HTTP on [%s]: passwords cross the network in clear text",
            settings.get(s.HTTP_HOST),
        )
        return
    raise HttpSslError(
        f"[{s.HTTP_SSL_ENABLED.key}] is false, so [{s.HTTP_HOST.key}] must be a loopback "
        f"address, not [{settings.get(s.HTTP_HOST)}]: enable TLS, or set "
        f"[{s.HTTP_ALLOW_INSECURE_NON_LOOPBACK.key}: true] to send passwords in clear text"
    )


def _secret(settings: Settings, setting: s.Setting[str], secure: SecureSettings | None) -> str:
    """A password from the setting or from its `secure_` twin in the keystore, not both (as
    Elasticsearch: `key_passphrase` / `secure_key_passphrase`)."""
    parent, _, name = setting.key.rpartition(".")
    secure_name = f"{parent}.secure_{name}"
    if secure is None or secure_name not in secure:
        return settings.get(setting)
    if setting.key in settings.values:
        raise HttpSslError(f"[{setting.key}] and the keystore's [{secure_name}] cannot both be set")
    try:
        return secure.get_string(secure_name)
    except KeystoreError as error:
        raise HttpSslError(str(error)) from None


@dataclass(frozen=True)
class HttpSslConfig:
    """The HTTP TLS settings with paths resolved against the config folder (as Elasticsearch
    resolves relative paths)."""

    certificate: Path | None
    key: Path | None
    key_passphrase: str = field(repr=False)
    keystore_path: Path | None
    keystore_password: str = field(repr=False)
    certificate_authorities: tuple[Path, ...]
    client_authentication: str
    supported_protocols: tuple[str, ...]
    cipher_suites: tuple[str, ...]
    verification_mode: str

    @classmethod
    def from_settings(
        cls, settings: Settings, config_dir: Path, secure: SecureSettings | None = None
    ) -> HttpSslConfig:
        def path(value: str) -> Path | None:
            return config_dir / value if value else None

        config = cls(
            certificate=path(settings.get(s.HTTP_SSL_CERTIFICATE)),
            key=path(settings.get(s.HTTP_SSL_KEY)),
            key_passphrase=_secret(settings, s.HTTP_SSL_KEY_PASSPHRASE, secure),
            keystore_path=path(settings.get(s.HTTP_SSL_KEYSTORE_PATH)),
            keystore_password=_secret(settings, s.HTTP_SSL_KEYSTORE_PASSWORD, secure),
            certificate_authorities=tuple(
                config_dir / p for p in settings.get(s.HTTP_SSL_CERTIFICATE_AUTHORITIES)
            ),
            client_authentication=settings.get(s.HTTP_SSL_CLIENT_AUTHENTICATION),
            supported_protocols=settings.get(s.HTTP_SSL_SUPPORTED_PROTOCOLS),
            cipher_suites=settings.get(s.HTTP_SSL_CIPHER_SUITES),
            verification_mode=settings.get(s.HTTP_SSL_VERIFICATION_MODE),
        )
        prefix = "xpack.security.http.ssl"
        if config.keystore_path is not None and (config.certificate or config.key):
            raise HttpSslError(
                f"[{prefix}.keystore.path] and [{prefix}.certificate]/[{prefix}.key] cannot be "
                "used together; configure one of them"
            )
        if config.keystore_path is None and (config.certificate is None or config.key is None):
            raise HttpSslError(
                f"[{prefix}.enabled] is true but no key material is configured: set "
                f"[{prefix}.certificate] and [{prefix}.key], or [{prefix}.keystore.path]"
            )
        if config.client_authentication != "none" and config.verification_mode == "none":
            # Python's TLS stack verifies every client certificate it accepts: fail closed.
            raise HttpSslError(
                f"[{prefix}.verification_mode: none] cannot be combined with "
                f"[{prefix}.client_authentication: {config.client_authentication}]"
            )
        return config

    def files(self) -> tuple[Path, ...]:
        """The files the context is built from: a change to any of them triggers a reload."""
        key_material = (self.keystore_path,) if self.keystore_path else (self.certificate, self.key)
        return tuple(p for p in (*key_material, *self.certificate_authorities) if p is not None)


def _key_material(config: HttpSslConfig) -> tuple[Issued, list[x509.Certificate]]:
    if config.keystore_path is not None:
        password = config.keystore_password.encode() or None
        return load_pkcs12(config.keystore_path, password)
    assert config.certificate is not None
    assert config.key is not None
    certificate, *chain = load_certificates(config.certificate)
    key = load_private_key(config.key, config.key_passphrase.encode() or None)
    return Issued(certificate, key), chain


@contextlib.contextmanager
def _in_memory_file(data: bytes) -> Iterator[str]:
    """A path to `data` that never touches a disk (`load_cert_chain` only reads paths)."""
    fd = os.memfd_create("bastion-http-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def build_context(config: HttpSslConfig) -> ssl.SSLContext:
    """A server context for `config`; `HttpSslError` says what is wrong with it."""
    try:
        issued, chain = _key_material(config)
        if config.certificate_authorities:
            trusted = [
                c for path in config.certificate_authorities for c in load_certificates(path)
            ]
        else:
            trusted = [c for c in chain if is_ca(c)]
    except PkiError as error:
        raise HttpSslError(f"cannot load the HTTP TLS configuration: {error}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    versions = sorted(PROTOCOLS[name] for name in config.supported_protocols)
    context.minimum_version, context.maximum_version = versions[0], versions[-1]
    chosen = (
        [name for name in config.cipher_suites if name in TLS12_CIPHER_SUITES]
        if config.cipher_suites
        else list(TLS12_CIPHER_SUITES)
    )
    if chosen:
        context.set_ciphers(":".join(TLS12_CIPHER_SUITES[name] for name in chosen))
    elif ssl.TLSVersion.TLSv1_2 in versions:
        raise HttpSslError(
            "[xpack.security.http.ssl.cipher_suites] names no TLS 1.2 suite while TLSv1.2 is "
            "a supported protocol"
        )
    context.options |= (
        ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    )
    pem = pem_certificates([issued.certificate, *chain]) + pem_private_key(issued.key)
    try:
        with _in_memory_file(pem) as path:
            context.load_cert_chain(path)
    except ssl.SSLError as error:
        raise HttpSslError(
            f"the HTTP certificate and key do not belong together: {error.reason}"
        ) from None
    context.verify_mode = CLIENT_AUTHENTICATION[config.client_authentication]
    if config.client_authentication != "none":
        if not trusted:
            raise HttpSslError(
                "[xpack.security.http.ssl.client_authentication] needs the CAs that sign client "
                "certificates: set [xpack.security.http.ssl.certificate_authorities]"
            )
        context.load_verify_locations(cadata=pem_certificates(trusted).decode("ascii"))
    return context


def _signature(paths: tuple[Path, ...]) -> tuple[tuple[int, int, int], ...]:
    stamps = []
    for path in paths:
        try:
            stat = path.stat()
            stamps.append((stat.st_mtime_ns, stat.st_size, stat.st_ino))
        except OSError:
            stamps.append((0, 0, 0))
    return tuple(stamps)


class ReloadingContext:
    """The current server context; `watch` rebuilds it when a file it came from changes. A file
    that does not load keeps the previous context in service (as Elasticsearch does)."""

    def __init__(self, config: HttpSslConfig) -> None:
        self._config = config
        self._signature = _signature(config.files())
        self._context = build_context(config)

    def current(self) -> ssl.SSLContext:
        return self._context

    async def watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.reload_if_changed()

    async def reload_if_changed(self) -> bool:
        signature = await asyncio.to_thread(_signature, self._config.files())
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            self._context = await asyncio.to_thread(build_context, self._config)
        except HttpSslError as error:
            log.error("keeping the previous HTTP TLS configuration: %s", error)
            return False
        log.info("reloaded the HTTP TLS certificate and key")
        return True


def http_tls(
    settings: Settings, config_dir: Path, keystore_password: str
) -> ReloadingContext | None:
    """The gateway's reloading TLS context, or None when `xpack.security.http.ssl.enabled` is
    false. Raises `HttpSslError`."""
    if not settings.get(s.HTTP_SSL_ENABLED):
        return None
    source = SecureSettingsSource(keystore_path(config_dir), keystore_password)
    try:
        source.load()
    except KeystoreError as error:
        raise HttpSslError(f"cannot open the keystore: {error}") from None
    return ReloadingContext(HttpSslConfig.from_settings(settings, config_dir, source.current))
