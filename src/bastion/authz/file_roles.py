"""`roles.yml`: role name → role descriptor, in Elasticsearch's file format.

Like Elasticsearch's `FileRolesStore`, the file is cut into one segment per top-level key (a
line that does not start with whitespace, ignoring blank lines and `#` comments) and every
segment is parsed on its own: a malformed or invalid role is skipped and reported while the
other roles load. Problems are reported with Elasticsearch's log message text.

A role named like a built-in role is skipped. When the file exists but cannot be read as UTF-8
text at all, `RolesFileError` is raised so the caller can keep the roles it already has.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bastion.authc.validation import role_name_error
from bastion.authz.reserved_roles import is_reserved_role
from bastion.authz.role_descriptor import (
    MAX_DESCRIPTION_LENGTH,
    PARSE,
    PrivilegeCheck,
    RoleDescriptor,
    RoleDescriptorError,
    description_error,
    parse_role_descriptor,
    privilege_errors,
)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SKIP_LINE = re.compile(r"#.*|[ \t\n\x0b\f\r]*")
_IN_SEGMENT_LINE = re.compile(r"[ \t\n\x0b\f\r]+.+")
_KEY_LINE = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)'|([^:#]*?))\s*:""")


class RolesFileError(Exception):
    """The roles file exists but cannot be read; keep the previously loaded roles."""


class _Loader(yaml.SafeLoader):
    """YAML as Elasticsearch's parser reads it: keys are text and unique, only `true`/`false`
    are booleans, and dates stay strings."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key_node.tag = "tag:yaml.org,2002:str"
                # Elasticsearch's parsers reject duplicate keys instead of keeping the last.
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"Duplicate field '{key_node.value}'", key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _segments(text: str) -> list[str]:
    segments: list[str] = []
    current: list[str] | None = None
    for line in _LINE_BREAK.split(text):
        if _SKIP_LINE.fullmatch(line):
            continue
        if _IN_SEGMENT_LINE.fullmatch(line):
            if current is not None:  # indented lines before the first role are dropped
                current.append(line)
        else:
            if current is not None:
                segments.append("\n".join(current) + "\n")
            current = [line]
    if current is not None:
        segments.append("\n".join(current) + "\n")
    return segments


def _guess_name(segment: str) -> str:
    """The role name a segment starts with, for reporting a segment YAML cannot parse."""
    match = _KEY_LINE.match(segment)
    if match is None:
        return "null"
    name = next((group for group in match.groups() if group is not None), "")
    return name or "null"


def _parse_segment(
    segment: str,
    path: Path,
    cluster_check: PrivilegeCheck | None,
    index_check: PrivilegeCheck | None,
) -> tuple[RoleDescriptor | None, str | None]:
    where = f"in roles file [{path.absolute()}]"
    try:
        document = yaml.load(segment, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        detail = getattr(error, "problem", None) or str(error)
        return None, (
            f"invalid role definition [{_guess_name(segment)}] in roles file [{path}]. "
            f"skipping role... caused by: {detail}"
        )
    if not isinstance(document, dict) or not document:
        return None, f"invalid role definition [null] {where}. skipping role..."
    name, body = next(iter(document.items()))
    name = str(name)
    problem = role_name_error(name)
    if problem is None and is_reserved_role(name):
        problem = f"Role [{name}] is reserved and may not be used."
    if problem is not None:
        reason = f"invalid role name - {problem}"
        return None, f"invalid role definition [{name}] {where}. {reason}. skipping role..."
    if not isinstance(body, dict):
        return None, f"invalid role definition [{name}] {where}. skipping role..."
    try:
        descriptor = parse_role_descriptor(name, body, allow_2x_format=True, validate_name=False)
    except RoleDescriptorError as error:
        if error.error_type == PARSE:
            message = f"{error.reason}. skipping role..."
        else:
            message = f"invalid role definition [{name}] in roles file [{path}]. skipping role..."
            message += f" caused by: {error.reason}"
        if error.caused_by is not None:
            message += f" caused by: {error.caused_by}"
        return None, message
    if len(descriptor.description) > MAX_DESCRIPTION_LENGTH:
        return None, (
            f"invalid role definition [{name}] {where}. invalid description - "
            f"{description_error()}. skipping role..."
        )
    if cluster_check is not None and index_check is not None:
        errors = privilege_errors(descriptor, cluster_check, index_check)
        if errors:
            return None, (
                f"invalid role definition [{name}] {where}. {'; '.join(errors)}. skipping role..."
            )
    return descriptor, None


def parse_roles_text(
    text: str,
    path: Path,
    *,
    cluster_check: PrivilegeCheck | None = None,
    index_check: PrivilegeCheck | None = None,
) -> tuple[dict[str, RoleDescriptor], list[str]]:
    """Parse the content of a roles file; `path` only names the file in messages."""
    roles: dict[str, RoleDescriptor] = {}
    problems: list[str] = []
    for segment in _segments(text):
        descriptor, problem = _parse_segment(segment, path, cluster_check, index_check)
        if problem is not None:
            problems.append(problem)
        if descriptor is not None:
            roles[descriptor.name] = descriptor  # a later definition wins, as in Elasticsearch
    return roles, problems


def read_file_roles(
    path: Path,
    *,
    cluster_check: PrivilegeCheck | None = None,
    index_check: PrivilegeCheck | None = None,
) -> tuple[dict[str, RoleDescriptor], list[str]] | None:
    """Read `roles.yml`: the roles that loaded and one message per skipped role.

    Returns None when the file does not exist. Raises `RolesFileError` when it exists but cannot
    be read or is not UTF-8 text. With `cluster_check` and `index_check` (each returning an
    error message for an unknown privilege name, else None), roles naming unknown privileges
    are skipped too; Elasticsearch itself only fails on them when the role is used.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RolesFileError(
            f"failed to read roles file [{path.absolute()}]. skipping all roles... ({error})"
        ) from error
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RolesFileError(
            f"failed to read roles file [{path.absolute()}]. skipping all roles... ({error})"
        ) from error
    return parse_roles_text(text, path, cluster_check=cluster_check, index_check=index_check)
