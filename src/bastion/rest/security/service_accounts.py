"""Service account APIs: `GET /_security/service[/<ns>[/<service>]]`, token create/delete,
`GET …/credential` and `POST …/credential/token/<name>/_clear_cache`, in Elasticsearch's
shapes."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from bastion.audit import config_change
from bastion.authc.service_accounts.accounts import (
    SERVICE_ACCOUNTS,
    ServiceAccount,
    accounts_matching,
)
from bastion.authc.service_accounts.service import token_doc_id
from bastion.authc.service_accounts.token import token_name_error
from bastion.rest.errors import ElasticsearchError, illegal_argument, validation_error
from bastion.rest.security.users import json_response
from bastion.security import Security
from bastion.transport import http as route
from bastion.transport.http import Request

_BASE = "/_security/service/{namespace}/{service}"


def _account(request: Request) -> ServiceAccount:
    principal = f"{request.match_info['namespace']}/{request.match_info['service']}"
    account = SERVICE_ACCOUNTS.get(principal)
    if account is None:
        raise illegal_argument(f"service account [{principal}] does not exist")
    return account


def _audited(account: ServiceAccount, name: str) -> dict[str, Any]:
    token = {"namespace": account.namespace, "service": account.service, "name": name}
    return {"service_token": token}


class ServiceAccountApi:
    def __init__(self, security: Security, *, cluster_name: str, node_name: str) -> None:
        self._security = security
        self._cluster_name = cluster_name
        self._node_name = node_name

    def routes(self) -> list[route.Route]:
        return [
            route.get("/_security/service", self.get_accounts),
            route.get("/_security/service/{namespace}", self.get_accounts),
            route.get(_BASE, self.get_accounts),
            route.get(_BASE + "/credential", self.get_credentials),
            route.post(_BASE + "/credential/token", self.create_token),
            route.put(_BASE + "/credential/token", self.create_token),
            route.post(_BASE + "/credential/token/{name}", self.create_token),
            route.put(_BASE + "/credential/token/{name}", self.create_token),
            route.delete(_BASE + "/credential/token/{name}", self.delete_token),
            route.post(_BASE + "/credential/token/{name}/_clear_cache", self.clear_cache),
        ]

    async def get_accounts(self, request: Request) -> web.Response:
        accounts = accounts_matching(
            request.match_info.get("namespace"), request.match_info.get("service")
        )
        return json_response(
            {a.principal: {"role_descriptor": a.role_descriptor.to_json()} for a in accounts}
        )

    async def create_token(self, request: Request) -> web.Response:
        account = _account(request)
        # Elasticsearch names an unnamed token `token_<random>`.
        name = request.match_info.get("name") or "token_" + secrets.token_urlsafe(15)
        problem = token_name_error(name)
        if problem is not None:
            raise validation_error(problem)
        token = await self._security.service_accounts.create_token(
            account, name, request["authentication"]
        )
        if token is None:
            doc = token_doc_id(f"{account.principal}/{name}")
            raise ElasticsearchError(
                409,
                "version_conflict_engine_exception",
                f"[{doc}]: version conflict, document already exists (current version [1])",
            )
        config_change(request, "create_service_token", {"create": _audited(account, name)})
        return json_response(
            {"created": True, "token": {"name": name, "value": token.bearer_value()}}
        )

    async def delete_token(self, request: Request) -> web.Response:
        account = _account(request)
        name = request.match_info["name"]
        found = await self._security.service_accounts.delete_token(account, name)
        config_change(request, "delete_service_token", {"delete": _audited(account, name)})
        return json_response({"found": found}, 200 if found else 404)

    async def get_credentials(self, request: Request) -> web.Response:
        account = _account(request)
        service = self._security.service_accounts
        index_names = await service.index_token_names(account)
        file_names = service.file_token_names(account)
        body: dict[str, Any] = {
            "service_account": account.principal,
            "count": len(index_names) + len(file_names),
            "tokens": {name: {} for name in index_names},
            "nodes_credentials": {
                "_nodes": {"total": 1, "successful": 1, "failed": 0},
                "file_tokens": {name: {"nodes": [self._node_name]} for name in file_names},
            },
        }
        return json_response(body)

    async def clear_cache(self, request: Request) -> web.Response:
        account = _account(request)
        names = tuple(n for n in request.match_info["name"].split(",") if n)
        self._security.service_accounts.clear_cache(account.principal, names)
        await self._security.index.bump_change_counter()  # other workers and gateways
        return json_response(
            {
                "_nodes": {"total": 1, "successful": 1, "failed": 0},
                "cluster_name": self._cluster_name,
                "nodes": {self._node_name: {"name": self._node_name}},
            }
        )
