"""`POST /_security/oauth2/token` (password, client_credentials, refresh_token grants) and
`DELETE /_security/oauth2/token`, in Elasticsearch's shapes.

Grant errors answer as Elasticsearch does, in OAuth2's shape:
`400 {"error": "invalid_grant", "error_description": …}`; a wrong password is the ordinary 401.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from aiohttp import web

from bastion.authc.tokens.service import InvalidationResult, TokenGrantError, TokenPair
from bastion.rest.errors import ElasticsearchError, validation_error
from bastion.rest.security.users import json_response, read_json
from bastion.security import Security
from bastion.transport import http as route
from bastion.transport.http import Request

GRANT_TYPES = ("password", "refresh_token", "client_credentials", "_kerberos")
_FIELDS = {
    "grant_type",
    "username",
    "password",
    "refresh_token",
    "scope",
    "kerberos_ticket",
}


def _grant_error(code: str, description: str, status: int = 400) -> web.Response:
    return json_response({"error": code, "error_description": description}, status)


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ElasticsearchError(
            400, "x_content_parse_exception", f"[token_request] failed to parse field [{name}]"
        )
    return value


def _validate(grant: str, body: dict[str, Any]) -> list[str]:
    present = {name for name in ("username", "password", "refresh_token") if body.get(name)}
    problems = []
    if grant == "password":
        problems += [f"{n} is missing" for n in ("username", "password") if n not in present]
        if "refresh_token" in present:
            problems.append("refresh_token is not supported with the password grant_type")
    elif grant == "refresh_token":
        problems += [
            f"{name} is not supported with the refresh_token grant_type"
            for name in ("username", "password")
            if name in present
        ]
        if "refresh_token" not in present:
            problems.append("refresh_token is missing")
    elif grant == "client_credentials":
        problems += [
            f"{name} is not supported with the client_credentials grant_type"
            for name in ("username", "password", "refresh_token")
            if name in present
        ]
    return problems


class TokenApi:
    def __init__(self, security: Security) -> None:
        self._security = security

    def routes(self) -> list[route.Route]:
        return [
            route.post("/_security/oauth2/token", self.create),
            route.delete("/_security/oauth2/token", self.invalidate),
        ]

    def _ensure_enabled(self) -> None:
        if not self._security.tokens.enabled:
            raise ElasticsearchError(400, "security_exception", "security tokens are not enabled")

    async def create(self, request: Request) -> web.Response:
        self._ensure_enabled()
        body = await read_json(request, "token request")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise ElasticsearchError(
                400,
                "x_content_parse_exception",
                f"[token_request] unknown field [{unknown[0]}]",
            )
        grant = _string(body, "grant_type")
        if grant is None:
            raise validation_error("grant_type is missing")
        if grant not in GRANT_TYPES:
            return _grant_error("unsupported_grant_type", f"grant_type [{grant}] is not supported")
        problems = _validate(grant, body)
        if problems:
            return _grant_error(
                "invalid_request",
                "Validation Failed: " + "".join(f"{i}: {p};" for i, p in enumerate(problems, 1)),
            )
        scope = _string(body, "scope")
        caller = request["authentication"]
        tokens = self._security.tokens
        try:
            if grant == "password":
                username, password = _string(body, "username"), _string(body, "password")
                assert username is not None
                assert password is not None
                basic = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
                user = await self._security.authc.authenticate(
                    f"Basic {basic}", None, request.path_qs, request.remote
                )
                pair = await tokens.create(user, client=caller, with_refresh=True)
            elif grant == "client_credentials":
                if caller.token is not None:  # a service account
                    raise ElasticsearchError(
                        400,
                        "security_exception",
                        "OAuth2 token creation is not supported for service accounts",
                    )
                pair = await tokens.create(caller, client=caller, with_refresh=False)
            elif grant == "refresh_token":
                refresh = _string(body, "refresh_token")
                assert refresh is not None
                pair = await tokens.refresh(refresh, caller)
            else:
                return _grant_error(
                    "unsupported_grant_type", "the _kerberos grant type is not supported"
                )
        except TokenGrantError as error:
            return _grant_error(error.code, error.description)
        return json_response(_token_body(pair, scope))

    async def invalidate(self, request: Request) -> web.Response:
        self._ensure_enabled()
        body = await read_json(request, "invalidate token request")
        values = {
            name: _string(body, name)
            for name in ("token", "refresh_token", "realm_name", "username")
        }
        unknown = sorted(set(body) - set(values))
        if unknown:
            raise ElasticsearchError(
                400,
                "x_content_parse_exception",
                f"[invalidate_token_request] unknown field [{unknown[0]}]",
            )
        if values["token"] and values["refresh_token"]:
            raise validation_error("only one of [token, refresh_token] may be sent per request")
        token = values["token"] or values["refresh_token"]
        realm, username = values["realm_name"], values["username"]
        if realm or username:
            if token:
                raise validation_error(
                    "token string must not be provided when realm name or username is specified"
                )
        elif not token:
            raise validation_error(
                "token string must be provided when not specifying a realm name or a username"
            )
        tokens = self._security.tokens
        result: InvalidationResult | None
        if values["token"]:
            result = await tokens.invalidate_access(values["token"])
        elif values["refresh_token"]:
            result = await tokens.invalidate_refresh(values["refresh_token"])
        else:
            result = await tokens.invalidate_user(realm, username)
        found = result or InvalidationResult()
        return json_response(
            {
                "invalidated_tokens": found.invalidated,
                "previously_invalidated_tokens": found.previously_invalidated,
                "error_count": 0,
            },
            200 if result is not None else 404,
        )


def _token_body(pair: TokenPair, scope: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": pair.access_token,
        "type": "Bearer",
        "expires_in": pair.expires_in,
    }
    if scope is not None:
        body["scope"] = scope
    if pair.refresh_token is not None:
        body["refresh_token"] = pair.refresh_token
    # The user the token is for, as authenticated when it was issued.
    body["authentication"] = dataclasses.replace(pair.authentication, type="realm").to_json()
    return body
