"""The role mapping APIs: `PUT|POST|GET|DELETE /_security/role_mapping[/<name>]`.

Mappings are stored in `.bastion-security`; the realms that assign roles from them (LDAP, PKI,
SAML, OIDC, JWT) arrive with their issues, as in Elasticsearch, where the file and native realms
do not use role mappings either.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bastion.audit import config_change
from bastion.authz.role_mapping import RoleMapping, RoleMappingError, parse_role_mapping
from bastion.rest.errors import ElasticsearchError
from bastion.rest.security.users import json_response, read_json
from bastion.security import Security
from bastion.transport import http as route
from bastion.transport.http import Request


def mapping_doc_id(name: str) -> str:
    return f"role_mapping-{name}"


def _error(error: RoleMappingError) -> ElasticsearchError:
    root = error.root_cause()
    extra: dict[str, Any] = {}
    body = error.to_json()
    if "caused_by" in body:
        extra["caused_by"] = body["caused_by"]
    if root is not error:
        extra["root_cause"] = {"type": root.error_type, "reason": root.reason}
    return ElasticsearchError(error.status, error.error_type, error.reason, **extra)


class RoleMappingApi:
    def __init__(self, security: Security) -> None:
        self._security = security

    def routes(self) -> list[route.Route]:
        return [
            route.get("/_security/role_mapping", self.get_mappings),
            route.get("/_security/role_mapping/", self.get_mappings),
            route.get("/_security/role_mapping/{name}", self.get_mappings),
            route.put("/_security/role_mapping/{name}", self.put_mapping),
            route.post("/_security/role_mapping/{name}", self.put_mapping),
            route.delete("/_security/role_mapping/{name}", self.delete_mapping),
        ]

    async def stored(self) -> dict[str, RoleMapping]:
        _, docs = await self._security.index.search(
            {"query": {"term": {"doc_type": "role_mapping"}}, "size": 10_000, "sort": ["name"]}
        )
        found = {}
        for doc in docs:
            name = doc.source["name"]
            try:
                found[name] = parse_role_mapping(name, doc.source["role_mapping"], validate=False)
            except RoleMappingError:
                continue
        return found

    async def get_mappings(self, request: Request) -> web.Response:
        names = [n for n in request.match_info.get("name", "").split(",") if n]
        every = await self.stored()
        chosen = {n: m for n, m in every.items() if not names or n in names}
        body = {name: mapping.to_json() for name, mapping in chosen.items()}
        return json_response(body, 200 if body or not names else 404)

    async def put_mapping(self, request: Request) -> web.Response:
        name = request.match_info["name"]
        body = await read_json(request, f"role-mapping [{name}]")
        try:
            parse_role_mapping(name, body)
        except RoleMappingError as error:
            raise _error(error) from None
        doc_id = mapping_doc_id(name)
        existing = await self._security.index.get(doc_id)
        source = {"doc_type": "role_mapping", "name": name, "role_mapping": body}
        await self._security.index.put(doc_id, source)
        self._security.changed_locally()
        change = {"put": {"role_mapping": {"name": name, **body}}}
        config_change(request, "put_role_mapping", change)
        return json_response({"role_mapping": {"created": existing is None}})

    async def delete_mapping(self, request: Request) -> web.Response:
        name = request.match_info["name"]
        found = await self._security.index.delete(mapping_doc_id(name))
        self._security.changed_locally()
        config_change(request, "delete_role_mapping", {"delete": {"role_mapping": {"name": name}}})
        return json_response({"found": found}, 200 if found else 404)
