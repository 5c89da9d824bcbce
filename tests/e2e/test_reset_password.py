"""`bastion reset-password` against a running gateway, through a temporary file-realm user."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ELASTIC, Gateway, http_request


def reset(gateway: Gateway, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bastion",
            "reset-password",
            "--home",
            str(gateway.home),
            "--url",
            gateway.url,
            *args,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def status_as(gateway: Gateway, username: str, password: str) -> int:
    status, _, _ = http_request(
        gateway.url, "GET", "/_security/_authenticate", auth=(username, password)
    )
    return status


def test_reset_generated_interactive_and_silent(gateway: Gateway) -> None:
    body = json.dumps({"password": "first-password", "roles": []}).encode()
    status, _, _ = http_request(gateway.url, "PUT", "/_security/user/rp-alice", body=body)
    assert status == 200

    done = reset(gateway, "-u", "rp-alice", "-b")
    assert done.returncode == 0, done.stderr
    assert "Password for the [rp-alice] user successfully reset." in done.stdout
    generated = done.stdout.split("New value: ")[1].strip()
    assert len(generated) == 20
    assert status_as(gateway, "rp-alice", generated) == 200
    assert status_as(gateway, "rp-alice", "first-password") == 401

    typed = reset(gateway, "-u", "rp-alice", "-i", "-b", stdin="typed-password\ntyped-password\n")
    assert typed.returncode == 0, typed.stderr
    assert status_as(gateway, "rp-alice", "typed-password") == 200

    silent = reset(gateway, "-u", "rp-alice", "-s", stdin="y\n")
    assert silent.returncode == 0, silent.stderr
    assert status_as(gateway, "rp-alice", silent.stdout.strip()) == 200

    # The temporary superuser is gone from the file realm.
    users = (gateway.home / "config" / "users").read_text()
    assert "bastion-tool-" not in users


def test_refusals(gateway: Gateway) -> None:
    declined = reset(gateway, "-u", "rp-nobody", stdin="n\n")
    assert declined.returncode == 0
    assert "Operation cancelled" in declined.stderr

    missing = reset(gateway, "-u", "rp-nobody", "-b")
    assert missing.returncode == 1
    assert "failed to reset the password of the [rp-nobody] user" in missing.stderr

    short = reset(gateway, "-u", "rp-nobody", "-i", "-b", stdin="abc\nabc\n")
    assert short.returncode == 1
    assert "at least [6] characters" in short.stderr

    unreachable = subprocess.run(
        [
            sys.executable,
            "-m",
            "bastion",
            "reset-password",
            "--home",
            str(gateway.home),
            "--url",
            "http://127.0.0.1:9",
            "-b",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unreachable.returncode == 1
    assert "could not reach the gateway at [http://127.0.0.1:9]" in unreachable.stderr
    assert ELASTIC[1] not in unreachable.stderr
