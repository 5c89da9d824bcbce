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
    # Updatable at run time through `PUT /_cluster/settings` (Elasticsearch's Property.Dynamic).
    dynamic: bool = False


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


def _only(value: Any, supported: str) -> str:
    text = str(value).strip().lower()
    if text != supported:
        raise ValueError(
            f"[{text}] is not supported; Bastion's credential caches use [{supported}]"
        )
    return text


def _byte_size(value: Any) -> int:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool)
        else parse_byte_size(str(value))
    )


def _time_value(value: Any) -> float:
    return parse_time_value(str(value))


def _bind_host(value: Any) -> str:
    # Beyond loopback only with TLS or an explicit override: see tls/server_context.py.
    host = _str(value).strip()
    if host == "localhost":
        return "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"[{host}] is not an IP address") from None
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
HTTP_HOST = Setting("http.host", "127.0.0.1", _bind_host, "Address the gateway binds.")
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


def _verification_mode(value: Any) -> str:
    mode = _str(value).strip().lower()
    if mode not in {"full", "certificate", "none"}:
        raise ValueError("expected [full], [certificate] or [none]")
    return mode


BACKEND_SSL_CERTIFICATE_AUTHORITIES: Setting[tuple[str, ...]] = Setting(
    "bastion.backend.ssl.certificate_authorities",
    (),
    _str_list,
    "PEM files of the CAs that sign an https engine's certificate; empty trusts the system's.",
)
BACKEND_SSL_VERIFICATION_MODE = Setting(
    "bastion.backend.ssl.verification_mode",
    "full",
    _verification_mode,
    "How the engine's certificate is checked: full, certificate (no host name), none.",
)
BACKEND_SSL_CERTIFICATE = Setting(
    "bastion.backend.ssl.certificate", "", _str, "PEM client certificate for engine mTLS."
)
BACKEND_SSL_KEY = Setting("bastion.backend.ssl.key", "", _str, "PEM key of that certificate.")
BACKEND_SSL_KEY_PASSPHRASE = Setting(
    "bastion.backend.ssl.key_passphrase", "", _str, "Passphrase of an encrypted key."
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
REALM_CACHE_HASH_ALGO = Setting(
    "xpack.security.authc.realms.*.*.cache.hash_algo",
    "ssha256",
    lambda value: _only(value, "ssha256"),
    "How the credential cache hashes passwords (salted SHA-256).",
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


def _cache_hash_algo(value: Any) -> str:
    # Caches keep a salted SHA-256 only (see authc/credential_cache.py).
    name = _str(value).strip().lower()
    if name != "ssha256":
        raise ValueError("only [ssha256] is supported")
    return name


API_KEY_HASHING_ALGORITHM = Setting(
    "xpack.security.authc.api_key.hashing.algorithm",
    "pbkdf2",
    _hashing_algorithm,
    "Hash stored for API key secrets.",
)
API_KEY_CACHE_TTL = Setting(
    "xpack.security.authc.api_key.cache.ttl", 86_400.0, _time_value, "Verified API key cache TTL."
)
API_KEY_CACHE_MAX_KEYS = Setting(
    "xpack.security.authc.api_key.cache.max_keys",
    25_000,
    _int_in(0, 10_000_000),
    "Verified API key cache size.",
)
API_KEY_CACHE_HASH_ALGO = Setting(
    "xpack.security.authc.api_key.cache.hash_algo",
    "ssha256",
    _cache_hash_algo,
    "Digest the API key cache keeps.",
)
API_KEY_DELETE_RETENTION_PERIOD = Setting(
    "xpack.security.authc.api_key.delete.retention_period",
    7 * 86_400.0,
    _time_at_least(0),
    "How long invalidated or expired API keys are kept.",
)
API_KEY_DELETE_INTERVAL = Setting(
    "xpack.security.authc.api_key.delete.interval",
    86_400.0,
    _time_at_least(1),
    "How often old API keys are removed.",
)


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


def _tls_protocols(value: Any) -> tuple[str, ...]:
    from bastion.tls.server_context import parse_supported_protocols

    return parse_supported_protocols(value)


def _tls_cipher_suites(value: Any) -> tuple[str, ...]:
    from bastion.tls.server_context import parse_cipher_suites

    return parse_cipher_suites(value)


def _client_authentication(value: Any) -> str:
    from bastion.tls.server_context import parse_client_authentication

    return parse_client_authentication(value)


# HTTP TLS: see src/bastion/tls/server_context.py and docs/tls.md.
_HTTP_SSL = "xpack.security.http.ssl."
HTTP_SSL_ENABLED = Setting(f"{_HTTP_SSL}enabled", True, _bool, "TLS on the HTTP port.")
HTTP_SSL_CERTIFICATE = Setting(f"{_HTTP_SSL}certificate", "", _str, "PEM certificate (chain).")
HTTP_SSL_KEY = Setting(f"{_HTTP_SSL}key", "", _str, "PEM private key of that certificate.")
HTTP_SSL_KEY_PASSPHRASE = Setting(
    f"{_HTTP_SSL}key_passphrase", "", _str, "Passphrase of an encrypted key."
)
HTTP_SSL_CERTIFICATE_AUTHORITIES: Setting[tuple[str, ...]] = Setting(
    f"{_HTTP_SSL}certificate_authorities", (), _str_list, "PEM CAs trusted for client certificates."
)
HTTP_SSL_KEYSTORE_PATH = Setting(
    f"{_HTTP_SSL}keystore.path", "", _str, "PKCS#12 file with key and certificate."
)
HTTP_SSL_KEYSTORE_PASSWORD = Setting(
    f"{_HTTP_SSL}keystore.password", "", _str, "Password of that PKCS#12 file."
)
HTTP_SSL_CLIENT_AUTHENTICATION = Setting(
    f"{_HTTP_SSL}client_authentication", "none", _client_authentication, "none|optional|required."
)
HTTP_SSL_SUPPORTED_PROTOCOLS: Setting[tuple[str, ...]] = Setting(
    f"{_HTTP_SSL}supported_protocols", ("TLSv1.3", "TLSv1.2"), _tls_protocols, "TLS versions."
)
HTTP_SSL_CIPHER_SUITES: Setting[tuple[str, ...]] = Setting(
    f"{_HTTP_SSL}cipher_suites", (), _tls_cipher_suites, "TLS 1.2 suites; empty: all AEAD ones."
)
HTTP_SSL_VERIFICATION_MODE = Setting(
    f"{_HTTP_SSL}verification_mode", "full", _verification_mode, "Client certificate checks."
)
HTTP_ALLOW_INSECURE_NON_LOOPBACK = Setting(
    "bastion.http.allow_insecure_non_loopback", False, _bool, "Plain HTTP beyond loopback."
)
RESOURCE_RELOAD_INTERVAL_HIGH = Setting(
    "resource.reload.interval.high", 5.0, _time_at_least(0.1), "How often TLS files are checked."
)


def _ip_filter_rules(value: Any) -> tuple[str, ...]:
    from bastion.transport.ip_filter import parse_rules

    return parse_rules(value)


# IP filtering: see src/bastion/transport/ip_filter.py and docs/ip-filtering.md.
HTTP_FILTER_ENABLED = Setting(
    "xpack.security.http.filter.enabled", True, _bool, "HTTP IP filtering on/off.", dynamic=True
)
HTTP_FILTER_ALLOW: Setting[tuple[str, ...]] = Setting(
    "xpack.security.http.filter.allow",
    (),
    _ip_filter_rules,
    "Addresses, CIDR blocks, `localhost` or `_all` always accepted.",
    dynamic=True,
)
HTTP_FILTER_DENY: Setting[tuple[str, ...]] = Setting(
    "xpack.security.http.filter.deny",
    (),
    _ip_filter_rules,
    "Addresses, CIDR blocks, `localhost` or `_all` refused unless allowed.",
    dynamic=True,
)
FILTER_ALWAYS_ALLOW_BOUND_ADDRESS = Setting(
    "xpack.security.filter.always_allow_bound_address",
    True,
    _bool,
    "Never deny connections from the address the gateway binds.",
)


def _time_in(low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        seconds = _time_value(value)
        if not low <= seconds <= high:
            raise ValueError(f"must be between {low:g}s and {high:g}s")
        return seconds

    return parse


TOKEN_ENABLED = Setting(
    "xpack.security.authc.token.enabled", True, _bool, "The token service (oauth2/token)."
)
TOKEN_TIMEOUT = Setting(
    "xpack.security.authc.token.timeout", 1200.0, _time_in(1.0, 3600.0), "Access token lifetime."
)
TOKEN_DELETE_INTERVAL = Setting(
    "xpack.security.authc.token.delete.interval",
    1800.0,
    _time_at_least(1.0),
    "How often expired tokens are removed.",
)
SERVICE_TOKEN_HASHING_ALGORITHM = Setting(
    "xpack.security.authc.service_token_hashing.algorithm",
    "pbkdf2_stretch",
    _hashing_algorithm,
    "Hash stored for service account token secrets.",
)


def _audit_events(value: Any) -> tuple[str, ...]:
    from bastion.audit.filters import ALL_ACTIONS

    names = _str_list(value)
    for name in names:
        if name != "_all" and name not in ALL_ACTIONS:
            raise ValueError(f"invalid event type specified [{name}]")
    return names


def _wildcards(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(item).strip() for item in items)


# Audit: see src/bastion/audit/ and docs/audit.md.
_AUDIT = "xpack.security.audit."
AUDIT_ENABLED = Setting(_AUDIT + "enabled", False, _bool, "Audit trail on/off.")
AUDIT_EVENTS_INCLUDE: Setting[tuple[str, ...] | None] = Setting(
    _AUDIT + "logfile.events.include",
    None,
    _audit_events,
    "Audited `event.action`s (`_all` for every one).",
    dynamic=True,
)
AUDIT_EVENTS_EXCLUDE: Setting[tuple[str, ...]] = Setting(
    _AUDIT + "logfile.events.exclude", (), _audit_events, "Actions left out.", dynamic=True
)
AUDIT_EMIT_REQUEST_BODY = Setting(
    _AUDIT + "logfile.events.emit_request_body", False, _bool, "Redacted body.", dynamic=True
)
AUDIT_EMIT_NODE_NAME = Setting(
    _AUDIT + "logfile.emit_node_name", False, _bool, "`node.name` in events.", dynamic=True
)
AUDIT_EMIT_NODE_HOST_ADDRESS = Setting(
    _AUDIT + "logfile.emit_node_host_address", False, _bool, "`host.ip` in events.", dynamic=True
)
AUDIT_EMIT_NODE_HOST_NAME = Setting(
    _AUDIT + "logfile.emit_node_host_name", False, _bool, "`host.name` in events.", dynamic=True
)
AUDIT_EMIT_NODE_ID = Setting(
    _AUDIT + "logfile.emit_node_id", True, _bool, "`node.id` in events.", dynamic=True
)
_NO_PATTERNS: tuple[str, ...] = ()
AUDIT_IGNORE_FILTERS = tuple(
    Setting(
        f"{_AUDIT}logfile.events.ignore_filters.*.{field_name}",
        _NO_PATTERNS,
        _wildcards,
        f"Ignore policy: {field_name} (wildcards).",
        dynamic=True,
    )
    for field_name in ("users", "realms", "actions", "roles", "indices")
)
AUDIT_LOGFILE_MAX_SIZE = Setting(
    "bastion.audit.logfile.max_size", 1024**3, _byte_size, "Size that rotates the audit log."
)
AUDIT_CHECKPOINT_INTERVAL = Setting(
    "bastion.audit.logfile.checkpoint_interval",
    1000,
    _int_in(1, 10_000_000),
    "Events between two signed checkpoints.",
)
AUDIT_QUEUE_SIZE = Setting(
    "bastion.audit.queue_size", 10_000, _int_in(1, 10_000_000), "Events waiting to be written."
)
AUDIT_INDEX_ENABLED = Setting(
    "bastion.audit.index.enabled", False, _bool, "Ship audit events to the engine too."
)
AUDIT_INDEX_FLUSH_INTERVAL = Setting(
    "bastion.audit.index.flush_interval", 1.0, _time_at_least(0.01), "Pause between shipments."
)
AUDIT_INDEX_BATCH_SIZE = Setting(
    "bastion.audit.index.batch_size", 1000, _int_in(1, 100_000), "Events per bulk request."
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
    BACKEND_SSL_CERTIFICATE_AUTHORITIES,
    BACKEND_SSL_VERIFICATION_MODE,
    BACKEND_SSL_CERTIFICATE,
    BACKEND_SSL_KEY,
    BACKEND_SSL_KEY_PASSPHRASE,
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
    REALM_CACHE_HASH_ALGO,
    ANONYMOUS_USERNAME,
    ANONYMOUS_ROLES,
    ANONYMOUS_AUTHZ_EXCEPTION,
    BRUTE_FORCE_ENABLED,
    BRUTE_FORCE_FREE_ATTEMPTS,
    BRUTE_FORCE_MAX_DELAY,
    BRUTE_FORCE_LOCK_AFTER,
    BRUTE_FORCE_LOCK_DURATION,
    BRUTE_FORCE_WINDOW,
    HTTP_SSL_ENABLED,
    HTTP_SSL_CERTIFICATE,
    HTTP_SSL_KEY,
    HTTP_SSL_KEY_PASSPHRASE,
    HTTP_SSL_CERTIFICATE_AUTHORITIES,
    HTTP_SSL_KEYSTORE_PATH,
    HTTP_SSL_KEYSTORE_PASSWORD,
    HTTP_SSL_CLIENT_AUTHENTICATION,
    HTTP_SSL_SUPPORTED_PROTOCOLS,
    HTTP_SSL_CIPHER_SUITES,
    HTTP_SSL_VERIFICATION_MODE,
    HTTP_ALLOW_INSECURE_NON_LOOPBACK,
    RESOURCE_RELOAD_INTERVAL_HIGH,
    HTTP_FILTER_ENABLED,
    HTTP_FILTER_ALLOW,
    HTTP_FILTER_DENY,
    FILTER_ALWAYS_ALLOW_BOUND_ADDRESS,
    API_KEY_HASHING_ALGORITHM,
    API_KEY_CACHE_TTL,
    API_KEY_CACHE_MAX_KEYS,
    API_KEY_CACHE_HASH_ALGO,
    API_KEY_DELETE_RETENTION_PERIOD,
    API_KEY_DELETE_INTERVAL,
    TOKEN_ENABLED,
    TOKEN_TIMEOUT,
    TOKEN_DELETE_INTERVAL,
    SERVICE_TOKEN_HASHING_ALGORITHM,
    AUDIT_ENABLED,
    AUDIT_EVENTS_INCLUDE,
    AUDIT_EVENTS_EXCLUDE,
    AUDIT_EMIT_REQUEST_BODY,
    AUDIT_EMIT_NODE_NAME,
    AUDIT_EMIT_NODE_HOST_ADDRESS,
    AUDIT_EMIT_NODE_HOST_NAME,
    AUDIT_EMIT_NODE_ID,
    *AUDIT_IGNORE_FILTERS,
    AUDIT_LOGFILE_MAX_SIZE,
    AUDIT_CHECKPOINT_INTERVAL,
    AUDIT_QUEUE_SIZE,
    AUDIT_INDEX_ENABLED,
    AUDIT_INDEX_FLUSH_INTERVAL,
    AUDIT_INDEX_BATCH_SIZE,
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


def find_setting(key: str) -> Setting[Any] | None:
    """The registered setting that `key` names (directly or through a `*` pattern)."""
    return _find(key)


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
