"""Application privileges: `PUT|POST|GET|DELETE /_security/privilege[/<app>[/<names>]]`.

A definition names a set of actions for an application (`kibana-.kibana` → `read` →
`["login:", "saved_object:*/get"]`); roles grant privilege names (or raw actions) on resources,
and `_has_privileges` answers with them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from bastion.audit import config_change
from bastion.rest.errors import parse_error, validation_error
from bastion.rest.security.users import json_response, read_json
from bastion.security import Security
from bastion.store.security_index import SecurityIndex
from bastion.transport import http as route
from bastion.transport.http import Request

_APP_NAME = re.compile(r"[a-z][A-Za-z0-9_-]{2,}(?:-.*)?|\*")
_PRIVILEGE_NAME = re.compile(r"[a-z][a-zA-Z0-9_.-]*")
_FIELDS = {"application", "name", "actions", "metadata"}


def privilege_doc_id(application: str, name: str) -> str:
    return f"application-privilege_{application}:{name}"


def _validate(application: str, name: str, body: Any) -> list[str]:
    errors = []
    if not _APP_NAME.fullmatch(application):
        errors.append(
            f"An application name must begin with a lowercase ASCII letter, be at least 3 "
            f"characters long and use only letters, digits, `_` and `-`; found [{application}]"
        )
    if not _PRIVILEGE_NAME.fullmatch(name):
        errors.append(
            f"An application privilege name must begin with a lowercase ASCII letter and use "
            f"only letters, digits, `_`, `-` and `.`; found [{name}]"
        )
    if not isinstance(body, dict):
        raise parse_error(f"failed to parse privilege [{application}/{name}]: expected an object")
    for key in body:
        if key not in _FIELDS:
            raise parse_error(
                f"failed to parse privilege [{application}/{name}]. unexpected field [{key}]"
            )
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
        errors.append(f"privilege [{application}/{name}] must have at least one action")
    else:
        errors += [
            f"action [{action}] must contain one of [/*:]"
            for action in actions
            if not any(c in action for c in "/*:")
        ]
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise parse_error(
            f"failed to parse privilege [{application}/{name}]. [metadata] must be an object"
        )
    if any(str(key).startswith("_") for key in metadata):
        errors.append("metadata keys may not start with [_]")
    return errors


def _definition(application: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "application": application,
        "name": name,
        "actions": list(body["actions"]),
        "metadata": dict(body.get("metadata") or {}),
    }


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(re.escape(pattern).replace(r"\*", ".*"))


def actions_allow(granted: Iterable[str], requested: Iterable[str]) -> bool:
    """Every requested action matches one of the granted action patterns."""
    patterns = [_wildcard(action) for action in granted]
    return all(any(p.fullmatch(action) for p in patterns) for action in requested)


async def load_definitions(
    index: SecurityIndex, application: str | None = None
) -> dict[str, dict[str, Any]]:
    """application → privilege name → definition, from `.bastion-security`."""
    query: dict[str, Any] = {"term": {"doc_type": "application-privilege"}}
    _, docs = await index.search({"query": query, "size": 10_000})
    found: dict[str, dict[str, Any]] = {}
    for doc in docs:
        definition = doc.source["application_privilege"]
        if application in (None, definition["application"]):
            found.setdefault(definition["application"], {})[definition["name"]] = definition
    return found


class ApplicationPrivilegeApi:
    def __init__(self, security: Security) -> None:
        self._security = security

    def routes(self) -> list[route.Route]:
        return [
            route.put("/_security/privilege", self.put),
            route.post("/_security/privilege", self.put),
            route.put("/_security/privilege/", self.put),
            route.post("/_security/privilege/", self.put),
            route.get("/_security/privilege", self.get),
            route.get("/_security/privilege/", self.get),
            route.get("/_security/privilege/{application}", self.get),
            route.get("/_security/privilege/{application}/{names}", self.get),
            route.delete("/_security/privilege/{application}/{names}", self.delete),
        ]

    async def put(self, request: Request) -> web.Response:
        body = await read_json(request, "put privileges request")
        errors: list[str] = []
        for application, privileges in body.items():
            if not isinstance(privileges, dict):
                raise parse_error(f"failed to parse privileges for application [{application}]")
            for name, definition in privileges.items():
                errors += _validate(application, name, definition)
                for key in ("application", "name"):
                    if key in definition and definition[key] != (
                        application if key == "application" else name
                    ):
                        errors.append(f"the {key} in the body does not match the path")
        if errors:
            raise validation_error(*errors)
        answer: dict[str, dict[str, Any]] = {}
        for application, privileges in body.items():
            for name, definition in privileges.items():
                doc_id = privilege_doc_id(application, name)
                existing = await self._security.index.get(doc_id)
                source = {
                    "doc_type": "application-privilege",
                    "name": f"{application}:{name}",
                    "application_privilege": _definition(application, name, definition),
                }
                await self._security.index.put(doc_id, source)
                answer.setdefault(application, {})[name] = {"created": existing is None}
                change = {"put": {"privileges": source["application_privilege"]}}
                config_change(request, "put_privileges", change)
        self._security.changed_locally()
        return json_response(answer)

    async def get(self, request: Request) -> web.Response:
        application = request.match_info.get("application")
        names = [n for n in request.match_info.get("names", "").split(",") if n]
        wanted = None if application in (None, "_all", "*") else application
        found = await load_definitions(self._security.index, wanted)
        if names:
            found = {
                app: {n: d for n, d in defs.items() if n in names}
                for app, defs in found.items()
                if any(n in names for n in defs)
            }
        return json_response(found, 404 if application and not found else 200)

    async def delete(self, request: Request) -> web.Response:
        application = request.match_info["application"]
        answer: dict[str, dict[str, Any]] = {application: {}}
        any_found = False
        for name in request.match_info["names"].split(","):
            found = await self._security.index.delete(privilege_doc_id(application, name))
            answer[application][name] = {"found": found}
            any_found = any_found or found
        self._security.changed_locally()
        names = request.match_info["names"].split(",")
        change = {"delete": {"privileges": {"application": application, "privileges": names}}}
        config_change(request, "delete_privileges", change)
        return json_response(answer, 200 if any_found else 404)
