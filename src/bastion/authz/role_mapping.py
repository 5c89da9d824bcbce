"""Role mappings: Elasticsearch 8's `ExpressionRoleMapping`, its rules DSL and `role_mapping.yml`.

A role mapping grants roles (fixed names, or names rendered from Mustache templates) to every
user whose `rules` match. `parse_role_mapping` validates a `PUT /_security/role_mapping/<name>`
body with Elasticsearch's error types and messages; `RoleMapping.to_json` renders the object that
`GET /_security/role_mapping` returns under the mapping's name.

The rules DSL: `any` / `all` (arrays of rules), `except` (one rule; only inside `all`) and
`field` (one user field, one value or an array of values, any of which may match). User fields are
`username`, `dn`, `groups`, `realm.name` and `metadata.<key>`. A value is a string (exact,
wildcard with `*`/`?` when it holds a `*`, or a Lucene regular expression written `/…/`), a
number, a boolean or `null` (matches a missing or null user value). The `dn` and `groups` fields
compare as distinguished names: case-insensitively, after DN normalisation, and a `*,<dn>`
pattern also matches every entry below `<dn>`.

`role_mapping.yml` (the DN → roles file of LDAP/AD/PKI realms) is handled by
`parse_role_mapping_file` and `roles_for_dn`.

Deliberate differences from Elasticsearch are listed in `docs/` and in the module's tests; the
main ones: parse errors carry no `[line:col]` prefix (we parse decoded JSON, not a token
stream); Lucene regexp operators `~` (complement), `&` (intersection) and `<n-m>` (numeric
interval) are rejected instead of supported; role templates accept a bare Mustache string as
their `template` (Elasticsearch wants a script object or its JSON text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

PARSING = "parsing_exception"
PARSE = "parse_exception"
X_CONTENT_PARSE = "x_content_parse_exception"
ILLEGAL_ARGUMENT = "illegal_argument_exception"
REQUEST_VALIDATION = "action_request_validation_exception"

RESERVED_METADATA_PREFIX = "_"
TemplateFormat = Literal["string", "json"]

# Exception types that are not ElasticsearchExceptions: root-cause discovery stops above them.
_NOT_ES_EXCEPTIONS = frozenset({X_CONTENT_PARSE, ILLEGAL_ARGUMENT})


class RoleMappingError(Exception):
    """A role mapping body (or template result) Elasticsearch would reject."""

    status = 400

    def __init__(
        self, error_type: str, reason: str, caused_by: RoleMappingError | None = None
    ) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason
        self.caused_by = caused_by

    def __str__(self) -> str:
        if self.caused_by is None:
            return self.reason
        return f"{self.reason}; caused by: {self.caused_by}"

    def root_cause(self) -> RoleMappingError:
        """Elasticsearch descends through causes only while they are Elasticsearch exceptions."""
        cause = self.caused_by
        if cause is None or cause.error_type in _NOT_ES_EXCEPTIONS:
            return self
        return cause.root_cause()

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


# --- distinguished names ------------------------------------------------------------------

_ATTR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*")
_DN_SPECIAL = ',+"\\<>;='


def _split_unescaped(text: str, separators: str) -> list[str] | None:
    """Split on unescaped separators outside double quotes; `None` on a dangling escape/quote."""
    parts: list[str] = []
    current: list[str] = []
    i, quoted = 0, False
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                return None
            current.append(text[i : i + 2])
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char in separators and not quoted:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    if quoted:
        return None
    parts.append("".join(current))
    return parts


def _unescape_value(raw: str) -> str | None:
    """An attribute value's characters (RFC 4514 escapes, quotes, `#hex`); `None` if invalid."""
    text = raw.strip(" ")
    if text.endswith("\\") and not text.endswith("\\\\"):
        text += " "  # an escaped trailing space: the strip above took its space
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            return None
        text = text[1:-1]
    elif text.startswith("#"):
        try:
            return bytes.fromhex(text[1:]).decode("utf-8", errors="replace")
        except ValueError:
            return None
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            pair = text[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            if i + 1 >= len(text):
                return None
            out += text[i + 1].encode()
            i += 2
            continue
        out += char.encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def _escape_value(value: str) -> str:
    escaped = "".join("\\" + c if c in _DN_SPECIAL else c for c in value)
    if escaped.startswith(("#", " ")):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped


@dataclass(frozen=True, slots=True)
class DistinguishedName:
    """A parsed DN: RDNs from the leaf up, each a sorted tuple of normalised `type=value` AVAs."""

    rdns: tuple[tuple[str, ...], ...]

    def normalized(self) -> str:
        return ",".join("+".join(rdn) for rdn in self.rdns)

    def is_descendant_of(self, ancestor: DistinguishedName, allow_equal: bool = False) -> bool:
        size = len(ancestor.rdns)
        if len(self.rdns) < size or (len(self.rdns) == size and not allow_equal):
            return False
        return size == 0 or self.rdns[-size:] == ancestor.rdns


def parse_dn(text: str) -> DistinguishedName | None:
    """Parse an LDAP DN (RFC 4514, with `;` accepted as a separator); `None` if it is not one.

    Normalisation follows the LDAP SDK Elasticsearch uses: attribute types in lower case, values
    in lower case with surrounding spaces removed and inner runs of spaces collapsed, special
    characters escaped, multi-valued RDNs ordered. The empty string is the (valid) root DN.
    """
    if text.strip() == "":
        return DistinguishedName(())
    parts = _split_unescaped(text, ",;")
    if parts is None:
        return None
    rdns: list[tuple[str, ...]] = []
    for part in parts:
        avas = _split_unescaped(part, "+")
        if avas is None:
            return None
        normalised: list[str] = []
        for ava in avas:
            name, sep, raw_value = ava.partition("=")
            name = name.strip()
            if not sep or not _ATTR_NAME.fullmatch(name):
                return None
            value = _unescape_value(raw_value)
            if value is None:
                return None
            value = re.sub(" +", " ", value.lower()).strip(" ")
            normalised.append(f"{name.lower()}={_escape_value(value)}")
        rdns.append(tuple(sorted(normalised)))
    return DistinguishedName(tuple(rdns))


def normalize_dn(text: str) -> str | None:
    """The normalised string form of a DN, or `None` when `text` does not parse as one."""
    dn = parse_dn(text)
    return None if dn is None else dn.normalized()


# --- field values and matching ------------------------------------------------------------


class _PatternError(ValueError):
    pass


def _wildcard_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


_LUCENE_CLASS_ESCAPES = frozenset("dDsSwW")


def _lucene_regex(source: str) -> str:
    """Translate a Lucene `RegExp` (always anchored, `.` matches anything) to Python syntax."""
    out: list[str] = []
    i = 0
    n = len(source)
    while i < n:
        char = source[i]
        if char == "\\":
            if i + 1 >= n:
                raise _PatternError("expected character after '\\'")
            nxt = source[i + 1]
            out.append("\\" + nxt if nxt in _LUCENE_CLASS_ESCAPES else re.escape(nxt))
            i += 2
        elif char == '"':
            end = source.find('"', i + 1)
            if end < 0:
                raise _PatternError("expected '\"'")
            out.append("(?:" + re.escape(source[i + 1 : end]) + ")")
            i = end + 1
        elif char == "[":
            end, klass = _lucene_class(source, i)
            out.append(klass)
            i = end
        elif char == "@":
            out.append("(?:.*)")
            i += 1
        elif char == "#":
            out.append("(?!)")
            i += 1
        elif char in "~&<":
            raise _PatternError(f"unsupported regular expression operator [{char}]")
        elif char == "(" and source.startswith("(?", i):
            raise _PatternError("expected expression after '('")
        elif char in ".()|*+?{}":
            out.append(char)
            i += 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _lucene_class(source: str, start: int) -> tuple[int, str]:
    out = ["["]
    i = start + 1
    if source.startswith("^", i):
        out.append("^")
        i += 1
    first = True
    while i < len(source):
        char = source[i]
        if char == "]" and not first:
            out.append("]")
            return i + 1, "".join(out)
        if char == "\\" and i + 1 < len(source):
            nxt = source[i + 1]
            out.append("\\" + nxt if nxt in _LUCENE_CLASS_ESCAPES else re.escape(nxt))
            i += 2
        elif char == "-" and not first and not source.startswith("]", i + 1):
            out.append("-")
            i += 1
        else:
            out.append(re.escape(char))
            i += 1
        first = False
    raise _PatternError("expected ']'")


def _compile_pattern(value: str) -> re.Pattern[str] | None:
    """Elasticsearch's `FieldValue` automaton: only for `/regex/` or strings containing `*`."""
    if len(value) > 1 and value.startswith("/") and value.endswith("/"):
        try:
            return re.compile(_lucene_regex(value[1:-1]), re.DOTALL)
        except (re.error, _PatternError) as error:
            raise _PatternError(f"invalid regular expression [{value}]: {error}") from None
    if "*" not in value:
        return None
    if value.startswith("/"):
        raise _PatternError(
            f"invalid pattern [{value}]. patterns starting with '/' indicate regular expression "
            "pattern and therefore must also end with '/'. other patterns (those that do not "
            "start with '/') will be treated as simple wildcard patterns"
        )
    return re.compile(_wildcard_regex(value), re.DOTALL)


FieldScalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class FieldValue:
    """One value of a `field` rule, with its compiled pattern when it is a wildcard or regex."""

    value: FieldScalar
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, value: FieldScalar) -> FieldValue:
        pattern = _compile_pattern(value) if isinstance(value, str) else None
        return cls(value, pattern)

    def matches_text(self, text: str) -> bool:
        if self.pattern is not None:
            return self.pattern.fullmatch(text) is not None
        return isinstance(self.value, str) and self.value == text


def _number_equals(left: int | float, right: FieldScalar) -> bool:
    if isinstance(right, bool) or not isinstance(right, int | float):
        return False
    return left == right


def _value_matches(user_value: Any, expected: FieldValue) -> bool:
    """Elasticsearch's `ExpressionModel.buildPredicate` for a plain (non-DN) user value."""
    if user_value is None:
        return expected.value is None
    if isinstance(user_value, bool):
        return isinstance(expected.value, bool) and expected.value == user_value
    if isinstance(user_value, int | float):
        return _number_equals(user_value, expected.value)
    if isinstance(user_value, str):
        return expected.matches_text(user_value)
    if isinstance(user_value, list | tuple | set | frozenset):
        return any(_value_matches(item, expected) for item in user_value)
    return False  # nested objects: Elasticsearch rejects these; nothing matches them here


def _dn_matches(user_text: str, expected: FieldValue) -> bool:
    """Elasticsearch's `DistinguishedNamePredicate`: DN-aware matching for `dn` and `groups`."""
    user_dn = parse_dn(user_text)
    if expected.pattern is not None:
        candidates = [user_text, user_text.lower(), user_text.upper()]
        if user_dn is not None:
            candidates.append(user_dn.normalized())
        if any(expected.pattern.fullmatch(c) for c in candidates):
            return True
        if user_dn is None or not isinstance(expected.value, str):
            return False
        if expected.value.startswith("*,"):
            suffix = expected.value[2:]
            if "*" not in suffix:
                suffix_dn = parse_dn(suffix)
                if suffix_dn is not None and user_dn.is_descendant_of(suffix_dn):
                    return True
        return False
    if not isinstance(expected.value, str):
        return False
    if expected.value.lower() == user_text.lower():
        return True
    if user_dn is None:
        return False
    expected_dn = parse_dn(expected.value)
    if expected_dn is not None:
        return expected_dn == user_dn
    return expected.value.lower() == user_dn.normalized()


# --- the user -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserData:
    """What role mapping knows about an authenticated user (Elasticsearch's `UserData`)."""

    username: str
    realm_name: str
    dn: str | None = None
    groups: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def test(self, field_name: str, values: Sequence[FieldValue]) -> bool:
        """Whether the named user field matches any of `values` (unknown fields are null)."""
        if field_name == "dn":
            if self.dn is None:
                return any(v.value is None for v in values)
            dn = self.dn
            return any(_dn_matches(dn, v) for v in values)
        if field_name == "groups":
            return any(_dn_matches(g, v) for g in self.groups for v in values)
        if field_name == "username":
            return any(_value_matches(self.username, v) for v in values)
        if field_name == "realm.name":
            return any(_value_matches(self.realm_name, v) for v in values)
        if field_name.startswith("metadata.") and field_name[9:] in self.metadata:
            user_value = self.metadata[field_name[9:]]
            return any(_value_matches(user_value, v) for v in values)
        return any(v.value is None for v in values)

    def template_model(self) -> dict[str, Any]:
        """The parameters a role template sees: Elasticsearch's flat model, plus `_user`."""
        model: dict[str, Any] = {
            "username": self.username,
            "dn": self.dn,
            "groups": sorted(self.groups),
            "realm.name": self.realm_name,
        }
        for key, value in self.metadata.items():
            model["metadata." + key] = value
        model["_user"] = {
            "username": self.username,
            "dn": self.dn,
            "groups": sorted(self.groups),
            "metadata": dict(self.metadata),
            "realm": {"name": self.realm_name},
        }
        return model


# --- the rules expression tree ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldExpression:
    field: str
    values: tuple[FieldValue, ...]

    def matches(self, user: UserData) -> bool:
        return user.test(self.field, self.values)

    def to_json(self) -> dict[str, Any]:
        if len(self.values) == 1:
            return {"field": {self.field: self.values[0].value}}
        return {"field": {self.field: [v.value for v in self.values]}}


@dataclass(frozen=True, slots=True)
class AnyExpression:
    elements: tuple[RuleExpression, ...]

    def matches(self, user: UserData) -> bool:
        return any(e.matches(user) for e in self.elements)

    def to_json(self) -> dict[str, Any]:
        return {"any": [e.to_json() for e in self.elements]}


@dataclass(frozen=True, slots=True)
class AllExpression:
    elements: tuple[RuleExpression, ...]

    def matches(self, user: UserData) -> bool:
        return all(e.matches(user) for e in self.elements)

    def to_json(self) -> dict[str, Any]:
        return {"all": [e.to_json() for e in self.elements]}


@dataclass(frozen=True, slots=True)
class ExceptExpression:
    inner: RuleExpression

    def matches(self, user: UserData) -> bool:
        return not self.inner.matches(user)

    def to_json(self) -> dict[str, Any]:
        return {"except": self.inner.to_json()}


RuleExpression = FieldExpression | AnyExpression | AllExpression | ExceptExpression


def _rules_error(message: str) -> RoleMappingError:
    return RoleMappingError(PARSE, "failed to parse rules expression. " + message)


def _token(value: Any) -> str:
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    if isinstance(value, Mapping):
        return "START_OBJECT"
    if isinstance(value, list | tuple):
        return "START_ARRAY"
    return "VALUE_STRING"


def parse_rules(body: Any, name: str = "rules") -> RuleExpression:
    """Parse a rules object; errors are Elasticsearch's `parse_exception`s.

    `name` names the top-level object in messages (Elasticsearch uses the mapping's name).
    """
    return _parse_rules_object(body, name, allow_except=False)


def _parse_rules_object(body: Any, object_name: str, allow_except: bool) -> RuleExpression:
    if not isinstance(body, Mapping):
        raise _rules_error(
            f"expected [{object_name}] to be an object but found [{_token(body)}] instead"
        )
    if not body:
        raise _rules_error(f"object [{object_name}] does not contain any fields")
    key, value = next(iter(body.items()))
    expression = _parse_expression(key, value, object_name, allow_except)
    if len(body) > 1:
        raise _rules_error(f"object [{object_name}] contains multiple fields")
    return expression


def _parse_expression(key: str, value: Any, object_name: str, allow_except: bool) -> RuleExpression:
    if key in ("any", "all"):
        if not isinstance(value, list | tuple):
            raise _rules_error(f"field [{key}] requires an array")
        elements = tuple(_parse_rules_object(v, key, key == "all") for v in value)
        return AnyExpression(elements) if key == "any" else AllExpression(elements)
    if key == "field":
        return _parse_field_expression(value)
    if key == "except":
        if not allow_except:
            raise _rules_error(f"field [{key}] is not allowed within [{object_name}]")
        if not isinstance(value, Mapping):
            raise _rules_error(f"expected an object but found [{_token(value)}] instead")
        return ExceptExpression(_parse_rules_object(value, "except", allow_except=False))
    raise _rules_error(f"field [{key}] is not recognised in object [{object_name}]")


def _parse_field_value(value: Any) -> FieldValue:
    if isinstance(value, float) and not isinstance(value, bool):
        value = int(value)  # the parser reads numbers with `longValue()`
    if value is not None and not isinstance(value, str | bool | int):
        raise _rules_error(f"expected a field value but found [{_token(value)}] instead")
    try:
        return FieldValue.of(value)
    except _PatternError as error:
        raise RoleMappingError(ILLEGAL_ARGUMENT, str(error)) from None


def _parse_field_expression(value: Any) -> FieldExpression:
    if not isinstance(value, Mapping):
        raise _rules_error(f"expected an object but found [{_token(value)}] instead")
    if not value:
        raise _rules_error("object [field] does not contain any fields")
    field_name, raw = next(iter(value.items()))
    if isinstance(raw, list | tuple):
        values = tuple(_parse_field_value(v) for v in raw)
    else:
        values = (_parse_field_value(raw),)
    if len(value) > 1:
        raise _rules_error("object [field] contains multiple fields")
    if not field_name:
        raise RoleMappingError(ILLEGAL_ARGUMENT, f"null or empty field name ({field_name})")
    if not values:
        raise RoleMappingError(ILLEGAL_ARGUMENT, "null or empty values ([])")
    return FieldExpression(field_name, values)


# --- Mustache (the subset role templates use) ---------------------------------------------


def _json_escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _java_string(value: Any) -> str:
    """How Elasticsearch's Mustache prints a value: Java `toString()` shapes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_java_string(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_java_string(v)}" for k, v in value.items()) + "}"
    return str(value)


_MISSING = object()


def _lookup(stack: Sequence[Any], name: str) -> Any:
    if name == ".":
        return stack[-1]
    for context in reversed(stack):
        if not isinstance(context, Mapping):
            continue
        if name in context:  # flat keys such as "realm.name" and "metadata.key"
            return context[name]
        head, _, rest = name.partition(".")
        if head not in context:
            continue
        value = context[head]
        for part in rest.split(".") if rest else ():
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        return value
    return None


_TAG = re.compile(r"\{\{(\{?)\s*([#^/&!]?)\s*(.*?)\s*\}?\}\}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Node:
    kind: str  # "text", "var", "raw", "section", "inverted"
    name: str
    children: tuple[_Node, ...] = ()
    source: str = ""


def _parse_mustache(template: str) -> tuple[_Node, ...]:
    root: list[_Node] = []
    stack: list[tuple[str, str, list[_Node], int]] = []
    current = root
    pos = 0
    for match in _TAG.finditer(template):
        if match.start() > pos:
            current.append(_Node("text", template[pos : match.start()]))
        pos = match.end()
        triple, sigil, name = match.group(1), match.group(2), match.group(3)
        if sigil == "!":
            continue
        if triple or sigil == "&":
            current.append(_Node("raw", name))
        elif sigil in ("#", "^"):
            stack.append((sigil, name, current, match.end()))
            current = []
        elif sigil == "/":
            if not stack or stack[-1][1] != name:
                raise ValueError(f"Mismatched start/end tags: {name}")
            opener, open_name, parent, body_start = stack.pop()
            kind = "section" if opener == "#" else "inverted"
            source = template[body_start : match.start()]
            parent.append(_Node(kind, open_name, tuple(current), source))
            current = parent
        else:
            current.append(_Node("var", name))
    if stack:
        raise ValueError(f"Improperly closed variable: {stack[-1][1]}")
    if pos < len(template):
        current.append(_Node("text", template[pos:]))
    return tuple(root)


def _render_nodes(nodes: Sequence[_Node], stack: list[Any]) -> str:
    out: list[str] = []
    for node in nodes:
        if node.kind == "text":
            out.append(node.name)
        elif node.kind == "var":
            out.append(_json_escape(_java_string(_lookup(stack, node.name))))
        elif node.kind == "raw":
            out.append(_java_string(_lookup(stack, node.name)))
        elif node.kind == "section" and node.name == "tojson":
            out.append(json.dumps(_lookup(stack, node.source.strip()), separators=(",", ":")))
        elif node.kind == "section" and node.name == "join":
            value = _lookup(stack, node.source.strip())
            items = value if isinstance(value, list | tuple) else [value]
            out.append(",".join(_java_string(v) for v in items))
        elif node.kind == "section":
            value = _lookup(stack, node.name)
            if isinstance(value, list | tuple):
                for item in value:
                    out.append(_render_nodes(node.children, [*stack, item]))
            elif value is not None and value is not False and value != "":
                out.append(_render_nodes(node.children, [*stack, value]))
        else:  # inverted
            value = _lookup(stack, node.name)
            if value is None or value is False or value in ("", [], ()):
                out.append(_render_nodes(node.children, stack))
    return "".join(out)


def render_mustache(template: str, params: Mapping[str, Any]) -> str:
    """Render the Mustache subset: variables (JSON-escaped), `{{{raw}}}`, sections, inverted
    sections, comments, `{{#tojson}}name{{/tojson}}` and `{{#join}}name{{/join}}`."""
    return _render_nodes(_parse_mustache(template), [dict(params)])


# --- role templates -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateRoleName:
    """One `role_templates` entry: a Mustache script (`source`, optional `params`) and a format."""

    source: str
    format: TemplateFormat = "string"
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    template_text: str = ""  # the template as Elasticsearch stores and returns it

    def role_names(self, user: UserData) -> list[str]:
        params = {**self.params, **user.template_model()}
        try:
            rendered = render_mustache(self.source, params)
        except ValueError as error:
            raise RoleMappingError(ILLEGAL_ARGUMENT, str(error)) from None
        if self.format == "string":
            return [rendered]
        return _json_role_names(rendered)

    def to_json(self) -> dict[str, Any]:
        return {"template": self.template_text, "format": self.format}


def _json_role_names(rendered: str) -> list[str]:
    try:
        value = json.loads(rendered)
    except json.JSONDecodeError as error:
        raise RoleMappingError(X_CONTENT_PARSE, f"failed to parse role template: {error}") from None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise RoleMappingError(
            X_CONTENT_PARSE,
            "Roles template must generate a string or an array of strings, "
            f"but found [{_token(value)}]",
        )
    names: list[str] = []
    for item in value:
        if item is None:
            continue
        if not isinstance(item, str):
            raise RoleMappingError(
                X_CONTENT_PARSE,
                f"Roles array may only contain strings but found [{_java_class(item)}] "
                f"[{_java_string(item)}]",
            )
        names.append(item)
    return names


def _java_class(value: Any) -> str:
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, Mapping):
        return "java.util.HashMap"
    return "java.util.ArrayList"


def _template_error(reason: str) -> RoleMappingError:
    return RoleMappingError(X_CONTENT_PARSE, reason)


def _parse_script(script: Any) -> tuple[str, Mapping[str, Any]]:
    """Elasticsearch `Script.parse` for inline Mustache: a string, or `{source, params, lang}`."""
    if isinstance(script, str):
        return script, {}
    if not isinstance(script, Mapping):
        raise _template_error(f"expected a script but found [{_token(script)}]")
    source: Any = None
    params: Any = {}
    for key, value in script.items():
        if key in ("source", "inline"):
            source = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        elif key == "params":
            if not isinstance(value, Mapping):
                raise _template_error(
                    "[script] params doesn't support values of type: " + _token(value)
                )
            params = value
        elif key == "id":
            raise _template_error("stored scripts are not supported in role templates")
        elif key in ("lang", "options"):
            continue
        else:
            raise _template_error(f"[script] unknown field [{key}]")
    if source is None:
        raise _template_error(
            "must specify either [source] for an inline script or [id] for a stored script"
        )
    return source, params


def _parse_template(entry: Any) -> TemplateRoleName:
    if not isinstance(entry, Mapping):
        raise _template_error(
            f"[role-mapping-template] Expected START_OBJECT but was: {_token(entry)}"
        )
    template: Any = None
    fmt: TemplateFormat = "string"
    for key, value in entry.items():
        if key == "template":
            if not isinstance(value, str | Mapping):
                raise _template_error(
                    "[role-mapping-template] template doesn't support values of type: "
                    + _token(value)
                )
            template = value
        elif key == "format":
            if not isinstance(value, str):
                raise _template_error(f"Expected [VALUE_STRING] but found [{_token(value)}]")
            lowered = value.lower()
            if lowered not in ("string", "json"):
                raise _template_error(f"Invalid format [{value}] expected one of [json,string]")
            fmt = "json" if lowered == "json" else "string"
        else:
            raise _template_error(f"[role-mapping-template] unknown field [{key}]")
    if template is None:
        raise _template_error("Required [template]")
    if isinstance(template, str):
        text = template
        try:
            decoded: Any = json.loads(template)
        except json.JSONDecodeError:
            decoded = template  # a bare Mustache source: accepted (Elasticsearch is stricter)
        source, params = _parse_script(decoded)
    else:
        text = json.dumps(template, separators=(",", ":"), ensure_ascii=False)
        source, params = _parse_script(template)
    try:
        _parse_mustache(source)
    except ValueError as error:
        raise RoleMappingError(ILLEGAL_ARGUMENT, str(error)) from None
    return TemplateRoleName(source, fmt, dict(params), text)


# --- the role mapping ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleMapping:
    name: str
    enabled: bool
    rules: RuleExpression
    roles: tuple[str, ...] = ()
    role_templates: tuple[TemplateRoleName, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def matches(self, user: UserData) -> bool:
        return self.rules.matches(user)

    def role_names(self, user: UserData) -> set[str]:
        """The roles this mapping grants `user` if its rules match (`enabled` is not checked)."""
        names = set(self.roles)
        for template in self.role_templates:
            names.update(template.role_names(user))
        return names

    def to_json(self) -> dict[str, Any]:
        """The object `GET /_security/role_mapping` returns under this mapping's name."""
        body: dict[str, Any] = {"enabled": self.enabled}
        if self.roles:
            body["roles"] = list(self.roles)
        if self.role_templates:
            body["role_templates"] = [t.to_json() for t in self.role_templates]
        body["rules"] = self.rules.to_json()
        body["metadata"] = dict(self.metadata)
        return body


def _parsing(reason: str, cause: RoleMappingError | None = None) -> RoleMappingError:
    return RoleMappingError(PARSING, reason, cause)


def _field_failure(field_name: str, cause: RoleMappingError) -> RoleMappingError:
    reason = f"[role-mapping] failed to parse field [{field_name}]"
    return _parsing(reason, RoleMappingError(X_CONTENT_PARSE, reason, cause))


def _unsupported(field_name: str, value: Any) -> RoleMappingError:
    reason = f"[role-mapping] {field_name} doesn't support values of type: {_token(value)}"
    return _parsing(reason)


def _string_array(field_name: str, value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    if not isinstance(value, list | tuple | str):
        raise _unsupported(field_name, value)
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise _field_failure(
                field_name,
                RoleMappingError(X_CONTENT_PARSE, f"Expected a string but found [{_token(item)}]"),
            )
    return out


def _boolean(field_name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if isinstance(value, str):
        raise _field_failure(
            field_name,
            RoleMappingError(
                ILLEGAL_ARGUMENT,
                f"Failed to parse value [{value}] as only [true] or [false] are allowed.",
            ),
        )
    raise _unsupported(field_name, value)


def parse_role_mapping(name: str, body: Any, *, validate: bool = True) -> RoleMapping:
    """Parse a `PUT /_security/role_mapping/<name>` body as Elasticsearch does.

    Raises `RoleMappingError`: `parsing_exception` for what `ExpressionRoleMapping.parse`
    rejects (unknown fields, missing `roles`/`role_templates`, `rules` or `enabled`, bad
    rules), then — when `validate` — `action_request_validation_exception` for what the put
    request's validation rejects (empty roles, both roles and templates, reserved metadata).
    Pass `validate=False` for documents read back from the store.
    """
    if not isinstance(body, Mapping):
        raise _parsing(f"[role-mapping] Expected START_OBJECT but was: {_token(body)}")
    roles: list[str] | None = None
    templates: list[TemplateRoleName] | None = None
    rules: RuleExpression | None = None
    metadata: Mapping[str, Any] = {}
    enabled: bool | None = None
    for key, value in body.items():
        if key == "roles":
            roles = _string_array(key, value)
        elif key == "role_templates":
            if not isinstance(value, list | tuple):
                raise _unsupported(key, value)
            try:
                templates = [_parse_template(entry) for entry in value]
            except RoleMappingError as error:
                raise _field_failure(key, error) from None
        elif key == "rules":
            if not isinstance(value, Mapping):
                raise _unsupported(key, value)
            try:
                rules = parse_rules(value, name)
            except RoleMappingError as error:
                raise _field_failure(key, error) from None
        elif key == "metadata":
            if not isinstance(value, Mapping):
                raise _unsupported(key, value)
            metadata = dict(value)
        elif key == "enabled":
            enabled = _boolean(key, value)
        elif key in ("doc_type", "type"):
            continue  # written by the store / the 5.x upgrade API; ignored
        else:
            raise _parsing(f"[role-mapping] unknown field [{key}]")
    if roles is None and templates is None:
        raise _parsing(f"failed to parse role-mapping [{name}]. missing field [roles]")
    if rules is None:
        raise _parsing(f"failed to parse role-mapping [{name}]. missing field [rules]")
    if enabled is None:
        raise _parsing(f"failed to parse role-mapping [{name}]. missing field [enabled]")
    mapping = RoleMapping(
        name=name,
        enabled=enabled,
        rules=rules,
        roles=tuple(roles or ()),
        role_templates=tuple(templates or ()),
        metadata=metadata,
    )
    if validate:
        errors = validation_errors(mapping)
        if errors:
            listed = "".join(f"{i}: {message};" for i, message in enumerate(errors, 1))
            raise RoleMappingError(REQUEST_VALIDATION, f"Validation Failed: {listed}")
    return mapping


def validation_errors(mapping: RoleMapping) -> list[str]:
    """The messages of Elasticsearch's `PutRoleMappingRequest.validate()`, in its order."""
    errors: list[str] = []
    if not mapping.name:
        errors.append("role-mapping name is missing")
    if not mapping.roles and not mapping.role_templates:
        errors.append("role-mapping roles or role-templates are missing")
    if mapping.roles and mapping.role_templates:
        errors.append("role-mapping cannot have both roles and role-templates")
    if any(str(k).startswith(RESERVED_METADATA_PREFIX) for k in mapping.metadata):
        errors.append(f"metadata keys may not start with [{RESERVED_METADATA_PREFIX}]")
    return errors


def resolve_roles(mappings: Iterable[RoleMapping], user: UserData) -> set[str]:
    """The union of the roles granted by every enabled mapping whose rules match `user`.

    A template that renders to something other than role names raises `RoleMappingError`, as
    in Elasticsearch, where it fails the role resolution (and so the authentication).
    """
    roles: set[str] = set()
    for mapping in mappings:
        if mapping.enabled and mapping.matches(user):
            roles |= mapping.role_names(user)
    return roles


# --- role_mapping.yml ---------------------------------------------------------------------


def _flatten_settings(node: Any, prefix: str, out: dict[str, Any]) -> None:
    """Elasticsearch `Settings` keys: nested YAML objects become dotted role names."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            full = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                _flatten_settings(value, full, out)
            else:
                out[full] = value
    elif prefix:
        out[prefix] = node


def parse_role_mapping_file(text: str) -> tuple[dict[str, list[str]], list[str]]:
    """Parse `role_mapping.yml` (`role: [dn, …]`) as Elasticsearch's `DnRoleMapper` does.

    Returns the mapping from *normalised DN* to its roles (sorted), and the problems met.
    Like Elasticsearch in its lenient mode, an invalid DN is skipped with a problem, while a
    file that is not valid YAML (or not a mapping) yields no mappings at all.
    """
    problems: list[str] = []
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        return {}, [f"could not read role mappings file: {error}"]
    if document is None:
        return {}, []
    if not isinstance(document, Mapping):
        return {}, ["could not read role mappings file: expected a mapping of role names to DNs"]
    settings: dict[str, Any] = {}
    _flatten_settings(document, "", settings)
    dn_roles: dict[str, set[str]] = {}
    for role, value in settings.items():
        if value is None:
            continue
        dns = value if isinstance(value, list) else [value]
        for provided in dns:
            if not isinstance(provided, str):
                problems.append(f"invalid DN [{provided}] for role [{role}]. skipping...")
                continue
            dn = normalize_dn(provided)
            if dn is None:
                problems.append(f"invalid DN [{provided}] for role [{role}]. skipping...")
                continue
            dn_roles.setdefault(dn, set()).add(role)
    return {dn: sorted(roles) for dn, roles in dn_roles.items()}, problems


def roles_for_dn(
    mapping: Mapping[str, Sequence[str]], dn: str | None, groups: Iterable[str] = ()
) -> set[str]:
    """The roles `role_mapping.yml` grants a user DN and its group DNs (normalised lookups)."""
    roles: set[str] = set()
    for candidate in (*groups, *([dn] if dn is not None else [])):
        normalised = normalize_dn(candidate)
        if normalised is not None:
            roles.update(mapping.get(normalised, ()))
    return roles
