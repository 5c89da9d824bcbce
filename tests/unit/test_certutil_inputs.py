"""What `bastion certutil` accepts: instances (names, file names, alternative names), instances
files, zip bundles and the http wizard's validity periods."""

from __future__ import annotations

import datetime
import stat
import zipfile
from pathlib import Path

import pytest

from bastion.cli.certutil_http import Period
from bastion.tls import pki
from bastion.tls.bundle import ZipBundle
from bastion.tls.instances import (
    InstanceError,
    is_valid_filename,
    new_instance,
    read_instances_file,
    split_commas,
)


@pytest.mark.parametrize("name", ["node-1", "node 1", "a.b", "x" * 251, "CN=a,O=b"])
def test_valid_filenames(name: str) -> None:
    assert is_valid_filename(name)


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "../x", "a\\b", "é", "x" * 252])
def test_invalid_filenames(name: str) -> None:
    assert not is_valid_filename(name)


def test_instance_from_a_common_name_or_a_dn() -> None:
    plain = new_instance("node-1", ips=["10.0.0.1"], dns=["node-1.example"])
    assert plain.subject.rfc4514_string() == "CN=node-1"
    assert plain.filename == "node-1"
    full = new_instance("CN=node-2,OU=search", "node-2")
    assert full.subject.rfc4514_string() == "CN=node-2,OU=search"


def test_instance_errors_are_all_reported() -> None:
    with pytest.raises(InstanceError) as error:
        new_instance("ca", "../escape", ips=["1.2.3"], dns=["bad name"])
    assert error.value.errors == [
        "[ca] may not be used as an instance name",
        "[../escape] is not a valid filename",
        "[1.2.3] is not a valid IP address",
        "[bad name] is not a valid DNS name",
    ]


def test_split_commas() -> None:
    assert split_commas(["a, b", "", "c,,"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("instances: [", "is not valid YAML"),
        ("- a\n", "must contain an [instances] list"),
        ("instances:\n  - 3\n", "instance [0] must be an object"),
        ("instances:\n  - filename: x\n", "instance [0] requires a string [name]"),
        ("instances:\n  - name: a\n    ip: 10.0.0.1\n", "field [ip] must be a list of strings"),
        ("instances:\n  - name: a\n    filename: [x]\n", "field [filename] must be a string"),
        ("instances:\n  - name: a\n    extra: 1\n", "has unknown field [extra]"),
    ],
)
def test_malformed_instances_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "instances.yml"
    path.write_text(text)
    with pytest.raises(pki.PkiError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_instances_file(path)


def test_instances_file(tmp_path: Path) -> None:
    path = tmp_path / "instances.yml"
    path.write_text("instances:\n  - name: a\n    dns: [a.example]\n    cn: [a.cluster]\n")
    assert read_instances_file(path) == [{"name": "a", "dns": ["a.example"], "cn": ["a.cluster"]}]


def test_zip_bundle(tmp_path: Path) -> None:
    bundle = ZipBundle()
    bundle.directory("node")
    bundle.add("node/node.crt", b"certificate")
    bundle.add("node/node.key", b"key", secret=True)
    path = tmp_path / "bundle.zip"
    bundle.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["node/", "node/node.crt", "node/node.key"]
        assert archive.read("node/node.key") == b"key"
        assert (archive.getinfo("node/node.key").external_attr >> 16) & 0o777 == 0o600
        assert (archive.getinfo("node/node.crt").external_attr >> 16) & 0o777 == 0o644


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("5y", Period(years=5)),
        ("18M", Period(months=18)),
        ("90D", Period(days=90)),
        ("P1Y2M3D", Period(1, 2, 3)),
        ("1y, 6m", Period(1, 6)),
        ("2w", Period(days=14)),
    ],
)
def test_periods(text: str, period: Period) -> None:
    assert Period.parse(text) == period


@pytest.mark.parametrize("text", ["", "P", "5", "y", "5 years", "-1d", "1h"])
def test_bad_periods(text: str) -> None:
    assert Period.parse(text) is None


def test_period_days_follow_the_calendar() -> None:
    assert Period(years=1).days_from(datetime.date(2024, 1, 1)) == 366
    assert Period(months=1).days_from(datetime.date(2025, 1, 31)) == 28
    assert Period(years=5).approximate_days() == 1800
    assert str(Period(1, 6)) == "1y,6m"
    assert str(Period()) == "0d"
