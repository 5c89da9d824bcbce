"""`bastion enroll --token TOKEN`: configure this home as another gateway of the cluster that
made the token (`bastion create-enrollment-token -s node`), like Elasticsearch's
`--enrollment-token`. It trusts the first gateway by the token's CA fingerprint alone, fetches
the HTTP CA and the engine's addresses with the token's API key, and writes the home
(docs/enrollment.md). Nothing is written unless all of that succeeded."""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import sys
from typing import Any

from bastion.cli.common import fail
from bastion.config import settings as s
from bastion.config.settings import SettingsError, load_settings
from bastion.enrollment import EnrollmentError, EnrollmentToken, pinned_context, split_address
from bastion.home import resolve_home
from bastion.tls.enrolled import (
    EnrolledHomeError,
    NodeEnrollment,
    configured_reason,
    parse_node_enrollment,
    write_enrolled_home,
)
from bastion.tls.pki import PkiError

ENROLL_NODE_PATH = "/_security/enroll/node"
REQUEST_TIMEOUT = 30.0
MAX_ANSWER = 1 << 20


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "enroll",
        help="configure this home as another gateway, with an enrollment token",
        description="Configure a new home as another gateway in front of the same engine as the "
        "gateway that made the token (`bastion create-enrollment-token -s node` there): its "
        "HTTP CA, a new HTTP certificate for this host, and the engine's addresses.",
    )
    parser.add_argument(
        "--home", metavar="PATH", help="the new home (default: $BASTION_HOME or ~/.bastion)"
    )
    parser.add_argument(
        "--token", required=True, metavar="TOKEN", help="the enrollment token, or - for stdin"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raw = sys.stdin.readline() if args.token == "-" else args.token  # noqa: S105 (stdin marker)
    try:
        token = EnrollmentToken.decode(raw)
        home = resolve_home(args.home)
        settings = load_settings(home.settings_file)
        reason = configured_reason(settings, home.config_dir)
        if reason is not None:
            raise EnrolledHomeError(
                f"this home is already configured ({reason}); enroll into a new, empty home "
                "(--home)"
            )
        enrollment = fetch_node_enrollment(token)
        home.create()
        written = write_enrolled_home(enrollment, home.config_dir, settings.get(s.HTTP_HOST))
    except (EnrollmentError, EnrolledHomeError, SettingsError, PkiError) as error:
        return fail(str(error))
    except OSError as error:
        return fail(f"could not write the home: {error}")
    certs = home.config_dir / "certs"
    print(f"Enrolled into the cluster of the gateway at {', '.join(token.addresses)}.")
    print(f"  HTTP CA and a new HTTP certificate for this host: {certs}")
    print(f"  settings: {home.settings_file} ({', '.join(written)})")
    print(f"  engine: {', '.join(enrollment.engine_hosts)}")
    if any(host.startswith("https://") for host in enrollment.engine_hosts):
        print(
            "  The engine speaks https: set bastion.backend.ssl.* (docs/backend.md) as on the "
            "first gateway before starting."
        )
    print(f"Start it with: bastion start --home {home.root}")
    return 0


def fetch_node_enrollment(token: EnrollmentToken) -> NodeEnrollment:
    """Try each address of the token; the first that answers with a CA matching the
    fingerprint wins. Raises `EnrollmentError` with every address's failure."""
    failures: list[str] = []
    for address in token.addresses:
        host, port = split_address(address)
        try:
            context, _ = pinned_context(host, port, token.fingerprint)
            body = _get(host, port, context, token.authorization)
        except EnrollmentError as error:
            failures.append(str(error))
            continue
        try:
            return parse_node_enrollment(body, token.fingerprint)
        except EnrolledHomeError as error:
            raise EnrollmentError(str(error)) from None
    raise EnrollmentError("; ".join(failures))


def _get(host: str, port: int, context: ssl.SSLContext, authorization: str) -> Any:
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=REQUEST_TIMEOUT)
    try:
        connection.request("GET", ENROLL_NODE_PATH, headers={"Authorization": authorization})
        response = connection.getresponse()
        data = response.read(MAX_ANSWER + 1)
    except (OSError, http.client.HTTPException) as error:
        raise EnrollmentError(f"[{host}:{port}] did not answer the enrollment: {error}") from None
    finally:
        connection.close()
    try:
        body = json.loads(data) if len(data) <= MAX_ANSWER else None
    except ValueError:
        body = None
    if response.status == 401:
        raise EnrollmentError(
            f"[{host}:{port}] rejected the enrollment token's API key: it expired (tokens are "
            "valid 30 minutes), was invalidated, or belongs to another cluster; create a new "
            "one with `bastion create-enrollment-token -s node`"
        )
    if response.status != 200:
        problem = body.get("error") if isinstance(body, dict) else None
        reason = problem.get("reason") if isinstance(problem, dict) else None
        raise EnrollmentError(
            f"[{host}:{port}] refused the enrollment ({response.status}): {reason or 'no reason'}"
        )
    return body
