"""`bastion users`: the file realm's users, managed as with `elasticsearch-users`."""

from __future__ import annotations

import io
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.authc.file_users import parse_users, parse_users_roles
from bastion.authc.password_hashing import hasher_for_hash, verify_hash
from bastion.cli import main

FAST = ["-E", "xpack.security.authc.password_hashing.algorithm=bcrypt4"]


class Tool:
    """Runs `bastion users …` against one home and captures its output."""

    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self.capsys = capsys
        self.out = ""
        self.err = ""

    def __call__(self, *args: str, stdin: str | None = None, fast: bool = True) -> int:
        options = ["--home", str(self.home), *(FAST if fast else [])]
        with pytest.MonkeyPatch.context() as patch:
            if stdin is not None:
                patch.setattr(sys, "stdin", io.StringIO(stdin))
            try:
                code = main(["users", *args, *options])
            except SystemExit as exit_:  # argparse errors
                code = int(exit_.code or 0)
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    @property
    def users(self) -> dict[str, str]:
        return dict(parse_users((self.home / "config" / "users").read_text()).hashes)

    @property
    def roles(self) -> dict[str, tuple[str, ...]]:
        path = self.home / "config" / "users_roles"
        return dict(parse_users_roles(path.read_text()).roles) if path.exists() else {}


@pytest.fixture
def tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Tool:
    return Tool(tmp_path / "home", capsys)


def test_useradd_writes_both_files_privately(tool: Tool) -> None:
    assert tool("useradd", "alice", "-p", "secret123", "-r", "superuser,viewer") == 0
    hashes = tool.users
    assert list(hashes) == ["alice"]
    assert hashes["alice"].startswith("$2a$04$")
    assert verify_hash("secret123", hashes["alice"])
    assert tool.roles == {"alice": ("superuser", "viewer")}
    config = tool.home / "config"
    assert (config / "users_roles").read_text() == "superuser:alice\nviewer:alice\n"
    for name in ("users", "users_roles"):
        assert stat.S_IMODE((config / name).stat().st_mode) == 0o600
    assert "secret123" not in tool.out + tool.err


def test_default_algorithm_is_bcrypt_cost_10(tool: Tool) -> None:
    assert tool("useradd", "alice", "--password", "secret123", fast=False) == 0
    assert tool.users["alice"].startswith("$2a$10$")


def test_algorithm_setting(tool: Tool) -> None:
    algorithm = "xpack.security.authc.password_hashing.algorithm"
    assert (
        tool("useradd", "alice", "-p", "secret123", "-E", f"{algorithm}=PBKDF2_1000", fast=False)
        == 0
    )
    assert hasher_for_hash(tool.users["alice"]).name == "pbkdf2_1000"
    assert tool("useradd", "bob", "-p", "secret123", "-E", f"{algorithm}=noop", fast=False) == 78
    assert "Invalid algorithm: noop" in tool.err
    assert tool.err.rstrip().endswith(", with exit code 78")


def test_useradd_errors(tool: Tool) -> None:
    assert tool("useradd", "alice", "-p", "secret123") == 0
    assert tool("useradd", "alice", "-p", "other-secret") == 70
    assert tool.err == "ERROR: User [alice] already exists, with exit code 70\n"
    assert tool("useradd", "elastic", "-p", "secret123") == 65
    assert tool.err == (
        "ERROR: Invalid username [elastic]... Username [elastic] is reserved and may not be "
        "used., with exit code 65\n"
    )
    assert tool("useradd", "_anonymous", "-p", "secret123") == 65
    assert tool("useradd", " lead", "-p", "secret123") == 65
    assert "User names must be at least 1 and no more than 1024 characters" in tool.err
    assert tool("useradd", "a:b", "-p", "secret123") == 65
    assert tool("useradd", "bob", "-p", "short") == 65
    assert tool.err == (
        "ERROR: Invalid password...passwords must be at least [6] characters long, "
        "with exit code 65\n"
    )
    assert tool("useradd", "bob", "-p", "secret123", "-r", "ok,bad\trole") == 65
    assert tool.err.startswith("ERROR: Invalid role [bad\trole]... Role names must be")
    assert tool("useradd", "-p", "secret123") == 64
    assert tool.err == "ERROR: Missing username argument, with exit code 64\n"
    assert tool("useradd", "a", "b", "-p", "secret123") == 64
    assert "Expected a single username argument, found extra: [a, b]" in tool.err
    assert tool("useradd", "bob", "--bogus") == 64
    assert list(tool.users) == ["alice"]


def test_password_prompt(tool: Tool) -> None:
    assert tool("useradd", "alice", stdin="secret123\nsecret123\n") == 0
    assert "Enter new password: " in tool.err
    assert "Retype new password: " in tool.err
    assert verify_hash("secret123", tool.users["alice"])
    assert tool("passwd", "alice", stdin="new-secret\nnew-secrex\n") == 65
    assert "ERROR: Password mismatch, with exit code 65" in tool.err
    assert tool("passwd", "alice", stdin="short\n") == 65
    assert tool("passwd", "alice", stdin="") == 74
    assert verify_hash("secret123", tool.users["alice"])


def test_passwd(tool: Tool) -> None:
    assert tool("useradd", "alice", "-p", "secret123", "-r", "viewer") == 0
    assert tool("useradd", "bob", "-p", "secret123") == 0
    bob = tool.users["bob"]
    assert tool("passwd", "alice", "-p", "changed123") == 0
    assert verify_hash("changed123", tool.users["alice"])
    assert not verify_hash("secret123", tool.users["alice"])
    assert tool.users["bob"] == bob
    assert list(tool.users) == ["alice", "bob"]
    assert tool.roles == {"alice": ("viewer",)}
    assert tool("passwd", "carol", "-p", "changed123") == 67
    assert tool.err == "ERROR: User [carol] doesn't exist, with exit code 67\n"


def test_userdel(tool: Tool) -> None:
    assert tool("useradd", "alice", "-p", "secret123", "-r", "viewer") == 0
    assert tool("useradd", "bob", "-p", "secret123", "-r", "viewer,editor") == 0
    assert tool("userdel", "alice") == 0
    assert list(tool.users) == ["bob"]
    assert tool.roles == {"bob": ("viewer", "editor")}
    assert tool("userdel", "alice") == 67
    assert tool.err == "ERROR: User [alice] doesn't exist, with exit code 67\n"


def test_roles(tool: Tool) -> None:
    assert tool("useradd", "alice", "-p", "secret123", "-r", "viewer") == 0
    assert tool("roles", "alice", "-a", "editor,viewer,monitoring_user") == 0
    assert tool.roles == {"alice": ("viewer", "editor", "monitoring_user")}
    assert tool("roles", "alice", "-a", "superuser", "-r", "viewer,editor") == 0
    assert tool.roles == {"alice": ("monitoring_user", "superuser")}
    assert tool("roles", "alice", "-R", "monitoring_user,superuser") == 0
    assert tool.roles == {}
    assert tool("roles", "alice") == 0
    assert tool.out == "alice          : -\n"
    assert tool("roles", "nobody", "-a", "viewer") == 67


def test_unknown_roles_warn_but_are_kept(tool: Tool) -> None:
    (tool.home / "config").mkdir(parents=True)
    (tool.home / "config" / "roles.yml").write_text("my_role:\n  cluster: [monitor]\n")
    assert tool("useradd", "alice", "-p", "secret123", "-r", "my_role,viewer") == 0
    assert "Warning" not in tool.err
    assert tool("roles", "alice", "-a", "typo_role") == 0
    assert "Warning: roles [typo_role]" in tool.err
    assert tool.roles == {"alice": ("my_role", "viewer", "typo_role")}


def test_list(tool: Tool) -> None:
    assert tool("list") == 0
    assert tool.out == "No users found\n"
    assert tool("useradd", "alice", "-p", "secret123", "-r", "superuser,made_up") == 0
    assert tool("useradd", "bob", "-p", "secret123") == 0
    assert tool("list") == 0
    lines = tool.out.splitlines()
    assert lines[:2] == ["alice          : superuser,made_up*", "bob            : -"]
    assert lines[2] == ""
    assert lines[3].startswith(" [*]   Role is neither built in nor defined in")
    assert tool("list", "bob") == 0
    assert tool.out == "bob            : -\n"
    assert tool("list", "carol") == 67


def test_malformed_lines_are_reported_and_dropped_on_rewrite(tool: Tool) -> None:
    config = tool.home / "config"
    config.mkdir(parents=True)
    stored = "$2a$05$zxnP0vdREMxnEpkLCDI2OuSaSk/QEKA2.A42iOpI6U2u.RLLOWm1e"
    (config / "users").write_text(f"# comment\nbroken line\nkeep:{stored}\nelastic:{stored}\n")
    assert tool("useradd", "alice", "-p", "secret123") == 0
    assert "users] line [2]: invalid entry, skipped" in tool.err
    assert "users] line [4]: invalid username [elastic], skipped" in tool.err
    assert stored not in tool.err
    assert tool.users["keep"] == stored
    assert list(tool.users) == ["keep", "alice"]


def test_unreadable_file(tool: Tool) -> None:
    config = tool.home / "config"
    config.mkdir(parents=True)
    (config / "users").write_text("alice:x", encoding="utf-16")
    assert tool("list") == 74
    assert "is not UTF-8 text" in tool.err


def test_the_installed_command(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path), *FAST]
    done = subprocess.run(
        ["bastion", "users", "useradd", "alice", "-r", "viewer", *home],
        input="secret123\nsecret123\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        ["bastion", "users", "useradd", "alice", "-p", "secret123", *home],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 70
    assert done.stderr == "ERROR: User [alice] already exists, with exit code 70\n"
    listed = subprocess.run(
        ["bastion", "users", "list", *home], capture_output=True, text=True, check=True
    )
    assert listed.stdout == "alice          : viewer\n"
