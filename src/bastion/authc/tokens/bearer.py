"""The `Bearer` scheme: a service account token (recognised by its leading bytes, as in
Elasticsearch) or an access token."""

from __future__ import annotations

from bastion.authc.service import AuthenticationError
from bastion.authc.service_accounts.service import ServiceAccountService
from bastion.authc.service_accounts.token import parse_bearer
from bastion.authc.tokens.service import TokenService
from bastion.authc.tokens.values import is_token_value
from bastion.authc.user import Authentication


class BearerAuthenticator:
    def __init__(self, tokens: TokenService, service_accounts: ServiceAccountService) -> None:
        self._tokens = tokens
        self._service_accounts = service_accounts

    async def __call__(
        self, credentials: str, rest_path: str, address: str | None
    ) -> Authentication:
        service_token = parse_bearer(credentials)
        if service_token is not None:
            return await self._service_accounts.authenticate(service_token)
        if self._tokens.enabled and is_token_value(credentials):
            return await self._tokens.authenticate(credentials)
        raise AuthenticationError("unable to authenticate with provided credentials")
