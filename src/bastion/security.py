"""Wiring of one worker's security components, built from the settings.

Holds the security store, the realm chain and the authentication service, and keeps caches
fresh: a background task polls the store's change counter and clears every credential cache
when another worker or gateway changed users (within `CHANGE_POLL_INTERVAL`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from bastion.audit.filters import PREFIX as AUDIT_PREFIX
from bastion.audit.setup import build_audit_trail
from bastion.audit.trail import realm_failure_listener
from bastion.authc.api_keys.service import ApiKeyService, ApiKeySettings
from bastion.authc.brute_force import BruteForcePolicy, BruteForceProtection
from bastion.authc.credential_cache import CredentialCache
from bastion.authc.native_users import NativeUsers
from bastion.authc.password_hashing import Hasher, resolve_hasher
from bastion.authc.realms.base import Realm
from bastion.authc.realms.file import FileRealm
from bastion.authc.realms.native import NativeRealm
from bastion.authc.realms.reserved import ReservedRealm
from bastion.authc.service import AnonymousAccess, AuthenticationService
from bastion.authc.service_accounts.roles import ServiceAccountRoleStore
from bastion.authc.service_accounts.service import ServiceAccountService
from bastion.authc.tokens.bearer import BearerAuthenticator
from bastion.authc.tokens.service import TokenService
from bastion.authc.tokens.store import TokenIndex
from bastion.authc.user import User
from bastion.authz.role_store import RoleStore
from bastion.authz.service import AuthorizationService
from bastion.backend.client import EngineClient, EngineUnavailable
from bastion.backend.metadata import MetadataCache
from bastion.config import settings as s
from bastion.config.settings import Settings, SettingsError
from bastion.dynamic_settings import ClusterSettingsStore, DynamicSettings
from bastion.keystore import SecureSettings, SecureSettingsSource, keystore_path
from bastion.store.security_index import SecurityIndex, StoreError

log = logging.getLogger(__name__)

CHANGE_POLL_INTERVAL = 0.5  # seconds; other gateways' changes are seen within a second
REALMS_PREFIX = "xpack.security.authc.realms."
# Elasticsearch enables these unless they are configured or disabled explicitly.
DEFAULT_REALMS = {"file": ("default_file", -(2**31)), "native": ("default_native", -(2**31) + 1)}
SUPPORTED_REALM_TYPES = ("file", "native")


@dataclass(frozen=True, slots=True)
class RealmConfig:
    type: str
    name: str
    order: int
    cache_ttl: float
    cache_max_users: int


def realm_configs(settings: Settings) -> list[RealmConfig]:
    """The enabled realms, from `xpack.security.authc.realms.<type>.<name>.*`, plus the
    default file and native realms unless a realm of that type is configured."""
    configured: dict[tuple[str, str], None] = {}
    for key in settings.keys_matching(REALMS_PREFIX):
        realm_type, name = key[len(REALMS_PREFIX) :].split(".")[:2]
        configured[(realm_type, name)] = None
    configs = []
    for realm_type, name in configured:
        base = f"{REALMS_PREFIX}{realm_type}.{name}."
        if realm_type not in SUPPORTED_REALM_TYPES:
            raise SettingsError(
                f"unknown realm type [{realm_type}] in [{base}*]; supported: "
                + ", ".join(SUPPORTED_REALM_TYPES)
            )
        if not settings.get(s.REALM_ENABLED, base + "enabled"):
            continue
        if base + "order" not in settings.values:
            raise SettingsError(f"missing realm order [{base}order]")
        configs.append(
            _config(settings, realm_type, name, settings.get(s.REALM_ORDER, base + "order"))
        )
    types = {realm_type for realm_type, _ in configured}
    for realm_type, (name, order) in DEFAULT_REALMS.items():
        if realm_type not in types:
            configs.append(_config(settings, realm_type, name, order))
    orders = [config.order for config in configs]
    if len(set(orders)) != len(orders):
        raise SettingsError("two realms have the same order; each realm needs its own `order`")
    return sorted(configs, key=lambda config: config.order)


def _config(settings: Settings, realm_type: str, name: str, order: int) -> RealmConfig:
    base = f"{REALMS_PREFIX}{realm_type}.{name}."
    return RealmConfig(
        realm_type,
        name,
        order,
        settings.get(s.REALM_CACHE_TTL, base + "cache.ttl"),
        settings.get(s.REALM_CACHE_MAX_USERS, base + "cache.max_users"),
    )


def anonymous_access(settings: Settings) -> AnonymousAccess | None:
    roles = settings.get(s.ANONYMOUS_ROLES)
    if not roles:
        return None
    return AnonymousAccess(
        settings.get(s.ANONYMOUS_USERNAME), roles, settings.get(s.ANONYMOUS_AUTHZ_EXCEPTION)
    )


class Security:
    def __init__(
        self,
        settings: Settings,
        engine: EngineClient,
        config_dir: Path,
        *,
        keystore_password: str = "",
    ) -> None:
        self.settings = settings
        self.secure = SecureSettingsSource(keystore_path(config_dir), keystore_password)
        self.secure.load()
        self.index = SecurityIndex(engine)
        self.users = NativeUsers(self.index)
        self.hasher: Hasher = resolve_hasher(settings.get(s.PASSWORD_HASHING_ALGORITHM))
        self.min_password_length = settings.get(s.PASSWORD_MIN_LENGTH)
        decoy = (self.hasher, self.hasher.hash(secrets.token_bytes(16).hex()))
        realms: list[Realm] = [
            ReservedRealm(self.users, CredentialCache[User](ttl=1200.0, max_users=100), decoy)
        ]
        configs = realm_configs(settings)
        for config in configs:
            cache = CredentialCache[User](ttl=config.cache_ttl, max_users=config.cache_max_users)
            if config.type == "native":
                realms.append(NativeRealm(config.name, config.order, self.users, cache))
            elif config.type == "file":
                realms.append(FileRealm(config.name, config.order, config_dir, cache))
        self._file_realms = [realm for realm in realms if isinstance(realm, FileRealm)]
        self.authc = AuthenticationService(
            realms,
            anonymous_access(settings),
            BruteForceProtection(BruteForcePolicy.from_settings(settings)),
            decoy=decoy,
            remember_basic=all(c.cache_ttl > 0 and c.cache_max_users > 0 for c in configs),
        )
        self.api_keys = ApiKeyService(
            self.index,
            ApiKeySettings(
                resolve_hasher(settings.get(s.API_KEY_HASHING_ALGORITHM)),
                settings.get(s.API_KEY_CACHE_TTL),
                settings.get(s.API_KEY_CACHE_MAX_KEYS),
                settings.get(s.API_KEY_DELETE_RETENTION_PERIOD),
                settings.get(s.API_KEY_DELETE_INTERVAL),
            ),
        )
        self.authc.register_scheme("ApiKey", self.api_keys.authenticate)
        self.metadata = MetadataCache(engine, settings.get(s.METADATA_REFRESH_INTERVAL))
        self.roles: RoleStore = ServiceAccountRoleStore(self.index, config_dir / "roles.yml")
        self.authz = AuthorizationService(self.roles, self.metadata)
        self.tokens = TokenService(
            TokenIndex(engine),
            self.index.bump_change_counter,
            timeout=settings.get(s.TOKEN_TIMEOUT),
            enabled=settings.get(s.TOKEN_ENABLED),
            delete_interval=settings.get(s.TOKEN_DELETE_INTERVAL),
        )
        self.service_accounts = ServiceAccountService(
            self.index, resolve_hasher(settings.get(s.SERVICE_TOKEN_HASHING_ALGORITHM)), config_dir
        )
        bearer = BearerAuthenticator(self.tokens, self.service_accounts)
        self.authc.register_scheme("Bearer", bearer)
        self.dynamic = DynamicSettings(settings)
        self.cluster_settings = ClusterSettingsStore(self.index)
        self.audit = build_audit_trail(settings, config_dir, self.secure.current, engine)
        if self.audit.output is not None:
            engine.observer = self.audit.system_access
        self.authc.realm_failure_listener = realm_failure_listener()
        self.dynamic.subscribe(AUDIT_PREFIX, self.audit.follow)
        self._counter: int | None = None
        self._poller: asyncio.Task[None] | None = None

    @property
    def secure_settings(self) -> SecureSettings:
        """The keystore's entries as last (re)loaded; for features that need secrets."""
        return self.secure.current

    def start(self) -> None:
        self._poller = asyncio.create_task(self._poll_changes())
        self.metadata.start()
        self.api_keys.start()
        self.tokens.start()
        self.audit.start()

    async def stop(self) -> None:
        await self.api_keys.stop()
        await self.tokens.stop()
        await self.metadata.stop()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.audit.stop()

    def changed_locally(self) -> None:
        """A write through this worker: drop caches now rather than at the next poll."""
        self.authc.clear_caches()
        self.api_keys.clear_cache()
        self.tokens.clear_cache()
        self.service_accounts.clear_cache()
        self.roles.invalidate()

    def _reload_files(self) -> None:
        """Re-read the security files that changed, and follow a reload_secure_settings made
        elsewhere. Blocking I/O: run in a thread, all in one hop."""
        for realm in self._file_realms:
            realm.reload()
        self.roles.reload_file()
        self.service_accounts.reload_file()
        self.secure.follow()

    async def _poll_changes(self) -> None:
        while True:
            await asyncio.sleep(CHANGE_POLL_INTERVAL)
            await asyncio.to_thread(self._reload_files)
            try:
                counter = await self.index.change_counter()
            except (EngineUnavailable, StoreError):
                continue
            # The first reading clears too: changes may have landed between start and now.
            if counter != self._counter:
                self.authc.clear_caches()
                self.api_keys.clear_cache()
                self.tokens.clear_cache()
                self.service_accounts.clear_cache()
                self.roles.invalidate()
                if not await self.reload_dynamic():
                    continue  # retried at the next poll
            self._counter = counter

    async def reload_dynamic(self) -> bool:
        """Re-read Bastion's dynamic cluster settings; False when the engine did not answer."""
        try:
            self.dynamic.apply(await self.cluster_settings.load())
        except (EngineUnavailable, StoreError) as error:
            log.warning("cannot read dynamic cluster settings: %s", error)
            return False
        return True
