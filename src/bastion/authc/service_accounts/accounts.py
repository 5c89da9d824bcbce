"""Elasticsearch 8's built-in service accounts and their fixed role descriptors.

The descriptors are data (`accounts.yml`) parsed by the ordinary role parser. A service account's
user carries one role name, its principal, which `ServiceAccountRoleStore` resolves to the fixed
descriptor before any other role source, so no role of that name elsewhere can change it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from bastion.authc.user import RealmRef, User
from bastion.authz.reserved_roles import RESERVED_ROLES
from bastion.authz.role_descriptor import RoleDescriptor, parse_role_descriptor

SERVICE_ACCOUNT_REALM = RealmRef("_service_account", "_service_account")
_DATA_FILE = "accounts.yml"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    namespace: str
    service: str
    role_descriptor: RoleDescriptor

    @property
    def principal(self) -> str:
        return f"{self.namespace}/{self.service}"

    def as_user(self) -> User:
        return User(
            self.principal,
            (self.principal,),
            full_name=f"Service account - {self.principal}",
            metadata=MappingProxyType({"_elastic_service_account": True}),
        )


def _load() -> dict[str, ServiceAccount]:
    text = resources.files(__package__).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    descriptors = {
        principal: parse_role_descriptor(principal, body) for principal, body in document.items()
    }
    descriptors["elastic/kibana"] = dataclasses.replace(
        RESERVED_ROLES["kibana_system"], name="elastic/kibana", metadata={}
    )
    accounts = {}
    for principal in sorted(descriptors):
        namespace, service = principal.split("/")
        accounts[principal] = ServiceAccount(namespace, service, descriptors[principal])
    return accounts


SERVICE_ACCOUNTS: Mapping[str, ServiceAccount] = MappingProxyType(_load())


def accounts_matching(namespace: str | None, service: str | None) -> list[ServiceAccount]:
    return [
        account
        for account in SERVICE_ACCOUNTS.values()
        if (namespace is None or account.namespace == namespace)
        and (service is None or account.service == service)
    ]
