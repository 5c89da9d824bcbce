"""`bastion create-enrollment-token -s node|kibana`, like `elasticsearch-create-enrollment-token`:
an API key valid 30 minutes that may only call `GET /_security/enroll/<scope>`, wrapped with
the gateway's version, addresses and HTTP CA fingerprint (docs/enrollment.md). It needs no
password: the key is created as the home's temporary local administrator (`local_admin`)."""

from __future__ import annotations

import argparse
import ipaddress
import ssl
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from bastion.cli.common import add_home_options, fail, load
from bastion.cli.local_admin import (
    LocalGateway,
    ToolError,
    gateway_target,
    temporary_superuser,
    wait_until_known,
)
from bastion.config import settings as s
from bastion.config.settings import SettingsError
from bastion.enrollment import EnrollmentToken
from bastion.tls.autoconfig import CA_CERTIFICATE, CERTS_FOLDER, primary_address
from bastion.tls.pki import PkiError, load_certificates, sha256_fingerprint

SCOPES = ("node", "kibana")
ENROLL_ACTION = "cluster:admin/xpack/security/enroll/"
KEY_NAME_PREFIX = "enrollment_token_API_key_"
KEY_LIFETIME = "30m"
_WILDCARD_ADDRESSES = {"0.0.0.0", "::"}  # noqa: S104 - compared with, not bound


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "create-enrollment-token",
        help="create a token to enroll a gateway (node) or Kibana",
        description="Create an enrollment token, valid 30 minutes, for a new gateway "
        "(`bastion enroll --token`) or for Kibana, on the running gateway of this home.",
    )
    add_home_options(parser)
    # Elasticsearch's tool also names no `client` scope: see docs/enrollment.md.
    parser.add_argument("-s", "--scope", required=True, help="node or kibana")
    parser.add_argument(
        "--url",
        help="the gateway (default: https://localhost:<http.port>); its host:port also goes "
        "into the token",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.scope not in SCOPES:
        return fail(
            f"invalid scope [{args.scope}]: expected node or kibana (Bastion, like Elasticsearch, "
            "has no client scope: clients use an API key or a service token)"
        )
    try:
        home, settings = load(args)
        ca_file = home.config_dir / CERTS_FOLDER / CA_CERTIFICATE
        fingerprint = ca_fingerprint(ca_file)
        url, context = gateway_target(args.url, home, settings)
        if not url.startswith("https://"):
            raise ToolError(f"enrollment needs HTTPS, but --url is [{url}]")
        parts = urllib.parse.urlsplit(url)
        port = parts.port or settings.get(s.HTTP_PORT)
        host = parts.hostname if args.url else settings.get(s.HTTP_HOST)
        with temporary_superuser(home, settings) as credentials:
            gateway = LocalGateway(url, context, credentials)
            wait_until_known(gateway)
            token = create_token(
                gateway, args.scope, token_addresses(host or "", port), fingerprint
            )
    except SettingsError as error:
        return fail(str(error))
    except ToolError as error:
        return fail(str(error))
    print(token.encode())
    return 0


def ca_fingerprint(ca_file: Path) -> str:
    """The SHA-256 fingerprint of the auto-configured HTTP CA; `ToolError` without it."""
    try:
        certificates = load_certificates(ca_file)
    except (OSError, PkiError):
        raise ToolError(
            f"enrollment needs the HTTP CA that TLS auto-configuration writes on the first "
            f"`bastion start` ([{ca_file}] is missing or unreadable)"
        ) from None
    return sha256_fingerprint(certificates[0])


def token_addresses(host: str, port: int) -> tuple[str, ...]:
    """Where the gateway can be reached: its bound address, or for a wildcard bind this host's
    primary address and loopback."""
    hosts = [*primary_address(), "127.0.0.1"] if host in _WILDCARD_ADDRESSES else [host]
    return tuple(dict.fromkeys(_address(h, port) for h in hosts))


def _address(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"[{host}]:{port}" if is_v6 else f"{host}:{port}"


def create_token(
    gateway: LocalGateway, scope: str, addresses: tuple[str, ...], fingerprint: str
) -> EnrollmentToken:
    """The enrollment API key, made through `gateway`, in a token. Raises `ToolError`."""
    status, info = gateway.call("GET", "/")
    version = info.get("version", {}).get("number") if isinstance(info, dict) else None
    if status != 200 or not isinstance(version, str):
        raise ToolError(f"could not read the gateway's version (GET / answered {status})")
    body = {
        "name": KEY_NAME_PREFIX + str(uuid.uuid4()),
        "expiration": KEY_LIFETIME,
        "role_descriptors": {"create_enrollment_token": {"cluster": [ENROLL_ACTION + scope]}},
    }
    status, key = gateway.call("POST", "/_security/api_key", body)
    if status != 200 or not isinstance(key, dict) or "id" not in key or "api_key" not in key:
        reason = key.get("error", {}).get("reason") if isinstance(key, dict) else None
        raise ToolError(
            f"could not create the enrollment API key: {reason or f'the gateway answered {status}'}"
        )
    return EnrollmentToken(version, addresses, fingerprint, f"{key['id']}:{key['api_key']}")


def first_start_kibana_token(host: str, port: int, ca_file: Path, elastic_password: str) -> str:
    """The Kibana enrollment token of the first-start banner, made as `elastic` with the password
    just generated, over TLS trusting the new CA. Raises `ToolError`."""
    fingerprint = ca_fingerprint(ca_file)
    target = "127.0.0.1" if host in _WILDCARD_ADDRESSES else host
    url = f"https://{_address(target, port)}"
    context = ssl.create_default_context(cafile=str(ca_file))
    gateway = LocalGateway(url, context, ("elastic", elastic_password))
    return create_token(gateway, "kibana", token_addresses(host, port), fingerprint).encode()
