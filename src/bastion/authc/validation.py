"""Name and password rules for users and roles, as Elasticsearch validates them."""

from __future__ import annotations

MAX_NAME_LENGTH = 1024
MIN_PASSWORD_LENGTH = 6
_INVALID_NAME = (
    "{kind} names must be at least 1 and no more than {max} characters. They can contain "
    "alphanumeric characters (a-z, A-Z, 0-9), spaces, punctuation, and printable symbols in the "
    "Basic Latin (ASCII) block. Leading or trailing whitespace is not allowed."
)


def is_valid_name(name: str, max_length: int = MAX_NAME_LENGTH) -> bool:
    """Printable ASCII (space to `~`), 1 to `max_length` long, no leading or trailing space."""
    return (
        1 <= len(name) <= max_length
        and all(" " <= char <= "~" for char in name)
        and not name.startswith(" ")
        and not name.endswith(" ")
    )


def username_error(username: str, max_length: int = MAX_NAME_LENGTH) -> str | None:
    if is_valid_name(username, max_length):
        return None
    return _INVALID_NAME.format(kind="User", max=max_length)


def role_name_error(name: str, max_length: int = MAX_NAME_LENGTH) -> str | None:
    if is_valid_name(name, max_length):
        return None
    return _INVALID_NAME.format(kind="Role", max=max_length)


def password_error(password: str, minimum: int = MIN_PASSWORD_LENGTH) -> str | None:
    if len(password) >= minimum:
        return None
    return f"passwords must be at least [{minimum}] characters long"
