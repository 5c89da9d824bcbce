"""Settings parsing and validation (pure, no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.config import SettingsError, load_settings
from bastion.config import settings as s
from bastion.config.units import parse_byte_size, parse_time_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100mb", 100 << 20), ("1kb", 1024), ("512", 512), ("1.5gb", 3 << 29), ("0b", 0)],
)
def test_byte_sizes(text: str, expected: int) -> None:
    assert parse_byte_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "10 parsecs", "-1mb", ""])
def test_bad_byte_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="byte size"):
        parse_byte_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30.0), ("5m", 300.0), ("250ms", 0.25), ("1h", 3600.0), ("-1", -1)],
)
def test_time_values(text: str, expected: float) -> None:
    assert parse_time_value(text) == expected


def test_time_value_needs_a_unit() -> None:
    with pytest.raises(ValueError, match="time value"):
        parse_time_value("30")


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "missing.yml", environ={})
    assert settings.get(s.HTTP_PORT) == 9200
    assert settings.get(s.HTTP_HOST) == "127.0.0.1"
    assert settings.get(s.HTTP_MAX_CONTENT_LENGTH) == 100 << 20
    assert settings.get(s.BACKEND_HOSTS) == ()


def test_nested_and_dotted_yaml_and_precedence(tmp_path: Path) -> None:
    path = tmp_path / "bastion.yml"
    path.write_text("http:\n  port: 9300\n  max_content_length: 1mb\nbastion.workers: 2\n")
    settings = load_settings(
        path,
        overrides={"bastion.workers": "3"},
        environ={"BASTION_SETTING_HTTP_PORT": "9400", "UNRELATED": "x"},
    )
    assert settings.get(s.HTTP_PORT) == 9400  # environment beats the file
    assert settings.get(s.HTTP_MAX_CONTENT_LENGTH) == 1 << 20
    assert settings.get(s.WORKERS) == 3  # the command line beats everything


def test_environment_names_use_double_underscore_for_underscore(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"BASTION_SETTING_HTTP_MAX__CONTENT__LENGTH": "2kb"})
    assert settings.get(s.HTTP_MAX_CONTENT_LENGTH) == 2048


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "bastion.yml"
    path.write_text("http.prot: 1\n")
    with pytest.raises(SettingsError, match=r"unknown setting \[http\.prot\] in .*bastion\.yml"):
        load_settings(path, environ={})


def test_unknown_environment_setting_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="BASTION_SETTING_NOPE"):
        load_settings(None, environ={"BASTION_SETTING_NOPE": "1"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("http.port", "70000", "between 0 and 65535"),
        ("http.port", "nine", "invalid value"),
        ("http.host", "search.example.org", "not an IP address"),
        ("bastion.backend.hosts", "ftp://x", "http:// or https://"),
        ("bastion.backend.hosts", "http://x:9200/path", "path"),
        ("bastion.engine.heap.max", "lots", "heap size"),
        ("bastion.workers", "0", "between 1 and 64"),
        ("xpack.security.authc.realms.native.n1.cache.hash_algo", "bcrypt", "use \\[ssha256\\]"),
    ],
)
def test_bad_values(key: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(None, overrides={key: value}, environ={})


def test_realm_cache_hash_algo_ssha256_is_accepted() -> None:
    key = "xpack.security.authc.realms.file.f1.cache.hash_algo"
    settings = load_settings(None, overrides={key: "ssha256"}, environ={})
    assert settings.get(s.REALM_CACHE_HASH_ALGO, key) == "ssha256"


def test_malformed_yaml_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bastion.yml"
    path.write_text("http: [unclosed\n")
    with pytest.raises(SettingsError, match="cannot parse"):
        load_settings(path, environ={})
    path.write_text("- a list\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(path, environ={})


def test_backend_hosts_from_a_comma_list() -> None:
    settings = load_settings(
        None, overrides={"bastion.backend.hosts": "http://a:9200/, https://b:9200"}, environ={}
    )
    assert settings.get(s.BACKEND_HOSTS) == ("http://a:9200", "https://b:9200")
