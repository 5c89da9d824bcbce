"""The conversation of `bastion certutil`: messages, prompts, secrets and exit codes.

Prompts read standard input line by line (a terminal or a pipe, so scripts and tests can answer
them); secrets are read without echo when standard input is a terminal. Silent mode (`-s`)
drops explanations but keeps prompts and the answers' summaries, as Elasticsearch's does.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from bastion.tls import pki

# Exit codes of Elasticsearch's command line tools (`ExitCodes`).
USAGE = 64
DATA_ERROR = 65
CANT_CREATE = 73
IO_ERROR = 74
CONFIG = 78

# Older OpenSSL releases cannot use longer passwords (Elasticsearch warns about the same).
_OLD_OPENSSL_PASSWORD_LENGTH = 50


class CertutilError(Exception):
    """Ends the command with `message` and an Elasticsearch exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Terminal:
    def __init__(self, *, silent: bool = False) -> None:
        self.silent = silent

    def println(self, text: str = "", *, always: bool = False) -> None:
        if always or not self.silent:
            print(text, flush=True)

    def error(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def read_text(self, prompt: str) -> str:
        print(prompt, end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            raise CertutilError("unable to read from standard input; is it open?", IO_ERROR)
        return line.rstrip("\r\n").strip()

    def read_secret(self, prompt: str) -> str:
        if sys.stdin.isatty():
            return getpass.getpass(prompt)
        print(prompt, end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            raise CertutilError("unable to read a password from standard input", IO_ERROR)
        return line.rstrip("\r\n")

    def prompt_yes_no(self, prompt: str, default: bool) -> bool:
        suffix = " [Y/n] " if default else " [y/N] "
        while True:
            answer = self.read_text(prompt + suffix).lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.println(f"Did not understand answer '{answer}'", always=True)

    def password(self, description: str, given: str | None, *, ascii_only: bool) -> str:
        """`given` (from `--pass`/`--ca-pass`), or a prompt for `description` when absent."""
        password = (
            given if given is not None else self.read_secret(f"Enter password for {description} : ")
        )
        check_password(password, ascii_only=ascii_only)
        self.warn_if_long(password)
        return password

    def warn_if_long(self, password: str) -> None:
        if len(password) > _OLD_OPENSSL_PASSWORD_LENGTH:
            self.println(
                f"Warning: the password is longer than {_OLD_OPENSSL_PASSWORD_LENGTH} "
                "characters; OpenSSL releases before 1.1.0 cannot read this file.",
                always=True,
            )

    def output_path(self, given: str | None, default: str) -> Path:
        """`--out`, or the answer to a prompt offering `default`; made absolute."""
        if given is not None:
            return Path(given).expanduser().absolute()
        suggested = Path(default).absolute()
        answer = self.read_text(f"Please enter the desired output file [{suggested}]: ")
        return Path(answer).expanduser().absolute() if answer else suggested

    def ensure_parent(self, path: Path) -> None:
        """Refuse an existing output; offer to create a missing folder."""
        if path.exists() or path.is_symlink():
            raise CertutilError(f"Output file '{path}' already exists", IO_ERROR)
        parent = path.parent
        if parent.is_dir():
            return
        if parent.exists():
            raise CertutilError(f"Cannot write to {path}: {parent} is not a directory", CANT_CREATE)
        if not self.prompt_yes_no(
            f"Directory {parent} does not exist. Do you want to create it?", True
        ):
            raise CertutilError(f"Directory {parent} does not exist", CANT_CREATE)
        try:
            parent.mkdir(parents=True)
        except OSError as error:
            raise CertutilError(
                f"Cannot create directory {parent}: {error.strerror}", CANT_CREATE
            ) from None


def check_password(password: str, *, ascii_only: bool) -> None:
    # PKCS#12 password-based encryption is defined over ASCII passwords.
    if ascii_only and not password.isascii():
        raise CertutilError("PKCS#12 passwords must be plain ASCII", CONFIG)


def load_private_key(
    terminal: Terminal, path: Path, password: str | None, prompt: str
) -> pki.PrivateKey:
    """A PEM key with `password`; without one, an encrypted key's password is asked for."""
    if password is not None:
        return pki.load_private_key(path, password.encode())
    try:
        return pki.load_private_key(path)
    except pki.PasswordRequired:
        answer = terminal.read_secret(prompt)
        return pki.load_private_key(path, answer.encode())
