"""The enrollment APIs, `GET /_security/enroll/node` and `GET /_security/enroll/kibana`, in
Elasticsearch's shapes where they apply (see docs/enrollment.md).

Authorization already admitted the caller for the route's action
(`cluster:admin/xpack/security/enroll/<scope>`), which an enrollment token's API key holds alone.
The node answer hands over the HTTP CA's key: the new gateway issues its own certificate with it.
Bastion has no transport layer, so there are no `transport_*` fields; `engine_hosts` is Bastion's
own, the engine the new gateway must forward to.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from bastion.authc.service_accounts.accounts import SERVICE_ACCOUNTS
from bastion.rest.errors import ElasticsearchError
from bastion.rest.security.users import authentication, json_response
from bastion.security import Security
from bastion.tls.autoconfig import CA_CERTIFICATE, CA_KEY, CERTS_FOLDER
from bastion.tls.pki import PkiError, load_certificates, load_private_key
from bastion.transport import http as route
from bastion.transport.http import Request

KIBANA = "elastic/kibana"
KIBANA_TOKEN_PREFIX = "enroll-process-token-"  # noqa: S105 (a name, not a secret)


def _not_configured(reason: str) -> ElasticsearchError:
    return ElasticsearchError(
        500,
        "illegal_state_exception",
        f"Unable to enroll: {reason}. Enrollment needs the HTTP CA that the first `bastion "
        f"start` writes to config/{CERTS_FOLDER}/ (TLS auto-configuration)",
    )


def _ca_certificate_der(config_dir: Path) -> bytes:
    path = config_dir / CERTS_FOLDER / CA_CERTIFICATE
    try:
        certificates = load_certificates(path)
    except (OSError, PkiError):
        raise _not_configured(f"cannot read [{path.name}]") from None
    if len(certificates) != 1:
        raise _not_configured(f"[{path.name}] must hold exactly one certificate")
    return certificates[0].public_bytes(serialization.Encoding.DER)


def _ca_key_der(config_dir: Path) -> bytes:
    path = config_dir / CERTS_FOLDER / CA_KEY
    try:
        key = load_private_key(path)
    except (OSError, PkiError):
        raise _not_configured(f"cannot read [{path.name}] (missing or encrypted)") from None
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _local_address(request: Request) -> list[str]:
    """The address the caller reached this gateway on, as `host:port`."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not sockname:
        return []
    host, port = str(sockname[0]), int(sockname[1])
    return [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]


class EnrollmentApi:
    def __init__(self, security: Security, config_dir: Path, engine_urls: Sequence[str]) -> None:
        self._security = security
        self._config_dir = config_dir
        self._engine_urls = list(engine_urls)

    def routes(self) -> list[route.Route]:
        return [
            route.get("/_security/enroll/node", self.enroll_node),
            route.get("/_security/enroll/kibana", self.enroll_kibana),
        ]

    async def enroll_node(self, request: Request) -> web.Response:
        certificate = await asyncio.to_thread(_ca_certificate_der, self._config_dir)
        key = await asyncio.to_thread(_ca_key_der, self._config_dir)
        return json_response(
            {
                "http_ca_key": _b64(key),
                "http_ca_cert": _b64(certificate),
                "nodes_addresses": _local_address(request),
                "engine_hosts": self._engine_urls,
            }
        )

    async def enroll_kibana(self, request: Request) -> web.Response:
        certificate = await asyncio.to_thread(_ca_certificate_der, self._config_dir)
        name = f"{KIBANA_TOKEN_PREFIX}{time.time_ns() // 1_000_000}"
        token = await self._security.service_accounts.create_token(
            SERVICE_ACCOUNTS[KIBANA], name, authentication(request)
        )
        if token is None:  # two calls in the same millisecond
            raise ElasticsearchError(
                409, "version_conflict_engine_exception", f"token [{name}] already exists"
            )
        return json_response(
            {"token": {"name": name, "value": token.bearer_value()}, "http_ca": _b64(certificate)}
        )
