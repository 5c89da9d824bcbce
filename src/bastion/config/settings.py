"""The settings registry and loader.

Each setting is a typed `Setting` with its default and parser, after Elasticsearch's `Setting<T>`.
Sources, lowest precedence first: defaults, `config/bastion.yml`, `BASTION_SETTING_*` environment
variables, command-line flags. An unknown key or a bad value stops start-up with an error that
names the key and where it came from.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import yaml

from bastion.config.units import parse_byte_size, parse_time_value

T = TypeVar("T")

ENV_PREFIX = "BASTION_SETTING_"


class SettingsError(Exception):
    """A setting that cannot be used; the message names the key and its source."""


@dataclass(frozen=True, slots=True)
class Setting(Generic[T]):
    key: str
    default: T
    parse: Callable[[Any], T]
    doc: str


def _str(value: Any) -> str:
    if isinstance(value, list | dict):
        raise ValueError("expected a single value")
    return str(value)


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        number = int(str(value).strip())
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "false"}:
        return text == "true"
    raise ValueError("expected [true] or [false]")


def _byte_size(value: Any) -> int:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool)
        else parse_byte_size(str(value))
    )


def _time_value(value: Any) -> float:
    return parse_time_value(str(value))


def _loopback_host(value: Any) -> str:
    host = _str(value).strip()
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"[{host}] is not an IP address") from None
    if not address.is_loopback:
        # Security issue #5 brings TLS; until then nothing listens beyond loopback.
        raise ValueError(f"[{host}] is not a loopback address; Bastion binds loopback only for now")
    return host


def _url_list(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [v for v in str(value).split(",") if v.strip()]
    urls = []
    for item in items:
        url = str(item).strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"[{url}] is not an http:// or https:// URL")
        if parts.path or parts.query:
            raise ValueError(f"[{url}] must not have a path or query")
        urls.append(url)
    return tuple(urls)


def _str_list(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _heap(value: Any) -> str:
    text = _str(value).strip().lower()
    if not text[:-1].isdigit() or text[-1] not in "mg":
        raise ValueError("expected a JVM heap size such as [512m] or [1g]")
    return text


CLUSTER_NAME = Setting("cluster.name", "bastion", _str, "Name reported by `GET /`.")
NODE_NAME = Setting("node.name", socket.gethostname(), _str, "Node name reported by `GET /`.")
HTTP_HOST = Setting("http.host", "127.0.0.1", _loopback_host, "Address the gateway binds.")
HTTP_PORT = Setting("http.port", 9200, _int_in(0, 65535), "Port the gateway listens on.")
HTTP_MAX_CONTENT_LENGTH = Setting(
    "http.max_content_length", 100 << 20, _byte_size, "Largest request body; larger gets 413."
)
HTTP_MAX_HEADER_SIZE = Setting(
    "http.max_header_size", 16 << 10, _byte_size, "Largest single request header."
)
HTTP_MAX_INITIAL_LINE_LENGTH = Setting(
    "http.max_initial_line_length", 4 << 10, _byte_size, "Longest request line (method, URL)."
)
HTTP_IDLE_TIMEOUT = Setting(
    "bastion.http.idle_timeout", 75.0, _time_value, "Close a keep-alive connection idle this long."
)
HTTP_READ_TIMEOUT = Setting(
    "bastion.http.read_timeout", 60.0, _time_value, "Time allowed to receive a request body."
)
WORKERS = Setting("bastion.workers", 1, _int_in(1, 64), "Gateway processes sharing the port.")
INFO_VERSION = Setting(
    "bastion.info.version", "8.17.0", _str, "Elasticsearch version that `GET /` reports."
)
BACKEND_HOSTS: Setting[tuple[str, ...]] = Setting(
    "bastion.backend.hosts",
    (),
    _url_list,
    "URLs of an external engine cluster; empty runs the managed engine.",
)
BACKEND_REQUEST_TIMEOUT = Setting(
    "bastion.backend.request_timeout", 300.0, _time_value, "Longest wait for an engine response."
)
BACKEND_MAX_CONNECTIONS = Setting(
    "bastion.backend.max_connections", 256, _int_in(1, 65535), "Engine connections per worker."
)
ENGINE_VERSION = Setting("bastion.engine.version", "2.19.6", _str, "Managed OpenSearch version.")
ENGINE_NODES = Setting("bastion.engine.nodes", 1, _int_in(1, 9), "Managed engine nodes.")
ENGINE_HEAP_MIN = Setting("bastion.engine.heap.min", "512m", _heap, "Engine JVM `-Xms`.")
ENGINE_HEAP_MAX = Setting("bastion.engine.heap.max", "1g", _heap, "Engine JVM `-Xmx`.")
ENGINE_STARTUP_TIMEOUT = Setting(
    "bastion.engine.startup_timeout",
    180.0,
    _time_value,
    "Longest wait for the engine to be healthy.",
)
ENGINE_JAVA_HOME = Setting(
    "bastion.engine.java_home", "", _str, "JDK for the engine; empty uses $JAVA_HOME, then PATH."
)


def _hashing_algorithm(value: Any) -> str:
    # Only bcrypt and PBKDF2 may be stored (never noop or the cache-only digests), as in ES.
    from bastion.authc.password_hashing import stored_hash_algorithm

    return stored_hash_algorithm(_str(value).strip())


PASSWORD_HASHING_ALGORITHM = Setting(
    "xpack.security.authc.password_hashing.algorithm",
    "bcrypt",
    _hashing_algorithm,
    "Hash for new passwords.",
)

PASSWORD_MIN_LENGTH = Setting(
    "bastion.security.authc.password.min_length",
    6,
    _int_in(6, 128),
    "Shortest password accepted for new passwords (Elasticsearch: 6).",
)

METADATA_REFRESH_INTERVAL = Setting(
    "bastion.security.authz.metadata.refresh_interval",
    1.0,
    _time_value,
    "How often each worker re-reads index metadata changed around Bastion.",
)

# Realms: `*` stands for one key segment (realm type, then realm name).
REALM_ORDER = Setting(
    "xpack.security.authc.realms.*.*.order", 0, _int_in(-(2**31), 2**31 - 1), "Realm order."
)
REALM_ENABLED = Setting("xpack.security.authc.realms.*.*.enabled", True, _bool, "Realm on/off.")
REALM_CACHE_TTL = Setting(
    "xpack.security.authc.realms.*.*.cache.ttl", 1200.0, _time_value, "Credential cache TTL."
)
REALM_CACHE_MAX_USERS = Setting(
    "xpack.security.authc.realms.*.*.cache.max_users",
    100_000,
    _int_in(0, 10_000_000),
    "Credential cache size.",
)
ANONYMOUS_USERNAME = Setting(
    "xpack.security.authc.anonymous.username", "_anonymous", _str, "Anonymous user name."
)
ANONYMOUS_ROLES: Setting[tuple[str, ...]] = Setting(
    "xpack.security.authc.anonymous.roles", (), _str_list, "Roles of anonymous requests."
)
ANONYMOUS_AUTHZ_EXCEPTION = Setting(
    "xpack.security.authc.anonymous.authz_exception", True, _bool, "403 (true) or 401 (false)."
)


def _time_at_least(minimum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        seconds = _time_value(value)
        if seconds < minimum:
            raise ValueError(f"must be at least {minimum:g}s")
        return seconds

    return parse


# Brute-force protection (Bastion's own): see src/bastion/authc/brute_force.py.
BRUTE_FORCE_ENABLED = Setting(
    "bastion.security.authc.brute_force.enabled", True, _bool, "Brute-force protection on/off."
)
BRUTE_FORCE_FREE_ATTEMPTS = Setting(
    "bastion.security.authc.brute_force.free_attempts",
    5,
    _int_in(0, 1_000_000),
    "Failures before delays start.",
)
BRUTE_FORCE_MAX_DELAY = Setting(
    "bastion.security.authc.brute_force.max_delay", 5.0, _time_at_least(0), "Longest delay."
)
BRUTE_FORCE_LOCK_AFTER = Setting(
    "bastion.security.authc.brute_force.lock_after",
    20,
    _int_in(0, 1_000_000),
    "Failures that lock a username or address; 0 never locks.",
)
BRUTE_FORCE_LOCK_DURATION = Setting(
    "bastion.security.authc.brute_force.lock_duration", 300.0, _time_at_least(0), "Lock length."
)
BRUTE_FORCE_WINDOW = Setting(
    "bastion.security.authc.brute_force.window",
    900.0,
    _time_at_least(1),
    "Failures are forgotten after this long without one.",
)

SETTINGS: tuple[Setting[Any], ...] = (
    CLUSTER_NAME,
    NODE_NAME,
    HTTP_HOST,
    HTTP_PORT,
    HTTP_MAX_CONTENT_LENGTH,
    HTTP_MAX_HEADER_SIZE,
    HTTP_MAX_INITIAL_LINE_LENGTH,
    HTTP_IDLE_TIMEOUT,
    HTTP_READ_TIMEOUT,
    WORKERS,
    INFO_VERSION,
    BACKEND_HOSTS,
    BACKEND_REQUEST_TIMEOUT,
    BACKEND_MAX_CONNECTIONS,
    ENGINE_VERSION,
    ENGINE_NODES,
    ENGINE_HEAP_MIN,
    ENGINE_HEAP_MAX,
    ENGINE_STARTUP_TIMEOUT,
    ENGINE_JAVA_HOME,
    PASSWORD_HASHING_ALGORITHM,
    PASSWORD_MIN_LENGTH,
    METADATA_REFRESH_INTERVAL,
    REALM_ORDER,
    REALM_ENABLED,
    REALM_CACHE_TTL,
    REALM_CACHE_MAX_USERS,
    ANONYMOUS_USERNAME,
    ANONYMOUS_ROLES,
    ANONYMOUS_AUTHZ_EXCEPTION,
    BRUTE_FORCE_ENABLED,
    BRUTE_FORCE_FREE_ATTEMPTS,
    BRUTE_FORCE_MAX_DELAY,
    BRUTE_FORCE_LOCK_AFTER,
    BRUTE_FORCE_LOCK_DURATION,
    BRUTE_FORCE_WINDOW,
)
_BY_KEY = {setting.key: setting for setting in SETTINGS if "*" not in setting.key}
_PATTERNS = [
    (re.compile(re.escape(setting.key).replace(r"\*", "[^.]+") + "$"), setting)
    for setting in SETTINGS
    if "*" in setting.key
]


def _find(key: str) -> Setting[Any] | None:
    if setting := _BY_KEY.get(key):
        return setting
    return next((setting for pattern, setting in _PATTERNS if pattern.match(key)), None)


@dataclass(frozen=True, slots=True)
class Settings:
    """Parsed, validated values; picklable so worker processes receive the same view."""

    values: Mapping[str, Any]

    def get(self, setting: Setting[T], key: str | None = None) -> T:
        """The value of `setting`; for a `*` setting, of its concrete `key`."""
        value: T = self.values.get(key or setting.key, setting.default)
        return value

    def keys_matching(self, prefix: str) -> list[str]:
        """The configured keys under `prefix` (for groups such as realms)."""
        return sorted(key for key in self.values if key.startswith(prefix))


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{dotted}.")
        else:
            yield dotted, value


def _read_file(path: Path) -> dict[str, Any]:
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SettingsError(f"cannot parse {path}: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read {path}: {error}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise SettingsError(f"{path} must hold a mapping of setting names to values")
    return dict(_flatten(tree))


def _env_key(name: str) -> str:
    """`BASTION_SETTING_HTTP_PORT` → `http.port`; `__` stands for a literal `_`."""
    body = name[len(ENV_PREFIX) :].lower()
    return ".".join(part.replace("\0", "_") for part in body.replace("__", "\0").split("_"))


def load_settings(
    path: Path | None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, merge and validate every source; raise `SettingsError` naming the culprit."""
    raw: dict[str, tuple[Any, str]] = {}
    if path is not None and path.exists():
        raw.update((key, (value, str(path))) for key, value in _read_file(path).items())
    for name, value in (os.environ if environ is None else environ).items():
        if name.startswith(ENV_PREFIX):
            raw[_env_key(name)] = (value, f"environment variable {name}")
    for key, value in (overrides or {}).items():
        raw[key] = (value, "the command line")
    values: dict[str, Any] = {}
    for key, (value, source) in raw.items():
        setting = _find(key)
        if setting is None:
            raise SettingsError(
                f"unknown setting [{key}] in {source}; see docs/configuration.md for the list"
            )
        try:
            values[key] = setting.parse(value)
        except (ValueError, TypeError) as error:
            raise SettingsError(
                f"invalid value [{value}] for setting [{key}] in {source}: {error}"
            ) from None
    return Settings(values)
