"""`bastion keystore …` as a user runs it (a real subprocess; stdin is not a terminal, so
passwords and values are read from it one line each, as Elasticsearch's tool does)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.keystore import SEED_SETTING, Keystore, keystore_path


def keystore(
    home: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion", "keystore", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BASTION_HOME": str(home), **(env or {})},
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_create_list_add_show_remove(home: Path) -> None:
    created = keystore(home, "create")
    assert created.returncode == 0, created.stderr
    path = keystore_path(home / "config")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keystore(home, "list").stdout.split() == [SEED_SETTING]

    added = keystore(home, "add", "-x", "s3.client.default.secret_key", "b.c", stdin="v1\nv2\n")
    assert added.returncode == 0, added.stderr
    assert keystore(home, "list").stdout.split() == [
        "b.c",
        SEED_SETTING,
        "s3.client.default.secret_key",
    ]
    assert keystore(home, "show", "s3.client.default.secret_key").stdout == "v1\n"

    removed = keystore(home, "remove", "b.c")
    assert removed.returncode == 0, removed.stderr
    assert "b.c" not in keystore(home, "list").stdout
    missing = keystore(home, "remove", "b.c")
    assert missing.returncode == 65
    assert "Setting [b.c] does not exist in the keystore." in missing.stderr


def test_add_file_and_show_to_a_file(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "key.bin"
    source.write_bytes(bytes(range(256)))
    added = keystore(home, "add-file", "-f", "xpack.some.key", str(source))
    assert added.returncode == 0, added.stderr
    out = tmp_path / "out.bin"
    shown = keystore(home, "show", "-o", str(out), "xpack.some.key")
    assert shown.returncode == 0, shown.stderr
    assert out.read_bytes() == bytes(range(256))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    absent = keystore(home, "add-file", "-f", "a.b", str(tmp_path / "nope"))
    assert absent.returncode == 65
    assert "does not exist" in absent.stderr


def test_add_to_a_missing_keystore_asks_first(home: Path) -> None:
    declined = keystore(home, "add", "a.b", stdin="n\n")
    assert declined.returncode == 0
    assert "Exiting without creating keystore." in declined.stdout
    assert not keystore_path(home / "config").exists()
    accepted = keystore(home, "add", "a.b", stdin="y\nvalue\n")
    assert accepted.returncode == 0, accepted.stderr
    assert keystore(home, "show", "a.b").stdout == "value\n"


def test_overwrite_needs_confirmation_or_force(home: Path) -> None:
    keystore(home, "add", "-f", "-x", "a.b", stdin="one\n")
    declined = keystore(home, "add", "-x", "a.b", stdin="n\n")
    assert "Exiting without modifying keystore." in declined.stdout
    assert keystore(home, "show", "a.b").stdout == "one\n"
    forced = keystore(home, "add", "-f", "-x", "a.b", stdin="two\n")
    assert forced.returncode == 0, forced.stderr
    assert keystore(home, "show", "a.b").stdout == "two\n"


def test_bad_setting_name(home: Path) -> None:
    result = keystore(home, "add", "-f", "-x", "bad name", stdin="v\n")
    assert result.returncode == 65
    assert "does not match the allowed setting name pattern" in result.stderr


def test_password_lifecycle(home: Path) -> None:
    created = keystore(home, "create", "-p", stdin="pw1\npw1\n")
    assert created.returncode == 0, created.stderr
    assert keystore(home, "has-passwd").returncode == 0
    assert keystore(home, "add", "-x", "a.b", stdin="pw1\nsecret\n").returncode == 0
    assert keystore(home, "show", "a.b", stdin="pw1\n").stdout == "secret\n"

    path = keystore_path(home / "config")
    before = path.read_bytes()
    wrong = keystore(home, "add", "-f", "-x", "c.d", stdin="nope\nvalue\n")
    assert wrong.returncode == 65
    assert "Provided keystore password was incorrect" in wrong.stderr
    assert path.read_bytes() == before

    mismatch = keystore(home, "passwd", stdin="pw1\nnew\nother\n")
    assert mismatch.returncode == 65
    assert "Passwords are not equal" in mismatch.stderr
    assert path.read_bytes() == before

    changed = keystore(home, "passwd", stdin="pw1\n\n\n")  # empty: no password any more
    assert changed.returncode == 0, changed.stderr
    not_protected = keystore(home, "has-passwd")
    assert not_protected.returncode == 1
    assert "not password-protected" in not_protected.stderr
    assert keystore(home, "show", "a.b").stdout == "secret\n"


def test_corrupt_keystore_is_left_untouched(home: Path) -> None:
    keystore(home, "create")
    path = keystore_path(home / "config")
    damaged = path.read_bytes()[:-3]
    path.write_bytes(damaged)
    result = keystore(home, "add", "-f", "-x", "a.b", stdin="v\n")
    assert result.returncode == 65
    assert "corrupted" in result.stderr
    assert path.read_bytes() == damaged


def test_missing_keystore(home: Path) -> None:
    listed = keystore(home, "list")
    assert listed.returncode == 65
    assert "keystore not found" in listed.stderr
    assert keystore(home, "has-passwd").returncode == 1


def test_upgrade_keeps_the_entries(home: Path) -> None:
    keystore(home, "add", "-f", "-x", "a.b", stdin="v\n")
    path = keystore_path(home / "config")
    before = path.read_bytes()
    upgraded = keystore(home, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert path.read_bytes() != before  # rewritten with a new salt
    assert Keystore.load(path, "").get_string("a.b") == "v"


def test_concurrent_adds_all_land(home: Path) -> None:
    keystore(home, "create")
    names = [f"concurrent.{i}" for i in range(5)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bastion", "keystore", "add", "-x", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "BASTION_HOME": str(home)},
        )
        for name in names
    ]
    for process in processes:
        _, err = process.communicate(b"value\n", timeout=60)
        assert process.returncode == 0, err
    assert keystore(home, "list").stdout.split() == sorted([SEED_SETTING, *names])


def test_help_lists_the_commands(home: Path) -> None:
    result = keystore(home, "--help")
    assert result.returncode == 0
    for command in ("create", "list", "add", "add-file", "remove", "show", "passwd", "has-passwd"):
        assert command in result.stdout
