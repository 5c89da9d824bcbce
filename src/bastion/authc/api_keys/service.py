"""The API key service: create, authenticate, find, invalidate, update and remove API keys.

A verified key is remembered in a `CredentialCache` keyed by key id, with a salted SHA-256 of
its secret (`xpack.security.authc.api_key.cache.*`), so that a warm check costs one digest; the
slow hash is checked only on a miss. Expiry is checked on every use, cached or not; an
invalidation drops the caches of every gateway through the store's change counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bastion.authc.api_keys.hashing import hash_secret, verify_secret
from bastion.authc.api_keys.model import (
    DOC_TYPE,
    ApiKey,
    Creator,
    InvalidApiKeyValue,
    decode,
    encode,
    new_id,
    new_secret,
    parse_descriptors,
)
from bastion.authc.credential_cache import CredentialCache
from bastion.authc.password_hashing import Hasher
from bastion.authc.service import AuthenticationError
from bastion.authc.user import API_KEY_REALM, ApiKeyRef, Authentication, RealmRef, User
from bastion.authz.role_descriptor import RoleDescriptorError, parse_role_descriptor
from bastion.backend.client import EngineUnavailable
from bastion.store.security_index import SecurityIndex, StoreError, VersionConflict

log = logging.getLogger(__name__)

MAX_RETRIES = 20
PAGE = 1000


@dataclass(frozen=True, slots=True)
class ApiKeySettings:
    hasher: Hasher
    cache_ttl: float = 86_400.0  # `cache.ttl: 1d`
    cache_max_keys: int = 25_000
    retention: float = 7 * 86_400.0  # `delete.retention_period: 7d`
    delete_interval: float = 86_400.0  # `delete.interval: 24h`


def now_ms() -> int:
    return int(time.time() * 1000)


def owner_of(authentication: Authentication) -> tuple[str, RealmRef]:
    """Whose keys a request's keys are: the effective user, in the realm that found it; for a
    request authenticated with an API key, the key's owner."""
    if authentication.api_key is not None:
        return authentication.user.username, authentication.api_key.owner_realm
    return authentication.user.username, authentication.lookup_realm


class ApiKeyService:
    def __init__(
        self,
        index: SecurityIndex,
        settings: ApiKeySettings,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.index = index
        self.settings = settings
        self._clock = clock
        self._cache = CredentialCache[Authentication](
            ttl=settings.cache_ttl, max_users=settings.cache_max_keys
        )
        self._remover: asyncio.Task[None] | None = None

    def now(self) -> int:
        """Epoch milliseconds, by the service's clock."""
        return self._clock()

    # --- authentication ---------------------------------------------------------------------

    async def authenticate(
        self, credentials: str, rest_path: str, address: str | None
    ) -> Authentication:
        """The `SchemeAuthenticator` for `Authorization: ApiKey <base64(id:secret)>`."""
        try:
            parsed = decode(credentials)
        except InvalidApiKeyValue as error:
            raise AuthenticationError(str(error)) from None

        async def verify() -> Authentication:
            return await self._verify(parsed.id, parsed.secret)

        authentication = await self._cache.authenticate(parsed.id, parsed.secret, verify)
        if authentication is None or authentication.api_key is None:
            raise AuthenticationError(f"invalid credentials for API key [{parsed.id}]")
        expiration = authentication.api_key.expiration
        if expiration is not None and expiration <= self._clock():
            self._cache.invalidate(parsed.id)
            raise AuthenticationError("api key is expired")
        return authentication

    async def _verify(self, key_id: str, secret: bytes) -> Authentication:
        doc = await self.index.get(key_id)
        if doc is None or doc.source.get("doc_type") != DOC_TYPE:
            raise AuthenticationError(f"unable to find apikey with id [{key_id}]")
        key = ApiKey.from_source(key_id, doc.source)
        if not await verify_secret(secret, key.hash):
            raise AuthenticationError(f"invalid credentials for API key [{key_id}]")
        if key.invalidated:
            raise AuthenticationError("api key has been invalidated")
        if key.expired(self._clock()):
            raise AuthenticationError("api key is expired")
        return authentication_for(key)

    def clear_cache(self, ids: Sequence[str] = ()) -> None:
        if not ids:
            self._cache.invalidate_all()
        for key_id in ids:
            self._cache.invalidate(key_id)

    # --- creation ---------------------------------------------------------------------------

    async def create(
        self,
        owner: Authentication,
        *,
        name: str,
        expiration: float | None,
        role_descriptors: Mapping[str, Any],
        metadata: Mapping[str, Any],
        limited_by: Mapping[str, Any],
    ) -> dict[str, Any]:
        key_id, secret = new_id(), new_secret()
        username, realm = owner_of(owner)
        user = owner.user
        created = self._clock()
        key = ApiKey(
            id=key_id,
            name=name,
            creation=created,
            expiration=None if expiration is None else created + int(expiration * 1000),
            invalidated=False,
            invalidation=None,
            hash=await hash_secret(self.settings.hasher, secret),
            role_descriptors=role_descriptors,
            limited_by=limited_by,
            metadata=metadata,
            creator=Creator(username, realm.name, realm.type, user.full_name, user.email),
        )
        await self.index.put(key_id, key.to_source(), expect=None)
        answer: dict[str, Any] = {"id": key_id, "name": name}
        if key.expiration is not None:
            answer["expiration"] = key.expiration
        answer["api_key"] = secret
        answer["encoded"] = encode(key_id, secret)
        return answer

    # --- reading ----------------------------------------------------------------------------

    async def search(self, body: dict[str, Any]) -> tuple[int, list[ApiKey]]:
        total, docs = await self.index.search(body)
        return total, [ApiKey.from_source(doc.id, doc.source) for doc in docs]

    async def find(
        self,
        *,
        ids: Sequence[str] = (),
        name: str | None = None,
        username: str | None = None,
        realm: str | None = None,
        active_only: bool = False,
    ) -> list[ApiKey]:
        filters: list[dict[str, Any]] = [{"term": {"doc_type": DOC_TYPE}}]
        if ids:
            filters.append({"ids": {"values": list(ids)}})
        if name:
            filters.append(_name_filter(name))
        if username:
            filters.append({"term": {"creator.principal": username}})
        if realm:
            filters.append({"term": {"creator.realm": realm}})
        if active_only:
            filters.append({"term": {"api_key_invalidated": False}})
            filters.append(_not_expired(self._clock()))
        keys: list[ApiKey] = []
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": {"bool": {"filter": filters}},
                "size": PAGE,
                "sort": [{"creation_time": "asc"}, {"_id": "asc"}],
            }
            if after is not None:
                body["search_after"] = after
            _, docs = await self.index.search(body)
            keys += [ApiKey.from_source(doc.id, doc.source) for doc in docs]
            if len(docs) < PAGE or docs[-1].sort is None:
                return keys
            after = list(docs[-1].sort)

    # --- changes ----------------------------------------------------------------------------

    async def invalidate(self, keys: Sequence[ApiKey]) -> tuple[list[str], list[str], list[Any]]:
        """(invalidated ids, previously invalidated ids, error details)."""
        done: list[str] = []
        before: list[str] = []
        errors: list[Any] = []
        for key in keys:
            if key.invalidated:
                before.append(key.id)
                continue
            try:
                await self._change(key.id, _invalidated(self._clock()))
                done.append(key.id)
            except (StoreError, VersionConflict) as error:
                errors.append(
                    {"type": "exception", "reason": f"error invalidating api key [{key.id}]"}
                )
                log.warning("cannot invalidate api key [%s]: %s", key.id, error)
        self.clear_cache(done)
        return done, before, errors

    async def update(
        self,
        key_id: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> bool:
        """Apply `change` to the stored source; False when it changes nothing (a noop)."""
        return await self._change(key_id, change)

    async def _change(
        self, key_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> bool:
        for _ in range(MAX_RETRIES):
            doc = await self.index.get(key_id)
            if doc is None:
                raise StoreError(f"api key [{key_id}] disappeared")
            updated = change(dict(doc.source))
            if updated == doc.source:
                return False
            try:
                await self.index.put(key_id, updated, expect=doc)
            except VersionConflict:
                continue
            self.clear_cache([key_id])
            return True
        raise VersionConflict(f"api key [{key_id}] was changed concurrently too often")

    # --- removal of old keys ----------------------------------------------------------------

    def start(self) -> None:
        self._remover = asyncio.create_task(self._remove_periodically())

    async def stop(self) -> None:
        if self._remover is not None:
            self._remover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._remover

    async def _remove_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.delete_interval)
            try:
                removed = await self.remove_old()
            except (EngineUnavailable, StoreError) as error:
                log.warning("removing old api keys failed: %s", error)
                continue
            except Exception:  # the periodic job must outlive one bad round
                log.exception("removing old api keys failed")
                continue
            if removed:
                log.info("removed %d expired or invalidated api keys", removed)

    async def remove_old(self) -> int:
        """Delete keys invalidated or expired longer than the retention period ago."""
        cutoff = self._clock() - int(self.settings.retention * 1000)
        query = {
            "bool": {
                "filter": [{"term": {"doc_type": DOC_TYPE}}],
                "should": [
                    {"range": {"invalidation_time": {"lte": cutoff}}},
                    {"range": {"expiration_time": {"lte": cutoff}}},
                ],
                "minimum_should_match": 1,
            }
        }
        removed = 0
        while True:
            _, docs = await self.index.search({"query": query, "size": PAGE})
            for doc in docs:
                removed += await self.index.delete(doc.id)
            if len(docs) < PAGE:
                return removed


def authentication_for(key: ApiKey) -> Authentication:
    """The `Authentication` of a request made with `key`. Unusable stored descriptors fail the
    authentication rather than granting something else (fail closed)."""
    try:
        own = parse_descriptors(key.role_descriptors)
        limited_by = tuple(
            parse_role_descriptor(name, body, validate_name=False)
            for name, body in key.limited_by.items()
        )
    except RoleDescriptorError as error:
        log.error("api key [%s] has unusable role descriptors: %s", key.id, error)
        raise AuthenticationError(f"invalid credentials for API key [{key.id}]") from None
    creator = key.creator
    user = User(
        creator.principal,
        (),
        full_name=creator.full_name,
        email=creator.email,
        metadata=creator.metadata,
    )
    ref = ApiKeyRef(
        key.id,
        key.name,
        RealmRef(creator.realm, creator.realm_type),
        own,
        limited_by,
        key.expiration,
    )
    return Authentication(user, API_KEY_REALM, API_KEY_REALM, type="api_key", api_key=ref)


def _invalidated(at: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(source: dict[str, Any]) -> dict[str, Any]:
        return {**source, "api_key_invalidated": True, "invalidation_time": at}

    return change


def _name_filter(name: str) -> dict[str, Any]:
    """Elasticsearch matches key names with `*` wildcards (`*` alone: every name)."""
    if name == "*":
        return {"match_all": {}}
    if "*" in name:
        return {"wildcard": {"name": {"value": name}}}
    return {"term": {"name": name}}


def _not_expired(now: int) -> dict[str, Any]:
    return {
        "bool": {
            "should": [
                {"bool": {"must_not": {"exists": {"field": "expiration_time"}}}},
                {"range": {"expiration_time": {"gt": now}}},
            ],
            "minimum_should_match": 1,
        }
    }
