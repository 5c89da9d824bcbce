"""The API key APIs: create, grant, get, query, invalidate, update, bulk update and clear cache,
with Elasticsearch 8's bodies, statuses and messages.

Authorization already let the request through with `manage_api_key` (every key) or
`manage_own_api_key` (own keys); here the handlers hold the latter to the caller's own keys.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from bastion.audit import config_change
from bastion.authc.api_keys.model import DOC_TYPE, ApiKey, parse_descriptors
from bastion.authc.api_keys.query import QueryError, search_body
from bastion.authc.api_keys.service import owner_of
from bastion.authc.service import AuthenticationError
from bastion.authc.user import Authentication
from bastion.authz.messages import denied_cluster
from bastion.authz.privileges import privilege_error
from bastion.authz.role_descriptor import RoleDescriptorError, validate_privileges
from bastion.config import settings as s
from bastion.config.units import parse_time_value
from bastion.rest.errors import ElasticsearchError, illegal_argument, validation_error
from bastion.rest.security.users import authentication, json_response, read_json
from bastion.security import Security
from bastion.store.security_index import StoreError, VersionConflict
from bastion.transport import http as route
from bastion.transport.http import Request

ACTION = "cluster:admin/xpack/security/api_key/"
MAX_NAME_LENGTH = 1024
CREATE_FIELDS = ("name", "expiration", "role_descriptors", "metadata")
UPDATE_FIELDS = ("role_descriptors", "metadata", "expiration")
INVALIDATE_FIELDS = ("id", "ids", "name", "owner", "username", "realm_name")
DERIVED_KEY = (
    "creating derived api keys requires an explicit role descriptor that is empty "
    "(has no privileges)"
)


def _audited_descriptors(raw: Any) -> list[dict[str, Any]]:
    """Role descriptors as Elasticsearch's audit writes them: a list, without their names."""
    audited: list[dict[str, Any]] = []
    for descriptor in (raw or {}).values() if isinstance(raw, dict) else ():
        entry: dict[str, Any] = {"cluster": descriptor.get("cluster", [])}
        if descriptor.get("global"):
            entry["global"] = descriptor["global"]
        entry["indices"] = [
            {k: v for k, v in group.items() if k != "allow_restricted_indices" or v is True}
            for group in descriptor.get("indices", descriptor.get("index", []))
        ]
        entry["applications"] = descriptor.get("applications", [])
        entry["run_as"] = descriptor.get("run_as", [])
        if descriptor.get("metadata"):
            entry["metadata"] = descriptor["metadata"]
        audited.append(entry)
    return audited


def _audited_key(key_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The `create` object of a `create_apikey` event (never the key's secret)."""
    key: dict[str, Any] = {
        "id": key_id,
        "name": body.get("name"),
        "type": "rest",
        "expiration": body.get("expiration"),
        "role_descriptors": _audited_descriptors(body.get("role_descriptors")),
    }
    if body.get("metadata"):
        key["metadata"] = body["metadata"]
    return {"apikey": key}


def _audited_update(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a `change_apikey(s)` event beyond the ids."""
    change: dict[str, Any] = {"type": "rest"}
    if body.get("role_descriptors") is not None:
        change["role_descriptors"] = _audited_descriptors(body["role_descriptors"])
    if body.get("metadata") is not None:  # even empty: it replaces the key's metadata
        change["metadata"] = body["metadata"]
    change["expiration"] = body.get("expiration")
    return change


def _engine_refusal(answer: Any) -> ElasticsearchError:
    """The engine's 400 on a client's query, passed on as the same Elasticsearch error."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        return ElasticsearchError(400, "parsing_exception", "the query could not be run")
    causes = error.get("root_cause") or [error]
    cause = causes[0] if isinstance(causes[0], dict) else error
    return ElasticsearchError(
        400, str(cause.get("type", "parsing_exception")), str(cause.get("reason", ""))
    )


def _unknown_field(what: str, body: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for key in body:
        if key not in allowed:
            raise ElasticsearchError(
                400, "x_content_parse_exception", f"[{what}] unknown field [{key}]"
            )


def _role_error(error: RoleDescriptorError) -> ElasticsearchError:
    extra: dict[str, Any] = {"caused_by": error.caused_by.to_json()} if error.caused_by else {}
    return ElasticsearchError(error.status, error.error_type, error.reason, **extra)


def _expiration(value: Any) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_time_value(str(value))
    except ValueError:
        raise illegal_argument(
            f"failed to parse setting [expiration] with value [{value}] as a time value: "
            "unit is missing or unrecognized"
        ) from None
    if seconds <= 0:
        raise illegal_argument(f"api key expiration [{value}] must be positive")
    return seconds


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ElasticsearchError(400, "x_content_parse_exception", "[metadata] expected an object")
    if any(str(key).startswith("_") for key in value):
        raise validation_error("API key metadata keys may not start with [_]")
    return value


def _descriptors(value: Any) -> dict[str, Any]:
    """Role descriptors of a request, parsed and validated; returned in their stored form."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ElasticsearchError(
            400, "x_content_parse_exception", "[role_descriptors] expected an object"
        )
    try:
        parsed = parse_descriptors(value)
        for descriptor in parsed:
            validate_privileges(
                descriptor,
                lambda p: privilege_error("cluster", p),
                lambda p: privilege_error("index", p),
            )
    except RoleDescriptorError as error:
        raise _role_error(error) from None
    return {descriptor.name: descriptor.to_json() for descriptor in parsed}


def _name(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value):
        raise validation_error("api key name is required")
    if not isinstance(value, str):
        raise ElasticsearchError(400, "x_content_parse_exception", "[name] expected a string")
    if len(value) > MAX_NAME_LENGTH:
        raise validation_error(
            f"api key name may not be more than {MAX_NAME_LENGTH} characters long"
        )
    if value.startswith("_"):
        raise validation_error("api key name may not begin with an underscore")
    return value


def _flag(request: Request, name: str) -> bool:
    value = request.query.get(name, "false")
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise illegal_argument(
        f"Failed to parse value [{value}] as only [true] or [false] are allowed."
    )


class ApiKeyApi:
    def __init__(self, security: Security) -> None:
        self._security = security
        self._keys = security.api_keys

    def routes(self) -> list[route.Route]:
        return [
            route.post("/_security/api_key", self.create),
            route.put("/_security/api_key", self.create),
            route.get("/_security/api_key", self.get),
            route.delete("/_security/api_key", self.invalidate),
            route.post("/_security/api_key/grant", self.grant),
            route.post("/_security/api_key/_bulk_update", self.bulk_update),
            route.put("/_security/api_key/{id}", self.update),
            route.post("/_security/api_key/{ids}/_clear_cache", self.clear_cache),
            route.get("/_security/_query/api_key", self.query),
            route.post("/_security/_query/api_key", self.query),
        ]

    async def _manages_all(self, who: Authentication, verb: str) -> bool:
        """Whether the caller holds the action outright (`manage_api_key`), not only for its
        own keys."""
        role = await self._security.roles.role_for(who)
        return role.allows_cluster(ACTION + verb)

    async def _limited_by(self, who: Authentication) -> dict[str, Any]:
        """The owner's permissions to snapshot: the user's roles, or for a key made with a key,
        that key's effective descriptors."""
        if who.api_key is not None:
            source = who.api_key.role_descriptors or who.api_key.limited_by
            return {d.name: d.to_json() for d in source}
        descriptors = await self._security.roles.descriptors(who.user.roles)
        return {d.name: d.to_json() for d in descriptors}

    # --- create and grant ---------------------------------------------------------------------

    async def create(self, request: Request) -> web.Response:
        body = await read_json(request, "api key request")
        created = await self._create(authentication(request), body)
        config_change(request, "create_apikey", {"create": _audited_key(created["id"], body)})
        return json_response(created)

    async def _create(self, who: Authentication, body: Mapping[str, Any]) -> dict[str, Any]:
        _unknown_field("api_key_request", body, CREATE_FIELDS)
        name = _name(body.get("name"))
        expiration = _expiration(body.get("expiration"))
        metadata = _metadata(body.get("metadata"))
        descriptors = _descriptors(body.get("role_descriptors"))
        if who.api_key is not None:
            # An API key may only derive keys that explicitly have no privileges.
            raw = body.get("role_descriptors") or {}
            if not raw or any(not d.is_empty for d in parse_descriptors(raw)):
                raise illegal_argument(DERIVED_KEY)
        return await self._keys.create(
            who,
            name=name,
            expiration=expiration,
            role_descriptors=descriptors,
            metadata=metadata,
            limited_by=await self._limited_by(who),
        )

    async def grant(self, request: Request) -> web.Response:
        body = await read_json(request, "grant api key request")
        _unknown_field(
            "grant_api_key_request",
            body,
            ("grant_type", "username", "password", "access_token", "api_key", "run_as"),
        )
        grant_type = body.get("grant_type")
        authc = self._security.authc
        errors = []
        header: str | None = None
        if not grant_type:
            errors.append("[grant_type] is required")
        elif grant_type == "password":
            username, password = body.get("username"), body.get("password")
            if not isinstance(username, str) or not username:
                errors.append("[username] is required for grant_type [password]")
            if not isinstance(password, str) or not password:
                errors.append("[password] is required for grant_type [password]")
            if not errors:
                pair = f"{username}:{password}".encode()
                header = "Basic " + base64.b64encode(pair).decode("ascii")
        elif grant_type == "access_token":
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                errors.append("[access_token] is required for grant_type [access_token]")
            elif not authc.has_scheme("Bearer"):
                raise illegal_argument("grant_type [access_token] is not supported: tokens are off")
            header = f"Bearer {token}"
        else:
            errors.append(f"grant_type [{grant_type}] is not supported")
        api_key = body.get("api_key")
        if not isinstance(api_key, dict):
            errors.append("api key name is required")
        if errors or header is None or not isinstance(api_key, dict):
            raise validation_error(*errors)
        run_as = body.get("run_as")
        try:
            grantee = await authc.authenticate(
                header, run_as if isinstance(run_as, str) else None, request.path, request.remote
            )
        except AuthenticationError as error:
            raise ElasticsearchError(error.status, "security_exception", error.reason) from None
        if grantee.type == "anonymous":
            raise ElasticsearchError(401, "security_exception", "unable to authenticate user")
        created = await self._create(grantee, api_key)
        grant: dict[str, Any] = {"type": grant_type}
        if grant_type == "password":
            grant["user"] = {"name": body.get("username"), "has_password": True}
        else:
            grant["has_access_token"] = True
        if isinstance(run_as, str):
            grant["run_as"] = run_as
        change = {**_audited_key(created["id"], api_key), "grant": grant}
        config_change(request, "create_apikey", {"create": change})
        return json_response(created)

    # --- get and query ------------------------------------------------------------------------

    async def get(self, request: Request) -> web.Response:
        who = authentication(request)
        query = request.query
        key_id, name = query.get("id") or None, query.get("name") or None
        username, realm = query.get("username") or None, query.get("realm_name") or None
        owner = _flag(request, "owner")
        if key_id and name:
            raise validation_error("only one of [api key id, api key name] can be specified")
        if owner and (username or realm):
            raise validation_error(
                "neither username nor realm-name may be specified when retrieving owned API keys"
            )
        own_key = who.api_key is not None and key_id == who.api_key.id and not owner
        if (owner or not await self._manages_all(who, "get")) and not own_key:
            username, realm_ref = owner_of(who)
            realm = realm_ref.name
        keys = await self._keys.find(
            ids=[key_id] if key_id else (),
            name=name,
            username=username,
            realm=realm,
            active_only=_flag(request, "active_only"),
        )
        with_limited_by = _flag(request, "with_limited_by")
        return json_response(
            {"api_keys": [key.info(with_limited_by=with_limited_by) for key in keys]}
        )

    async def query(self, request: Request) -> web.Response:
        who = authentication(request)
        raw = await request.read()
        body = await read_json(request, "query api key request") if raw.strip() else {}
        restrict: list[dict[str, Any]] = [{"term": {"doc_type": DOC_TYPE}}]
        if not await self._manages_all(who, "query"):
            username, realm = owner_of(who)
            restrict += [
                {"term": {"creator.principal": username}},
                {"term": {"creator.realm": realm.name}},
            ]
        try:
            search = search_body(body, restrict)
        except QueryError as error:
            raise ElasticsearchError(400, error.error_type, error.reason) from None
        status, answer = await self._security.index.search_raw(search)
        if status == 404:
            answer = {"hits": {"total": {"value": 0}, "hits": []}}
        elif status == 400:
            raise _engine_refusal(answer)
        elif status != 200:
            raise StoreError(f"cannot query api keys: {status}")
        with_limited_by = _flag(request, "with_limited_by")
        found = []
        for hit in answer["hits"]["hits"]:
            info = ApiKey.from_source(hit["_id"], hit["_source"]).info(
                with_limited_by=with_limited_by
            )
            if "sort" in hit and "sort" in search:
                info["_sort"] = hit["sort"]
            found.append(info)
        result: dict[str, Any] = {
            "total": answer["hits"]["total"]["value"],
            "count": len(found),
            "api_keys": found,
        }
        if "aggs" in search:
            result["aggregations"] = answer.get("aggregations", {})
        return json_response(result)

    # --- invalidate ---------------------------------------------------------------------------

    async def invalidate(self, request: Request) -> web.Response:
        who = authentication(request)
        body = await read_json(request, "invalidate api key request")
        _unknown_field("invalidate_api_key_request", body, INVALIDATE_FIELDS)
        ids = body.get("ids")
        single = body.get("id")
        if ids is not None and single is not None:
            raise validation_error("Must use either [id] or [ids], not both at the same time")
        if single is not None:
            ids = [single]
        if ids is not None and (
            not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids)
        ):
            raise validation_error("api key ids must not contain empty values")
        name, username, realm = body.get("name"), body.get("username"), body.get("realm_name")
        owner = body.get("owner") is True
        audited: dict[str, Any] = {"ids": ids} if ids else {}
        if name:
            audited["name"] = name
        audited["owned_by_authenticated_user"] = owner
        if username or realm:
            audited["user"] = {"name": username, "realm": realm}
        if not owner and not (ids or name or username or realm):
            raise validation_error(
                "One of [api key id(s), api key name, username, realm name] must be specified "
                "if [owner] flag is false"
            )
        if owner and (username or realm):
            raise validation_error(
                "username or realm name must not be specified when the current user is the owner"
            )
        if not await self._manages_all(who, "invalidate"):
            mine, my_realm = owner_of(who)
            own_key = who.api_key is not None and ids == [who.api_key.id] and not owner
            names_self = who.api_key is None and username == mine and realm == my_realm.name
            if not (owner or own_key or names_self):
                raise ElasticsearchError(
                    403, "security_exception", denied_cluster(who, ACTION + "invalidate")
                )
            if not own_key:
                username, realm = mine, my_realm.name
        keys = await self._keys.find(ids=ids or (), name=name, username=username, realm=realm)
        done, before, errors = await self._keys.invalidate(keys)
        config_change(request, "invalidate_apikeys", {"invalidate": {"apikeys": audited}})
        answer: dict[str, Any] = {
            "invalidated_api_keys": done,
            "previously_invalidated_api_keys": before,
            "error_count": len(errors),
        }
        if errors:
            answer["error_details"] = errors
        return json_response(answer)

    # --- update -------------------------------------------------------------------------------

    async def update(self, request: Request) -> web.Response:
        who = authentication(request)
        raw = await request.read()
        body = await read_json(request, "update api key request") if raw.strip() else {}
        _unknown_field("update_api_key_request", body, UPDATE_FIELDS)
        change = await self._update_change(who, body)
        key_id = request.match_info["id"]
        outcome = await self._update_one(who, key_id, change)
        if isinstance(outcome, ElasticsearchError):
            raise outcome
        audited = {"apikey": {"id": key_id, **_audited_update(body)}}
        config_change(request, "change_apikey", {"change": audited})
        return json_response({"updated": outcome})

    async def bulk_update(self, request: Request) -> web.Response:
        who = authentication(request)
        body = await read_json(request, "bulk update api key request")
        _unknown_field("bulk_update_api_key_request", body, ("ids", *UPDATE_FIELDS))
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise validation_error("Field [ids] cannot be empty")
        change = await self._update_change(who, body)
        updated: list[str] = []
        noops: list[str] = []
        errors: dict[str, Any] = {}
        for key_id in dict.fromkeys(ids):
            outcome = await self._update_one(who, key_id, change)
            if isinstance(outcome, ElasticsearchError):
                errors[key_id] = {"type": outcome.error_type, "reason": outcome.reason}
            else:
                (updated if outcome else noops).append(key_id)
        audited = {"apikeys": {"ids": ids, **_audited_update(body)}}
        config_change(request, "change_apikeys", {"change": audited})
        answer: dict[str, Any] = {"updated": updated, "noops": noops}
        if errors:
            answer["errors"] = {"count": len(errors), "details": errors}
        return json_response(answer)

    async def _update_change(self, who: Authentication, body: Mapping[str, Any]) -> dict[str, Any]:
        """The fields an update writes: the given ones, and always the owner's current roles."""
        if who.api_key is not None:
            raise illegal_argument(
                "authentication via API key not supported: An API key cannot be used to "
                "update API keys"
            )
        change: dict[str, Any] = {"limited_by_role_descriptors": await self._limited_by(who)}
        if body.get("role_descriptors") is not None:
            change["role_descriptors"] = _descriptors(body["role_descriptors"])
        if body.get("metadata") is not None:
            change["metadata_flattened"] = _metadata(body["metadata"])
        if body.get("expiration") is not None:
            change["_expiration"] = _expiration(body["expiration"])
        return change

    async def _update_one(
        self, who: Authentication, key_id: str, change: Mapping[str, Any]
    ) -> bool | ElasticsearchError:
        username, realm = owner_of(who)
        found = await self._keys.find(ids=[key_id], username=username, realm=realm.name)
        if not found:
            return ElasticsearchError(
                404,
                "resource_not_found_exception",
                f"no API key owned by requesting user found for ID [{key_id}]",
            )
        key = found[0]
        if key.invalidated:
            return illegal_argument(f"cannot update invalidated API key [{key_id}]")
        now = self._keys.now()
        if key.expired(now):
            return illegal_argument(f"cannot update expired API key [{key_id}]")
        seconds = change.get("_expiration")
        fields = {k: v for k, v in change.items() if k != "_expiration"}
        if seconds is not None:
            fields["expiration_time"] = now + int(seconds * 1000)

        def apply(source: dict[str, Any]) -> dict[str, Any]:
            return {**source, **fields}

        try:
            return await self._keys.update(key_id, apply)
        except VersionConflict:
            return ElasticsearchError(
                409,
                "version_conflict_engine_exception",
                f"api key [{key_id}] was changed concurrently too often; retry",
            )

    # --- cache --------------------------------------------------------------------------------

    async def clear_cache(self, request: Request) -> web.Response:
        ids = [i for i in request.match_info["ids"].split(",") if i]
        self._keys.clear_cache(() if "*" in ids else ids)
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
