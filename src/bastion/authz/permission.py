"""A compiled `Role`: what a set of role descriptors grants, in a form that answers fast.

Each privilege group compiles once to one predicate over action names; index name patterns
compile to one regex per group. Decisions for (action, index) are memoised per role, so the hot
path is a dictionary lookup. Restricted indices (Bastion's own and Elasticsearch's security
indices) match a group only when it sets `allow_restricted_indices`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bastion.authz.privileges import ActionPredicate, compile_cluster, compile_index
from bastion.authz.role_descriptor import RoleDescriptor

RESTRICTED = re.compile(r"\.bastion-.*|\.security.*")
MAX_MEMO = 50_000
DENIED, GRANTED, GRANTED_WITH_DLS_FLS = 0, 1, 2


def is_restricted(name: str) -> bool:
    return RESTRICTED.fullmatch(name) is not None


def compile_names(patterns: Iterable[str]) -> re.Pattern[str]:
    """Index or user name patterns: `*`/`?` wildcards, or `/regex/` as in Elasticsearch."""
    parts = []
    for pattern in patterns:
        if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
            parts.append(f"(?:{pattern[1:-1]})")
        else:
            parts.append(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))
    return re.compile("|".join(parts) or "(?!)")


@dataclass(frozen=True, slots=True)
class IndexGroup:
    names: re.Pattern[str]
    privileges: ActionPredicate
    allow_restricted: bool
    document_or_field_level: bool  # has `query` or `field_security`


@dataclass(slots=True)
class Role:
    names: tuple[str, ...]
    cluster: ActionPredicate
    cluster_privileges: frozenset[str]
    groups: tuple[IndexGroup, ...]
    run_as: re.Pattern[str]
    descriptors: tuple[RoleDescriptor, ...]
    # (action, index) → DENIED, GRANTED or GRANTED_WITH_DLS_FLS
    _memo: dict[tuple[str, str], int] = field(default_factory=dict)
    # (action, index expression, options) → (metadata snapshot, (expression, denied names)):
    # the authorization service's resolved wildcards, valid while the snapshot is current.
    narrowed: dict[Any, tuple[object, tuple[str | None, tuple[str, ...]]]] = field(
        default_factory=dict
    )

    @property
    def is_superuser_like(self) -> bool:
        """Holds the `all` cluster privilege: may use routes Bastion does not know."""
        return "all" in self.cluster_privileges

    @property
    def layers(self) -> tuple[Role, ...]:
        """The roles every check must pass: this one, or an API key's two."""
        return (self,)

    def allows_cluster(self, action: str) -> bool:
        return self.cluster(action)

    def allows_some_index(self, action: str) -> bool:
        return any(group.privileges(action) for group in self.groups)

    def allows_index(self, action: str, name: str) -> bool:
        return self._access(action, name) != DENIED

    def document_or_field_level(self, action: str, name: str) -> bool:
        """Whether a group granting this access restricts documents or fields."""
        return self._access(action, name) == GRANTED_WITH_DLS_FLS

    def _access(self, action: str, name: str) -> int:
        key = (action, name)
        found = self._memo.get(key)
        if found is None:
            found = self._decide(action, name)
            if len(self._memo) >= MAX_MEMO:
                self._memo.clear()
            self._memo[key] = found
        return found

    def _decide(self, action: str, name: str) -> int:
        restricted = is_restricted(name)
        granting = [
            group
            for group in self.groups
            if group.names.fullmatch(name) is not None
            and (group.allow_restricted or not restricted)
            and group.privileges(action)
        ]
        if not granting:
            return DENIED
        if any(group.document_or_field_level for group in granting):
            return GRANTED_WITH_DLS_FLS
        return GRANTED

    def remember_narrowed(
        self, key: Any, metadata: object, answer: tuple[str | None, tuple[str, ...]]
    ) -> None:
        if len(self.narrowed) >= MAX_MEMO:
            self.narrowed.clear()
        self.narrowed[key] = (metadata, answer)

    def allows_run_as(self, username: str) -> bool:
        return self.run_as.fullmatch(username) is not None


def compile_role(names: Sequence[str], descriptors: Sequence[RoleDescriptor]) -> Role:
    cluster_privileges = frozenset(p for d in descriptors for p in d.cluster)
    groups = tuple(
        IndexGroup(
            compile_names(entry.names),
            compile_index(entry.privileges),
            entry.allow_restricted_indices,
            entry.query is not None
            or (entry.field_security is not None and entry.field_security.restricts_fields),
        )
        for descriptor in descriptors
        for entry in descriptor.indices
    )
    return Role(
        tuple(names),
        compile_cluster(cluster_privileges),
        cluster_privileges,
        groups,
        compile_names(user for d in descriptors for user in d.run_as),
        tuple(descriptors),
    )


@dataclass(slots=True)
class LimitedRole(Role):
    """An API key's permission: what its own role descriptors grant AND what its owner's roles
    granted when it was created (Elasticsearch's `LimitedRole`). Every check must pass both.
    The inherited fields are the key's own role's, so that code reading descriptors sees those."""

    own: Role | None = None
    limited_by: Role | None = None

    def _pair(self) -> tuple[Role, Role]:
        assert self.own is not None
        assert self.limited_by is not None
        return self.own, self.limited_by

    @property
    def layers(self) -> tuple[Role, ...]:
        return self._pair()

    @property
    def is_superuser_like(self) -> bool:
        return all(layer.is_superuser_like for layer in self._pair())

    def allows_cluster(self, action: str) -> bool:
        own, limit = self._pair()
        return own.allows_cluster(action) and limit.allows_cluster(action)

    def allows_some_index(self, action: str) -> bool:
        return all(layer.allows_some_index(action) for layer in self._pair())

    def _decide(self, action: str, name: str) -> int:
        first, second = (layer._access(action, name) for layer in self._pair())
        return DENIED if DENIED in (first, second) else max(first, second)

    def allows_run_as(self, username: str) -> bool:
        return all(layer.allows_run_as(username) for layer in self._pair())


def limit_role(own: Role, limited_by: Role) -> LimitedRole:
    return LimitedRole(
        own.names,
        own.cluster,
        own.cluster_privileges,
        own.groups,
        own.run_as,
        own.descriptors,
        own=own,
        limited_by=limited_by,
    )
