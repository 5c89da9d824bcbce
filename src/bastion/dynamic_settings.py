"""Bastion-owned dynamic cluster settings: the values `PUT /_cluster/settings` may change.

A setting is dynamic when it is declared with `dynamic=True` in `bastion.config.settings` (one
keyword, like Elasticsearch's `Property.Dynamic`). Updates are stored in the security store
(`ClusterSettingsStore`) and every worker of every gateway holds a `DynamicSettings` view that is
refreshed when the store's change counter moves. Precedence, as in Elasticsearch: transient, then
persistent, then the node's own settings (`bastion.yml`, environment, command line), then the
default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bastion.config.settings import Setting, Settings, find_setting
from bastion.store.security_index import SecurityIndex, StoredDoc, VersionConflict

log = logging.getLogger(__name__)

T = TypeVar("T")
CLUSTER_SETTINGS_ID = "cluster-settings"
SCOPES = ("persistent", "transient")
_WRITE_ATTEMPTS = 5


class SettingsUpdateError(ValueError):
    """An update Elasticsearch would refuse; `error_type` is its exception type."""

    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason


def dynamic_setting(key: str) -> Setting[Any] | None:
    setting = find_setting(key)
    return setting if setting is not None and setting.dynamic else None


def owns(key: str) -> bool:
    """Whether Bastion answers for `key` (rather than the engine): any registered setting, so
    that static ones are refused here instead of confusing the engine."""
    return find_setting(key) is not None


def validate(scope: str, key: str, value: Any) -> None:
    """Raise `SettingsUpdateError` unless `value` (None resets) may be stored for `key`."""
    setting = find_setting(key)
    if setting is None:
        raise SettingsUpdateError(
            "illegal_argument_exception", f"{scope} setting [{key}], not recognized"
        )
    if not setting.dynamic:
        raise SettingsUpdateError(
            "illegal_argument_exception", f"{scope} setting [{key}], not dynamically updateable"
        )
    if value is None:
        return
    try:
        setting.parse(value)
    except (ValueError, TypeError) as error:
        raise SettingsUpdateError(
            "illegal_argument_exception",
            f"illegal value can't update [{key}] to [{_display(value)}]: {error}",
        ) from None


def _display(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


@dataclass(frozen=True, slots=True)
class StoredClusterSettings:
    """Raw values as the client sent them (shown back by `GET /_cluster/settings`)."""

    persistent: Mapping[str, Any] = field(default_factory=dict)
    transient: Mapping[str, Any] = field(default_factory=dict)

    def scope(self, name: str) -> Mapping[str, Any]:
        return self.persistent if name == "persistent" else self.transient


class ClusterSettingsStore:
    """One document in the security store holds both scopes."""

    def __init__(self, index: SecurityIndex) -> None:
        self._index = index

    async def load(self) -> StoredClusterSettings:
        doc = await self._index.get(CLUSTER_SETTINGS_ID)
        return _from_doc(doc)

    async def update(
        self, changes: Mapping[str, Mapping[str, Any]], resets: Mapping[str, Iterable[str]]
    ) -> StoredClusterSettings:
        """Apply validated `changes` (scope → key → value, None removes) and wildcard `resets`
        (scope → key prefixes) with optimistic concurrency; bumps the change counter."""
        for attempt in range(_WRITE_ATTEMPTS):
            doc = await self._index.get(CLUSTER_SETTINGS_ID)
            current = _from_doc(doc)
            merged = {}
            for scope in SCOPES:
                values = dict(current.scope(scope))
                for prefix in resets.get(scope, ()):
                    values = {k: v for k, v in values.items() if not k.startswith(prefix)}
                for key, value in changes.get(scope, {}).items():
                    if value is None:
                        values.pop(key, None)
                    else:
                        values[key] = value
                merged[scope] = values
            source = {"doc_type": "cluster_settings", **merged}
            try:
                await self._index.put(
                    CLUSTER_SETTINGS_ID, source, expect=doc if doc is not None else None
                )
            except VersionConflict:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                continue
            return StoredClusterSettings(merged["persistent"], merged["transient"])
        raise AssertionError("unreachable")


def _from_doc(doc: StoredDoc | None) -> StoredClusterSettings:
    if doc is None:
        return StoredClusterSettings()
    return StoredClusterSettings(
        dict(doc.source.get("persistent") or {}), dict(doc.source.get("transient") or {})
    )


Subscriber = Callable[["DynamicSettings"], None]


class DynamicSettings:
    """One worker's view of the effective dynamic settings; notifies subscribers of changes."""

    def __init__(self, node: Settings) -> None:
        self._node = node
        self._overrides: dict[str, Any] = {}  # parsed, transient over persistent
        self._subscribers: list[tuple[str, Subscriber]] = []
        self.loaded = False  # the stored values have been read at least once

    def get(self, setting: Setting[T], key: str | None = None) -> T:
        name = key or setting.key
        if name in self._overrides:
            value: T = self._overrides[name]
            return value
        return self._node.get(setting, key)

    def effective(self, prefix: str) -> dict[str, Any]:
        """Every set value under `prefix`: the node's, with the dynamic overrides on top."""
        values = {k: v for k, v in self._node.values.items() if k.startswith(prefix)}
        values.update((k, v) for k, v in self._overrides.items() if k.startswith(prefix))
        return values

    def subscribe(self, prefix: str, callback: Subscriber) -> None:
        """Call `callback(self)` whenever a setting whose key starts with `prefix` changes."""
        self._subscribers.append((prefix, callback))

    def apply(self, stored: StoredClusterSettings) -> None:
        overrides: dict[str, Any] = {}
        for scope in SCOPES:  # transient last: it wins
            for key, raw in stored.scope(scope).items():
                setting = dynamic_setting(key)
                if setting is None:
                    log.warning(
                        "ignoring stored %s setting [%s]: not a dynamic setting", scope, key
                    )
                    continue
                try:
                    overrides[key] = setting.parse(raw)
                except (ValueError, TypeError) as error:
                    log.warning("ignoring stored %s setting [%s]: %s", scope, key, error)
        changed = {
            key
            for key in overrides.keys() | self._overrides.keys()
            if overrides.get(key, _MISSING) != self._overrides.get(key, _MISSING)
        }
        first = not self.loaded  # subscribers may wait for the first reading (fail closed)
        self._overrides = overrides
        self.loaded = True
        for prefix, callback in self._subscribers:
            if first or any(key.startswith(prefix) for key in changed):
                callback(self)


_MISSING = object()
