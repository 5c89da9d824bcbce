"""The local administrator of a home: how Bastion's CLI tools reach the running gateway
without a password, as Elasticsearch's tools do.

A temporary superuser with a random password is added to the home's file realm (`users` and
`users_roles`, which running gateways re-read within a second), used for the tool's API calls,
and removed again whatever happens. It works only on the gateway's machine, for someone who can
write the home's config folder, who could make themselves a superuser anyway.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.authc import file_users
from bastion.authc.password_hashing import resolve_hasher
from bastion.config import settings as s
from bastion.config.settings import Settings
from bastion.home import BastionHome

TOOL_USER_PREFIX = "bastion-tool-"
FILE_REALM_WAIT = 15.0  # seconds for running gateways to pick up the temporary user
CA_FILE = Path("certs") / "http_ca.crt"


class ToolError(Exception):
    """What went wrong, in one line for the user."""


def gateway_target(
    url: str | None, home: BastionHome, settings: Settings
) -> tuple[str, ssl.SSLContext]:
    ca_file = home.config_dir / CA_FILE
    if url is None:
        port = settings.get(s.HTTP_PORT)
        url = f"https://localhost:{port}" if ca_file.exists() else f"http://127.0.0.1:{port}"
    if not url.startswith(("http://", "https://")):
        raise ToolError(f"--url must start with http:// or https://, got [{url}]")
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file.exists() else None)
    return url.rstrip("/"), context


@contextlib.contextmanager
def temporary_superuser(home: BastionHome, settings: Settings) -> Iterator[tuple[str, str]]:
    """A superuser in the file realm for the duration of the call; removed in any case."""
    config = home.config_dir
    users_path = config / file_users.USERS_FILE
    roles_path = config / file_users.USERS_ROLES_FILE
    username = TOOL_USER_PREFIX + secrets.token_hex(6)
    password = secrets.token_urlsafe(24)
    hasher = resolve_hasher(settings.get(s.PASSWORD_HASHING_ALGORITHM))
    _edit(users_path, roles_path, username, hasher.hash(password))
    try:
        yield username, password
    finally:
        _edit(users_path, roles_path, username, None)


def _edit(users_path: Path, roles_path: Path, username: str, password_hash: str | None) -> None:
    try:
        users = file_users.read_users(users_path)
        roles = file_users.read_users_roles(roles_path)
    except file_users.FileUsersError as error:
        raise ToolError(str(error)) from None
    hashes = dict(users.hashes) if users else {}
    assigned = {name: list(names) for name, names in (roles.roles if roles else {}).items()}
    if password_hash is None:
        hashes.pop(username, None)
        assigned.pop(username, None)
    else:
        hashes[username] = password_hash
        assigned[username] = ["superuser"]
    try:
        file_users.write_users(users_path, hashes)
        file_users.write_users_roles(roles_path, assigned)
    except OSError as error:
        raise ToolError(f"could not write [{error.filename}]: {error.strerror}") from None


@dataclass(frozen=True, slots=True)
class LocalGateway:
    url: str
    context: ssl.SSLContext
    credentials: tuple[str, str] = field(repr=False)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        user, password = self.credentials
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 (the scheme was checked in _target)
            self.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                return error.code, json.loads(error.read() or b"{}")
            except ValueError:
                return error.code, {}
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise ToolError(
                f"could not reach the gateway at [{self.url}]: {reason}; is it running? (--url "
                "sets where it listens)"
            ) from None


def wait_until_known(gateway: LocalGateway) -> None:
    deadline = time.monotonic() + FILE_REALM_WAIT
    while True:
        status, _ = gateway.call("GET", "/_security/_authenticate")
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise ToolError(
                "the gateway did not accept the tool's temporary file-realm user; the file realm "
                "must be enabled and the gateway must use this home"
            )
        time.sleep(0.25)
