"""Pattern coverage for `_has_privileges`: sound (never a wrong yes)."""

from __future__ import annotations

import pytest

from bastion.authz.patterns import covers


@pytest.mark.parametrize(
    ("granted", "requested", "expected"),
    [
        ("logs-*", "logs-2024", True),
        ("logs-*", "logs-2024*", True),
        ("logs-*", "logs-*", True),
        ("*", "anything*?", True),
        ("*", "/lo.*/", True),
        ("logs-a*", "logs-*", False),
        ("logs-20*", "logs-2*", False),
        ("a?", "a*", False),  # the string "a*" matches `a?`, but `a*` names more
        ("a?", "a?", True),
        ("a??", "a?*", False),
        ("a?*", "a?*", True),
        ("a*b", "a*", False),
        ("a*", "a*b", True),
        ("log?-*", "logs-*", True),
        ("*a*", "*a*", True),
        ("x", "x?", False),
        ("/logs-.*/", "logs-1", True),
        ("/logs-.*/", "logs-*", False),  # conservative for a regex against a wildcard
        ("/.*/", "logs-*", True),
        ("logs-*", "/logs-.*/", False),
    ],
)
def test_covers(granted: str, requested: str, expected: bool) -> None:
    assert covers(granted, requested) is expected
