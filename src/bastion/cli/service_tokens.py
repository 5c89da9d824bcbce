"""`bastion service-tokens create|delete|list`: file service tokens, as
`elasticsearch-service-tokens`.

It edits `<home>/config/service_tokens` (written atomically, mode 0600); the secret is hashed
with `xpack.security.authc.service_token_hashing.algorithm` and printed once:
`SERVICE_TOKEN elastic/fleet-server/my-token = AAEAA…`. Gateways pick changes up within a second.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bastion.authc.password_hashing import resolve_hasher
from bastion.authc.service_accounts import file_tokens
from bastion.authc.service_accounts.accounts import SERVICE_ACCOUNTS
from bastion.authc.service_accounts.file_tokens import ServiceTokensFileError
from bastion.authc.service_accounts.token import new_token, token_name_error
from bastion.cli.common import add_home_options, load
from bastion.config import SettingsError
from bastion.config import settings as s

# Exit codes of Elasticsearch's command line tools (`ExitCodes`).
DATA_ERROR = 65
NO_USER = 67
CODE_ERROR = 70
IO_ERROR = 74
CONFIG = 78


class _ToolError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "service-tokens",
        help="manage file service account tokens (config/service_tokens)",
        description="Create, delete and list the service account tokens of "
        "config/service_tokens, as elasticsearch-service-tokens does.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text, run in (
        ("create", "create a service token and print its value", run_create),
        ("delete", "delete a service token", run_delete),
        ("list", "list the service tokens", run_list),
    ):
        sub = actions.add_parser(name, help=help_text, description=help_text)
        add_home_options(sub)
        sub.set_defaults(run=run)
        if name == "list":
            sub.add_argument("principal", nargs="?", metavar="NAMESPACE/SERVICE")
        else:
            sub.add_argument("principal", metavar="NAMESPACE/SERVICE")
            sub.add_argument("token_name", metavar="TOKEN_NAME")


def _principal(principal: str) -> str:
    if principal not in SERVICE_ACCOUNTS:
        known = ", ".join(SERVICE_ACCOUNTS)
        raise _ToolError(
            f"Unknown service account principal: [{principal}]. Must be one of [{known}]",
            DATA_ERROR,
        )
    return principal


def _run(args: argparse.Namespace) -> int:
    try:
        home, settings = load(args)
        path = home.config_dir / file_tokens.FILE_NAME
        tokens = file_tokens.read(path)
        if args.action == "list":
            wanted = _principal(args.principal) + "/" if args.principal else ""
            for qualified in sorted(tokens):
                if qualified.startswith(wanted):
                    print(qualified)
            return 0
        principal = _principal(args.principal)
        problem = token_name_error(args.token_name)
        if problem is not None:
            raise _ToolError(problem, DATA_ERROR)
        qualified = f"{principal}/{args.token_name}"
        if args.action == "create":
            if qualified in tokens:
                raise _ToolError(f"Service token [{qualified}] already exists", CODE_ERROR)
            namespace, service = principal.split("/")
            token = new_token(namespace, service, args.token_name)
            hasher = resolve_hasher(settings.get(s.SERVICE_TOKEN_HASHING_ALGORITHM))
            file_tokens.write(path, {**tokens, qualified: hasher.hash(token.secret)})
            print(f"SERVICE_TOKEN {qualified} = {token.bearer_value()}")
            return 0
        if qualified not in tokens:
            raise _ToolError(f"Service token [{qualified}] does not exist", NO_USER)
        file_tokens.write(path, {k: v for k, v in tokens.items() if k != qualified})
        return 0
    except SettingsError as error:
        return _fail(str(error), CONFIG)
    except ServiceTokensFileError as error:
        return _fail(str(error), IO_ERROR)
    except OSError as error:
        return _fail(f"cannot write the service tokens file: {error}", IO_ERROR)
    except _ToolError as error:
        return _fail(str(error), error.code)


def _fail(message: str, code: int) -> int:
    print(f"ERROR: {message}, with exit code {code}", file=sys.stderr)
    return code


run_create = run_delete = run_list = _run
