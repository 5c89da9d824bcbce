"""Who a request is: the `User`, the realms involved and how it authenticated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

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

    @property
    def is_run_as(self) -> bool:
        return self.authenticating_user is not None

    def to_json(self) -> dict[str, Any]:
        """`GET /_security/_authenticate` in Elasticsearch's shape."""
        body = self.user.to_json()
        body["authentication_realm"] = self.authenticating_realm.to_json()
        body["lookup_realm"] = self.lookup_realm.to_json()
        body["authentication_type"] = self.type
        return body
