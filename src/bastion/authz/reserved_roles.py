"""Elasticsearch's built-in roles, read once from `reserved_roles.yml` (package data).

The definitions are data parsed by the ordinary role parser, so a built-in role and a role from
`roles.yml` or the roles API mean exactly the same thing to the authorization engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from bastion.authz.role_descriptor import RoleDescriptor, parse_role_descriptor

_DATA_FILE = "reserved_roles.yml"


def _load() -> dict[str, RoleDescriptor]:
    text = resources.files("bastion.authz").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    roles = {}
    for name, body in document.items():
        descriptor = parse_role_descriptor(name, body)
        if "transient_metadata" in body:
            # The parser drops transient metadata (as Elasticsearch's does); superuser's differs
            # from the default in Elasticsearch, so the data file states it explicitly.
            descriptor = dataclasses.replace(
                descriptor, transient_metadata=dict(body["transient_metadata"])
            )
        roles[name] = descriptor
    return roles


RESERVED_ROLES: Mapping[str, RoleDescriptor] = MappingProxyType(_load())
RESERVED_ROLE_NAMES: frozenset[str] = frozenset(RESERVED_ROLES)


def is_reserved_role(name: str) -> bool:
    return name in RESERVED_ROLES
