"""The gateway's connection filter: consulted for every accepted connection, before TLS.

Holds the current compiled `IpFilter` and swaps it whole when `xpack.security.http.filter.*`
changes (bastion.yml, or `PUT /_cluster/settings` seen through `DynamicSettings`). Until the
stored dynamic settings have been read once, only the bound addresses are let in: a persisted
deny rule must not be bypassed in the moment after a restart.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable

from bastion.config import settings as s
from bastion.config.settings import Settings
from bastion.dynamic_settings import DynamicSettings
from bastion.transport.ip_filter import ALL, IpFilter, IpFilterError, IpFilterRule

log = logging.getLogger(__name__)

FILTER_PREFIX = "xpack.security.http.filter."
LOG_INTERVAL = 1.0  # seconds between two debug lines about denied connections


def bound_addresses(settings: Settings) -> tuple[str, ...]:
    """The addresses Elasticsearch never denies (`always_allow_bound_address`)."""
    if not settings.get(s.FILTER_ALWAYS_ALLOW_BOUND_ADDRESS):
        return ()
    host = settings.get(s.HTTP_HOST)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ()
    return (host,)


class ConnectionFilter:
    def __init__(self, dynamic: DynamicSettings, bound: tuple[str, ...]) -> None:
        self._bound = bound
        self._filter = IpFilter.compile((), (ALL,), bound_addresses=bound)  # until loaded
        self._last_log = 0.0
        self._suppressed = 0
        # The audit trail's connection_granted / connection_denied: (address, rule, allowed).
        self.audit_listener: Callable[[str, str, bool], None] | None = None
        dynamic.subscribe(FILTER_PREFIX, self.update)
        if dynamic.loaded:
            self.update(dynamic)

    @property
    def current(self) -> IpFilter:
        return self._filter

    def update(self, dynamic: DynamicSettings) -> None:
        allow: tuple[str, ...] = dynamic.get(s.HTTP_FILTER_ALLOW)
        deny: tuple[str, ...] = dynamic.get(s.HTTP_FILTER_DENY)
        try:
            self._filter = IpFilter.compile(
                allow,
                deny,
                enabled=dynamic.get(s.HTTP_FILTER_ENABLED),
                bound_addresses=self._bound,
            )
        except IpFilterError as error:  # validated before storing; keep the last good filter
            log.error("ip filter rules not applied: %s", error)

    def __call__(self, address: str) -> bool:
        rule = self._filter.decide(address)
        allowed = rule is None or rule.allow
        self.record(address, rule, allowed)
        return allowed

    def record(self, address: str, rule: IpFilterRule | None, allowed: bool) -> None:
        """Every decision passes here, to the audit trail's `connection_granted` and
        `connection_denied` events; `rule` is None when no rule matched (Elasticsearch's
        `default:accept_all`)."""
        if self.audit_listener is not None:
            self.audit_listener(address, str(rule) if rule else "default:accept_all", allowed)
        if allowed or not log.isEnabledFor(logging.DEBUG):
            return
        now = time.monotonic()
        if now - self._last_log < LOG_INTERVAL:
            self._suppressed += 1  # a flood of denied connections must not flood the log
            return
        log.debug(
            "connection from [%s] denied by ip filter rule [%s]%s",
            address,
            rule,
            f" ({self._suppressed} more denied since the last message)" if self._suppressed else "",
        )
        self._last_log = now
        self._suppressed = 0
