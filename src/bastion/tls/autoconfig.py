"""TLS auto-configuration on first start, after Elasticsearch 8's security auto-configuration.

When no `xpack.security.http.ssl.*` setting is configured anywhere (file, environment, command
line), `bastion start` issues a CA and an HTTP certificate signed by it into `config/certs/`:

    http_ca.crt   the CA certificate (PEM, 0644): what clients trust
    http_ca.key   the CA key (PEM, 0600): kept to issue certificates later (enrollment)
    http.crt      the gateway's certificate followed by the CA's (PEM, 0644)
    http.key      the gateway's key (PEM, 0600)

and appends a marked block to `config/bastion.yml` that turns TLS on with them. The settings are
written last: a start interrupted before that finds the certificate files and says what to do.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bastion.authc.file_users import write_atomically
from bastion.config.settings import Settings
from bastion.tls.pki import (
    AUTO_CONFIG_HTTP_CA_DAYS,
    AUTO_CONFIG_HTTP_CA_KEY_SIZE,
    AUTO_CONFIG_HTTP_CERTIFICATE_DAYS,
    AUTO_CONFIG_HTTP_KEY_SIZE,
    CERTIFICATE_FILE_MODE,
    KEY_FILE_MODE,
    new_ca,
    new_certificate,
    pem_certificates,
    pem_private_key,
    write_new_file,
)

CERTS_FOLDER = "certs"
CA_CERTIFICATE = "http_ca.crt"
CA_KEY = "http_ca.key"
HTTP_CERTIFICATE = "http.crt"
HTTP_KEY = "http.key"
BEGIN_MARKER = "#----------------------- BEGIN SECURITY AUTO CONFIGURATION -----------------------"
END_MARKER = "#------------------------ END SECURITY AUTO CONFIGURATION ------------------------"
_DNS_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_WILDCARD_ADDRESSES = {"0.0.0.0", "::"}  # noqa: S104 - compared with, not bound


class AutoConfigurationError(Exception):
    """Auto-configuration cannot proceed; the message says what to do."""


@dataclass(frozen=True)
class AutoConfiguration:
    """What the first-start banner shows."""

    ca_certificate: Path
    ca_fingerprint: str
    settings: Mapping[str, str]


def tls_configured(settings: Settings) -> bool:
    """Any `xpack.security.http.ssl.*` setting from any source: the user's choice stands."""
    return any(key.startswith("xpack.security.http.ssl.") for key in settings.values)


def subject_alternative_names(host: str) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses for the HTTP certificate: this machine's names, loopback, and
    the address the gateway binds (or, bound to every address, this host's addresses)."""
    hostname = socket.gethostname()
    # A host name that is no valid DNS name (rare: spaces, non-ASCII) is left out, not fatal.
    candidates = (hostname, socket.getfqdn(), "localhost")
    dns = list(dict.fromkeys(n for n in candidates if _DNS_NAME.fullmatch(n)))
    ips = ["127.0.0.1", "::1"]
    if host in _WILDCARD_ADDRESSES:
        try:
            found = socket.getaddrinfo(hostname, None, proto=socket.IPPROTO_TCP)
        except OSError:
            found = []
        ips += [str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in found]
        ips += primary_address()
    else:
        ips.append(str(ipaddress.ip_address(host)))
    return dns, list(dict.fromkeys(ips))


def primary_address() -> list[str]:
    """The address this host reaches other networks from (connecting a UDP socket sends
    nothing); none without a route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: any routable address would do
        except OSError:
            return []
        return [str(probe.getsockname()[0])]


def auto_configure(settings: Settings, config_dir: Path, host: str) -> AutoConfiguration | None:
    """Issue the CA and the HTTP certificate and turn TLS on, unless TLS is configured."""
    if tls_configured(settings):
        return None
    certs = config_dir / CERTS_FOLDER
    names = (CA_CERTIFICATE, CA_KEY, HTTP_CERTIFICATE, HTTP_KEY)
    leftovers = [certs / name for name in names if (certs / name).exists()]
    if leftovers:
        raise AutoConfigurationError(
            f"TLS is not configured but {leftovers[0]} exists (an interrupted first start?): "
            "remove it to let Bastion issue new certificates, or configure the "
            "xpack.security.http.ssl.* settings (see docs/tls.md)"
        )
    certs.mkdir(mode=0o750, exist_ok=True)
    dns, ips = subject_alternative_names(host)
    ca = new_ca(days=AUTO_CONFIG_HTTP_CA_DAYS, key_size=AUTO_CONFIG_HTTP_CA_KEY_SIZE)
    http = new_certificate(
        ca,
        dns[0],
        dns=dns,
        ips=ips,
        days=AUTO_CONFIG_HTTP_CERTIFICATE_DAYS,
        key_size=AUTO_CONFIG_HTTP_KEY_SIZE,
        client=False,
    )
    # Keys first: a certificate without its key is never left behind as if complete.
    write_new_file(certs / CA_KEY, pem_private_key(ca.key), KEY_FILE_MODE)
    write_new_file(certs / HTTP_KEY, pem_private_key(http.key), KEY_FILE_MODE)
    write_new_file(
        certs / HTTP_CERTIFICATE,
        pem_certificates([http.certificate, ca.certificate]),
        CERTIFICATE_FILE_MODE,
    )
    write_new_file(
        certs / CA_CERTIFICATE, pem_certificates([ca.certificate]), CERTIFICATE_FILE_MODE
    )
    values: dict[str, str] = {
        "xpack.security.http.ssl.enabled": "true",
        "xpack.security.http.ssl.certificate": f"{CERTS_FOLDER}/{HTTP_CERTIFICATE}",
        "xpack.security.http.ssl.key": f"{CERTS_FOLDER}/{HTTP_KEY}",
    }
    append_block(
        config_dir / "bastion.yml",
        values,
        "Written by the first `bastion start` on {when}: TLS for the HTTP port, with the\n"
        "certificates in certs/. Edit or replace freely; Bastion writes this block only once.",
    )
    return AutoConfiguration(certs / CA_CERTIFICATE, ca.fingerprint(), values)


def append_block(path: Path, values: Mapping[str, str], comment: str) -> None:
    """Append the marked settings block to `path` (atomically, keeping its mode); `comment`
    (its `{when}` filled in) heads the block, one `#` line per line."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        BEGIN_MARKER,
        *(f"# {line}" for line in comment.format(when=when).splitlines()),
        "",
        *(f"{key}: {value}" for key, value in values.items()),
        END_MARKER,
    ]
    separator = "" if not existing or existing.endswith("\n") else "\n"
    write_atomically(path, existing + separator + "\n" + "\n".join(lines) + "\n", mode)
