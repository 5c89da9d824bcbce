"""HTTP IP filtering: `xpack.security.http.filter.allow`, `.deny` and `.enabled`.

Evaluated as Elasticsearch's `IPFilter` does: the rules form one ordered list — the gateway's own
bound addresses (while `xpack.security.filter.always_allow_bound_address` is true), then every
allow rule, then every deny rule — and the first rule that matches decides. An address that no
rule matches is accepted. So allow rules take precedence over deny rules, and `deny: _all` turns
the list into an allowlist. See docs/ip-filtering.md.

Pure and immutable: a compiled `IpFilter` is swapped whole when the settings change, and
`allows` runs on every accepted connection, so it does no I/O and no DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ALL = "_all"
LOCALHOST = "localhost"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_LOOPBACK: tuple[IpNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


class IpFilterError(ValueError):
    """A rule that is not an address, a CIDR block, `localhost` or `_all`."""


@dataclass(frozen=True, slots=True)
class IpFilterRule:
    allow: bool
    spec: str  # as written: logs and the audit trail's `rule` field name it
    # (IP version, network as an integer, mask as an integer): a match is two integer operations.
    ranges: tuple[tuple[int, int, int], ...] = ()
    match_all: bool = False

    @classmethod
    def of(cls, allow: bool, spec: str, networks: Iterable[IpNetwork]) -> IpFilterRule:
        ranges = tuple(
            (net.version, int(net.network_address), int(net.netmask)) for net in networks
        )
        return cls(allow, spec, ranges)

    def matches(self, version: int, value: int) -> bool:
        return self.match_all or any(
            version == v and value & mask == network for v, network, mask in self.ranges
        )

    def __str__(self) -> str:
        return f"{'allow' if self.allow else 'deny'} {self.spec}"


def parse_rules(value: Any) -> tuple[str, ...]:
    """A rule list as settings give it (a list, or one comma-separated string), validated.
    Raises `IpFilterError` naming the first bad rule."""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise IpFilterError("expected a list of addresses, CIDR blocks, [localhost] or [_all]")
    rules = []
    for item in items:
        if not isinstance(item, str):
            raise IpFilterError(f"[{item}] is not a string")
        text = item.strip()
        if text:
            if text != ALL:
                _networks(text)
            rules.append(text)
    return tuple(rules)


def _networks(text: str) -> tuple[IpNetwork, ...]:
    if text == LOCALHOST:
        return _LOOPBACK
    try:
        if "/" in text:
            # Host bits may be set, as Elasticsearch's subnet rules allow (`10.1.2.3/8`).
            return (ipaddress.ip_network(text, strict=False),)
        return (ipaddress.ip_network(text),)
    except ValueError:
        if "/" in text:
            raise IpFilterError(f"[{text}] is not a valid CIDR block") from None
        raise IpFilterError(
            f"[{text}] is not an IP address, a CIDR block, [{LOCALHOST}] or [{ALL}]; "
            "host name patterns are not supported"
        ) from None


def _rule(allow: bool, text: str) -> IpFilterRule:
    if text == ALL:
        return IpFilterRule(allow, text, match_all=True)
    return IpFilterRule.of(allow, text, _networks(text))


_V4_MAPPED = bytes(10) + b"\xff\xff"


def parse_address(address: str) -> tuple[int, int] | None:
    """A peer address as the socket reports it, as (IP version, integer); IPv4-mapped IPv6
    becomes IPv4, a zone is dropped. None for anything that is not an IP address."""
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, address))
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, address.partition("%")[0])
    except OSError:
        return None
    if packed[:12] == _V4_MAPPED:
        return 4, int.from_bytes(packed[12:])
    return 6, int.from_bytes(packed)


@dataclass(frozen=True, slots=True)
class IpFilter:
    active: bool  # false: filtering is off, or no rule could deny
    rules: tuple[IpFilterRule, ...]

    @classmethod
    def compile(
        cls,
        allow: Iterable[str],
        deny: Iterable[str],
        *,
        enabled: bool = True,
        bound_addresses: Iterable[str] = (),
    ) -> IpFilter:
        """Raises `IpFilterError` for a bad rule."""
        bound = [
            IpFilterRule.of(True, address, (ipaddress.ip_network(address),))
            for address in bound_addresses
            # A wildcard bind names no address a peer could come from.
            if not ipaddress.ip_address(address).is_unspecified
        ]
        rules = [
            *bound,
            *(_rule(True, text) for text in allow),
            *(_rule(False, text) for text in deny),
        ]
        return cls(enabled and any(not rule.allow for rule in rules), tuple(rules))

    def decide(self, address: str) -> IpFilterRule | None:
        """The rule that decides for `address`; None when filtering is off or none matches
        (accepted). An address that cannot be parsed is decided by `_all` rules only."""
        if not self.active:
            return None
        parsed = parse_address(address)
        for rule in self.rules:
            if rule.match_all or (parsed is not None and rule.matches(*parsed)):
                return rule
        return None

    def allows(self, address: str) -> bool:
        rule = self.decide(address)
        return rule is None or rule.allow


ACCEPT_ALL = IpFilter(False, ())
