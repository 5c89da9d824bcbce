"""A home configured by enrollment (`bastion enroll`): the HTTP CA received from the first
gateway, a new HTTP certificate for this host issued by it, and a settings block like the
auto-configuration's that also points the gateway at the first gateway's engine.

The answer of `GET /_security/enroll/node` is hostile until checked here: the CA must be the
one the token's fingerprint names and the key must be that CA's. Files are written keys first
and settings last, as in `tls/autoconfig.py`, so an interruption never leaves a home that looks
configured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bastion.config.settings import Settings
from bastion.tls.autoconfig import (
    BEGIN_MARKER,
    CA_CERTIFICATE,
    CA_KEY,
    CERTS_FOLDER,
    HTTP_CERTIFICATE,
    HTTP_KEY,
    append_block,
    subject_alternative_names,
    tls_configured,
)
from bastion.tls.pki import (
    AUTO_CONFIG_HTTP_CERTIFICATE_DAYS,
    AUTO_CONFIG_HTTP_KEY_SIZE,
    CERTIFICATE_FILE_MODE,
    KEY_FILE_MODE,
    Issued,
    PkiError,
    issued_from,
    new_certificate,
    pem_certificates,
    pem_private_key,
    write_new_file,
)

BACKEND_HOSTS_KEY = "bastion.backend.hosts"
_MAX_ENGINE_HOSTS = 64


class EnrolledHomeError(Exception):
    """The answer cannot be used or the home cannot take it; the message says why."""


@dataclass(frozen=True)
class NodeEnrollment:
    """What the first gateway handed over, checked."""

    ca: Issued = field(repr=False)
    engine_hosts: tuple[str, ...]
    nodes_addresses: tuple[str, ...]


def parse_node_enrollment(body: Any, fingerprint: str) -> NodeEnrollment:
    """Check the answer of `GET /_security/enroll/node` against the token's fingerprint."""
    if not isinstance(body, dict):
        raise EnrolledHomeError("the gateway's enrollment answer is not a JSON object")
    try:
        certificate_der = base64.b64decode(str(body["http_ca_cert"]), validate=True)
        key_der = base64.b64decode(str(body["http_ca_key"]), validate=True)
    except (KeyError, binascii.Error):
        raise EnrolledHomeError("the gateway's enrollment answer has no usable CA") from None
    actual = hashlib.sha256(certificate_der).hexdigest()
    if not hmac.compare_digest(actual.encode(), fingerprint.lower().encode()):
        raise EnrolledHomeError(
            "the CA in the gateway's enrollment answer is not the one the token's fingerprint "
            "names; nothing was written"
        )
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
        key: Any = serialization.load_der_private_key(key_der, None)
        ca = issued_from(certificate, key)
    except (ValueError, TypeError, PkiError):
        raise EnrolledHomeError(
            "the CA key in the gateway's enrollment answer is not usable"
        ) from None
    hosts = body.get("engine_hosts")
    if (
        not isinstance(hosts, list)
        or not 0 < len(hosts) <= _MAX_ENGINE_HOSTS
        or not all(isinstance(h, str) and h.startswith(("http://", "https://")) for h in hosts)
        or any(ch in h for h in hosts for ch in "\n\r,[]\"'")
    ):
        raise EnrolledHomeError("the gateway's enrollment answer has no usable [engine_hosts]")
    addresses = body.get("nodes_addresses")
    nodes = tuple(a for a in addresses if isinstance(a, str)) if isinstance(addresses, list) else ()
    return NodeEnrollment(ca, tuple(hosts), nodes)


def configured_reason(settings: Settings, config_dir: Path) -> str | None:
    """Why this home cannot be enrolled (already configured), or None."""
    certs = config_dir / CERTS_FOLDER
    for name in (CA_CERTIFICATE, CA_KEY, HTTP_CERTIFICATE, HTTP_KEY):
        if (certs / name).exists():
            return f"[{certs / name}] exists"
    if tls_configured(settings):
        return "xpack.security.http.ssl.* settings are configured"
    if BACKEND_HOSTS_KEY in settings.values:
        return f"[{BACKEND_HOSTS_KEY}] is configured"
    settings_file = config_dir / "bastion.yml"
    if settings_file.exists() and BEGIN_MARKER in settings_file.read_text(encoding="utf-8"):
        return f"[{settings_file}] already has a security auto-configuration block"
    return None


def write_enrolled_home(
    enrollment: NodeEnrollment, config_dir: Path, host: str
) -> Mapping[str, str]:
    """Write certificates and settings; returns the settings written."""
    certs = config_dir / CERTS_FOLDER
    certs.mkdir(mode=0o750, exist_ok=True)
    dns, ips = subject_alternative_names(host)
    http = new_certificate(
        enrollment.ca,
        dns[0],
        dns=dns,
        ips=ips,
        days=AUTO_CONFIG_HTTP_CERTIFICATE_DAYS,
        key_size=AUTO_CONFIG_HTTP_KEY_SIZE,
        client=False,
    )
    ca = enrollment.ca
    files = (
        (CA_KEY, pem_private_key(ca.key), KEY_FILE_MODE),
        (HTTP_KEY, pem_private_key(http.key), KEY_FILE_MODE),
        (
            HTTP_CERTIFICATE,
            pem_certificates([http.certificate, ca.certificate]),
            CERTIFICATE_FILE_MODE,
        ),
        (CA_CERTIFICATE, pem_certificates([ca.certificate]), CERTIFICATE_FILE_MODE),
    )
    values = {
        "xpack.security.http.ssl.enabled": "true",
        "xpack.security.http.ssl.certificate": f"{CERTS_FOLDER}/{HTTP_CERTIFICATE}",
        "xpack.security.http.ssl.key": f"{CERTS_FOLDER}/{HTTP_KEY}",
        BACKEND_HOSTS_KEY: "[" + ", ".join(f'"{h}"' for h in enrollment.engine_hosts) + "]",
    }
    written: list[Path] = []
    try:
        for name, data, mode in files:  # keys first and settings last, as auto-configuration
            write_new_file(certs / name, data, mode)
            written.append(certs / name)
        append_block(
            config_dir / "bastion.yml",
            values,
            "Written by `bastion enroll` on {when}: TLS for the HTTP port with the enrolling\n"
            "gateway's CA, and the engine that gateway forwards to. Edit or replace freely.",
        )
    except OSError as error:
        # All or nothing: a later attempt must not find half a home and refuse it.
        for path in written:
            path.unlink(missing_ok=True)
        if isinstance(error, FileExistsError):
            raise EnrolledHomeError(
                f"[{error.filename}] appeared meanwhile; enrollment stopped"
            ) from None
        raise
    return values
