"""Which audit events are written: `xpack.security.audit.*` settings, rebuildable at run time.

After Elasticsearch's logfile audit trail: `events.include` / `events.exclude` choose the
`event.action`s (`_all` stands for every one), and `ignore_filters.<policy>.*` drop events whose
user, realm, action, roles and indices all match one policy. A field a policy does not name
matches anything; an event without that field (no user, no indices) is matched as the empty
string, so `""` or `*` in the policy covers it. `security_config_change` is never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "xpack.security.audit."
ENABLED = PREFIX + "enabled"
INCLUDE = PREFIX + "logfile.events.include"
EXCLUDE = PREFIX + "logfile.events.exclude"
EMIT_REQUEST_BODY = PREFIX + "logfile.events.emit_request_body"
EMIT_NODE_NAME = PREFIX + "logfile.emit_node_name"
EMIT_NODE_HOST_ADDRESS = PREFIX + "logfile.emit_node_host_address"
EMIT_NODE_HOST_NAME = PREFIX + "logfile.emit_node_host_name"
EMIT_NODE_ID = PREFIX + "logfile.emit_node_id"
IGNORE_FILTERS = PREFIX + "logfile.events.ignore_filters."
IGNORE_FIELDS = ("users", "realms", "actions", "roles", "indices")

ALL_ACTIONS = (
    "access_denied",
    "access_granted",
    "anonymous_access_denied",
    "authentication_failed",
    "authentication_success",
    "connection_denied",
    "connection_granted",
    "realm_authentication_failed",
    "run_as_denied",
    "run_as_granted",
    "security_config_change",
    "system_access_granted",
    "tampered_request",
)
DEFAULT_INCLUDE = (
    "access_denied",
    "access_granted",
    "anonymous_access_denied",
    "authentication_failed",
    "connection_denied",
    "tampered_request",
    "run_as_denied",
    "run_as_granted",
    "security_config_change",
)
CONFIG_CHANGE = "security_config_change"


def _actions(names: Iterable[str], key: str) -> frozenset[str]:
    chosen: set[str] = set()
    for name in names:
        if name == "_all":
            chosen.update(ALL_ACTIONS)
        elif name in ALL_ACTIONS:
            chosen.add(name)
        else:
            raise ValueError(f"invalid event type specified [{name}] in [{key}]")
    return frozenset(chosen)


def _wildcard(patterns: Iterable[str]) -> re.Pattern[str]:
    """Elasticsearch's simple wildcards: `*` any run of characters, `?` one character."""
    parts = [re.escape(p).replace(r"\*", ".*").replace(r"\?", ".") for p in patterns]
    return re.compile("(?:" + "|".join(parts) + r")\Z", re.DOTALL)


@dataclass(frozen=True, slots=True)
class EventInfo:
    """What an ignore policy looks at."""

    user: str | None = None
    realm: str | None = None
    action: str | None = None
    roles: tuple[str, ...] = ()
    indices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IgnorePolicy:
    name: str
    users: re.Pattern[str] | None
    realms: re.Pattern[str] | None
    actions: re.Pattern[str] | None
    roles: re.Pattern[str] | None
    indices: re.Pattern[str] | None

    def covers(self, info: EventInfo) -> bool:
        return (
            _one(self.users, info.user)
            and _one(self.realms, info.realm)
            and _one(self.actions, info.action)
            and _all(self.roles, info.roles)
            and _all(self.indices, info.indices)
        )


def _one(pattern: re.Pattern[str] | None, value: str | None) -> bool:
    return pattern is None or pattern.match(value or "") is not None


def _all(pattern: re.Pattern[str] | None, values: tuple[str, ...]) -> bool:
    """Every role (index) must match; none is matched as the empty string."""
    if pattern is None:
        return True
    return all(pattern.match(value) is not None for value in values or ("",))


def _list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip() or item == "")


@dataclass(frozen=True, slots=True)
class AuditFilter:
    enabled: bool
    actions: frozenset[str]
    emit_request_body: bool
    emit_node_name: bool
    emit_node_host_address: bool
    emit_node_host_name: bool
    emit_node_id: bool
    policies: tuple[IgnorePolicy, ...]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AuditFilter:
        """From setting keys → values (`Settings.values` or a dynamic update merged into it);
        raises ValueError naming a bad key."""
        include = values.get(INCLUDE)
        included = _actions(DEFAULT_INCLUDE if include is None else _list(include), INCLUDE)
        excluded = _actions(_list(values.get(EXCLUDE)), EXCLUDE)
        policies: dict[str, dict[str, re.Pattern[str]]] = {}
        for key, value in values.items():
            if not key.startswith(IGNORE_FILTERS):
                continue
            name, _, field_name = key[len(IGNORE_FILTERS) :].rpartition(".")
            if not name or field_name not in IGNORE_FIELDS:
                raise ValueError(f"unknown audit ignore filter setting [{key}]")
            patterns = _list(value)
            if patterns:
                policies.setdefault(name, {})[field_name] = _wildcard(patterns)
        return cls(
            enabled=bool(values.get(ENABLED, False)),
            actions=included - excluded,
            emit_request_body=bool(values.get(EMIT_REQUEST_BODY, False)),
            emit_node_name=bool(values.get(EMIT_NODE_NAME, False)),
            emit_node_host_address=bool(values.get(EMIT_NODE_HOST_ADDRESS, False)),
            emit_node_host_name=bool(values.get(EMIT_NODE_HOST_NAME, False)),
            emit_node_id=bool(values.get(EMIT_NODE_ID, True)),
            policies=tuple(
                IgnorePolicy(
                    name,
                    fields.get("users"),
                    fields.get("realms"),
                    fields.get("actions"),
                    fields.get("roles"),
                    fields.get("indices"),
                )
                for name, fields in sorted(policies.items())
            ),
        )

    def wants(self, action: str) -> bool:
        return self.enabled and action in self.actions

    def ignored(self, action: str, info: EventInfo) -> bool:
        if action == CONFIG_CHANGE:
            return False
        return any(policy.covers(info) for policy in self.policies)
