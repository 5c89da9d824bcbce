"""Enrollment tokens, in Elasticsearch's format, and trusting a gateway by its CA's fingerprint.

A token is base64 of a JSON object: `ver` (the version that made it), `adr` (addresses of
gateways, `host:port`), `fgr` (SHA-256 of the HTTP CA certificate's DER, lowercase hex) and `key`
(`<api key id>:<api key secret>`, a short-lived API key that may only enroll). The one who
enrolls trusts nothing else: it connects, finds the certificate with that fingerprint in the
chain the gateway presents, and from then on verifies the gateway against that CA alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

MAX_TOKEN_LENGTH = 16_384
CONNECT_TIMEOUT = 10.0


class EnrollmentError(Exception):
    """A token or a gateway that cannot be used; the message says why and never holds the key."""


@dataclass(frozen=True, slots=True)
class EnrollmentToken:
    version: str
    addresses: tuple[str, ...]
    fingerprint: str
    api_key: str = field(repr=False)  # "<id>:<secret>"

    def encode(self) -> str:
        body = {
            "ver": self.version,
            "adr": list(self.addresses),
            "fgr": self.fingerprint,
            "key": self.api_key,
        }
        return base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()

    @property
    def authorization(self) -> str:
        """The `Authorization` header value of the token's API key."""
        return "ApiKey " + base64.b64encode(self.api_key.encode()).decode()

    @staticmethod
    def decode(text: str) -> EnrollmentToken:
        text = text.strip()
        if not text or len(text) > MAX_TOKEN_LENGTH:
            raise EnrollmentError("the enrollment token is empty or too long")
        try:
            body: Any = json.loads(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            raise EnrollmentError("the enrollment token is not valid: not base64 JSON") from None
        if not isinstance(body, dict):
            raise EnrollmentError("the enrollment token is not valid: not a JSON object")
        version, addresses = body.get("ver"), body.get("adr")
        fingerprint, key = body.get("fgr"), body.get("key")
        if not isinstance(version, str):
            raise EnrollmentError("the enrollment token has no version [ver]")
        if (
            not isinstance(addresses, list)
            or not addresses
            or not all(isinstance(a, str) and _split(a) for a in addresses)
        ):
            raise EnrollmentError("the enrollment token has no usable addresses [adr]")
        if not isinstance(fingerprint, str) or len(fingerprint) != 64:
            raise EnrollmentError("the enrollment token has no CA fingerprint [fgr]")
        try:
            bytes.fromhex(fingerprint)
        except ValueError:
            raise EnrollmentError("the enrollment token's CA fingerprint is not hex") from None
        if not isinstance(key, str) or ":" not in key:
            raise EnrollmentError("the enrollment token has no API key [key]")
        return EnrollmentToken(version, tuple(addresses), fingerprint.lower(), key)


def _split(address: str) -> tuple[str, int] | None:
    """`host:port` or `[v6]:port` → (host, port); None when malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        return None
    return host.strip("[]"), int(port)


def split_address(address: str) -> tuple[str, int]:
    parts = _split(address)
    if parts is None:
        raise EnrollmentError(f"[{address}] is not a host:port address")
    return parts


def presented_chain(host: str, port: int) -> list[bytes]:
    """The DER certificates a TLS server presents, unverified (trust is decided by the caller)."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE  # only to read the chain; nothing is sent before trust
    try:
        with (
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as raw,
            probe.wrap_socket(raw, server_hostname=host) as tls,
        ):
            # Public from Python 3.13; the same object exists privately before.
            sslobj: Any = tls._sslobj  # type: ignore[attr-defined]
            chain = sslobj.get_unverified_chain() or []
            return [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in chain]  # type: ignore[attr-defined]
    except (OSError, ssl.SSLError) as error:
        raise EnrollmentError(f"could not connect to [{host}:{port}] over TLS: {error}") from None


def pinned_context(host: str, port: int, fingerprint: str) -> tuple[ssl.SSLContext, bytes]:
    """A client context that trusts only the CA with `fingerprint`, found in the chain the
    gateway presents, and that CA's DER. Raises when the gateway does not present it."""
    for der in presented_chain(host, port):
        if hashlib.sha256(der).hexdigest() == fingerprint:
            context = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(der))
            # The address in the token may be one the certificate does not name; the pinned CA
            # is the trust anchor, as in Elasticsearch's enrollment.
            context.check_hostname = False
            return context, der
    raise EnrollmentError(
        f"the gateway at [{host}:{port}] does not present a CA certificate with the token's "
        "fingerprint; the token was made for another cluster, or someone is in between"
    )
