"""The audit trail of one worker: builds events in Elasticsearch's logfile schema and hands
them to the output.

The pipeline opens a `RequestAudit` per client request (`AuditTrail.begin`); it carries the
request's `request.id` and REST fields, so that every event of the request (authentication,
each authorization decision including bulk items, configuration changes) shares them. Each
`emit` first checks the cheap filter (`event.action` included?), so a disabled or narrow audit
costs a dictionary lookup per decision.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.audit.filters import CONFIG_CHANGE, PREFIX, AuditFilter, EventInfo
from bastion.audit.index_output import IndexShipper
from bastion.audit.logfile import LogFileOutput, timestamp
from bastion.audit.request_names import request_name
from bastion.authc.user import Authentication, RealmRef
from bastion.rest import routes

if TYPE_CHECKING:
    from bastion.dynamic_settings import DynamicSettings

log = logging.getLogger(__name__)

INTERNAL_REALM = "__attach"  # Elasticsearch's realm name for its internal users
_SECURITY_INDICES = (".bastion-security", ".bastion-tokens")

# The audit of the request being handled, for code that has no handle on the request
# (the realm chain's per-realm failures).
CURRENT: contextvars.ContextVar[RequestAudit | None] = contextvars.ContextVar(
    "bastion_audit_request", default=None
)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    id: str
    name: str
    host_name: str
    host_ip: str


@dataclass(frozen=True, slots=True)
class RestRequest:
    """What the audit needs of an HTTP request, captured once (no aiohttp types here)."""

    method: str
    path: str
    query: str
    remote: str | None
    body: bytes | None
    opaque_id: str | None
    traceparent: str | None
    forwarded_for: str | None


def request_id() -> str:
    """A 20-character URL-safe random id, like Elasticsearch's."""
    return base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()


def _trace_id(traceparent: str | None) -> str | None:
    """The trace-id part of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`)."""
    if not traceparent:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    return None


def _user_fields(authentication: Authentication, *, run_as_event: bool) -> dict[str, Any]:
    """`user.*` as Elasticsearch writes them. On run_as events the authenticating user is
    `user.name` and the target `user.run_as.*`; on all others the effective user is
    `user.name` and the authenticating one `user.run_by.*`."""
    fields: dict[str, Any] = {"authentication.type": authentication.type.upper()}
    runner = authentication.authenticating_user
    if runner is None:
        fields["user.name"] = authentication.user.username
        fields["user.realm"] = authentication.authenticating_realm.name
        fields["user.roles"] = list(authentication.user.roles)
    elif run_as_event:
        fields["user.name"] = runner.username
        fields["user.run_as.name"] = authentication.user.username
        fields["user.realm"] = authentication.authenticating_realm.name
        fields["user.run_as.realm"] = authentication.lookup_realm.name
        fields["user.roles"] = list(runner.roles)
    else:
        fields["user.name"] = authentication.user.username
        fields["user.run_by.name"] = runner.username
        fields["user.realm"] = authentication.lookup_realm.name
        fields["user.run_by.realm"] = authentication.authenticating_realm.name
        fields["user.roles"] = list(authentication.user.roles)
    if authentication.api_key is not None:
        fields["apikey.id"] = authentication.api_key.id
        if authentication.api_key.name is not None:
            fields["apikey.name"] = authentication.api_key.name
    if authentication.token is not None:  # a service account token
        fields["authentication.token.name"] = authentication.token.name
        fields["authentication.token.type"] = authentication.token.type
    return fields


class AuditTrail:
    def __init__(
        self,
        values: Mapping[str, Any],
        node: NodeInfo,
        output: LogFileOutput | None,
        shipper: IndexShipper | None = None,
    ) -> None:
        self.filter = AuditFilter.from_mapping(values)
        self.node = node
        self.output = output
        self.shipper = shipper

    def apply_settings(self, values: Mapping[str, Any]) -> None:
        """Rebuild the filters from settings (e.g. after `PUT /_cluster/settings`); a bad value
        raises ValueError and keeps the filters in force."""
        self.filter = AuditFilter.from_mapping(values)

    def follow(self, dynamic: DynamicSettings) -> None:
        """A `DynamicSettings` subscriber: `PUT /_cluster/settings` changed audit settings."""
        try:
            self.apply_settings(dynamic.effective(PREFIX))
        except ValueError as error:
            log.error("audit settings not applied: %s", error)

    def start(self) -> None:
        if self.output is not None:
            self.output.start()
        if self.shipper is not None:
            self.shipper.start()

    async def stop(self) -> None:
        if self.output is not None:
            await asyncio.to_thread(self.output.stop)
        if self.shipper is not None:
            await self.shipper.stop()

    def connection(self, address: str, rule: str, allowed: bool) -> None:
        """IP filtering's decision on a connection (no request yet, so no `request.id`)."""
        action = "connection_granted" if allowed else "connection_denied"
        if self.output is None or not self.filter.wants(action):
            return
        if self.filter.ignored(action, EventInfo()):
            return
        event = self._prefix("ip_filter", action)
        event["origin.type"] = "rest"
        event["origin.address"] = address
        event["transport.profile"] = ".http"
        event["rule"] = rule
        self.output.submit(event)

    def system_access(self, method: str, path_qs: str) -> None:
        """An engine request Bastion sends on its own behalf (security store, tokens, metadata).
        As Elasticsearch's internal users, it is written as `access_granted` only when both
        `access_granted` and `system_access_granted` are included."""
        config = self.filter
        if self.output is None or not (
            config.wants("system_access_granted") and config.wants("access_granted")
        ):
            return
        match = routes.match_raw(method, path_qs)
        action = match.action if match is not None else method + " " + path_qs.partition("?")[0]
        indices = match.index_names if match is not None else ()
        user = (
            "_xpack_security"
            if any(i.startswith(_SECURITY_INDICES) for i in indices)
            else "_system"
        )
        if config.ignored("access_granted", EventInfo(user, INTERNAL_REALM, action, (), indices)):
            return
        event = self._prefix("transport", "access_granted")
        event["authentication.type"] = "INTERNAL"
        event["user.name"] = user
        event["user.realm"] = INTERNAL_REALM
        event["origin.type"] = "local_node"
        event["origin.address"] = self.node.host_ip
        event["request.id"] = request_id()
        event["action"] = action
        if name := request_name(action):
            event["request.name"] = name
        if indices:
            event["indices"] = list(indices)
        self.output.submit(event)

    def begin(self, request: Callable[[], RestRequest]) -> RequestAudit | None:
        """`request` builds the REST facts when the first event needs them (most requests
        write no event when auditing is narrow). None when auditing is off."""
        if self.output is None:
            return None
        audit = RequestAudit(self, request)
        CURRENT.set(audit)
        return audit

    def _prefix(self, event_type: str, action: str) -> dict[str, Any]:
        config = self.filter
        fields: dict[str, Any] = {"type": "audit", "timestamp": timestamp(time.time())}
        if config.emit_node_name:
            fields["node.name"] = self.node.name
        if config.emit_node_id:
            fields["node.id"] = self.node.id
        if config.emit_node_host_name:
            fields["host.name"] = self.node.host_name
        if config.emit_node_host_address:
            fields["host.ip"] = self.node.host_ip
        fields["event.type"] = event_type
        fields["event.action"] = action
        return fields


# Elasticsearch's field order after the prefix (its log4j2 pattern); unknown keys go last.
_ORDER = {
    name: i
    for i, name in enumerate(
        (
            "authentication.type",
            "user.name",
            "user.run_by.name",
            "user.run_as.name",
            "user.realm",
            "user.run_by.realm",
            "user.run_as.realm",
            "user.roles",
            "apikey.id",
            "apikey.name",
            "authentication.token.name",
            "authentication.token.type",
            "origin.type",
            "origin.address",
            "realm",
            "url.path",
            "url.query",
            "request.method",
            "request.body",
            "request.id",
            "action",
            "request.name",
            "indices",
            "opaque_id",
            "trace.id",
            "x_forwarded_for",
            "transport.profile",
            "rule",
            "put",
            "delete",
            "change",
            "create",
            "invalidate",
        )
    )
}


class RequestAudit:
    """The audit of one client request; every method is cheap when its event is filtered out."""

    def __init__(self, trail: AuditTrail, request: Callable[[], RestRequest]) -> None:
        self._trail = trail
        self._build = request
        self._request: RestRequest | None = None
        self._id: str | None = None

    @property
    def id(self) -> str:
        if self._id is None:
            self._id = request_id()
        return self._id

    def wants(self, action: str) -> bool:
        return self._trail.filter.wants(action)

    def _rest(self, *, with_url: bool = True) -> dict[str, Any]:
        if self._request is None:
            self._request = self._build()
        request = self._request
        fields: dict[str, Any] = {"origin.type": "rest"}
        if request.remote:
            fields["origin.address"] = request.remote
        if with_url:
            fields["url.path"] = request.path
            if request.query:
                fields["url.query"] = request.query
            fields["request.method"] = request.method
            if request.body and self._trail.filter.emit_request_body:
                fields["request.body"] = request.body  # redacted by the writer, off the loop
        fields["request.id"] = self.id
        if request.opaque_id:
            fields["opaque_id"] = request.opaque_id
        if trace := _trace_id(request.traceparent):
            fields["trace.id"] = trace
        if request.forwarded_for:
            fields["x_forwarded_for"] = request.forwarded_for
        return fields

    def _emit(self, event_type: str, action: str, fields: dict[str, Any], info: EventInfo) -> None:
        trail = self._trail
        policy_action = CONFIG_CHANGE if event_type == CONFIG_CHANGE else action
        if trail.output is None or trail.filter.ignored(policy_action, info):
            return
        event = trail._prefix(event_type, action)
        event.update(sorted(fields.items(), key=lambda item: _ORDER.get(item[0], len(_ORDER))))
        try:
            trail.output.submit(event)
        except Exception:  # an audit failure must never fail the request
            log.exception("cannot queue an audit event")

    # --- authentication -------------------------------------------------------------------

    def authentication_success(self, authentication: Authentication) -> None:
        if not self.wants("authentication_success"):
            return
        fields = _user_fields(authentication, run_as_event=False)
        fields["realm"] = authentication.authenticating_realm.name
        fields.update(self._rest())
        self._emit("rest", "authentication_success", fields, _info(authentication))

    def authentication_failed(self, username: str | None, brute_force: str | None = None) -> None:
        if not self.wants("authentication_failed"):
            return
        fields: dict[str, Any] = {"user.name": username} if username is not None else {}
        fields.update(self._rest())
        if brute_force is not None:  # Bastion's: brute-force protection locked or delayed it
            fields["bastion.brute_force"] = brute_force
        self._emit("rest", "authentication_failed", fields, EventInfo(user=username))

    def realm_authentication_failed(self, realm: RealmRef, username: str) -> None:
        if not self.wants("realm_authentication_failed"):
            return
        fields: dict[str, Any] = {"user.name": username, "realm": realm.name}
        fields.update(self._rest())
        info = EventInfo(user=username, realm=realm.name)
        self._emit("rest", "realm_authentication_failed", fields, info)

    def anonymous_access_denied(self) -> None:
        if not self.wants("anonymous_access_denied"):
            return
        self._emit("rest", "anonymous_access_denied", self._rest(), EventInfo())

    # --- authorization --------------------------------------------------------------------

    def _decision(
        self,
        event: str,
        authentication: Authentication,
        action: str,
        indices: tuple[str, ...],
        *,
        run_as_event: bool = False,
        name: str | None = None,
    ) -> None:
        if not self.wants(event):
            return
        fields = _user_fields(authentication, run_as_event=run_as_event)
        fields.update(self._rest(with_url=False))
        fields["action"] = action
        if name := name or request_name(action):
            fields["request.name"] = name
        if indices:
            fields["indices"] = list(indices)
        info = _info(authentication, action, indices, run_as_event=run_as_event)
        self._emit("transport", event, fields, info)

    def access_granted(
        self,
        authentication: Authentication,
        action: str,
        indices: tuple[str, ...] = (),
        name: str | None = None,
    ) -> None:
        """`name` overrides the `request.name` the action implies (bulk items)."""
        self._decision("access_granted", authentication, action, indices, name=name)

    def access_denied(
        self,
        authentication: Authentication,
        action: str,
        indices: tuple[str, ...] = (),
        name: str | None = None,
    ) -> None:
        self._decision("access_denied", authentication, action, indices, name=name)

    def run_as_granted(self, authentication: Authentication, action: str) -> None:
        self._decision("run_as_granted", authentication, action, (), run_as_event=True)

    def run_as_denied(self, authentication: Authentication, action: str) -> None:
        self._decision("run_as_denied", authentication, action, (), run_as_event=True)

    def run_as_denied_names(self, username: str | None, target: str) -> None:
        """run_as_denied for a run-as user no realm knows (there is no Authentication)."""
        if not self.wants("run_as_denied"):
            return
        fields: dict[str, Any] = {"user.run_as.name": target}
        if username is not None:
            fields["user.name"] = username
        fields.update(self._rest())
        self._emit("transport", "run_as_denied", fields, EventInfo(user=username))

    def tampered_request(self, authentication: Authentication | None, action: str) -> None:
        if not self.wants("tampered_request"):
            return
        fields = (
            _user_fields(authentication, run_as_event=False) if authentication is not None else {}
        )
        fields.update(self._rest())
        fields["action"] = action
        if name := request_name(action):
            fields["request.name"] = name
        info = _info(authentication, action) if authentication else EventInfo(action=action)
        self._emit("transport", "tampered_request", fields, info)

    # --- configuration changes ------------------------------------------------------------

    def config_change(
        self, authentication: Authentication | None, action: str, change: Mapping[str, Any]
    ) -> None:
        """`change` is the event's object in Elasticsearch's shape, e.g. `{"put": {"user":
        {...}}}`; it must hold no secret (say `has_password`, never the password)."""
        if not self.wants(CONFIG_CHANGE):
            return
        fields = (
            _user_fields(authentication, run_as_event=False) if authentication is not None else {}
        )
        fields.update(self._rest(with_url=False))
        fields.update(change)
        self._emit(CONFIG_CHANGE, action, fields, EventInfo())


def _info(
    authentication: Authentication,
    action: str | None = None,
    indices: tuple[str, ...] = (),
    *,
    run_as_event: bool = False,
) -> EventInfo:
    runner = authentication.authenticating_user
    user = runner if run_as_event and runner is not None else authentication.user
    realm = (
        authentication.lookup_realm
        if runner is not None and not run_as_event
        else authentication.authenticating_realm
    )
    return EventInfo(user.username, realm.name, action, tuple(user.roles), indices)


def realm_failure_listener() -> Callable[[RealmRef, str], None]:
    """For `AuthenticationService.realm_failure_listener`: audits into the current request."""

    def listener(realm: RealmRef, username: str) -> None:
        audit = CURRENT.get()
        if audit is not None:
            audit.realm_authentication_failed(realm, username)

    return listener
