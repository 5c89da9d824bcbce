"""The keystore file format, its errors and its concurrency."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from bastion.keystore import (
    SEED_SETTING,
    CorruptKeystore,
    Entry,
    Keystore,
    KeystoreError,
    KeystoreNotFound,
    SecureSettingsSource,
    WrongPassword,
    has_password,
    keystore_path,
    locked,
    open_for_start,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return keystore_path(tmp_path)


SMTP_PASSWORD = "xpack.notification.email.account.a.smtp.secure_password"


def _with_entries(keystore: Keystore) -> Keystore:
    keystore = keystore.with_entry(SMTP_PASSWORD, _s("é"))
    return keystore.with_entry("some.file", Entry("file", bytes(range(256))))


def _s(value: str) -> Entry:
    return Entry("string", value.encode())


@pytest.mark.parametrize("password", ["", "correct horse battery staple"])
def test_round_trip(path: Path, password: str) -> None:
    original = _with_entries(Keystore.create())
    original.save(path, password)
    loaded = Keystore.load(path, password)
    assert loaded.names() == sorted([SEED_SETTING, "some.file", SMTP_PASSWORD])
    assert loaded.get_string(SMTP_PASSWORD) == "é"
    assert loaded.get_file("some.file") == bytes(range(256))
    assert loaded.get_string(SEED_SETTING) == original.get_string(SEED_SETTING)
    assert len(loaded.get_string(SEED_SETTING)) == 20
    assert loaded.has_password is bool(password)
    assert has_password(path) is bool(password)


def test_the_file_is_private_and_holds_no_plaintext(path: Path) -> None:
    Keystore.create().with_entry("a.b", _s("plain-secret-value")).save(path, "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"plain-secret-value" not in path.read_bytes()
    assert b"a.b" not in path.read_bytes()


def test_two_saves_differ(path: Path) -> None:
    keystore = Keystore.create()
    assert keystore.encrypt("pw") != keystore.encrypt("pw")  # fresh salt and nonce


def test_wrong_password_is_reported(path: Path) -> None:
    Keystore.create().save(path, "right")
    with pytest.raises(WrongPassword, match="Provided keystore password was incorrect"):
        Keystore.load(path, "wrong")
    with pytest.raises(WrongPassword):
        Keystore.load(path, "")


def test_a_password_on_a_keystore_without_one_is_wrong(path: Path) -> None:
    Keystore.create().save(path, "")
    with pytest.raises(WrongPassword):
        Keystore.load(path, "unexpected")


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda data: data[:-1], "expected"),  # truncated data
        (lambda data: data[:20], "shorter than its header"),
        (lambda data: b"", "shorter than its header"),
        (lambda data: b"X" + data[1:], "not a Bastion keystore"),
        (lambda data: data[:8] + b"\x09" + data[9:], "format version"),
        (lambda data: data + b"\x00", "expected"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "does not decrypt"),  # flipped tag bit
        (lambda data: data[:15] + bytes([data[15] ^ 1]) + data[16:], "does not decrypt"),  # salt
    ],
)
def test_corruption_is_reported(path: Path, damage: object, error: str) -> None:
    Keystore.create().save(path, "")
    assert callable(damage)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptKeystore, match=error):
        Keystore.load(path, "")


def test_a_changed_header_fails_like_a_wrong_password_when_protected(path: Path) -> None:
    Keystore.create().save(path, "pw")
    data = bytearray(path.read_bytes())
    data[30] ^= 1  # inside the salt: authenticated as associated data
    path.write_bytes(bytes(data))
    with pytest.raises(WrongPassword):
        Keystore.load(path, "pw")


def test_hostile_iteration_count_is_refused(path: Path) -> None:
    Keystore.create().save(path, "")
    data = bytearray(path.read_bytes())
    data[11:15] = (2**32 - 1).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptKeystore, match="key derivation"):
        Keystore.load(path, "")


def test_missing_keystore(path: Path) -> None:
    with pytest.raises(KeystoreNotFound):
        Keystore.load(path, "")


@pytest.mark.parametrize("name", ["bad name", "a/b", "é", "", "a:b"])
def test_setting_names_follow_elasticsearch(name: str) -> None:
    with pytest.raises(KeystoreError, match="does not match the allowed setting name pattern"):
        Keystore.create().with_entry(name, _s("v"))


def test_string_values_must_be_text() -> None:
    with pytest.raises(KeystoreError, match="UTF-8"):
        Keystore.create().with_entry("a", Entry("string", b"\xff"))


def test_no_secret_in_reprs(path: Path) -> None:
    keystore = Keystore.create().with_entry("a", _s("hunter2-secret"))
    source = SecureSettingsSource(path, "the-password")
    for shown in (repr(keystore), repr(keystore.secure_settings), repr(keystore.entries["a"])):
        assert "hunter2-secret" not in shown
    assert "the-password" not in repr(source)


def test_secure_settings_view() -> None:
    settings = Keystore.create().with_entry("f", Entry("file", b"\x00\x01")).secure_settings
    assert "f" in settings
    assert "g" not in settings
    assert settings.get_file("f") == b"\x00\x01"
    with pytest.raises(KeystoreError, match="is a file"):
        settings.get_string("f")
    with pytest.raises(KeyError):
        settings.get_string("g")


def test_reload_keeps_settings_on_failure_and_others_follow(path: Path) -> None:
    Keystore.create().with_entry("a", _s("1")).save(path, "pw")
    handler, follower = SecureSettingsSource(path, "pw"), SecureSettingsSource(path, "pw")
    handler.load()
    follower.load()
    Keystore.create().with_entry("a", _s("2")).save(path, "pw")
    with pytest.raises(WrongPassword):
        handler.reload("nope")
    assert handler.current.get_string("a") == "1"
    follower.follow()
    assert follower.current.get_string("a") == "1"  # changes apply on reload only
    handler.reload("pw")
    assert handler.current.get_string("a") == "2"
    follower.follow()
    assert follower.current.get_string("a") == "2"


def test_reload_of_a_missing_keystore(path: Path) -> None:
    source = SecureSettingsSource(path, "")
    source.load()
    assert source.current.names() == []
    with pytest.raises(KeystoreError, match="Keystore is missing"):
        source.reload()


def test_first_start_creates_an_empty_keystore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASTION_KEYSTORE_PASSPHRASE_FILE", raising=False)
    keystore, password = open_for_start(tmp_path)
    assert (keystore.names(), password) == ([SEED_SETTING], "")
    again, _ = open_for_start(tmp_path)
    assert again.get_string(SEED_SETTING) == keystore.get_string(SEED_SETTING)


def test_start_password_from_the_passphrase_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Keystore.create().with_entry("x", _s("y")).save(keystore_path(tmp_path), "s3cret")
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("s3cret\n")
    monkeypatch.setenv("BASTION_KEYSTORE_PASSPHRASE_FILE", str(passphrase))
    keystore, password = open_for_start(tmp_path)
    assert (keystore.get_string("x"), password) == ("y", "s3cret")
    passphrase.write_text("other\n")
    with pytest.raises(WrongPassword):
        open_for_start(tmp_path)


def _add_one(path: Path, name: str) -> None:
    with locked(path):
        keystore = Keystore.load(path, "pw")
        keystore.with_entry(name, _s(name)).save(path, "pw")


def test_concurrent_writers_all_land(path: Path) -> None:
    Keystore.create().save(path, "pw")
    context = multiprocessing.get_context("spawn")
    names = [f"setting.{i}" for i in range(6)]
    processes = [context.Process(target=_add_one, args=(path, name)) for name in names]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert Keystore.load(path, "pw").names() == sorted([SEED_SETTING, *names])
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
