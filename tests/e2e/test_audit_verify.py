"""`bastion audit verify`: exit 0 and a summary on an intact log, 1 and `file:line` otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bastion.audit.chain import load_or_create_key
from bastion.audit.logfile import LogFileOutput


def verify_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion", "audit", "verify", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def write_log(home: Path) -> list[Path]:
    key = load_or_create_key(home / "config")
    out = LogFileOutput(
        home / "logs" / "bastion_audit.json",
        key,
        max_size=2000,
        checkpoint_interval=4,
        queue_size=10,
    )
    out.path.parent.mkdir(parents=True)
    for batch in range(8):
        out.write_batch([{"type": "audit", "event.action": "access_granted", "n": batch}])
        out.write_batch([{"type": "audit", "event.action": "access_denied", "n": batch}])
    return sorted((home / "logs").glob("bastion_audit*"))


def test_intact_rotated_log(tmp_path: Path) -> None:
    files = write_log(tmp_path)
    assert any(f.name.endswith(".json.gz") for f in files)
    result = verify_cli("--home", str(tmp_path), *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"OK: {len(files)} file(s), ")
    assert "signatures NOT checked" not in result.stdout


def test_altered_line_is_reported(tmp_path: Path) -> None:
    files = write_log(tmp_path)
    current = tmp_path / "logs" / "bastion_audit.json"
    lines = current.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b"access_", b"ACCESS_")
    current.write_bytes(b"".join(lines))
    result = verify_cli("--home", str(tmp_path), *map(str, files))
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"TAMPERED: {current}:1: altered line: its content does not match its event.hash"
    )


def test_missing_rotated_file_is_reported(tmp_path: Path) -> None:
    files = write_log(tmp_path)
    rotated = [f for f in files if f.name.endswith(".gz")]
    kept = [f for f in files if f != rotated[-1]] if len(rotated) > 1 else files[1:]
    result = verify_cli("--home", str(tmp_path), *map(str, kept))
    assert result.returncode == 1
    assert "missing before this one" in result.stdout


def test_wrong_key_and_no_key(tmp_path: Path) -> None:
    files = write_log(tmp_path)
    other = tmp_path / "other.key"
    other.write_text("ab" * 32)
    result = verify_cli("--key-file", str(other), *map(str, files))
    assert result.returncode == 1
    assert "forged checkpoint" in result.stdout
    result = verify_cli("--home", str(tmp_path / "elsewhere"), *map(str, files))
    assert result.returncode == 0
    assert "signatures NOT checked" in result.stdout
