"""What every realm offers the realm chain."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from bastion.authc.user import RealmRef, User


class Outcome(Enum):
    SUCCESS = "success"
    CONTINUE = "continue"  # not mine, or wrong credentials: the next realm may try
    TERMINATE = "terminate"  # mine, and no other realm may authenticate this user


@dataclass(frozen=True, slots=True)
class AuthenticationResult:
    outcome: Outcome
    user: User | None = None
    # A password was checked against a stored hash: the chain need not spend a decoy check.
    verified: bool = False

    @staticmethod
    def success(user: User) -> AuthenticationResult:
        return AuthenticationResult(Outcome.SUCCESS, user)


CONTINUE = AuthenticationResult(Outcome.CONTINUE)
WRONG_PASSWORD = AuthenticationResult(Outcome.CONTINUE, verified=True)
TERMINATE = AuthenticationResult(Outcome.TERMINATE, verified=True)


@dataclass(frozen=True, slots=True)
class UsernamePasswordToken:
    username: str
    password: bytes

    def __repr__(self) -> str:  # never show the password
        return f"UsernamePasswordToken(username={self.username!r})"


class Realm(Protocol):
    ref: RealmRef
    order: int

    async def authenticate(self, token: UsernamePasswordToken) -> AuthenticationResult: ...

    async def lookup_user(self, username: str) -> User | None: ...

    def clear_cache(self, usernames: tuple[str, ...] = ()) -> None: ...
