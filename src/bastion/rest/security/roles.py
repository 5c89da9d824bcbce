"""The role APIs: `/_security/role[/<name>]`, `_clear_cache`, the built-in privileges, and the
privilege checks `_has_privileges` and `user/_privileges`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from bastion.audit import config_change
from bastion.authz.patterns import covers
from bastion.authz.permission import Role, compile_names, is_restricted
from bastion.authz.privileges import builtin_privileges, implies, privilege_error
from bastion.authz.reserved_roles import RESERVED_ROLES, is_reserved_role
from bastion.authz.role_descriptor import (
    RoleDescriptor,
    RoleDescriptorError,
    parse_role_descriptor,
    validate_privileges,
)
from bastion.authz.role_store import role_doc_id, role_source
from bastion.config import settings as s
from bastion.rest.errors import ElasticsearchError, illegal_argument, parse_error, validation_error
from bastion.rest.security.app_privileges import actions_allow, load_definitions
from bastion.rest.security.role_query import query_roles
from bastion.rest.security.users import authentication, json_response, read_json
from bastion.security import Security
from bastion.transport import http as route
from bastion.transport.http import Request


def _descriptor_json(descriptor: RoleDescriptor) -> dict[str, Any]:
    body: dict[str, Any] = descriptor.to_json()
    return body


def _role_error(error: RoleDescriptorError) -> ElasticsearchError:
    root = error.root_cause()
    extra: dict[str, Any] = {"caused_by": error.caused_by.to_json()} if error.caused_by else {}
    if root is not error:
        extra["root_cause"] = {"type": root.error_type, "reason": root.reason}
    return ElasticsearchError(error.status, error.error_type, error.reason, **extra)


class RoleApi:
    def __init__(self, security: Security) -> None:
        self._security = security

    def routes(self) -> list[route.Route]:
        return [
            route.get("/_security/role", self.get_roles),
            route.get("/_security/role/", self.get_roles),
            route.get("/_security/role/{name}", self.get_roles),
            route.post("/_security/role", self.bulk_put),
            route.delete("/_security/role", self.bulk_delete),
            route.put("/_security/role/{name}", self.put_role),
            route.post("/_security/role/{name}", self.put_role),
            route.delete("/_security/role/{name}", self.delete_role),
            route.post("/_security/role/{name}/_clear_cache", self.clear_cache),
            route.get("/_security/_query/role", self.query),
            route.post("/_security/_query/role", self.query),
            route.get("/_security/privilege/_builtin", self.builtin),
            route.get("/_security/user/_has_privileges", self.has_privileges),
            route.post("/_security/user/_has_privileges", self.has_privileges),
            route.get("/_security/user/{username}/_has_privileges", self.has_privileges),
            route.post("/_security/user/{username}/_has_privileges", self.has_privileges),
            route.get("/_security/user/_privileges", self.user_privileges),
        ]

    async def _native(self) -> dict[str, RoleDescriptor]:
        _, docs = await self._security.index.search(
            {"query": {"term": {"doc_type": "role"}}, "size": 10_000, "sort": ["name"]}
        )
        found = {}
        for doc in docs:
            try:
                found[doc.source["name"]] = parse_role_descriptor(
                    doc.source["name"], doc.source["role"]
                )
            except RoleDescriptorError:
                continue
        return found

    async def get_roles(self, request: Request) -> web.Response:
        names = [n for n in request.match_info.get("name", "").split(",") if n]
        roles = self._security.roles
        if not names:
            every = {**await self._native(), **roles.file_roles, **RESERVED_ROLES}
            return json_response({name: _descriptor_json(d) for name, d in sorted(every.items())})
        found = {d.name: _descriptor_json(d) for d in await roles.descriptors(names)}
        return json_response(found, 200 if found else 404)

    async def query(self, request: Request) -> web.Response:
        """Native roles only, as in Elasticsearch: file and built-in roles are not queried."""
        raw = await request.read()
        body = await read_json(request, "query role request") if raw.strip() else {}
        if not isinstance(body, dict):
            raise parse_error("failed to parse query role request, expected an object")
        total, page = query_roles(body, list((await self._native()).values()))
        found = []
        for descriptor, sort in page:
            role = {"name": descriptor.name, **_descriptor_json(descriptor)}
            if sort is not None:
                role["_sort"] = sort
            found.append(role)
        return json_response({"total": total, "count": len(found), "roles": found})

    async def put_role(self, request: Request) -> web.Response:
        name = request.match_info["name"]
        body = await read_json(request, f"role [{name}]")
        descriptor = self._parse(name, body)
        existing = await self._security.index.get(role_doc_id(name))
        await self._security.index.put(role_doc_id(name), role_source(descriptor, body))
        self._security.changed_locally()
        change = {"put": {"role": {"name": name, "role_descriptor": body}}}
        config_change(request, "put_role", change)
        return json_response({"role": {"created": existing is None}})

    def _parse(self, name: str, body: Any) -> RoleDescriptor:
        if is_reserved_role(name):
            raise validation_error(f"Role [{name}] is reserved and may not be used.")
        try:
            descriptor = parse_role_descriptor(name, body)
            validate_privileges(
                descriptor,
                lambda p: privilege_error("cluster", p),
                lambda p: privilege_error("index", p),
            )
        except RoleDescriptorError as error:
            raise _role_error(error) from None
        return descriptor

    async def bulk_put(self, request: Request) -> web.Response:
        """`POST /_security/role` with `{"roles": {name: descriptor}}` (Elasticsearch 8.15+):
        each role succeeds or fails on its own."""
        body = await read_json(request, "bulk put roles request")
        roles = body.get("roles")
        if set(body) != {"roles"} or not isinstance(roles, dict):
            raise parse_error("failed to parse bulk put roles request. expected [roles] object")
        outcome: dict[str, list[str]] = {"created": [], "updated": [], "noop": []}
        errors: dict[str, Any] = {}
        for name, role_body in roles.items():
            try:
                descriptor = self._parse(name, role_body)
            except ElasticsearchError as error:
                errors[name] = {"type": error.error_type, "reason": error.reason}
                continue
            existing = await self._security.index.get(role_doc_id(name))
            source = role_source(descriptor, role_body)
            if existing is not None and existing.source == source:
                outcome["noop"].append(name)
                continue
            await self._security.index.put(role_doc_id(name), source)
            outcome["created" if existing is None else "updated"].append(name)
            change = {"put": {"role": {"name": name, "role_descriptor": role_body}}}
            config_change(request, "put_role", change)
        self._security.changed_locally()
        answer: dict[str, Any] = {key: names for key, names in outcome.items() if names}
        if errors:
            answer["errors"] = {"count": len(errors), "details": errors}
        return json_response(answer)

    async def bulk_delete(self, request: Request) -> web.Response:
        body = await read_json(request, "bulk delete roles request")
        names = body.get("names")
        if set(body) != {"names"} or not isinstance(names, list):
            raise parse_error("failed to parse bulk delete roles request. expected [names] array")
        deleted, not_found, errors = [], [], {}
        for name in map(str, names):
            if is_reserved_role(name):
                errors[name] = {
                    "type": "illegal_argument_exception",
                    "reason": f"role [{name}] is reserved and cannot be deleted",
                }
            elif await self._security.index.delete(role_doc_id(name)):
                deleted.append(name)
                config_change(request, "delete_role", {"delete": {"role": {"name": name}}})
            else:
                not_found.append(name)
        self._security.changed_locally()
        answer: dict[str, Any] = {}
        if deleted:
            answer["deleted"] = deleted
        if not_found:
            answer["not_found"] = not_found
        if errors:
            answer["errors"] = {"count": len(errors), "details": errors}
        return json_response(answer)

    async def delete_role(self, request: Request) -> web.Response:
        name = request.match_info["name"]
        if is_reserved_role(name):
            raise illegal_argument(f"role [{name}] is reserved and cannot be deleted")
        found = await self._security.index.delete(role_doc_id(name))
        self._security.changed_locally()
        config_change(request, "delete_role", {"delete": {"role": {"name": name}}})
        return json_response({"found": found}, 200 if found else 404)

    async def clear_cache(self, request: Request) -> web.Response:
        self._security.roles.invalidate()
        await self._security.index.bump_change_counter()
        settings = self._security.settings
        node = settings.get(s.NODE_NAME)
        return json_response(
            {
                "_nodes": {"total": 1, "successful": 1, "failed": 0},
                "cluster_name": settings.get(s.CLUSTER_NAME),
                "nodes": {node: {"name": node}},
            }
        )

    async def builtin(self, _: Request) -> web.Response:
        return json_response(builtin_privileges())

    # --- privilege checks --------------------------------------------------------------------

    async def _role(self, request: Request) -> Role:
        return await self._security.roles.role_for(authentication(request))

    async def has_privileges(self, request: Request) -> web.Response:
        username = request.match_info.get("username")
        me = authentication(request).user
        if username is not None and username != me.username:
            raise illegal_argument("users may only check their own privileges")
        raw = await request.read()
        body = await read_json(request, "has privileges request") if raw.strip() else {}
        for key in body:
            if key not in ("cluster", "index", "application"):
                raise parse_error(
                    f"failed to parse has privileges request. unexpected field [{key}]"
                )
        role = await self._role(request)
        layers = role.layers  # an API key's check must pass its own role and its owner's
        cluster = {
            p: all(implies("cluster", layer.cluster_privileges, [p]) for layer in layers)
            for p in body.get("cluster") or []
        }
        index: dict[str, dict[str, bool]] = {}
        for entry in body.get("index") or []:
            if not isinstance(entry, dict) or "names" not in entry or "privileges" not in entry:
                raise parse_error(
                    "failed to parse has privileges request. "
                    "[index] entries need [names] and [privileges]"
                )
            names = entry["names"] if isinstance(entry["names"], list) else [entry["names"]]
            restricted_ok = bool(entry.get("allow_restricted_indices", False))
            for name in names:
                held = [_privileges_on(layer, str(name), restricted_ok) for layer in layers]
                checks = index.setdefault(str(name), {})
                for privilege in entry["privileges"]:
                    checks[privilege] = all(implies("index", h, [privilege]) for h in held)
        application: dict[str, dict[str, dict[str, bool]]] = {}
        for entry in body.get("application") or []:
            app = entry.get("application", "")
            definitions = (await load_definitions(self._security.index, app)).get(app, {})
            for resource in entry.get("resources", []):
                for privilege in entry.get("privileges", []):
                    application.setdefault(app, {}).setdefault(resource, {})[privilege] = all(
                        _application_allows(layer, app, privilege, resource, definitions)
                        for layer in layers
                    )
        every = [
            *cluster.values(),
            *(v for c in index.values() for v in c.values()),
            *(v for r in application.values() for c in r.values() for v in c.values()),
        ]
        return json_response(
            {
                "username": me.username,
                "has_all_requested": all(every),
                "cluster": cluster,
                "index": index,
                "application": application,
            }
        )

    async def user_privileges(self, request: Request) -> web.Response:
        role = await self._role(request)
        descriptors = role.descriptors
        return json_response(
            {
                "cluster": sorted({p for d in descriptors for p in d.cluster}),
                "global": [],
                "indices": [entry.to_json() for d in descriptors for entry in d.indices],
                "applications": [a.to_json() for d in descriptors for a in d.applications],
                "run_as": sorted({u for d in descriptors for u in d.run_as}),
            }
        )


def _privileges_on(role: Role, name: str, restricted_ok: bool) -> list[str]:
    """The index privileges the role holds on every index `name` (a name or pattern) covers:
    `logs-*` covers `logs-2024*`; `logs-a*` does not cover `logs-*`, nor `a?` cover `a*`."""
    held: list[str] = []
    for descriptor in role.descriptors:
        for entry in descriptor.indices:
            if entry.allow_restricted_indices is False and (restricted_ok or is_restricted(name)):
                continue
            if any(covers(granted, name) for granted in entry.names):
                held += entry.privileges
    return held


def _actions(privileges: Iterable[str], definitions: Mapping[str, Any]) -> list[str]:
    """Privilege names → their actions; a raw action (with `/`, `:` or `*`) stands for itself."""
    actions: list[str] = []
    for privilege in privileges:
        if privilege in definitions:
            actions += definitions[privilege]["actions"]
        else:
            actions.append(privilege)
    return actions


def _application_allows(
    role: Role, application: str, privilege: str, resource: str, definitions: Mapping[str, Any]
) -> bool:
    """Granted when every action of `privilege` is covered by the actions the role's privileges
    on this application and resource stand for."""
    granted: list[str] = []
    for descriptor in role.descriptors:
        for entry in descriptor.applications:
            if compile_names([entry.application]).fullmatch(application) and compile_names(
                entry.resources
            ).fullmatch(resource):
                granted += _actions(entry.privileges, definitions)
    if "*" in granted:
        return True
    return actions_allow(granted, _actions([privilege], definitions))
