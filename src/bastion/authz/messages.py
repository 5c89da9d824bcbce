"""Elasticsearch's authorization denial messages."""

from __future__ import annotations

from collections.abc import Sequence

from bastion.authc.user import Authentication
from bastion.authz.privileges import privileges_granting


def _who(authentication: Authentication) -> str:
    user = authentication.user
    if authentication.api_key is not None:
        # Elasticsearch names the key and its owner, and no roles (a key has none of its own).
        return f"API key id [{authentication.api_key.id}] of user [{user.username}]"
    if authentication.token is not None:  # a service account token: its role is not named
        return f"service account [{user.username}]"
    if authentication.authenticating_user is not None:
        return f"user [{authentication.authenticating_user.username}] run as [{user.username}]"
    return f"user [{user.username}]"


def _roles(authentication: Authentication) -> str:
    if authentication.api_key is not None or authentication.token is not None:
        return ""
    return f" with effective roles [{','.join(authentication.user.roles)}]"


def denied_cluster(authentication: Authentication, action: str) -> str:
    granting = privileges_granting(action, "cluster")
    text = f"action [{action}] is unauthorized for {_who(authentication)}{_roles(authentication)}"
    if granting:
        text += f", this action is granted by the cluster privileges [{','.join(granting)}]"
    return text


def denied_indices(authentication: Authentication, action: str, indices: Sequence[str]) -> str:
    granting = privileges_granting(action, "index")
    text = (
        f"action [{action}] is unauthorized for {_who(authentication)}{_roles(authentication)} "
        f"on indices [{','.join(indices)}]"
    )
    if granting:
        text += f", this action is granted by the index privileges [{','.join(granting)}]"
    return text


def denied_run_as(authentication: Authentication, action: str) -> str:
    by = authentication.authenticating_user
    assert by is not None
    return (
        f"action [{action}] is unauthorized for user [{by.username}] with effective roles "
        f"[{','.join(by.roles)}], because user [{by.username}] is unauthorized to run as "
        f"[{authentication.user.username}]"
    )
