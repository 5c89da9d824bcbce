"""Access and refresh tokens, as Elasticsearch's token service issues them.

An access token authenticates as the user it was issued for (roles resolved live) until it
expires (`xpack.security.authc.token.timeout`, 20 minutes) or is invalidated. A refresh token
lasts 24 hours and can be used once; a repeated refresh of the same refresh token within 30
seconds (clients retrying, or racing) gets the same new pair, which the first refresh sealed in
the old document with a key derived from the refresh token itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bastion.authc.service import EXPIRED_BEARER_CHALLENGE, AuthenticationError
from bastion.authc.tokens.store import TokenIndex, doc_id
from bastion.authc.tokens.values import new_value, pair_key, token_hash
from bastion.authc.user import Authentication, RealmRef, User
from bastion.backend.client import EngineUnavailable
from bastion.store.security_index import StoredDoc, StoreError, VersionConflict

log = logging.getLogger(__name__)

REFRESH_LIFETIME = 24 * 3600.0  # seconds, fixed in Elasticsearch
REFRESH_REUSE_WINDOW = 30.0  # seconds in which a refreshed token yields the same new pair
CACHE_TTL = 30.0  # seconds a verified access token is trusted without reading its document
CACHE_MAX = 10_000
_ATTEMPTS = 5  # optimistic concurrency retries


class TokenGrantError(Exception):
    """An OAuth2 token error: `{"error": code, "error_description": …}` with status 400."""

    def __init__(self, description: str, code: str = "invalid_grant") -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    authentication: Authentication


@dataclass(frozen=True, slots=True)
class InvalidationResult:
    invalidated: int = 0
    previously_invalidated: int = 0

    def __add__(self, other: InvalidationResult) -> InvalidationResult:
        return InvalidationResult(
            self.invalidated + other.invalidated,
            self.previously_invalidated + other.previously_invalidated,
        )


def _now_ms() -> int:
    return int(time.time() * 1000)


def snapshot(authentication: Authentication) -> dict[str, Any]:
    """What a token remembers of the user it authenticates (roles are resolved at each use)."""
    return {
        "user": authentication.user.to_json(),
        "authentication_realm": authentication.authenticating_realm.to_json(),
        "lookup_realm": authentication.lookup_realm.to_json(),
    }


def restore(stored: dict[str, Any]) -> Authentication:
    user = stored["user"]
    realm = stored["authentication_realm"]
    lookup = stored["lookup_realm"]
    return Authentication(
        User(
            user["username"],
            tuple(user.get("roles") or ()),
            full_name=user.get("full_name"),
            email=user.get("email"),
            metadata=MappingProxyType(dict(user.get("metadata") or {})),
            enabled=bool(user.get("enabled", True)),
        ),
        RealmRef(realm["name"], realm["type"]),
        RealmRef(lookup["name"], lookup["type"]),
        type="token",
    )


def _client(authentication: Authentication) -> dict[str, str]:
    """The client that asked for a pair; only it may refresh the pair."""
    user = authentication.authenticating_user or authentication.user
    return {"username": user.username, "realm": authentication.authenticating_realm.name}


def _seal(refresh_value: str, content: dict[str, Any]) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(pair_key(refresh_value)).encrypt(nonce, orjson.dumps(content), None)
    return base64.b64encode(nonce + sealed).decode("ascii")


def _unseal(refresh_value: str, blob: str) -> dict[str, Any] | None:
    try:
        raw = base64.b64decode(blob)
        opened = AESGCM(pair_key(refresh_value)).decrypt(raw[:12], raw[12:], None)
        content: dict[str, Any] = orjson.loads(opened)
    except (ValueError, InvalidTag, orjson.JSONDecodeError):
        return None
    return content


@dataclass(slots=True)
class _Cached:
    authentication: Authentication
    expiration_ms: int
    until: float  # monotonic


class TokenService:
    def __init__(
        self,
        index: TokenIndex,
        changed: Callable[[], Awaitable[None]],
        *,
        timeout: float,
        enabled: bool,
        delete_interval: float,
    ) -> None:
        self._index = index
        self._changed = changed  # tells every gateway that tokens were invalidated
        self.timeout = timeout
        self.enabled = enabled
        self._delete_interval = delete_interval
        self._cache: dict[str, _Cached] = {}
        self._remover: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.enabled:
            self._remover = asyncio.create_task(self._remove_expired_periodically())

    async def stop(self) -> None:
        if self._remover is not None:
            self._remover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._remover

    async def _remove_expired_periodically(self) -> None:
        # Every worker runs this; the deletes are idempotent (`conflicts=proceed`).
        while True:
            await asyncio.sleep(self._delete_interval)
            try:
                removed = await self.remove_expired()
            except (EngineUnavailable, StoreError) as error:
                log.warning("cannot remove expired tokens: %s", error)
                continue
            if removed:
                log.info("removed %d expired token documents", removed)

    def clear_cache(self) -> None:
        self._cache.clear()

    async def create(
        self, authentication: Authentication, *, client: Authentication, with_refresh: bool
    ) -> TokenPair:
        now = _now_ms()
        access, refresh = new_value(), (new_value() if with_refresh else None)
        source: dict[str, Any] = {
            "doc_type": "token",
            "access_hash": token_hash(access),
            "username": authentication.user.username,
            "realm": authentication.authenticating_realm.name,
            "authentication": {**snapshot(authentication), "client": _client(client)},
            "creation_time": now,
            "expiration_time": now + int(self.timeout * 1000),
            "access_invalidated": False,
        }
        if refresh is not None:
            source["refresh_hash"] = token_hash(refresh)
            source["refresh_expiration_time"] = now + int(REFRESH_LIFETIME * 1000)
            source["refresh_invalidated"] = False
            source["refreshed"] = False
        await self._index.put(doc_id(token_hash(access)), source)
        return TokenPair(access, refresh, int(self.timeout), restore(source["authentication"]))

    async def authenticate(self, value: str) -> Authentication:
        key = token_hash(value)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached.until > now:
            if cached.expiration_ms <= _now_ms():
                raise AuthenticationError("token expired", challenge=EXPIRED_BEARER_CHALLENGE)
            return cached.authentication
        doc = await self._index.get(doc_id(key))
        if doc is None or not hmac.compare_digest(str(doc.source.get("access_hash", "")), key):
            raise AuthenticationError("unable to authenticate with provided credentials")
        source = doc.source
        if source.get("access_invalidated") or int(source["expiration_time"]) <= _now_ms():
            raise AuthenticationError("token expired", challenge=EXPIRED_BEARER_CHALLENGE)
        authentication = restore(source["authentication"])
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[key] = _Cached(authentication, int(source["expiration_time"]), now + CACHE_TTL)
        return authentication

    async def _by_refresh(self, refresh_value: str) -> StoredDoc | None:
        hashed = token_hash(refresh_value)
        hits = await self._index.search({"term": {"refresh_hash": hashed}}, size=1)
        if not hits:
            return None
        return await self._index.get(hits[0].id)  # real time, with the current version

    async def refresh(self, refresh_value: str, client: Authentication) -> TokenPair:
        for _ in range(_ATTEMPTS):
            doc = await self._by_refresh(refresh_value)
            if doc is None:
                raise TokenGrantError("could not refresh the requested token")
            source = doc.source
            if source.get("refresh_invalidated"):
                raise TokenGrantError("token has been invalidated")
            if int(source.get("refresh_expiration_time", 0)) <= _now_ms():
                raise TokenGrantError("refresh token is expired")
            if source["authentication"].get("client") != _client(client):
                raise TokenGrantError("tokens must be refreshed by the creating client")
            if source.get("refreshed"):
                return self._reuse(refresh_value, source)
            stored = source["authentication"]
            pair = await self.create(restore(stored), client=client, with_refresh=True)
            assert pair.refresh_token is not None
            sealed = _seal(
                refresh_value,
                {
                    "access_token": pair.access_token,
                    "refresh_token": pair.refresh_token,
                    "expiration_time": _now_ms() + pair.expires_in * 1000,
                },
            )
            updated = {
                **source,
                "refreshed": True,
                "refresh_time": _now_ms(),
                "superseded_by": sealed,
            }
            try:
                await self._index.put(doc.id, updated, expect=doc)
            except VersionConflict:
                # Another refresh won: drop ours and answer with the winner's pair.
                await self._index.delete(doc_id(token_hash(pair.access_token)))
                continue
            return pair
        raise TokenGrantError("could not refresh the requested token")

    def _reuse(self, refresh_value: str, source: dict[str, Any]) -> TokenPair:
        refreshed_at = int(source.get("refresh_time", 0))
        if _now_ms() - refreshed_at > REFRESH_REUSE_WINDOW * 1000:
            raise TokenGrantError("token has already been refreshed")
        content = _unseal(refresh_value, str(source.get("superseded_by", "")))
        if content is None:
            raise TokenGrantError("could not refresh the requested token")
        expires_in = max(0, (int(content["expiration_time"]) - _now_ms()) // 1000)
        return TokenPair(
            content["access_token"],
            content["refresh_token"],
            expires_in,
            restore(source["authentication"]),
        )

    async def invalidate_access(self, value: str) -> InvalidationResult | None:
        doc = await self._index.get(doc_id(token_hash(value)))
        if doc is None:
            return None
        return await self._invalidate(doc, ("access_invalidated",))

    async def invalidate_refresh(self, value: str) -> InvalidationResult | None:
        doc = await self._by_refresh(value)
        if doc is None:
            return None
        return await self._invalidate(doc, ("refresh_invalidated",))

    async def invalidate_user(
        self, realm: str | None, username: str | None
    ) -> InvalidationResult | None:
        filters = [{"term": {"doc_type": "token"}}]
        if realm:
            filters.append({"term": {"realm": realm}})
        if username:
            filters.append({"term": {"username": username}})
        docs = await self._index.search({"bool": {"filter": filters}})
        if not docs:
            return None
        result = InvalidationResult()
        for doc in docs:
            flags = ["access_invalidated"]
            if "refresh_hash" in doc.source:
                flags.append("refresh_invalidated")
            result += await self._invalidate(doc, tuple(flags))
        return result

    async def _invalidate(self, doc: StoredDoc, flags: tuple[str, ...]) -> InvalidationResult:
        for _ in range(_ATTEMPTS):
            done = [flag for flag in flags if doc.source.get(flag)]
            todo = [flag for flag in flags if not doc.source.get(flag)]
            if not todo:
                return InvalidationResult(0, len(done))
            try:
                await self._index.put(
                    doc.id, {**doc.source, **dict.fromkeys(todo, True)}, expect=doc
                )
            except VersionConflict:
                fresh = await self._index.get(doc.id)
                if fresh is None:
                    return InvalidationResult()
                doc = fresh
                continue
            self.clear_cache()
            await self._changed()
            return InvalidationResult(len(todo), len(done))
        raise VersionConflict("a token kept changing while it was invalidated")

    async def remove_expired(self) -> int:
        return await self._index.delete_expired(_now_ms())
