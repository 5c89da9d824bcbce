"""Audit filters: include/exclude with `_all`, and ignore policies with Elasticsearch's rules."""

from __future__ import annotations

import pytest

from bastion.audit.filters import DEFAULT_INCLUDE, AuditFilter, EventInfo

BASE = "xpack.security.audit.logfile.events."
POLICY = BASE + "ignore_filters."


def test_defaults_follow_elasticsearch() -> None:
    audit = AuditFilter.from_mapping({"xpack.security.audit.enabled": True})
    assert audit.actions == frozenset(DEFAULT_INCLUDE)
    assert audit.wants("access_denied")
    assert not audit.wants("authentication_success")
    assert audit.emit_node_id
    assert not audit.emit_node_name
    assert not audit.emit_request_body


def test_disabled_wants_nothing() -> None:
    assert not AuditFilter.from_mapping({}).wants("access_denied")


def test_all_and_exclude() -> None:
    audit = AuditFilter.from_mapping(
        {
            "xpack.security.audit.enabled": True,
            BASE + "include": ("_all",),
            BASE + "exclude": ("access_granted", "realm_authentication_failed"),
        }
    )
    assert audit.wants("authentication_success")
    assert audit.wants("system_access_granted")
    assert not audit.wants("access_granted")
    assert not audit.wants("realm_authentication_failed")


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid event type specified \\[nope\\]"):
        AuditFilter.from_mapping({BASE + "include": ("nope",)})


def test_policy_ignores_only_when_every_field_matches() -> None:
    audit = AuditFilter.from_mapping(
        {
            POLICY + "p1.users": ("kibana*",),
            POLICY + "p1.indices": ("logs-*",),
            POLICY + "p2.realms": ("file",),
            POLICY + "p2.roles": ("viewer", "reader"),
        }
    )
    kibana_logs = EventInfo(
        "kibana_system", "reserved", "indices:data/read/search", (), ("logs-1",)
    )
    assert audit.ignored("access_granted", kibana_logs)
    # One index outside the policy: the event is kept.
    mixed = EventInfo("kibana_system", "reserved", "x", (), ("logs-1", "metrics"))
    assert not audit.ignored("access_granted", mixed)
    # The user does not match p1; p2 does not match the realm.
    assert not audit.ignored("access_granted", EventInfo("bob", "native", "x", (), ("logs-1",)))
    # p2: every role must match.
    assert audit.ignored("access_granted", EventInfo("bob", "file", "x", ("viewer",)))
    assert not audit.ignored("access_granted", EventInfo("bob", "file", "x", ("viewer", "admin")))


def test_missing_field_matches_as_empty_string() -> None:
    audit = AuditFilter.from_mapping({POLICY + "p.indices": ("*",), POLICY + "p.users": ("a",)})
    assert audit.ignored("access_granted", EventInfo("a", "r", "cluster:monitor/main"))
    only_named = AuditFilter.from_mapping({POLICY + "p.indices": ("logs",)})
    assert not only_named.ignored("access_granted", EventInfo("a"))


def test_question_mark_wildcard_and_actions() -> None:
    audit = AuditFilter.from_mapping({POLICY + "p.actions": ("cluster:monitor/?ain",)})
    assert audit.ignored("access_granted", EventInfo(action="cluster:monitor/main"))
    assert not audit.ignored("access_granted", EventInfo(action="cluster:monitor/mains"))


def test_config_changes_are_never_ignored() -> None:
    audit = AuditFilter.from_mapping({POLICY + "p.users": ("*",)})
    assert audit.ignored("access_granted", EventInfo("anyone"))
    assert not audit.ignored("security_config_change", EventInfo("anyone"))


def test_bad_policy_key() -> None:
    with pytest.raises(ValueError, match="unknown audit ignore filter"):
        AuditFilter.from_mapping({POLICY + "p.hosts": ("x",)})
