"""IP filter rules: parsing, CIDR v4/v6, `_all`, `localhost`, precedence and bad input."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bastion.config import settings as s
from bastion.config.settings import Settings, SettingsError, load_settings
from bastion.dynamic_settings import (
    DynamicSettings,
    SettingsUpdateError,
    StoredClusterSettings,
    validate,
)
from bastion.transport.connection_filter import ConnectionFilter
from bastion.transport.ip_filter import IpFilter, IpFilterError, parse_address, parse_rules

DENY_KEY = "xpack.security.http.filter.deny"


def compile_filter(allow: Any = (), deny: Any = (), **kwargs: Any) -> IpFilter:
    return IpFilter.compile(parse_rules(list(allow)), parse_rules(list(deny)), **kwargs)


def test_no_rules_accept_everything() -> None:
    ip_filter = compile_filter()
    assert ip_filter.allows("10.0.0.1")
    assert ip_filter.allows("::1")
    assert not ip_filter.active


def test_single_addresses_v4_and_v6() -> None:
    ip_filter = compile_filter(deny=["192.168.0.7", "2001:db8::1"])
    assert not ip_filter.allows("192.168.0.7")
    assert ip_filter.allows("192.168.0.8")
    assert not ip_filter.allows("2001:0db8:0000::0001")  # any spelling of the same address
    assert ip_filter.allows("2001:db8::2")


def test_cidr_v4_and_v6() -> None:
    ip_filter = compile_filter(deny=["10.1.0.0/16", "2001:db8:1234::/48"])
    assert not ip_filter.allows("10.1.255.3")
    assert ip_filter.allows("10.2.0.1")
    assert not ip_filter.allows("2001:db8:1234:ffff::9")
    assert ip_filter.allows("2001:db8:1235::9")


def test_cidr_with_host_bits_and_netmask_are_accepted_as_elasticsearch_does() -> None:
    ip_filter = compile_filter(deny=["10.1.2.3/8", "172.16.0.0/255.255.0.0"])
    assert not ip_filter.allows("10.200.0.1")
    assert not ip_filter.allows("172.16.9.9")
    assert ip_filter.allows("172.17.0.1")


def test_allow_takes_precedence_over_deny() -> None:
    ip_filter = compile_filter(allow=["192.168.0.1"], deny=["192.168.0.0/24"])
    assert ip_filter.allows("192.168.0.1")
    assert not ip_filter.allows("192.168.0.2")
    assert ip_filter.allows("192.168.1.2")  # matches neither rule: accepted


def test_deny_all_makes_an_allowlist() -> None:
    ip_filter = compile_filter(allow=["192.168.0.1", "2001:db8::/32"], deny=["_all"])
    assert ip_filter.allows("192.168.0.1")
    assert ip_filter.allows("2001:db8::42")
    assert not ip_filter.allows("192.168.0.2")
    assert not ip_filter.allows("::1")
    rule = ip_filter.decide("8.8.8.8")
    assert rule is not None
    assert str(rule) == "deny _all"


def test_allow_all_wins_over_any_deny() -> None:
    ip_filter = compile_filter(allow=["_all"], deny=["10.0.0.1"])
    assert ip_filter.allows("10.0.0.1")


def test_localhost_means_loopback() -> None:
    ip_filter = compile_filter(allow=["localhost"], deny=["_all"])
    assert ip_filter.allows("127.0.0.1")
    assert ip_filter.allows("127.3.4.5")
    assert ip_filter.allows("::1")
    assert not ip_filter.allows("10.0.0.1")


def test_ipv4_mapped_ipv6_peer_matches_ipv4_rules() -> None:
    ip_filter = compile_filter(deny=["10.0.0.0/8"])
    assert not ip_filter.allows("::ffff:10.1.2.3")
    assert parse_address("fe80::1%eth0") == parse_address("fe80::1")
    assert parse_address("::ffff:10.1.2.3") == parse_address("10.1.2.3")
    assert parse_address("not-an-address") is None


def test_bound_address_is_never_denied() -> None:
    ip_filter = compile_filter(deny=["_all"], bound_addresses=["127.0.0.1"])
    assert ip_filter.allows("127.0.0.1")
    assert not ip_filter.allows("127.0.0.2")
    # A wildcard bind names no peer address.
    assert not compile_filter(deny=["_all"], bound_addresses=["0.0.0.0"]).allows("0.0.0.0")


def test_disabled_filter_accepts_everything() -> None:
    assert compile_filter(deny=["_all"], enabled=False).allows("10.0.0.1")


def test_comma_separated_string_and_blank_items() -> None:
    assert parse_rules(" 10.0.0.1, 10.0.0.0/8 ,") == ("10.0.0.1", "10.0.0.0/8")
    assert parse_rules([]) == ()


@pytest.mark.parametrize(
    "value",
    [
        "300.1.1.1",
        "10.0.0.0/33",
        "2001:db8::/129",
        "10.0.0.1/",
        "*.example.com",
        "example.com",
        ["10.0.0.1", 7],
        {"a": "b"},
        42,
    ],
)
def test_bad_rules_are_refused(value: Any) -> None:
    with pytest.raises(IpFilterError):
        parse_rules(value)


def test_bad_rules_stop_start_up_with_the_key_named(tmp_path: Any) -> None:
    path = tmp_path / "bastion.yml"
    path.write_text("xpack.security.http.filter.deny: ['10.0.0.0/40']\n")
    with pytest.raises(SettingsError, match=r"xpack\.security\.http\.filter\.deny"):
        load_settings(path, environ={})


def test_update_validation() -> None:
    validate("persistent", "xpack.security.http.filter.allow", ["10.0.0.0/8"])
    validate("transient", "xpack.security.http.filter.deny", None)  # a reset
    with pytest.raises(SettingsUpdateError, match="illegal value can't update") as bad:
        validate("persistent", "xpack.security.http.filter.allow", "not-an-ip")
    assert bad.value.error_type == "illegal_argument_exception"
    with pytest.raises(SettingsUpdateError, match="not dynamically updateable"):
        validate("persistent", "http.port", 9201)
    with pytest.raises(SettingsUpdateError, match="not recognized"):
        validate("persistent", "xpack.security.http.filter.bogus", "x")


def test_dynamic_precedence_and_subscribers() -> None:
    dynamic = DynamicSettings(Settings({"xpack.security.http.filter.deny": ("10.0.0.1",)}))
    calls: list[tuple[str, ...]] = []
    dynamic.subscribe(
        "xpack.security.http.filter.",
        lambda view: calls.append(view.get(s.HTTP_FILTER_DENY)),
    )
    dynamic.apply(StoredClusterSettings({"xpack.security.http.filter.deny": "10.0.0.2"}, {}))
    dynamic.apply(
        StoredClusterSettings(
            {"xpack.security.http.filter.deny": "10.0.0.2"},
            {"xpack.security.http.filter.deny": ["10.0.0.3"]},
        )
    )
    dynamic.apply(  # no change: no call
        StoredClusterSettings(
            {"xpack.security.http.filter.deny": "10.0.0.2"},
            {"xpack.security.http.filter.deny": ["10.0.0.3"]},
        )
    )
    assert dynamic.effective("xpack.security.http.") == {DENY_KEY: ("10.0.0.3",)}
    dynamic.apply(StoredClusterSettings())  # reset: back to the node's value
    assert calls == [("10.0.0.2",), ("10.0.0.3",), ("10.0.0.1",)]
    assert dynamic.effective("xpack.security.http.") == {DENY_KEY: ("10.0.0.1",)}


def test_connection_filter_fails_closed_until_loaded_and_follows_updates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dynamic = DynamicSettings(Settings({}))
    gate = ConnectionFilter(dynamic, ("127.0.0.1",))
    assert gate("127.0.0.1")  # the bound address
    assert not gate("127.0.0.2")  # nothing read from the store yet
    dynamic.apply(StoredClusterSettings())
    assert gate("127.0.0.2")
    dynamic.apply(StoredClusterSettings({"xpack.security.http.filter.deny": ["127.0.0.2"]}))
    caplog.set_level(logging.DEBUG, "bastion.transport.connection_filter")
    for _ in range(50):
        assert not gate("127.0.0.2")
    assert gate("127.0.0.3")
    denied = [r for r in caplog.records if "denied" in r.getMessage()]
    assert len(denied) == 1  # rate limited
    dynamic.apply(StoredClusterSettings({"xpack.security.http.filter.enabled": False}))
    assert gate("127.0.0.2")
