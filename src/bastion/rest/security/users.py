"""The user APIs: `/_security/user[/<name>]`, `_password`, `_enable`, `_disable`,
`_query/user` and `_authenticate`, with Elasticsearch 8's bodies, statuses and messages."""

from __future__ import annotations

import asyncio
import random
from types import MappingProxyType
from typing import Any

import orjson
from aiohttp import web

from bastion.audit import config_change
from bastion.authc.native_users import (
    RESERVED_USERS,
    reserved_user,
    user_from_source,
    user_source,
)
from bastion.authc.password_hashing import hasher_for_hash
from bastion.authc.user import Authentication, User
from bastion.authc.validation import password_error, username_error
from bastion.rest.errors import ElasticsearchError, illegal_argument, parse_error, validation_error
from bastion.rest.security.user_query import translate_user_query
from bastion.security import Security
from bastion.store.security_index import VersionConflict
from bastion.transport import http as route
from bastion.transport.http import Request

USER_FIELDS = {"password", "password_hash", "roles", "full_name", "email", "metadata", "enabled"}
QUERY_FIELDS = {"username", "roles", "enabled", "full_name", "email"}
MAX_RETRIES = 50  # concurrent writers of one user each retry after a conflict


async def _after_conflict() -> None:
    """A short random pause, so that writers racing for one document do not collide again."""
    await asyncio.sleep(random.uniform(0.0, 0.02))  # noqa: S311 - jitter, not a secret


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


async def read_json(request: Request, what: str) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise parse_error(f"failed to parse {what}: request body is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise parse_error(f"failed to parse {what}: {error.msg}") from None
    if not isinstance(body, dict):
        raise parse_error(f"failed to parse {what}: expected an object")
    return body


def _with_sort(user: dict[str, Any], sort: tuple[Any, ...] | None) -> dict[str, Any]:
    if sort is not None:
        user["_sort"] = list(sort)
    return user


def _conflict(username: str) -> ElasticsearchError:
    return ElasticsearchError(
        409,
        "version_conflict_engine_exception",
        f"user [{username}] was changed concurrently too often; retry",
    )


def authentication(request: Request) -> Authentication:
    found: Authentication = request["authentication"]
    return found


class UserApi:
    def __init__(self, security: Security) -> None:
        self._security = security
        self._users = security.users

    def routes(self) -> list[route.Route]:
        return [
            route.get("/_security/_authenticate", self.authenticate),
            route.get("/_security/user", self.get_users),
            route.get("/_security/user/", self.get_users),
            route.put("/_security/user/_password", self.change_own_password),
            route.post("/_security/user/_password", self.change_own_password),
            route.get("/_security/user/{username}", self.get_users),
            route.put("/_security/user/{username}", self.put_user),
            route.post("/_security/user/{username}", self.put_user),
            route.delete("/_security/user/{username}", self.delete_user),
            route.put("/_security/user/{username}/_password", self.change_password),
            route.post("/_security/user/{username}/_password", self.change_password),
            route.put("/_security/user/{username}/_enable", self.enable),
            route.post("/_security/user/{username}/_enable", self.enable),
            route.put("/_security/user/{username}/_disable", self.disable),
            route.post("/_security/user/{username}/_disable", self.disable),
            route.get("/_security/_query/user", self.query_users),
            route.post("/_security/_query/user", self.query_users),
        ]

    async def authenticate(self, request: Request) -> web.Response:
        return json_response(authentication(request).to_json())

    # --- read -----------------------------------------------------------------------------

    async def _all_users(self) -> list[User]:
        users = []
        for name in RESERVED_USERS:
            state = await self._users.reserved(name)
            users.append(reserved_user(name, state.enabled))
        _, docs = await self._users.index.search(
            {"query": {"term": {"doc_type": "user"}}, "size": 10_000, "sort": ["username"]}
        )
        users += [user_from_source(doc.source) for doc in docs]
        return users

    async def get_users(self, request: Request) -> web.Response:
        names = [n for n in request.match_info.get("username", "").split(",") if n]
        if not names:
            return json_response(
                {user.username: user.to_json() for user in await self._all_users()}
            )
        found: dict[str, Any] = {}
        for name in names:
            user = await self._lookup(name)
            if user is not None:
                found[name] = user.to_json()
        return json_response(found, 200 if found else 404)

    async def _lookup(self, name: str) -> User | None:
        if name in RESERVED_USERS:
            return reserved_user(name, (await self._users.reserved(name)).enabled)
        stored = await self._users.get(name)
        return stored.user if stored else None

    # --- write ----------------------------------------------------------------------------

    def _password_hash(self, body: dict[str, Any], errors: list[str]) -> str | None:
        password, password_hash = body.get("password"), body.get("password_hash")
        if password is not None and password_hash is not None:
            errors.append("only one of [password, passwordHash] can be provided")
            return None
        if password is not None:
            if not isinstance(password, str):
                errors.append("password must be a string")
                return None
            if problem := password_error(password, self._security.min_password_length):
                errors.append(problem)
                return None
            return self._security.hasher.hash(password)
        if password_hash is not None:
            if not isinstance(password_hash, str):
                errors.append("password_hash must be a string")
                return None
            try:
                hasher_for_hash(password_hash)
            except ValueError:
                errors.append(
                    "The provided password hash is not a hash or it could not be resolved to a "
                    "supported hash algorithm."
                )
                return None
            return password_hash
        return None

    async def put_user(self, request: Request) -> web.Response:
        username = request.match_info["username"]
        body = await read_json(request, "add user request")
        for key in body:
            if key not in USER_FIELDS:
                raise parse_error(f"failed to parse add user request. unexpected field [{key}]")
        errors: list[str] = []
        if problem := username_error(username):
            errors.append(problem)
        elif username in RESERVED_USERS or username == self._security.authc.anonymous_username:
            errors.append(f"Username [{username}] is reserved and may not be used.")
        roles = body.get("roles")
        if roles is None:
            errors.append("roles are missing")
        elif not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise parse_error(
                "failed to parse add user request. [roles] must be an array of strings"
            )
        for field in ("full_name", "email"):
            if body.get(field) is not None and not isinstance(body[field], str):
                raise parse_error(f"failed to parse add user request. [{field}] must be a string")
        if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
            raise parse_error("failed to parse add user request. [metadata] must be an object")
        metadata = body.get("metadata") or {}
        if any(key.startswith("_") for key in metadata):
            errors.append("metadata keys may not start with [_]")
        if "enabled" in body and not isinstance(body["enabled"], bool):
            raise parse_error("failed to parse add user request. [enabled] must be a boolean")
        # Hashing is slow (bcrypt): off the event loop.
        new_hash = await asyncio.to_thread(self._password_hash, body, errors)
        if errors:
            raise validation_error(*errors)
        for _ in range(MAX_RETRIES):
            existing = await self._users.get(username)
            if existing is None and new_hash is None:
                raise validation_error(
                    "password must be specified unless you are updating an existing user"
                )
            user = User(
                username,
                tuple(roles or ()),
                body.get("full_name"),
                body.get("email"),
                MappingProxyType(dict(metadata)),
                body.get("enabled", True),
            )
            password_hash = new_hash or (existing.password_hash if existing else "")
            try:
                await self._users.index.put(
                    f"user-{username}",
                    user_source(user, password_hash),
                    expect=existing.doc if existing else None,
                )
            except VersionConflict:
                await _after_conflict()
                continue
            self._security.changed_locally()
            user_change = {"name": username, "enabled": user.enabled, "roles": list(user.roles)}
            user_change |= {"full_name": user.full_name, "email": user.email}
            user_change |= {"has_password": new_hash is not None, "metadata": dict(metadata)}
            config_change(request, "put_user", {"put": {"user": user_change}})
            return json_response({"created": existing is None})
        raise ElasticsearchError(
            409, "version_conflict_engine_exception", "user was changed concurrently, retry"
        )

    async def delete_user(self, request: Request) -> web.Response:
        username = request.match_info["username"]
        if username in RESERVED_USERS or username == self._security.authc.anonymous_username:
            raise illegal_argument(f"user [{username}] is reserved and cannot be deleted")
        found = await self._users.index.delete(f"user-{username}")
        self._security.changed_locally()
        config_change(request, "delete_user", {"delete": {"user": {"name": username}}})
        return json_response({"found": found}, 200 if found else 404)

    async def change_own_password(self, request: Request) -> web.Response:
        return await self._change_password(request, authentication(request).user.username)

    async def change_password(self, request: Request) -> web.Response:
        return await self._change_password(request, request.match_info["username"])

    async def _change_password(self, request: Request, username: str) -> web.Response:
        body = await read_json(request, "change password request")
        for key in body:
            if key not in ("password", "password_hash"):
                raise parse_error(
                    f"failed to parse change password request. unexpected field [{key}]"
                )
        errors: list[str] = []
        new_hash = await asyncio.to_thread(self._password_hash, body, errors)
        if new_hash is None and not errors:
            errors.append("password must be specified")
        if errors or new_hash is None:
            raise validation_error(*errors)
        for _ in range(MAX_RETRIES):
            try:
                if username in RESERVED_USERS:
                    state = await self._users.reserved(username)
                    await self._users.put_reserved(
                        username, password_hash=new_hash, enabled=state.enabled, expect=state.doc
                    )
                else:
                    stored = await self._users.get(username)
                    if stored is None:
                        raise validation_error("user must exist in order to change password")
                    await self._users.index.put(
                        f"user-{username}", user_source(stored.user, new_hash), expect=stored.doc
                    )
            except VersionConflict:
                await _after_conflict()
                continue
            self._security.changed_locally()
            change = {"change": {"password": {"user": {"name": username}}}}
            config_change(request, "change_password", change)
            return json_response({})
        raise ElasticsearchError(
            409, "version_conflict_engine_exception", "user was changed concurrently, retry"
        )

    async def enable(self, request: Request) -> web.Response:
        return await self._set_enabled(request, True)

    async def disable(self, request: Request) -> web.Response:
        return await self._set_enabled(request, False)

    async def _set_enabled(self, request: Request, enabled: bool) -> web.Response:
        username = request.match_info["username"]
        if authentication(request).user.username == username:
            raise illegal_argument("users may not update the enabled status of their own account")
        for _ in range(MAX_RETRIES):
            try:
                if username in RESERVED_USERS:
                    state = await self._users.reserved(username)
                    await self._users.put_reserved(
                        username,
                        password_hash=state.password_hash,
                        enabled=enabled,
                        expect=state.doc,
                    )
                else:
                    stored = await self._users.get(username)
                    if stored is None:
                        raise ElasticsearchError(
                            404, "resource_not_found_exception", f"user [{username}] does not exist"
                        )
                    user = User(
                        stored.user.username,
                        stored.user.roles,
                        stored.user.full_name,
                        stored.user.email,
                        stored.user.metadata,
                        enabled,
                    )
                    await self._users.index.put(
                        f"user-{username}",
                        user_source(user, stored.password_hash),
                        expect=stored.doc,
                    )
            except VersionConflict:
                await _after_conflict()
                continue
            self._security.changed_locally()
            kind = "enable" if enabled else "disable"
            change = {"change": {kind: {"user": {"name": username}}}}
            config_change(request, f"change_{kind}_user", change)
            return json_response({})
        raise ElasticsearchError(
            409, "version_conflict_engine_exception", "user was changed concurrently, retry"
        )

    # --- query ----------------------------------------------------------------------------

    async def query_users(self, request: Request) -> web.Response:
        raw = await request.read()
        body = await read_json(request, "query user request") if raw.strip() else {}
        search = translate_user_query(body)
        total, docs = await self._users.index.search(search)
        users = [_with_sort(user_from_source(doc.source).to_json(), doc.sort) for doc in docs]
        return json_response({"total": total, "count": len(users), "users": users})
