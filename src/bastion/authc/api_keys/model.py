"""An API key as stored in `.bastion-security` (`doc_type: api_key`, in the fields Elasticsearch
stores in `.security`) and as the APIs show it."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bastion.authz.role_descriptor import RoleDescriptor, parse_role_descriptor

DOC_TYPE = "api_key"
ID_BYTES = 15  # 20 URL-safe base64 characters, like Elasticsearch's ids
SECRET_BYTES = 16  # 22 URL-safe base64 characters
MAX_ENCODED = 1024  # a longer credential is refused unread


class InvalidApiKeyValue(ValueError):
    """An `ApiKey` header that is not base64 of `id:secret`."""


@dataclass(frozen=True, slots=True)
class ApiKeyCredentials:
    id: str
    secret: bytes = field(repr=False)


def new_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(ID_BYTES)).decode("ascii")


def new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def encode(key_id: str, secret: str) -> str:
    """The `encoded` value of a create response: base64 of `id:secret`."""
    return base64.b64encode(f"{key_id}:{secret}".encode()).decode("ascii")


def decode(value: str) -> ApiKeyCredentials:
    if not value or len(value) > MAX_ENCODED:
        raise InvalidApiKeyValue("invalid ApiKey value")
    try:
        raw = base64.b64decode(value, validate=True)
        key_id, sep, secret = raw.decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        raise InvalidApiKeyValue("invalid ApiKey value") from None
    if not sep or not key_id or not secret:
        raise InvalidApiKeyValue("invalid ApiKey value")
    return ApiKeyCredentials(key_id, secret.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Creator:
    principal: str
    realm: str
    realm_type: str
    full_name: str | None = None
    email: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_source(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "full_name": self.full_name,
            "email": self.email,
            "metadata": dict(self.metadata),
            "realm": self.realm,
            "realm_type": self.realm_type,
        }


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One stored key. Times are epoch milliseconds, as Elasticsearch stores and shows them."""

    id: str
    name: str | None
    creation: int
    expiration: int | None
    invalidated: bool
    invalidation: int | None
    hash: str = field(repr=False)
    role_descriptors: Mapping[str, Any]  # name → descriptor body, as given at creation/update
    limited_by: Mapping[str, Any]
    metadata: Mapping[str, Any]
    creator: Creator
    type: str = "rest"

    def expired(self, now_ms: int) -> bool:
        return self.expiration is not None and self.expiration <= now_ms

    def to_source(self) -> dict[str, Any]:
        return {
            "doc_type": DOC_TYPE,
            "type": self.type,
            "name": self.name,
            "creation_time": self.creation,
            "expiration_time": self.expiration,
            "api_key_invalidated": self.invalidated,
            "invalidation_time": self.invalidation,
            "api_key_hash": self.hash,
            "role_descriptors": dict(self.role_descriptors),
            "limited_by_role_descriptors": dict(self.limited_by),
            "metadata_flattened": dict(self.metadata),
            "creator": self.creator.to_source(),
        }

    @classmethod
    def from_source(cls, key_id: str, source: Mapping[str, Any]) -> ApiKey:
        creator = source.get("creator") or {}
        return cls(
            id=key_id,
            name=source.get("name"),
            creation=int(source.get("creation_time") or 0),
            expiration=_millis(source.get("expiration_time")),
            invalidated=bool(source.get("api_key_invalidated")),
            invalidation=_millis(source.get("invalidation_time")),
            hash=str(source.get("api_key_hash") or ""),
            role_descriptors=source.get("role_descriptors") or {},
            limited_by=source.get("limited_by_role_descriptors") or {},
            metadata=source.get("metadata_flattened") or {},
            creator=Creator(
                principal=str(creator.get("principal", "")),
                realm=str(creator.get("realm", "")),
                realm_type=str(creator.get("realm_type", "")),
                full_name=creator.get("full_name"),
                email=creator.get("email"),
                metadata=creator.get("metadata") or {},
            ),
            type=str(source.get("type") or "rest"),
        )

    def info(self, *, with_limited_by: bool = False) -> dict[str, Any]:
        """The key as `GET /_security/api_key` and the query API show it."""
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "creation": self.creation,
        }
        if self.expiration is not None:
            body["expiration"] = self.expiration
        body["invalidated"] = self.invalidated
        if self.invalidation is not None:
            body["invalidation"] = self.invalidation
        body["username"] = self.creator.principal
        body["realm"] = self.creator.realm
        body["realm_type"] = self.creator.realm_type
        body["metadata"] = dict(self.metadata)
        body["role_descriptors"] = dict(self.role_descriptors)
        if with_limited_by:
            body["limited_by"] = [dict(self.limited_by)]
        return body


def _millis(value: Any) -> int | None:
    return None if value is None else int(value)


def parse_descriptors(
    bodies: Mapping[str, Any],
) -> tuple[RoleDescriptor, ...]:
    """Role descriptors of an API key (a `restriction` allowed, a `description` not). Raises
    RoleDescriptorError with Elasticsearch's message."""
    return tuple(
        parse_role_descriptor(
            name, body, allow_restriction=True, allow_description=False, validate_name=False
        )
        for name, body in bodies.items()
    )
