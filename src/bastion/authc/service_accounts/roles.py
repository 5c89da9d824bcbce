"""The role store as authorization sees it, with service accounts' fixed roles in front."""

from __future__ import annotations

from collections.abc import Iterable

from bastion.authc.service_accounts.accounts import SERVICE_ACCOUNTS
from bastion.authz.role_descriptor import RoleDescriptor
from bastion.authz.role_store import RoleStore


class ServiceAccountRoleStore(RoleStore):
    """A service account user's role name is its principal (`elastic/fleet-server`); it resolves
    to the account's built-in descriptor before reserved, file and native roles."""

    async def descriptors(self, names: Iterable[str]) -> list[RoleDescriptor]:
        wanted = list(dict.fromkeys(names))
        fixed = [SERVICE_ACCOUNTS[n].role_descriptor for n in wanted if n in SERVICE_ACCOUNTS]
        rest = [n for n in wanted if n not in SERVICE_ACCOUNTS]
        return fixed + (await super().descriptors(rest) if rest else [])
