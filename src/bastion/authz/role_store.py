"""Where roles come from, merged as Elasticsearch merges them: built-in reserved roles first,
then `config/roles.yml`, then native roles in `.bastion-security`. A name found in an earlier
source hides the later ones; an unknown role name is ignored (and logged once).

Compiled roles are cached by the set of role names, and native descriptors by name (including
"not found"); the caches are dropped when the change counter moves or `roles.yml` changes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bastion.authc.user import Authentication
from bastion.authz.file_roles import RolesFileError, read_file_roles
from bastion.authz.permission import Role, compile_role, limit_role
from bastion.authz.reserved_roles import RESERVED_ROLES
from bastion.authz.role_descriptor import RoleDescriptor, RoleDescriptorError, parse_role_descriptor
from bastion.store.security_index import SecurityIndex

log = logging.getLogger(__name__)

MAX_CACHED_ROLES = 10_000  # Elasticsearch's roles cache default


def role_doc_id(name: str) -> str:
    return f"role-{name}"


def role_source(descriptor: RoleDescriptor, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "doc_type": "role",
        "name": descriptor.name,
        "description": descriptor.description,
        "role": dict(body),
    }


class RoleStore:
    def __init__(self, index: SecurityIndex, roles_file: Path) -> None:
        self._index = index
        self._roles_file = roles_file
        self._file_stamp: tuple[int, int, int] | None = None
        self._file_roles: dict[str, RoleDescriptor] = {}
        self._native: dict[str, RoleDescriptor | None] = {}
        self._compiled: dict[frozenset[str], Role] = {}
        # API key id → (the key's reference it was compiled from, its role)
        self._api_keys: dict[str, tuple[object, Role]] = {}
        self._warned: set[str] = set()
        self.reload_file()

    @property
    def file_roles(self) -> Mapping[str, RoleDescriptor]:
        return self._file_roles

    def invalidate(self) -> None:
        self._native.clear()
        self._compiled.clear()
        self._api_keys.clear()

    def reload_file(self) -> bool:
        """Re-read `roles.yml` if it changed; a bad role is skipped, a bad file keeps the old."""
        try:
            stat = os.stat(self._roles_file)
            stamp: tuple[int, int, int] | None = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp == self._file_stamp:
            return False
        self._file_stamp = stamp
        try:
            loaded = read_file_roles(self._roles_file)
        except RolesFileError as error:
            log.error("%s; keeping the previous roles", error)
            return False
        if loaded is None:
            roles: dict[str, RoleDescriptor] = {}
        else:
            roles, problems = loaded
            for problem in problems:
                log.error("[%s]: %s", self._roles_file, problem)
        self._file_roles = roles
        self._compiled.clear()
        return True

    async def _native_descriptors(self, names: Iterable[str]) -> dict[str, RoleDescriptor]:
        wanted = [n for n in names if n not in self._native]
        for name in wanted:
            doc = await self._index.get(role_doc_id(name))
            descriptor = None
            if doc is not None and doc.source.get("doc_type") == "role":
                try:
                    descriptor = parse_role_descriptor(name, doc.source["role"])
                except RoleDescriptorError as error:
                    log.error("native role [%s] cannot be used: %s", name, error)
            self._native[name] = descriptor
        return {n: d for n in names if (d := self._native.get(n)) is not None}

    async def descriptors(self, names: Iterable[str]) -> list[RoleDescriptor]:
        found: dict[str, RoleDescriptor] = {}
        rest = []
        for name in dict.fromkeys(names):
            if name in RESERVED_ROLES:
                found[name] = RESERVED_ROLES[name]
            elif name in self._file_roles:
                found[name] = self._file_roles[name]
            else:
                rest.append(name)
        found.update(await self._native_descriptors(rest))
        for name in rest:
            if name not in found and name not in self._warned:
                self._warned.add(name)
                log.warning("role [%s] was not found and is ignored", name)
        return list(found.values())

    async def role(self, names: Iterable[str]) -> Role:
        key = frozenset(names)
        role = self._compiled.get(key)
        if role is None:
            descriptors = await self.descriptors(sorted(key))
            role = compile_role(sorted(key), descriptors)
            if len(self._compiled) >= MAX_CACHED_ROLES:
                self._compiled.clear()
            self._compiled[key] = role
        return role

    async def role_for(self, authentication: Authentication) -> Role:
        """The effective user's role; for an API key, its own descriptors limited by its owner's
        snapshot (or the snapshot alone when the key has no descriptors of its own)."""
        key = authentication.api_key
        if key is None:
            return await self.role(authentication.user.roles)
        found = self._api_keys.get(key.id)
        if found is not None and found[0] is key:
            return found[1]
        limit = compile_role([d.name for d in key.limited_by], key.limited_by)
        role: Role = limit
        if key.role_descriptors:
            own = compile_role([d.name for d in key.role_descriptors], key.role_descriptors)
            role = limit_role(own, limit)
        if len(self._api_keys) >= MAX_CACHED_ROLES:
            self._api_keys.clear()
        self._api_keys[key.id] = (key, role)
        return role
