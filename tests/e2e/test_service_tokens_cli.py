"""`bastion service-tokens` as a user runs it, like `elasticsearch-service-tokens`."""

from __future__ import annotations

import base64
import stat
import subprocess
import sys
from pathlib import Path


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion", "service-tokens", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_list_delete(tmp_path: Path) -> None:
    created = cli(tmp_path, "create", "elastic/fleet-server", "my-token")
    assert created.returncode == 0, created.stderr
    label, _, value = created.stdout.strip().partition(" = ")
    assert label == "SERVICE_TOKEN elastic/fleet-server/my-token"
    raw = base64.b64decode(value + "=" * (-len(value) % 4))
    assert raw.startswith(b"\x00\x01\x00\x01elastic/fleet-server/my-token:")
    secret = raw.split(b":", 1)[1].decode()
    path = tmp_path / "config" / "service_tokens"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    assert content.startswith("elastic/fleet-server/my-token:{PBKDF2_STRETCH}")
    assert secret not in content
    assert cli(tmp_path, "create", "elastic/kibana", "other").returncode == 0
    assert cli(tmp_path, "list").stdout.split() == [
        "elastic/fleet-server/my-token",
        "elastic/kibana/other",
    ]
    assert cli(tmp_path, "list", "elastic/kibana").stdout.split() == ["elastic/kibana/other"]
    assert cli(tmp_path, "delete", "elastic/fleet-server", "my-token").returncode == 0
    assert cli(tmp_path, "list").stdout.split() == ["elastic/kibana/other"]


def test_errors_and_exit_codes(tmp_path: Path) -> None:
    assert cli(tmp_path, "create", "elastic/kibana", "t").returncode == 0
    duplicate = cli(tmp_path, "create", "elastic/kibana", "t")
    assert duplicate.returncode == 70
    assert "Service token [elastic/kibana/t] already exists" in duplicate.stderr
    unknown = cli(tmp_path, "create", "elastic/nope", "t")
    assert unknown.returncode == 65
    assert "Unknown service account principal: [elastic/nope]" in unknown.stderr
    bad_name = cli(tmp_path, "create", "elastic/kibana", "_t")
    assert bad_name.returncode == 65
    missing = cli(tmp_path, "delete", "elastic/kibana", "absent")
    assert missing.returncode == 67
    assert cli(tmp_path, "list").stdout.split() == ["elastic/kibana/t"]


def test_hashing_algorithm_setting(tmp_path: Path) -> None:
    created = cli(
        tmp_path,
        "create",
        "elastic/kibana",
        "t",
        "-E",
        "xpack.security.authc.service_token_hashing.algorithm=bcrypt",
    )
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "config" / "service_tokens").read_text().startswith("elastic/kibana/t:$2")
