"""Native and reserved users as documents of `.bastion-security`."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bastion.authc.user import User
from bastion.store.security_index import SecurityIndex, StoredDoc

RESERVED_USERS: dict[str, tuple[str, ...]] = {
    "elastic": ("superuser",),
    "kibana": ("kibana_system",),  # deprecated alias of kibana_system, as in Elasticsearch 8
    "kibana_system": ("kibana_system",),
    "logstash_system": ("logstash_system",),
    "beats_system": ("beats_system",),
    "apm_system": ("apm_system",),
    "remote_monitoring_user": ("remote_monitoring_collector", "remote_monitoring_agent"),
}


def user_doc_id(username: str) -> str:
    return f"user-{username}"


def reserved_doc_id(username: str) -> str:
    return f"reserved-user-{username}"


@dataclass(frozen=True, slots=True)
class StoredUser:
    user: User
    password_hash: str
    doc: StoredDoc


@dataclass(frozen=True, slots=True)
class ReservedState:
    password_hash: str | None
    enabled: bool
    doc: StoredDoc | None


def user_from_source(source: dict[str, Any]) -> User:
    return User(
        username=source["username"],
        roles=tuple(source.get("roles") or ()),
        full_name=source.get("full_name"),
        email=source.get("email"),
        metadata=MappingProxyType(dict(source.get("metadata") or {})),
        enabled=bool(source.get("enabled", True)),
    )


def user_source(user: User, password_hash: str) -> dict[str, Any]:
    return {
        "doc_type": "user",
        "username": user.username,
        "password": password_hash,
        "roles": list(user.roles),
        "full_name": user.full_name,
        "email": user.email,
        "metadata": dict(user.metadata),
        "enabled": user.enabled,
    }


def reserved_user(username: str, enabled: bool = True) -> User:
    return User(
        username,
        RESERVED_USERS[username],
        metadata=MappingProxyType({"_reserved": True}),
        enabled=enabled,
    )


class NativeUsers:
    def __init__(self, index: SecurityIndex) -> None:
        self.index = index

    async def get(self, username: str) -> StoredUser | None:
        doc = await self.index.get(user_doc_id(username))
        if doc is None or doc.source.get("doc_type") != "user":
            return None
        return StoredUser(user_from_source(doc.source), doc.source.get("password", ""), doc)

    async def reserved(self, username: str) -> ReservedState:
        doc = await self.index.get(reserved_doc_id(username))
        if doc is None:
            return ReservedState(None, True, None)
        return ReservedState(doc.source.get("password"), bool(doc.source.get("enabled", True)), doc)

    async def put_reserved(
        self, username: str, *, password_hash: str | None, enabled: bool, expect: Any
    ) -> None:
        source = {
            "doc_type": "reserved-user",
            "username": username,
            "password": password_hash,
            "enabled": enabled,
        }
        await self.index.put(reserved_doc_id(username), source, expect=expect)
