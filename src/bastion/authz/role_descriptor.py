"""Role descriptors: the data a role grants, parsed and validated as Elasticsearch 8 does.

`parse_role_descriptor` walks a decoded JSON/YAML body in document order and raises
`RoleDescriptorError` on the first problem, carrying the error type (`parse_exception`,
`x_content_parse_exception`, `illegal_argument_exception`, `validation_exception`) and message
text that Elasticsearch's `RoleDescriptor` parser produces for the same body. `to_json` renders
a descriptor in the shape of `GET /_security/role`.

Field names that a JSON parser reports at a position inside an array are `null` in
Elasticsearch's messages (the parser has no current field name there); this module reproduces
that, so `could not parse [null] field` is deliberate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bastion.authc.validation import role_name_error

PARSE = "parse_exception"
X_CONTENT_PARSE = "x_content_parse_exception"
ILLEGAL_ARGUMENT = "illegal_argument_exception"
VALIDATION = "validation_exception"
REQUEST_VALIDATION = "action_request_validation_exception"

MAX_DESCRIPTION_LENGTH = 1000
RESERVED_METADATA_PREFIX = "_"
# Late 8.x: the only privileges a `remote_cluster` entry may carry.
REMOTE_CLUSTER_PRIVILEGES = ("monitor_enrich", "monitor_stats")
GLOBAL_CATEGORIES = ("application", "profile", "role")  # output order is this order
_GLOBAL_OPERATION = {"application": "manage", "profile": "write", "role": "manage"}

PrivilegeCheck = Callable[[str], str | None]


class RoleDescriptorError(Exception):
    """A role body Elasticsearch would reject; `status` is the HTTP status it answers with."""

    status = 400

    def __init__(
        self, error_type: str, reason: str, caused_by: RoleDescriptorError | None = None
    ) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason
        self.caused_by = caused_by

    def __str__(self) -> str:
        if self.caused_by is None:
            return self.reason
        return f"{self.reason}; caused by: {self.caused_by}"

    def root_cause(self) -> RoleDescriptorError:
        """Elasticsearch reports the innermost wrapped exception as the `root_cause`."""
        return self if self.caused_by is None else self.caused_by.root_cause()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.error_type, "reason": self.reason}
        if self.caused_by is not None:
            body["caused_by"] = self.caused_by.to_json()
        return body

    def error_body(self) -> dict[str, Any]:
        """The whole REST error body: `{"error": {"root_cause": [...], ...}, "status": 400}`."""
        root = self.root_cause()
        error = {"root_cause": [{"type": root.error_type, "reason": root.reason}], **self.to_json()}
        return {"error": error, "status": self.status}


# --- the descriptor -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSecurity:
    grant: tuple[str, ...] | None = None
    except_: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, list[str]]:
        body: dict[str, list[str]] = {}
        if self.grant is not None:
            body["grant"] = list(self.grant)
        if self.except_ is not None:
            body["except"] = list(self.except_)
        return body

    @property
    def restricts_fields(self) -> bool:
        # A bare `grant: ["*"]` is what UIs send by default; Elasticsearch treats it as no FLS.
        if self.except_:
            return True
        return self.grant is not None and tuple(self.grant) != ("*",)


@dataclass(frozen=True, slots=True)
class IndicesPrivileges:
    names: tuple[str, ...]
    privileges: tuple[str, ...]
    field_security: FieldSecurity | None = None
    query: str | dict[str, Any] | None = field(default=None, hash=False)
    allow_restricted_indices: bool = False

    @property
    def uses_document_level_security(self) -> bool:
        return self.query is not None

    @property
    def uses_field_level_security(self) -> bool:
        return self.field_security is not None and self.field_security.restricts_fields

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"names": list(self.names), "privileges": list(self.privileges)}
        if self.field_security is not None:
            body["field_security"] = self.field_security.to_json()
        if self.query is not None:
            body["query"] = query_text(self.query)
        body["allow_restricted_indices"] = self.allow_restricted_indices
        return body


@dataclass(frozen=True, slots=True)
class RemoteIndicesPrivileges:
    indices: IndicesPrivileges
    clusters: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.indices.to_json(), "clusters": list(self.clusters)}


@dataclass(frozen=True, slots=True)
class RemoteClusterPermission:
    privileges: tuple[str, ...]
    clusters: tuple[str, ...]

    def to_json(self) -> dict[str, list[str]]:
        return {"privileges": list(self.privileges), "clusters": list(self.clusters)}


@dataclass(frozen=True, slots=True)
class ApplicationPrivileges:
    application: str
    privileges: tuple[str, ...]
    resources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "application": self.application,
            "privileges": list(self.privileges),
            "resources": list(self.resources),
        }


@dataclass(frozen=True, slots=True)
class GlobalPrivilege:
    """A `global` (configurable cluster) privilege: `application.manage` and `profile.write`
    carry application names, `role.manage` carries (index names, privileges) pairs."""

    category: str
    applications: tuple[str, ...] = ()
    indices: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()

    @property
    def operation(self) -> str:
        return _GLOBAL_OPERATION[self.category]


@dataclass(frozen=True, slots=True)
class RoleDescriptor:
    name: str
    cluster: tuple[str, ...] = ()
    indices: tuple[IndicesPrivileges, ...] = ()
    applications: tuple[ApplicationPrivileges, ...] = ()
    run_as: tuple[str, ...] = ()
    # Mappings are compared but left out of the hash, so descriptors stay hashable.
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    transient_metadata: Mapping[str, Any] = field(
        default_factory=lambda: {"enabled": True}, hash=False
    )
    description: str = ""  # Elasticsearch stores a missing description as ""
    global_privileges: tuple[GlobalPrivilege, ...] = ()
    remote_indices: tuple[RemoteIndicesPrivileges, ...] = ()
    remote_cluster: tuple[RemoteClusterPermission, ...] = ()
    restriction_workflows: tuple[str, ...] | None = None  # API key role descriptors only

    @property
    def uses_document_or_field_level_security(self) -> bool:
        return any(
            entry.uses_document_level_security or entry.uses_field_level_security
            for entry in self.indices
        )

    @property
    def is_empty(self) -> bool:
        return not (
            self.cluster
            or self.global_privileges
            or self.indices
            or self.applications
            or self.run_as
            or self.metadata
            or self.remote_indices
            or self.remote_cluster
            or self.restriction_workflows
        )

    def to_json(self, *, doc_creation: bool = False) -> dict[str, Any]:
        """The body `GET /_security/role` shows for this role (field order as Elasticsearch).

        With `doc_creation`, the shape stored in the security index: `"type": "role"` instead of
        `transient_metadata`.
        """
        body: dict[str, Any] = {"cluster": list(self.cluster)}
        if self.global_privileges:
            body["global"] = _global_json(self.global_privileges)
        body["indices"] = [entry.to_json() for entry in self.indices]
        body["applications"] = [entry.to_json() for entry in self.applications]
        body["run_as"] = list(self.run_as)
        body["metadata"] = dict(self.metadata)
        if doc_creation:
            body["type"] = "role"
        else:
            body["transient_metadata"] = dict(self.transient_metadata)
        if self.remote_indices:
            body["remote_indices"] = [entry.to_json() for entry in self.remote_indices]
        if self.remote_cluster:
            body["remote_cluster"] = [entry.to_json() for entry in self.remote_cluster]
        if self.restriction_workflows:
            body["restriction"] = {"workflows": list(self.restriction_workflows)}
        if self.description:
            body["description"] = self.description
        return body


def query_text(query: str | Mapping[str, Any]) -> str:
    """Elasticsearch keeps a role query as raw bytes and shows it as a string."""
    if isinstance(query, str):
        return query
    return json.dumps(query, separators=(",", ":"), ensure_ascii=False)


def _global_json(privileges: Sequence[GlobalPrivilege]) -> dict[str, Any]:
    # Every category is written, empty or not, in category order (as Elasticsearch does).
    body: dict[str, Any] = {category: {} for category in GLOBAL_CATEGORIES}
    for privilege in privileges:
        section = body[privilege.category]
        if privilege.category == "role":
            entries = section.setdefault("manage", {"indices": []})["indices"]
            entries.extend(
                {"names": list(names), "privileges": list(granted)}
                for names, granted in privilege.indices
            )
        else:
            applications = section.setdefault(privilege.operation, {"applications": []})
            applications["applications"].extend(privilege.applications)
    return body


# --- parsing ------------------------------------------------------------------------------


def _token(value: Any) -> str:
    """The Elasticsearch parser token a decoded JSON/YAML value starts with."""
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, Mapping):
        return "START_OBJECT"
    if isinstance(value, list | tuple):
        return "START_ARRAY"
    if isinstance(value, bytes | bytearray):
        return "VALUE_EMBEDDED_OBJECT"
    return "VALUE_STRING"


def _text(value: Any) -> str:
    """What the parser's `text()` returns for a scalar value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error(reason: str, cause: RoleDescriptorError | None = None) -> RoleDescriptorError:
    return RoleDescriptorError(PARSE, reason, cause)


def read_string_array(field_name: str, value: Any, allow_null: bool) -> tuple[str, ...] | None:
    """Elasticsearch's security `readStringArray`, with its `parse_exception` messages."""
    if value is None:
        if allow_null:
            return None
        raise _error(
            f"could not parse [{field_name}] field. expected a string array but found null "
            "value instead"
        )
    if not isinstance(value, list | tuple):
        raise _error(
            f"could not parse [{field_name}] field. expected a string array but found "
            f"[{_token(value)}] value instead"
        )
    for item in value:
        if not isinstance(item, str):
            # Inside an array the parser has no current field name, hence `[null]`.
            raise _error(
                "could not parse [null] field. expected a string array but one of the value in "
                f"the array is [{_token(item)}]"
            )
    return tuple(value)


@dataclass(slots=True)
class _IndexFields:
    """What one `indices` entry has set so far."""

    names: tuple[str, ...] | None = None
    privileges: tuple[str, ...] | None = None
    grant: tuple[str, ...] | None = None
    except_: tuple[str, ...] | None = None
    query: str | dict[str, Any] | None = None
    allow_restricted_indices: bool = False
    clusters: tuple[str, ...] | None = None


class _Parser:
    def __init__(self, name: str, allow_2x_format: bool) -> None:
        self.name = name
        self.allow_2x_format = allow_2x_format

    def strings(self, field_name: str, value: Any, allow_null: bool) -> tuple[str, ...] | None:
        try:
            return read_string_array(field_name, value, allow_null)
        except RoleDescriptorError as error:
            # Elasticsearch re-wraps to name the role; the detail moves to `caused_by`.
            raise _error(f"failed to parse role [{self.name}]", error) from None

    # -- indices ---------------------------------------------------------------------------

    def indices(self, field_name: str, value: Any) -> tuple[IndicesPrivileges, ...]:
        if not isinstance(value, list | tuple):
            raise _error(
                f"failed to parse indices privileges for role [{self.name}]. expected field "
                f"[{field_name}] value to be an array, but found [{_token(value)}] instead"
            )
        entries = []
        for item in value:
            entry, _ = self.index(item, allow_clusters=False)
            entries.append(entry)
        return tuple(entries)

    def remote_indices(self, field_name: str, value: Any) -> tuple[RemoteIndicesPrivileges, ...]:
        if not isinstance(value, list | tuple):
            raise _error(
                f"failed to parse remote indices privileges for role [{self.name}]. expected "
                f"field [{field_name}] value to be an array, but found [{_token(value)}] instead"
            )
        entries = []
        for item in value:
            entry, clusters = self.index(item, allow_clusters=True)
            if clusters is None:
                raise _error(
                    f"failed to parse remote indices privileges for role [{self.name}]. missing "
                    "required [clusters] field"
                )
            entries.append(RemoteIndicesPrivileges(entry, clusters))
        return tuple(entries)

    def index(
        self, item: Any, allow_clusters: bool
    ) -> tuple[IndicesPrivileges, tuple[str, ...] | None]:
        prefix = f"failed to parse indices privileges for role [{self.name}]."
        if not isinstance(item, Mapping):
            raise _error(
                f"{prefix} expected field [null] value to be an array of objects, but found an "
                f"array element of type [{_token(item)}]"
            )
        fields = _IndexFields()
        for key, value in item.items():
            self.index_field(prefix, fields, key, value, allow_clusters)
        names, privileges = fields.names, fields.privileges
        grant, except_ = fields.grant, fields.except_
        if names is None:
            raise _error(f"{prefix} missing required [names] field")
        if privileges is None:
            raise _error(f"{prefix} missing required [privileges] field")
        if except_ is not None and grant is None:
            raise _error(f"{prefix} field_security requires grant if except is given")
        subset_error = field_security_error(grant, except_)
        if subset_error is not None:
            raise _error(
                f"failed to parse indices privileges for role [{self.name}] - {subset_error}",
                RoleDescriptorError("security_exception", subset_error),
            )
        if not privileges:
            raise RoleDescriptorError(
                ILLEGAL_ARGUMENT, "indices privileges must define at least one privilege"
            )
        security = None if grant is None and except_ is None else FieldSecurity(grant, except_)
        entry = IndicesPrivileges(
            names, privileges, security, fields.query, fields.allow_restricted_indices
        )
        return entry, fields.clusters

    def index_field(
        self, prefix: str, fields: _IndexFields, key: str, value: Any, allow_clusters: bool
    ) -> None:
        if key == "names":
            if isinstance(value, str):
                fields.names = (value,)
            elif isinstance(value, list | tuple):
                fields.names = self.strings(key, value, allow_null=False)
                if not fields.names:
                    raise _error(f"{prefix} [{key}] cannot be an empty array")
            else:
                raise _error(
                    f"{prefix} expected field [{key}] value to be a string or an array of "
                    f"strings, but found [{_token(value)}] instead"
                )
        elif key == "allow_restricted_indices":
            if not isinstance(value, bool):
                raise _error(
                    f"{prefix} expected field [{key}] value to be a boolean, but found "
                    f"[{_token(value)}] instead"
                )
            fields.allow_restricted_indices = value
        elif key == "query":
            if isinstance(value, Mapping):
                fields.query = dict(value)
            elif isinstance(value, str):
                fields.query = value or None  # an empty string means no query
            elif value is not None:
                raise _error(
                    f"{prefix} expected field [{key}] value to be null, a string, an array, "
                    f"or an object, but found [{_token(value)}] instead"
                )
        elif key == "field_security":
            fields.grant, fields.except_ = self.field_security(
                prefix, value, fields.grant, fields.except_
            )
        elif key == "privileges":
            fields.privileges = self.strings(key, value, allow_null=True)
        elif key == "fields":
            if not self.allow_2x_format:
                raise _error(
                    f'["fields": [...]] format has changed for field permissions in role '
                    f'[{self.name}], use ["field_security": {{"grant":[...],"except":[...]}}] '
                    "instead"
                )
            fields.grant = self.strings(key, value, allow_null=True)
        elif key == "transient_metadata":
            if not isinstance(value, Mapping):
                raise _error(
                    f"failed to parse transient metadata for role [{self.name}]. expected "
                    f'START_OBJECT but got {_token(value)} in "transient_metadata".'
                )
        elif key == "clusters" and allow_clusters:
            fields.clusters = self.strings(key, value, allow_null=False)
        else:
            raise _error(f"{prefix} unexpected field [{key}]")

    def field_security(
        self,
        prefix: str,
        value: Any,
        grant: tuple[str, ...] | None,
        except_: tuple[str, ...] | None,
    ) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        if not isinstance(value, Mapping):
            raise _error(
                f'{prefix} expected START_OBJECT but got {_token(value)} in "field_security".'
            )
        if not value:
            raise _error(f'{prefix} "field_security" must not be empty.')
        for key, option in value.items():
            if key == "grant":
                grant = self.strings(key, option, allow_null=True)
                if grant is None:
                    raise _error(f"{prefix} grant must not be null.")
            elif key == "except":
                except_ = self.strings(key, option, allow_null=True)
                if except_ is None:
                    raise _error(f"{prefix} except must not be null.")
            else:
                raise _error(
                    f'{prefix} "field_security" only accepts options grant and except, but got: '
                    f"{key}"
                )
        return grant, except_

    # -- applications ----------------------------------------------------------------------

    def applications(self, field_name: str, value: Any) -> tuple[ApplicationPrivileges, ...]:
        prefix = f"failed to parse application privileges for role [{self.name}]."
        if not isinstance(value, list | tuple):
            raise _error(
                f"{prefix} expected field [{field_name}] value to be an array, but found "
                f"[{_token(value)}] instead"
            )
        return tuple(self.application(prefix, item) for item in value)

    def application(self, prefix: str, item: Any) -> ApplicationPrivileges:
        if not isinstance(item, Mapping):
            raise _error(
                f"{prefix} expected field [null] value to be an array of objects, but found an "
                f"array element of type [{_token(item)}]"
            )
        application: str | None = None
        privileges: tuple[str, ...] | None = None
        resources: tuple[str, ...] | None = None
        # An object parser named "application" reads this entry; its errors are
        # x_content_parse_exceptions (Elasticsearch prefixes them with a [line:col] location).
        for key, value in item.items():
            if key == "application":
                if not isinstance(value, str):
                    raise RoleDescriptorError(
                        X_CONTENT_PARSE,
                        f"[application] application doesn't support values of type: "
                        f"{_token(value)}",
                    )
                application = value
            elif key in ("privileges", "resources"):
                parsed = _object_parser_strings(key, value)
                if key == "privileges":
                    privileges = parsed
                else:
                    resources = parsed
            else:
                raise RoleDescriptorError(X_CONTENT_PARSE, f"[application] unknown field [{key}]")
        if resources is None:
            raise _error(f"{prefix} missing required [resources] field")
        if privileges is None:
            raise _error(f"{prefix} missing required [privileges] field")
        if not application:
            raise RoleDescriptorError(
                ILLEGAL_ARGUMENT, "application privileges must have an application name"
            )
        if not privileges:
            raise RoleDescriptorError(
                ILLEGAL_ARGUMENT, "application privileges must define at least one privilege"
            )
        if not resources:
            raise RoleDescriptorError(
                ILLEGAL_ARGUMENT, "application privileges must refer to at least one resource"
            )
        return ApplicationPrivileges(application, privileges, resources)

    # -- global, remote_cluster, restriction -----------------------------------------------

    def global_privileges(self, value: Any) -> tuple[GlobalPrivilege, ...]:
        _expect_token(value, "START_OBJECT")
        privileges: list[GlobalPrivilege] = []
        for category, section in value.items():
            _expect_field(category, GLOBAL_CATEGORIES)
            _expect_token(section, "START_OBJECT")
            for operation, spec in section.items():
                _expect_field(operation, (_GLOBAL_OPERATION[category],))
                if category == "role":
                    privileges.append(GlobalPrivilege(category, indices=_manage_roles(spec)))
                else:
                    applications = _single_array_field(spec, "applications")
                    privileges.append(GlobalPrivilege(category, applications=applications))
        # Elasticsearch keeps them sorted by category (stable within a category).
        privileges.sort(key=lambda privilege: GLOBAL_CATEGORIES.index(privilege.category))
        return tuple(privileges)

    def remote_cluster(self, field_name: str, value: Any) -> tuple[RemoteClusterPermission, ...]:
        prefix = f"failed to parse remote_cluster for role [{self.name}]."
        if not isinstance(value, list | tuple):
            raise _error(
                f"{prefix} expected field [{field_name}] value to be an array, but found "
                f"[{_token(value)}] instead"
            )
        groups = []
        for item in value:
            if not isinstance(item, Mapping):
                raise _error(
                    f"{prefix} expected field [null] value to be an array of objects, but found "
                    f"an array element of type [{_token(item)}]"
                )
            privileges: tuple[str, ...] | None = None
            clusters: tuple[str, ...] | None = None
            for key, entry in item.items():
                if key == "privileges":
                    privileges = self.strings(key, entry, allow_null=False)
                    assert privileges is not None
                    allowed = set(REMOTE_CLUSTER_PRIVILEGES)
                    if any(p.strip().lower() not in allowed for p in privileges):
                        raise _error(
                            f"{prefix} [{', '.join(REMOTE_CLUSTER_PRIVILEGES)}] are the only "
                            f"values allowed for [{key}] within [remote_cluster]. Found "
                            f"[{', '.join(privileges)}]"
                        )
                elif key == "clusters":
                    clusters = self.strings(key, entry, allow_null=False)
                else:
                    raise _error(f"{prefix} unexpected field [{key}]")
            # The trailing spaces are in Elasticsearch's messages too.
            if privileges is not None and clusters is None:
                raise _error(f"{prefix} [clusters] must be defined when [privileges] are defined ")
            if privileges is None and clusters is not None:
                raise _error(f"{prefix} [privileges] must be defined when [clusters] are defined ")
            if not privileges or not clusters:
                raise RoleDescriptorError(
                    ILLEGAL_ARGUMENT, "remote cluster groups must not be null or empty"
                )
            if any(not p.strip() for p in privileges):
                raise RoleDescriptorError(
                    ILLEGAL_ARGUMENT,
                    "remote_cluster privileges must contain valid non-empty, non-null values",
                )
            if any(not c.strip() for c in clusters):
                raise RoleDescriptorError(
                    ILLEGAL_ARGUMENT,
                    "remote_cluster clusters aliases must contain valid non-empty, non-null values",
                )
            groups.append(RemoteClusterPermission(privileges, clusters))
        return tuple(groups)

    def restriction(self, field_name: str, value: Any) -> tuple[str, ...] | None:
        prefix = f"failed to parse restriction for role [{self.name}]."
        if not isinstance(value, Mapping):
            raise _error(
                f"{prefix} expected field [{field_name}] value to be an object, but found an "
                f"element of type [{_token(value)}]"
            )
        workflows: tuple[str, ...] | None = None
        for key, entry in value.items():
            if key != "workflows":
                raise _error(f"{prefix} unexpected field [{key}]")
            try:
                workflows = read_string_array(key, entry, allow_null=False)
            except RoleDescriptorError as error:
                raise _error(f"{prefix} {error.reason}", error) from None
        if workflows is not None and not workflows:
            raise _error(f"{prefix} [workflows] cannot be an empty array")
        return workflows


def _object_parser_strings(key: str, value: Any) -> tuple[str, ...]:
    """A string-array field of Elasticsearch's generic object parser: one string is accepted as
    a one-element array, and scalar array items are taken as their text."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise RoleDescriptorError(
            X_CONTENT_PARSE, f"[application] {key} doesn't support values of type: {_token(value)}"
        )
    items = []
    for item in value:
        if item is None or isinstance(item, Mapping | list | tuple):
            raise RoleDescriptorError(
                X_CONTENT_PARSE, f"[application] failed to parse field [{key}]"
            )
        items.append(_text(item))
    return tuple(items)


def _expect_token(value: Any, expected: str) -> None:
    found = _token(value)
    if found != expected:
        raise RoleDescriptorError(
            X_CONTENT_PARSE,
            f"failed to parse privilege. expected [{expected}] but found [{found}] instead",
        )


def _expect_field(name: str, allowed: Sequence[str]) -> None:
    if name not in allowed:
        kind = "field name" if len(allowed) == 1 else "one of"
        raise RoleDescriptorError(
            X_CONTENT_PARSE,
            f"failed to parse privilege. expected {kind} [{','.join(allowed)}] but found "
            f"[{name}] instead",
        )


def _single_array_field(spec: Any, name: str) -> tuple[str, ...]:
    """`{"<name>": ["a", "b"]}` and nothing else, as the global privilege parsers demand."""
    _expect_token(spec, "START_OBJECT")
    if not spec:
        raise RoleDescriptorError(
            X_CONTENT_PARSE,
            "failed to parse privilege. expected [FIELD_NAME] but found [END_OBJECT] instead",
        )
    items = list(spec.items())
    key, value = items[0]
    _expect_field(key, (name,))
    _expect_token(value, "START_ARRAY")
    parsed = read_string_array(key, value, allow_null=False)  # not re-wrapped by Elasticsearch
    assert parsed is not None
    if len(items) > 1:
        raise RoleDescriptorError(
            X_CONTENT_PARSE,
            "failed to parse privilege. expected [END_OBJECT] but found [FIELD_NAME] instead",
        )
    return parsed


def _manage_roles(spec: Any) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    _expect_token(spec, "START_OBJECT")
    if not spec:
        raise RoleDescriptorError(
            X_CONTENT_PARSE,
            "failed to parse privilege. expected [FIELD_NAME] but found [END_OBJECT] instead",
        )
    items = list(spec.items())
    key, entries = items[0]
    _expect_field(key, ("indices",))
    _expect_token(entries, "START_ARRAY")
    if len(items) > 1:
        raise RoleDescriptorError(
            X_CONTENT_PARSE,
            "failed to parse privilege. expected [END_OBJECT] but found [FIELD_NAME] instead",
        )
    result = []
    for entry in entries:
        _expect_token(entry, "START_OBJECT")
        arrays: dict[str, tuple[str, ...]] = {}
        for field_name, value in entry.items():
            _expect_field(field_name, ("names", "privileges"))
            _expect_token(value, "START_ARRAY")
            parsed = read_string_array(field_name, value, allow_null=False)
            assert parsed is not None
            arrays[field_name] = parsed
        if len(arrays) != 2:
            raise RoleDescriptorError(
                X_CONTENT_PARSE,
                "failed to parse privilege. expected [FIELD_NAME] but found [END_OBJECT] instead",
            )
        result.append((arrays["names"], arrays["privileges"]))
    return tuple(result)


def parse_role_descriptor(
    name: str,
    body: Any,
    *,
    allow_2x_format: bool = False,
    allow_restriction: bool = False,
    allow_description: bool = True,
    validate_name: bool = True,
) -> RoleDescriptor:
    """Parse a role body (decoded JSON or YAML) as Elasticsearch 8's role parser does.

    The defaults match the roles API; `roles.yml` also allows the 2.x `fields` format, and API
    key role descriptors allow `restriction` but not `description`.
    """
    if validate_name:
        problem = role_name_error(name)
        if problem is not None:
            raise RoleDescriptorError(VALIDATION, f"Validation Failed: 1: {problem};")
    if not isinstance(body, Mapping):
        raise _error(
            f"failed to parse role [{name}]. expected an object but found [{_token(body)}] instead"
        )
    parser = _Parser(name, allow_2x_format)
    cluster: tuple[str, ...] | None = None
    indices: tuple[IndicesPrivileges, ...] = ()
    remote_indices: tuple[RemoteIndicesPrivileges, ...] = ()
    remote_cluster: tuple[RemoteClusterPermission, ...] = ()
    applications: tuple[ApplicationPrivileges, ...] = ()
    global_privileges: tuple[GlobalPrivilege, ...] = ()
    run_as: tuple[str, ...] | None = None
    metadata: dict[str, Any] | None = None
    description: str | None = None
    workflows: tuple[str, ...] | None = None
    for key, value in body.items():
        if key in ("index", "indices"):
            indices = parser.indices(key, value)
        elif key == "run_as":
            run_as = parser.strings(key, value, allow_null=True)
        elif key == "cluster":
            cluster = parser.strings(key, value, allow_null=True)
        elif key in ("applications", "application"):
            applications = parser.applications(key, value)
        elif key == "global":
            global_privileges = parser.global_privileges(value)
        elif key in ("metadata", "metadata_flattened"):
            if not isinstance(value, Mapping):
                raise _error(
                    f"expected field [{key}] to be of type object, but found [{_token(value)}] "
                    "instead"
                )
            if key == "metadata":  # metadata_flattened is a stored-document copy; dropped
                metadata = dict(value)
        elif key == "transient_metadata":
            if not isinstance(value, Mapping):  # an object is accepted and dropped
                raise _error(f"failed to parse role [{name}]. unexpected field [{key}]")
        elif key == "remote_indices":
            remote_indices = parser.remote_indices(key, value)
        elif key == "remote_cluster":
            remote_cluster = parser.remote_cluster(key, value)
        elif key == "restriction" and allow_restriction:
            workflows = parser.restriction(key, value)
        elif key == "description" and allow_description:
            if value is None or isinstance(value, Mapping | list | tuple):
                # Elasticsearch fails reading text from a non-value token; 8.x answers 500
                # (illegal_state_exception) with a location, we answer 400 without one.
                raise RoleDescriptorError(
                    ILLEGAL_ARGUMENT, f"Expected text but found {_token(value)}"
                )
            description = _text(value)
        elif key == "type":
            pass  # present in stored documents; not needed
        else:
            raise _error(f"failed to parse role [{name}]. unexpected field [{key}]")
    return RoleDescriptor(
        name=name,
        cluster=cluster or (),
        indices=indices,
        applications=applications,
        run_as=run_as or (),
        metadata=metadata if metadata is not None else {},
        description=description or "",
        global_privileges=global_privileges,
        remote_indices=remote_indices,
        remote_cluster=remote_cluster,
        restriction_workflows=workflows,
    )


# --- field level security: `except` must be a subset of `grant` ---------------------------

_ANY_CHAR = object()
_ANY_STRING = object()
_Step = str | object


def _glob_steps(pattern: str) -> list[_Step]:
    """Elasticsearch's wildcard syntax: `*`, `?`, and `\\` escaping the next character."""
    steps: list[_Step] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            steps.append(_ANY_STRING)
        elif char == "?":
            steps.append(_ANY_CHAR)
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            steps.append(pattern[index])
        else:
            steps.append(char)
        index += 1
    return steps


_State = frozenset[tuple[int, int]]


def _closure(patterns: Sequence[list[_Step]], states: Iterable[tuple[int, int]]) -> _State:
    result = set()
    for which, start in states:
        # `*` may match nothing: it lets every following `*` be skipped too.
        position = start
        steps = patterns[which]
        result.add((which, position))
        while position < len(steps) and steps[position] is _ANY_STRING:
            position += 1
            result.add((which, position))
    return frozenset(result)


def _step(patterns: Sequence[list[_Step]], state: _State, char: str | None) -> _State:
    """Advance on one character; `None` stands for any character no pattern names."""
    moved = []
    for which, position in state:
        steps = patterns[which]
        if position >= len(steps):
            continue
        step = steps[position]
        if step is _ANY_STRING:
            moved.append((which, position))
        elif step is _ANY_CHAR or (char is not None and step == char):
            moved.append((which, position + 1))
    return _closure(patterns, moved)


def _accepts(patterns: Sequence[list[_Step]], state: _State) -> bool:
    return any(position == len(patterns[which]) for which, position in state)


def _glob_subset(subset: Sequence[str], superset: Sequence[str]) -> bool:
    """Whether every name some pattern in `subset` matches is matched by `superset`."""
    small = [_glob_steps(pattern) for pattern in subset]
    large = [_glob_steps(pattern) for pattern in superset]
    literals = {step for steps in (*small, *large) for step in steps if isinstance(step, str)}
    alphabet: list[str | None] = [*sorted(literals), None]
    start = (
        _closure(small, [(i, 0) for i in range(len(small))]),
        _closure(large, [(i, 0) for i in range(len(large))]),
    )
    seen = {start}
    pending = [start]
    while pending:
        left, right = pending.pop()
        if _accepts(small, left) and not _accepts(large, right):
            return False
        for char in alphabet:
            following = (_step(small, left, char), _step(large, right, char))
            if following[0] and following not in seen:
                seen.add(following)
                pending.append(following)
    return True


def _is_regex(pattern: str) -> bool:
    return len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/")


def field_security_error(grant: Sequence[str] | None, except_: Sequence[str] | None) -> str | None:
    """Elasticsearch's message when `except` names fields `grant` does not cover, else None.

    `/regex/` patterns are not compared (accepted), except that `*` in `grant` covers anything.
    """
    if not except_ or grant is None or "*" in grant:
        return None
    if any(_is_regex(p) for p in (*grant, *except_)):
        return None
    if _glob_subset(except_, grant):
        return None
    return (
        "Exceptions for field permissions must be a subset of the granted fields but "
        f"{','.join(except_)} is not a subset of {','.join(grant)}"
    )


# --- request validation (PUT role) --------------------------------------------------------

_APPLICATION_PREFIX = re.compile(r"[a-z][A-Za-z0-9]*")
_WHITESPACE = re.compile(r"[\s\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_GRAPH = re.compile(r"[\x21-\x7e]*")
_INVALID_FILENAME_CHARS = '\\/*?"<>| ,'


def application_name_error(application: str) -> str | None:
    """Elasticsearch's application name rules, accepting a trailing `*` wildcard."""
    if not application:
        return "Application names cannot be blank"
    asterisk = application.find("*")
    if asterisk != -1:
        if application == "*":
            return None
        if asterisk != len(application) - 1:
            return (
                f"Application name patterns only support trailing wildcards (found '{application}')"
            )
    if _WHITESPACE.search(application):
        return f"Application names may not contain whitespace (found '{application}')"
    parts = re.split(r"[_-]", application, maxsplit=1)
    prefix = parts[0].removesuffix("*")
    if not _APPLICATION_PREFIX.fullmatch(prefix):
        return (
            f"An application name prefix must match the pattern ^[a-z][A-Za-z0-9]*$ "
            f"(found '{prefix}')"
        )
    if len(prefix) < 3 and asterisk == -1:
        return f"An application name prefix must be at least 3 characters long (found '{prefix}')"
    if len(parts) > 1:
        suffix = parts[1].removesuffix("*")
        if any(char in _INVALID_FILENAME_CHARS for char in suffix):
            return (
                "An application name suffix may not contain any of the characters "
                f"'{_INVALID_FILENAME_CHARS}' (found '{suffix}')"
            )
    return None


def application_privilege_name_error(name: str) -> str | None:
    if _GRAPH.fullmatch(name):
        return None
    return (
        "Application privilege names and actions must match the pattern ^\\p{Graph}*$ "
        f"(found '{name}')"
    )


def _index_privileges_error(privileges: Sequence[str], index_check: PrivilegeCheck) -> str | None:
    # Elasticsearch builds a set from the list first, which rejects duplicates.
    seen: set[str] = set()
    for privilege in privileges:
        if privilege in seen:
            return f"duplicate element: {privilege}"
        seen.add(privilege)
    for privilege in privileges:
        problem = index_check(privilege)
        if problem is not None:
            return problem  # one message per entry, the first unknown privilege
    return None


def privilege_errors(
    descriptor: RoleDescriptor, cluster_check: PrivilegeCheck, index_check: PrivilegeCheck
) -> list[str]:
    """Unknown cluster and index privilege names, one message each (remote indices included)."""
    errors = [e for p in descriptor.cluster if (e := cluster_check(p)) is not None]
    entries = [*descriptor.indices, *(remote.indices for remote in descriptor.remote_indices)]
    for entry in entries:
        problem = _index_privileges_error(entry.privileges, index_check)
        if problem is not None:
            errors.append(problem)
    return errors


def request_validation_errors(
    descriptor: RoleDescriptor, cluster_check: PrivilegeCheck, index_check: PrivilegeCheck
) -> list[str]:
    """What Elasticsearch's role request validator reports, in its order."""
    errors = [e for p in descriptor.cluster if (e := cluster_check(p)) is not None]
    for entry in descriptor.indices:
        problem = _index_privileges_error(entry.privileges, index_check)
        if problem is not None:
            errors.append(problem)
    for remote in descriptor.remote_indices:
        if "" in remote.clusters:
            errors.append("remote index cluster alias cannot be an empty string")
        problem = _index_privileges_error(remote.indices.privileges, index_check)
        if problem is not None:
            errors.append(problem)
    for application in descriptor.applications:
        problem = application_name_error(application.application)
        if problem is not None:
            errors.append(problem)
        errors.extend(
            e for p in application.privileges if (e := application_privilege_name_error(p))
        )
    if any(key.startswith(RESERVED_METADATA_PREFIX) for key in descriptor.metadata):
        errors.append(
            f"role descriptor metadata keys may not start with [{RESERVED_METADATA_PREFIX}]"
        )
    if len(descriptor.description) > MAX_DESCRIPTION_LENGTH:
        errors.append(description_error())
    return errors


def description_error() -> str:
    return f"Role description must be less than {MAX_DESCRIPTION_LENGTH} characters."


def validation_failed(errors: Sequence[str]) -> RoleDescriptorError:
    listed = "".join(f"{number}: {error};" for number, error in enumerate(errors, 1))
    return RoleDescriptorError(REQUEST_VALIDATION, f"Validation Failed: {listed}")


def validate_privileges(
    descriptor: RoleDescriptor, cluster_check: PrivilegeCheck, index_check: PrivilegeCheck
) -> None:
    """Validate a role from a create/update request as Elasticsearch does after parsing.

    `cluster_check` / `index_check` return Elasticsearch's message for an unknown privilege name
    (or None when it is known). Raises `action_request_validation_exception` listing every
    problem: privilege names, application names and privileges, reserved (`_`) metadata keys,
    description length.
    """
    errors = request_validation_errors(descriptor, cluster_check, index_check)
    if errors:
        raise validation_failed(errors)
