"""Instances to certify: a name, the file name for its outputs, and its alternative names.

This is what `elasticsearch-certutil` reads from `--name/--dns/--ip`, from its prompts and from
an `--in instances.yml` file (`instances: [{name, filename, ip, dns, cn}]`), with its rules: a
name containing `=` is a full distinguished name, otherwise the common name; `ca` is reserved
for the CA's own folder; file names are limited to a safe character set so that a name can
never escape the output folder or the zip archive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from bastion.tls.pki import PkiError, parse_distinguished_name, subject_alternative_names

_MAX_FILENAME_LENGTH = 255 - len(".p12")
_FILENAME = re.compile(r"[a-zA-Z0-9!@#$%^&{}\[\]()_+\-=,.~'` ]{1," + f"{_MAX_FILENAME_LENGTH}}}")
_FIELDS = ("name", "filename", "ip", "dns", "cn")


@dataclass(frozen=True)
class Instance:
    name: str
    subject: x509.Name
    filename: str
    ips: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    common_names: tuple[str, ...] = ()


class InstanceError(ValueError):
    """An instance with invalid details; `errors` lists every one of them."""

    def __init__(self, name: str, errors: Sequence[str]) -> None:
        super().__init__(f"instance [{name}] has invalid details: {'; '.join(errors)}")
        self.name = name
        self.errors = list(errors)


def is_valid_filename(name: str) -> bool:
    # No separators are allowed and no leading dot, so `..`, hidden files and paths are out.
    return _FILENAME.fullmatch(name) is not None and not name.startswith(".")


def subject_for(name: str) -> x509.Name:
    if "=" in name:
        return parse_distinguished_name(name)
    try:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    except ValueError as error:
        raise PkiError(f"[{name}] could not be converted to a valid DN: {error}") from None


def new_instance(
    name: str,
    filename: str | None = None,
    ips: Sequence[str] = (),
    dns: Sequence[str] = (),
    common_names: Sequence[str] = (),
) -> Instance:
    """A validated instance; `InstanceError` lists everything wrong with it."""
    errors: list[str] = []
    subject = x509.Name([])
    if name == "ca":
        errors.append("[ca] may not be used as an instance name")
    elif not name:
        errors.append("instance name may not be empty")
    else:
        try:
            subject = subject_for(name)
        except PkiError as error:
            errors.append(str(error))
    filename = name if filename is None else filename
    if not is_valid_filename(filename):
        errors.append(f"[{filename}] is not a valid filename")
    for ip in ips:
        errors.extend(_name_errors(ips=[ip]))
    for host in dns:
        errors.extend(_name_errors(dns=[host]))
    for common_name in common_names:
        errors.extend(_name_errors(common_names=[common_name]))
    if errors:
        raise InstanceError(name, errors)
    return Instance(name, subject, filename, tuple(ips), tuple(dns), tuple(common_names))


def split_commas(values: Sequence[str]) -> list[str]:
    """`--dns a,b --dns c` and prompt answers: comma separated, blanks dropped."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def read_instances_file(path: Path) -> list[dict[str, Any]]:
    """The raw `instances` entries of an instances YAML file, shape-checked (each a mapping
    with a string `name` and only known fields; list fields lists of strings)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PkiError(f"cannot read the instances file [{path}]: {error.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise PkiError(f"the instances file [{path}] is not valid YAML") from None
    if not isinstance(document, dict) or not isinstance(document.get("instances"), list):
        raise PkiError(f"the instances file [{path}] must contain an [instances] list")
    entries: list[dict[str, Any]] = []
    for position, entry in enumerate(document["instances"]):
        where = f"[{path}] instance [{position}]"
        if not isinstance(entry, dict):
            raise PkiError(f"{where} must be an object")
        unknown = sorted(str(key) for key in entry if key not in _FIELDS)
        if unknown:
            raise PkiError(f"{where} has unknown field [{unknown[0]}]")
        if not isinstance(entry.get("name"), str):
            raise PkiError(f"{where} requires a string [name]")
        if "filename" in entry and not isinstance(entry["filename"], str):
            raise PkiError(f"{where} field [filename] must be a string")
        for field in ("ip", "dns", "cn"):
            values = entry.get(field, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise PkiError(f"{where} field [{field}] must be a list of strings")
        entries.append(entry)
    return entries


def _name_errors(
    dns: Sequence[str] = (), ips: Sequence[str] = (), common_names: Sequence[str] = ()
) -> list[str]:
    try:
        subject_alternative_names(dns, ips, common_names)
    except PkiError as error:
        return [str(error)]
    return []
