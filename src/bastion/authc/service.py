"""The authentication service: turns a request's credentials into an `Authentication`.

Credentials → the realm chain (reserved first, then the configured realms by `order`) → the
first realm that succeeds. A failure is one uniform 401 whatever the reason (unknown user, wrong
password, disabled user), so that messages reveal nothing about which users exist.

A Basic header that succeeded is remembered per client address for `RECENT_TTL` (a keyed hash
of both, never the header), so that a client repeating it skips the decoding and the realm
chain: the realms' own credential caches would answer the same. It is forgotten at any
credential cache invalidation (a password change, a disabled user, a cleared cache) and is not
kept when a realm caches nothing. The brute-force check still runs for every request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bastion.authc.brute_force import BruteForcePolicy, BruteForceProtection
from bastion.authc.credential_cache import CredentialCache
from bastion.authc.password_hashing import Hasher
from bastion.authc.realms.base import Outcome, Realm, UsernamePasswordToken
from bastion.authc.user import Authentication, RealmRef, User

log = logging.getLogger(__name__)

RUN_AS_HEADER = "es-security-runas-user"
BASIC_CHALLENGE = 'Basic realm="security", charset="UTF-8"'
BEARER_CHALLENGE = 'Bearer realm="security"'
EXPIRED_BEARER_CHALLENGE = (
    'Bearer realm="security", error="invalid_token", error_description="The access token expired"'
)
MAX_CREDENTIALS = 8192  # bytes of a decoded Basic header; beyond is refused unparsed
ANONYMOUS_REALM = RealmRef("__anonymous", "anonymous")
RECENT_TTL = 1.0  # seconds a succeeded Basic header is remembered
RECENT_MAX = 1024  # remembered headers; the memory is cleared when it is full

# An authenticator for one `Authorization` scheme other than Basic (ApiKey, Bearer): it gets the
# credentials after the scheme, the REST path and the client address, and returns the
# Authentication or raises AuthenticationError.
SchemeAuthenticator = Callable[[str, str, str | None], Awaitable["Authentication"]]


class AuthenticationError(Exception):
    """A 401 (or 403 for run_as) in Elasticsearch's `security_exception` shape."""

    def __init__(
        self,
        reason: str,
        status: int = 401,
        brute_force: str | None = None,
        challenge: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        # "locked" or "delayed" when brute-force protection acted on this attempt (for the audit)
        self.brute_force = brute_force
        # A WWW-Authenticate value sent before the usual ones (an expired bearer token says so)
        self.challenge = challenge


def _login_failed(
    token: UsernamePasswordToken, rest_path: str, brute_force: str | None
) -> AuthenticationError:
    # Built only on failure: the success path is every request's.
    return AuthenticationError(
        f"unable to authenticate user [{token.username}] for REST request [{rest_path}]",
        brute_force=brute_force,
    )


@dataclass(frozen=True, slots=True)
class AnonymousAccess:
    username: str
    roles: tuple[str, ...]
    authz_exception: bool

    def authentication(self) -> Authentication:
        user = User(self.username, self.roles, metadata={"_reserved": True})
        return Authentication(user, ANONYMOUS_REALM, ANONYMOUS_REALM, type="anonymous")


def parse_basic(header: str) -> UsernamePasswordToken | None:
    """`Basic <base64(user:password)>` → token; another scheme → None. Raises on a malformed one."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AuthenticationError("invalid basic authentication header encoding") from None
    if len(decoded) > MAX_CREDENTIALS:
        raise AuthenticationError("invalid basic authentication header value")
    username, sep, password = decoded.partition(b":")
    if not sep:
        raise AuthenticationError("invalid basic authentication header value")
    try:
        name = username.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthenticationError("invalid basic authentication header value") from None
    return UsernamePasswordToken(name, password)


@dataclass(frozen=True, slots=True)
class _Recent:
    authentication: Authentication
    generation: int  # `CredentialCache.generation` before the realms were asked
    expires: float


class AuthenticationService:
    def __init__(
        self,
        realms: Sequence[Realm],
        anonymous: AnonymousAccess | None,
        brute_force: BruteForceProtection | None = None,
        *,
        decoy: tuple[Hasher, str] | None = None,
        remember_basic: bool = True,
    ) -> None:
        self.realms = tuple(sorted(realms, key=lambda realm: realm.order))
        # Off when a realm caches nothing: then every request must reach the realm.
        self._remember_basic = remember_basic
        self._recent_key = secrets.token_bytes(32)  # BLAKE2s' longest key
        self._recent: dict[bytes, _Recent] = {}
        # Checked when no realm checked a stored hash (an unknown user), so that a failed login
        # costs one hash check whoever the user is and whichever realm knows them.
        self._decoy = decoy
        self.anonymous = anonymous
        self._brute_force = brute_force or BruteForceProtection(BruteForcePolicy(enabled=False))
        self._schemes: dict[str, SchemeAuthenticator] = {}
        # Told of each realm that refused the credentials (the audit's
        # realm_authentication_failed); None when nobody listens.
        self.realm_failure_listener: Callable[[RealmRef, str], None] | None = None

    def register_scheme(self, scheme: str, authenticator: SchemeAuthenticator) -> None:
        """Authenticate `Authorization: <scheme> ...` with `authenticator` (case-insensitive)."""
        self._schemes[scheme.lower()] = authenticator

    def has_scheme(self, scheme: str) -> bool:
        return scheme.lower() in self._schemes

    @property
    def anonymous_username(self) -> str | None:
        return self.anonymous.username if self.anonymous else None

    def realm(self, name: str) -> Realm | None:
        return next((realm for realm in self.realms if realm.ref.name == name), None)

    async def authenticate(
        self, authorization: str | None, run_as: str | None, rest_path: str, address: str | None
    ) -> Authentication:
        if authorization and self._remember_basic:
            recent = self._recent_basic(authorization, address)
            if recent is not None:
                return recent if run_as is None else await self._run_as(recent, run_as)
        token = parse_basic(authorization) if authorization else None
        if token is None and authorization:
            scheme, _, credentials = authorization.strip().partition(" ")
            authenticator = self._schemes.get(scheme.lower())
            if authenticator is not None:
                authentication = await authenticator(credentials.strip(), rest_path, address)
                return (
                    authentication if run_as is None else await self._run_as(authentication, run_as)
                )
        if token is None:
            if self.anonymous is not None:
                return self.anonymous.authentication()
            raise AuthenticationError(
                f"missing authentication credentials for REST request [{rest_path}]"
            )
        generation = CredentialCache.generation
        authentication = await self._guarded_realm_chain(token, rest_path, address)
        if self._remember_basic and authorization:
            self._remember(authorization, address, authentication, generation)
        if run_as is None:
            return authentication
        return await self._run_as(authentication, run_as)

    def _digest(self, authorization: str, address: str | None) -> bytes:
        # Keyed BLAKE2 is a MAC, and three times cheaper here than HMAC-SHA256.
        raw = f"{address}\n{authorization}".encode("utf-8", "surrogateescape")
        return hashlib.blake2s(raw, key=self._recent_key).digest()

    def _recent_basic(self, authorization: str, address: str | None) -> Authentication | None:
        """Remembered per header and client address, so that each pair still passes the full
        path (and records the brute-force trust) once per `RECENT_TTL`."""
        recent = self._recent.get(self._digest(authorization, address))
        now = time.monotonic()
        if (
            recent is None
            or recent.generation != CredentialCache.generation
            or now >= recent.expires
        ):
            return None
        decision = self._brute_force.check(recent.authentication.user.username, address, now)
        if not decision.allowed or decision.delay:
            return None  # the full path refuses or delays it, and says why
        return recent.authentication

    def _remember(
        self,
        authorization: str,
        address: str | None,
        authentication: Authentication,
        generation: int,
    ) -> None:
        if len(self._recent) >= RECENT_MAX:
            self._recent.clear()
        expires = time.monotonic() + RECENT_TTL
        key = self._digest(authorization, address)
        self._recent[key] = _Recent(authentication, generation, expires)

    async def _guarded_realm_chain(
        self, token: UsernamePasswordToken, rest_path: str, address: str | None
    ) -> Authentication:
        decision = self._brute_force.check(token.username, address, time.monotonic())
        if not decision.allowed:
            # Refused before the password is checked, with the answer of a wrong password.
            log.warning("login of user [%s] from [%s] is locked", token.username, address)
            raise _login_failed(token, rest_path, "locked")
        brute_force = "delayed" if decision.delay else None
        if decision.delay:
            await asyncio.sleep(decision.delay)
        verified = False
        for realm in self.realms:
            result = await realm.authenticate(token)
            if result.outcome is Outcome.SUCCESS and result.user is not None:
                self._brute_force.record_success(token.username, address, time.monotonic())
                return Authentication(result.user, realm.ref, realm.ref)
            verified = verified or result.verified
            if self.realm_failure_listener is not None:
                self.realm_failure_listener(realm.ref, token.username)
            if result.outcome is Outcome.TERMINATE:
                break
        if not verified and self._decoy is not None:
            hasher, decoy_hash = self._decoy
            await asyncio.to_thread(hasher.verify, token.password, decoy_hash)
        self._brute_force.record_failure(token.username, address, time.monotonic())
        log.info("authentication of user [%s] from [%s] failed", token.username, address)
        raise _login_failed(token, rest_path, brute_force)

    async def _run_as(self, authentication: Authentication, target: str) -> Authentication:
        """Resolve the run-as user in the realms (the privilege check is authorization's)."""
        by = authentication.user.username
        if not target:
            raise AuthenticationError("the run_as username may not be empty", status=401)
        for realm in self.realms:
            user = await realm.lookup_user(target)
            if user is not None:
                return Authentication(
                    user,
                    authentication.authenticating_realm,
                    realm.ref,
                    authenticating_user=authentication.user,
                )
        raise AuthenticationError(
            f"action is unauthorized for user [{by}] because user [{by}] is unauthorized to run "
            f"as [{target}]",
            status=403,
        )

    def clear_caches(
        self, realm_names: Sequence[str] = (), usernames: tuple[str, ...] = ()
    ) -> None:
        for realm in self.realms:
            if not realm_names or realm.ref.name in realm_names:
                realm.clear_cache(usernames)
