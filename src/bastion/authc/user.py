"""Who a request is: the `User`, the realms involved and how it authenticated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.authz.role_descriptor import RoleDescriptor

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class User:
    username: str
    roles: tuple[str, ...] = ()
    full_name: str | None = None
    email: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        """The user as `GET /_security/user` shows it."""
        return {
            "username": self.username,
            "roles": list(self.roles),
            "full_name": self.full_name,
            "email": self.email,
            "metadata": dict(self.metadata),
            "enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class RealmRef:
    name: str
    type: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


API_KEY_REALM = RealmRef("_es_api_key", "_es_api_key")


@dataclass(frozen=True, slots=True)
class ApiKeyRef:
    """The API key a request authenticated with: its id and name, the realm of its owner, and
    the role descriptors its permissions come from (the key's own, limited by its owner's roles
    when it was created; no own descriptors means the owner's snapshot alone)."""

    id: str
    name: str | None
    owner_realm: RealmRef
    role_descriptors: tuple[RoleDescriptor, ...] = field(repr=False, compare=False)
    limited_by: tuple[RoleDescriptor, ...] = field(repr=False, compare=False)
    expiration: int | None = None  # epoch milliseconds

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True, slots=True)
class TokenRef:
    """The service account token a request authenticated with: its name and where it is kept
    (`_service_account_index` or `_service_account_file`)."""

    name: str
    type: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True, slots=True)
class Authentication:
    """The outcome of authentication. With run_as, `user` is the effective (run-as) user,
    `authenticating_user` the one whose credentials were checked, and `lookup_realm` the realm
    that found the effective user."""

    user: User
    authenticating_realm: RealmRef
    lookup_realm: RealmRef
    type: str = "realm"  # realm | api_key | token | anonymous | internal
    authenticating_user: User | None = None
    api_key: ApiKeyRef | None = None
    token: TokenRef | None = None  # service account tokens only

    @property
    def is_run_as(self) -> bool:
        return self.authenticating_user is not None

    def to_json(self) -> dict[str, Any]:
        """`GET /_security/_authenticate` in Elasticsearch's shape."""
        body = self.user.to_json()
        body["authentication_realm"] = self.authenticating_realm.to_json()
        body["lookup_realm"] = self.lookup_realm.to_json()
        body["authentication_type"] = self.type
        if self.api_key is not None:
            body["api_key"] = self.api_key.to_json()
        if self.token is not None:
            body["token"] = self.token.to_json()
            body["roles"] = []  # the account's fixed role is not a named role, as in ES
        return body
