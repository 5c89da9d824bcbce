"""The `users` and `users_roles` files: parsing as Elasticsearch does, atomic private writes."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from bastion.authc import file_users
from bastion.authc.file_users import (
    FileUsersError,
    LineProblem,
    ParsedUsers,
    parse_users,
    parse_users_roles,
)

BCRYPT = "$2a$05$zxnP0vdREMxnEpkLCDI2OuSaSk/QEKA2.A42iOpI6U2u.RLLOWm1e"
PBKDF2 = (
    "{PBKDF2}1000$32yPZSShxuKYAl47ip0g6VwbFrD8tvFJuQCoRPGhXC8="
    "$cXAE1BkBXRmkv7pQA7fw4TZ1+rFWS2/nZGeA3kL1Eu8="
)

# Shaped like Elasticsearch's own test `users` file.
USERS = f"""\
bcrypt:{BCRYPT}
md5:$apr1$R3DdqiAZ$aljIkaIVPSarmDMlJUBBP.
plain:{{plain}}test123
sha:{{SHA}}cojt0Pw//L6ToM8G41aOKFIWh7w=
# this is a comment line

pbkdf2_1000:{PBKDF2}
"""

# Elasticsearch's own test `users_roles` file.
USERS_ROLES = """\
role1:user1
role2: user1,user2
# this is a comment line
role3: user1, user2 , user3
role4: period.user
# another comment line
# and another one
# Test duplicated roles
role1: user1
"""


def test_parse_users_keeps_every_entry_and_reports_unsupported_hashes() -> None:
    parsed = parse_users(USERS)
    assert list(parsed.hashes) == ["bcrypt", "md5", "plain", "sha", "pbkdf2_1000"]
    assert parsed.hashes["bcrypt"] == BCRYPT
    assert parsed.hashes["pbkdf2_1000"] == PBKDF2
    assert [problem.line for problem in parsed.problems] == [2, 3]
    assert "user [md5]" in parsed.problems[0].message


def test_parse_users_skips_malformed_lines_with_their_numbers() -> None:
    text = "\n".join(
        [
            "NotValidUsername=Password",  # 1: no colon
            ":hash",  # 2: no username
            "user: ",  # 3: trimmed to `user:`, no hash
            " bob:" + BCRYPT + " ",  # 4: trimmed: fine
            "elastic:" + BCRYPT,  # 5: reserved
            " lead:" + BCRYPT,  # 6: trimmed: fine
            "bad\tname:" + BCRYPT,  # 7: not printable ASCII
            "x" * 1025 + ":" + BCRYPT,  # 8: too long
            "bob:" + PBKDF2,  # 9: again: the last one wins
            "\r",
        ]
    )
    parsed = parse_users(text, reserved={"elastic"})
    assert dict(parsed.hashes) == {"bob": PBKDF2, "lead": BCRYPT}
    assert [problem.line for problem in parsed.problems] == [1, 2, 3, 5, 7, 8, 9]
    assert "Username [elastic] is reserved and may not be used." in parsed.problems[3].message
    assert "invalid username [bad\\tname]" in parsed.problems[4].message
    assert "no more than 1024 characters" in parsed.problems[5].message
    assert len(parsed.problems[5].message) < 500
    for problem in parsed.problems:
        assert BCRYPT not in str(problem)
        assert PBKDF2 not in str(problem)


def test_parse_users_line_ends_and_names() -> None:
    parsed = parse_users(f"a:{BCRYPT}\r\nb:{BCRYPT}\rc:{BCRYPT}\n" + "n" * 1024 + f":{BCRYPT}")
    assert list(parsed.hashes) == ["a", "b", "c", "n" * 1024]
    assert parsed.problems == ()
    # `#` starts a comment only in the first column, as in Elasticsearch.
    assert list(parse_users(f" #x:{BCRYPT}").hashes) == ["#x"]


def test_parsed_users_repr_hides_hashes() -> None:
    parsed = parse_users(f"alice:{BCRYPT}")
    assert BCRYPT not in repr(parsed)
    assert "alice" in repr(parsed)


def test_parse_users_roles_turns_the_file_around() -> None:
    parsed = parse_users_roles(USERS_ROLES)
    assert dict(parsed.roles) == {
        "user1": ("role1", "role2", "role3"),
        "user2": ("role2", "role3"),
        "user3": ("role3",),
        "period.user": ("role4",),
    }
    assert parsed.problems == ()
    assert parsed.roles_of("nobody") == ()


def test_parse_users_roles_problems() -> None:
    text = "\n".join(
        [
            "no_colon",  # 1
            ":user",  # 2: no role
            "role:",  # 3: no users
            "role: ",  # 4: no users after trimming
            " bad role :u",  # 5: fine once trimmed
            "bad\x01role:u",  # 6: invalid role name
            "r:\t a ,\tb\t,, c ,",  # 7: fine, empty names dropped
        ]
    )
    parsed = parse_users_roles(text)
    assert dict(parsed.roles) == {"u": ("bad role",), "a": ("r",), "b": ("r",), "c": ("r",)}
    assert [problem.line for problem in parsed.problems] == [1, 2, 3, 4, 6]
    assert (
        str(parsed.problems[2]) == "line [3]: invalid entry, skipped: expected [role:user1,user2]"
    )


def test_format_round_trips() -> None:
    hashes = {"alice": BCRYPT, "bob": PBKDF2}
    text = file_users.format_users(hashes)
    assert text == f"alice:{BCRYPT}\nbob:{PBKDF2}\n"
    assert dict(parse_users(text).hashes) == hashes
    roles = {"alice": ["superuser", "viewer"], "bob": ["viewer"]}
    text = file_users.format_users_roles(roles)
    assert text == "superuser:alice\nviewer:alice,bob\n"
    assert dict(parse_users_roles(text).roles) == {
        "alice": ("superuser", "viewer"),
        "bob": ("viewer",),
    }


@pytest.mark.parametrize("hashes", [{"a:b": BCRYPT}, {"a": "x\ny"}, {"a\r": BCRYPT}])
def test_format_users_refuses_what_would_not_read_back(hashes: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="cannot be written") as caught:
        file_users.format_users(hashes)
    assert "x\ny" not in str(caught.value)


@pytest.mark.parametrize("roles", [{"a,b": ["r"]}, {"a": ["r:s"]}, {"a": ["line\nbreak"]}])
def test_format_users_roles_refuses_what_would_not_read_back(roles: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        file_users.format_users_roles(roles)


def test_write_is_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("old\n")
    path.chmod(0o644)
    file_users.write_users(path, {"alice": BCRYPT})
    assert path.read_text() == f"alice:{BCRYPT}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["users"]  # no temporary file left


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "users_roles"
    path.write_text("r:old\n")

    def broken_replace(source: str, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        file_users.write_users_roles(path, {"alice": ["r"]})
    assert path.read_text() == "r:old\n"
    assert sorted(os.listdir(tmp_path)) == ["users_roles"]


def test_read_missing_unreadable_and_problems(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert file_users.read_users(tmp_path / "users") is None
    assert file_users.read_users_roles(tmp_path / "users_roles") is None
    utf16 = tmp_path / "users"
    utf16.write_text("aldlfkjldjdflkjd", encoding="utf-16")
    with pytest.raises(FileUsersError, match="not UTF-8"):
        file_users.read_users(utf16)
    utf16.write_text(f"alice:{BCRYPT}\nbroken\n")
    parsed = file_users.read_users(utf16)
    assert isinstance(parsed, ParsedUsers)
    with caplog.at_level(logging.ERROR):
        file_users.log_problems(utf16, parsed.problems)
    assert parsed.problems == (LineProblem(2, "invalid entry, skipped: expected [username:hash]"),)
    assert "users] line [2]: invalid entry, skipped" in caplog.text
    assert BCRYPT not in caplog.text
