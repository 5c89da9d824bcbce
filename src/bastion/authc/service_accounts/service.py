"""Service account tokens: created in `.bastion-security` through the API or in
`config/service_tokens` by `bastion service-tokens`; both authenticate a `Bearer` request as
the account. Secrets are stored only as hashes; a verified secret is remembered as its SHA-256
(cleared when the change counter moves, the file changes or its cache is cleared)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

from bastion.authc.password_hashing import Hasher, verify_hash
from bastion.authc.service import AuthenticationError
from bastion.authc.service_accounts.accounts import (
    SERVICE_ACCOUNT_REALM,
    SERVICE_ACCOUNTS,
    ServiceAccount,
)
from bastion.authc.service_accounts.file_tokens import FILE_NAME, FileTokens
from bastion.authc.service_accounts.token import ServiceToken, new_token
from bastion.authc.user import Authentication, TokenRef
from bastion.store.security_index import SecurityIndex, StoredDoc, VersionConflict

DOC_TYPE = "service_account_token"
INDEX_TOKEN = "_service_account_index"  # noqa: S105 (a token source)
FILE_TOKEN = "_service_account_file"  # noqa: S105 (a token source)
MAX_TOKENS_LISTED = 10_000


def token_doc_id(qualified_name: str) -> str:
    return f"{DOC_TYPE}-{qualified_name}"


class ServiceAccountService:
    def __init__(self, index: SecurityIndex, hasher: Hasher, config_dir: Path) -> None:
        self._index = index
        self._hasher = hasher
        self.file = FileTokens(config_dir / FILE_NAME)
        self._verified: dict[tuple[str, str], bytes] = {}  # (source, qualified) → sha256(secret)

    def clear_cache(self, principal: str | None = None, names: tuple[str, ...] = ()) -> None:
        if principal is None:
            self._verified.clear()
            return
        for key in list(self._verified):
            account, _, name = key[1].rpartition("/")
            if account == principal and (not names or "*" in names or name in names):
                del self._verified[key]

    def reload_file(self) -> None:
        if self.file.reload():
            self._verified = {k: v for k, v in self._verified.items() if k[0] != FILE_TOKEN}

    async def authenticate(self, token: ServiceToken) -> Authentication:
        failed = AuthenticationError(
            f"failed to authenticate service account [{token.principal}] with token name "
            f"[{token.name}]"
        )
        account = SERVICE_ACCOUNTS.get(token.principal)
        if account is None:
            raise failed
        source = await self._verify(token)
        if source is None:
            raise failed
        return Authentication(
            account.as_user(),
            SERVICE_ACCOUNT_REALM,
            SERVICE_ACCOUNT_REALM,
            type="token",
            token=TokenRef(token.name, source),
        )

    async def _verify(self, token: ServiceToken) -> str | None:
        digest = hashlib.sha256(token.secret.encode()).digest()
        for source in (FILE_TOKEN, INDEX_TOKEN):
            key = (source, token.qualified_name)
            known = self._verified.get(key)
            if known is not None and hmac.compare_digest(known, digest):
                return source
            stored = await self._stored_hash(source, token.qualified_name)
            if stored is not None and await asyncio.to_thread(verify_hash, token.secret, stored):
                self._verified[key] = digest
                return source
        return None

    async def _stored_hash(self, source: str, qualified_name: str) -> str | None:
        if source == FILE_TOKEN:
            return self.file.tokens.get(qualified_name)
        doc = await self._index.get(token_doc_id(qualified_name))
        if doc is None or doc.source.get("doc_type") != DOC_TYPE:
            return None
        if not doc.source.get("enabled", True):
            return None
        password = doc.source.get("password")
        return password if isinstance(password, str) else None

    async def create_token(
        self, account: ServiceAccount, name: str, creator: Authentication
    ) -> ServiceToken | None:
        """A new index token, or None when one of that name exists."""
        token = new_token(account.namespace, account.service, name)
        password_hash = await asyncio.to_thread(self._hasher.hash, token.secret)
        user = creator.authenticating_user or creator.user
        source: dict[str, Any] = {
            "doc_type": DOC_TYPE,
            "username": account.principal,
            "name": name,
            "password": password_hash,
            "roles": [],
            "enabled": True,
            "creation_time": int(time.time() * 1000),
            "creator": {
                "principal": user.username,
                "full_name": user.full_name,
                "email": user.email,
                "metadata": dict(user.metadata),
                "realm": creator.authenticating_realm.name,
                "realm_type": creator.authenticating_realm.type,
            },
        }
        try:
            await self._index.put(token_doc_id(token.qualified_name), source, expect=None)
        except VersionConflict:
            return None
        return token

    async def delete_token(self, account: ServiceAccount, name: str) -> bool:
        doc_id = token_doc_id(f"{account.principal}/{name}")
        doc = await self._index.get(doc_id)
        if doc is None or doc.source.get("doc_type") != DOC_TYPE:
            return False
        found = await self._index.delete(doc_id)
        self.clear_cache(account.principal, (name,))
        return found

    async def index_token_names(self, account: ServiceAccount) -> list[str]:
        _, docs = await self._index.search(
            {
                "size": MAX_TOKENS_LISTED,
                "_source": ["name"],
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"doc_type": DOC_TYPE}},
                            {"term": {"username": account.principal}},
                        ]
                    }
                },
            }
        )
        return sorted(_name(doc) for doc in docs)

    def file_token_names(self, account: ServiceAccount) -> list[str]:
        prefix = account.principal + "/"
        return sorted(q[len(prefix) :] for q in self.file.tokens if q.startswith(prefix))


def _name(doc: StoredDoc) -> str:
    return str(doc.source.get("name", ""))
