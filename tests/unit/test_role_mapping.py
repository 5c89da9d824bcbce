"""Role mappings: rules DSL, DN matching, templates, parse errors and `role_mapping.yml`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bastion.authz.role_mapping import (
    AllExpression,
    AnyExpression,
    ExceptExpression,
    FieldExpression,
    RoleMapping,
    RoleMappingError,
    UserData,
    normalize_dn,
    parse_dn,
    parse_role_mapping,
    parse_role_mapping_file,
    parse_rules,
    render_mustache,
    resolve_roles,
    roles_for_dn,
)

JSMITH = UserData(
    username="jsmith",
    realm_name="ldap1",
    dn="cn=jsmith,ou=users,dc=example,dc=com",
    groups=("cn=admin,ou=groups,dc=example,dc=com", "cn=esusers,ou=groups,dc=example,dc=com"),
    metadata={"cn": "John Smith", "uid": 1001, "active": True, "tags": ["a", "b"], "gone": None},
)
SAML = UserData(username="alice", realm_name="saml1", groups=("Finance", "engineering"))


def matches(rules: dict[str, Any], user: UserData = JSMITH) -> bool:
    return parse_rules(rules).matches(user)


def error_of(body: Any, name: str = "m1") -> RoleMappingError:
    with pytest.raises(RoleMappingError) as info:
        parse_role_mapping(name, body)
    return info.value


def innermost(error: RoleMappingError) -> RoleMappingError:
    while error.caused_by is not None:
        error = error.caused_by
    return error


# --- field rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"field": {"username": "jsmith"}}, True),
        ({"field": {"username": "JSMITH"}}, False),  # usernames are case-sensitive
        ({"field": {"username": "j*"}}, True),
        ({"field": {"username": "*th"}}, True),
        ({"field": {"username": "j?mi*"}}, True),
        ({"field": {"username": "j?mith"}}, False),  # no `*`: `?` is literal, as in ES
        ({"field": {"username": "/j.*h/"}}, True),
        ({"field": {"username": "/j[a-z]+/"}}, True),
        ({"field": {"username": "/smith/"}}, False),  # regexes are anchored
        ({"field": {"username": "/(js|bob)mith/"}}, True),
        ({"field": {"username": "/j\\w{5}/"}}, True),
        ({"field": {"username": '/"js"mith/'}}, True),
        ({"field": {"username": "/j@/"}}, True),
        ({"field": {"username": ["bob", "jsmith"]}}, True),
        ({"field": {"username": ["bob", "carol"]}}, False),
        ({"field": {"username": None}}, False),
        ({"field": {"realm.name": "ldap1"}}, True),
        ({"field": {"realm.name": "ldap*"}}, True),
        ({"field": {"realm.name": "saml1"}}, False),
        ({"field": {"metadata.cn": "John Smith"}}, True),
        ({"field": {"metadata.cn": "john smith"}}, False),
        ({"field": {"metadata.uid": 1001}}, True),
        ({"field": {"metadata.uid": 1001.0}}, True),
        ({"field": {"metadata.uid": "1001"}}, False),
        ({"field": {"metadata.active": True}}, True),
        ({"field": {"metadata.active": False}}, False),
        ({"field": {"metadata.active": 1}}, False),  # booleans never equal numbers
        ({"field": {"metadata.tags": "b"}}, True),  # multi-valued user field
        ({"field": {"metadata.tags": "c"}}, False),
        ({"field": {"metadata.gone": None}}, True),  # null value
        ({"field": {"metadata.missing": None}}, True),  # missing value
        ({"field": {"metadata.missing": "x"}}, False),
        ({"field": {"metadata.cn": None}}, False),
        ({"field": {"no_such_field": None}}, True),
        ({"field": {"no_such_field": "*"}}, False),
        ({"field": {"metadata.missing": ["x", None]}}, True),
    ],
)
def test_field_rules(rules: dict[str, Any], expected: bool) -> None:
    assert matches(rules) is expected


def test_null_dn_and_empty_groups() -> None:
    user = UserData(username="u", realm_name="file")
    assert matches({"field": {"dn": None}}, user)
    assert not matches({"field": {"dn": "*"}}, user)
    assert not matches({"field": {"groups": None}}, user)  # an empty set is not null
    assert not matches({"field": {"groups": "*"}}, user)


def test_non_dn_groups_compare_case_insensitively() -> None:
    assert matches({"field": {"groups": "finance"}}, SAML)
    assert matches({"field": {"groups": "ENGINEERING"}}, SAML)
    assert matches({"field": {"groups": "fin*"}}, SAML)  # lowercased candidate
    assert not matches({"field": {"groups": "hr"}}, SAML)


# --- DN matching --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("cn=jsmith,ou=users,dc=example,dc=com", True),
        ("CN=JSmith, OU=Users, DC=Example, DC=COM", True),
        ("cn=jsmith,  ou=users,dc=example,dc=com", True),
        ("cn = jsmith , ou = users , dc=example , dc=com", True),
        ("cn=jsmith;ou=users;dc=example;dc=com", True),
        ("cn=other,ou=users,dc=example,dc=com", False),
        ("*,ou=users,dc=example,dc=com", True),
        ("*,OU=Users,DC=Example,DC=Com", True),  # sub-tree match after normalisation
        ("*, ou=users, dc=example, dc=com", True),
        ("*,dc=example,dc=com", True),
        ("*,dc=other,dc=com", False),
        ("*,ou=*,dc=example,dc=com", True),
        ("/cn=j.*,ou=users,dc=example,dc=com/", True),
        ("not a dn", False),
    ],
)
def test_dn_field(pattern: str, expected: bool) -> None:
    assert matches({"field": {"dn": pattern}}) is expected


def test_dn_with_spaces_in_user_value() -> None:
    user = UserData(username="u", realm_name="r", dn="CN=John  Smith, OU=People, DC=Example,DC=com")
    assert matches({"field": {"dn": "cn=john smith,ou=people,dc=example,dc=com"}}, user)
    assert matches({"field": {"dn": "*,ou=people,dc=example,dc=com"}}, user)
    assert matches({"field": {"dn": "cn=john smith,*"}}, user)


def test_groups_dn_matching() -> None:
    assert matches({"field": {"groups": "CN=Admin,OU=Groups,DC=example,DC=com"}})
    assert matches({"field": {"groups": "*,ou=groups,dc=example,dc=com"}})
    assert matches({"field": {"groups": ["cn=x,dc=y", "cn=esusers,ou=groups,dc=example,dc=com"]}})
    assert not matches({"field": {"groups": "cn=ops,ou=groups,dc=example,dc=com"}})


def test_dn_normalisation() -> None:
    assert normalize_dn("CN=John  Smith , OU=People,DC=Example,DC=COM") == (
        "cn=john smith,ou=people,dc=example,dc=com"
    )
    assert normalize_dn("cn=a\\,b,dc=x") == "cn=a\\,b,dc=x"
    assert normalize_dn('cn="a,b",dc=x') == "cn=a\\,b,dc=x"
    assert normalize_dn("cn=\\41bc,dc=x") == "cn=abc,dc=x"
    assert normalize_dn("UID=b+CN=a,dc=x") == "cn=a+uid=b,dc=x"
    assert normalize_dn("2.5.4.3=x,dc=y") == "2.5.4.3=x,dc=y"
    assert normalize_dn("") == ""
    for bad in ("not a dn", "cn", "=x", "cn=x,", "cn=x\\", 'cn="x', "c n=x"):
        assert normalize_dn(bad) is None, bad


def test_dn_descendants() -> None:
    child = parse_dn("cn=a,ou=b,dc=c")
    parent = parse_dn("OU=B, DC=C")
    assert child is not None
    assert parent is not None
    assert child.is_descendant_of(parent)
    assert not parent.is_descendant_of(child)
    assert not parent.is_descendant_of(parent)
    assert parent.is_descendant_of(parent, allow_equal=True)


# --- compound rules -----------------------------------------------------------------------


def test_any_all_except_nested() -> None:
    admins = {"field": {"groups": "cn=admin,ou=groups,dc=example,dc=com"}}
    ldap = {"field": {"realm.name": "ldap*"}}
    bob = {"field": {"username": "bob"}}
    assert matches({"any": [bob, admins]})
    assert not matches({"any": [bob]})
    assert not matches({"any": []})
    assert matches({"all": []})
    assert matches({"all": [ldap, admins]})
    assert not matches({"all": [ldap, bob]})
    assert matches({"all": [ldap, {"except": bob}]})
    assert not matches({"all": [ldap, {"except": admins}]})
    nested = {
        "all": [
            {"any": [{"field": {"dn": "*,ou=users,dc=example,dc=com"}}, bob]},
            {"except": {"any": [{"field": {"metadata.active": False}}, bob]}},
            {"all": [{"field": {"metadata.tags": ["z", "a"]}}, {"except": {"all": [bob]}}]},
        ]
    }
    assert matches(nested)
    assert not matches(nested, SAML)


def test_expression_tree_shape_and_round_trip() -> None:
    body = {
        "all": [
            {"field": {"username": ["a", "b*"]}},
            {"any": [{"field": {"metadata.n": 7}}, {"field": {"dn": None}}]},
            {"except": {"field": {"realm.name": "/x.*/"}}},
        ]
    }
    tree = parse_rules(body)
    assert isinstance(tree, AllExpression)
    assert isinstance(tree.elements[0], FieldExpression)
    assert isinstance(tree.elements[1], AnyExpression)
    assert isinstance(tree.elements[2], ExceptExpression)
    assert tree.to_json() == body
    assert parse_rules(tree.to_json()) == tree


def test_float_values_are_read_as_longs() -> None:
    assert parse_rules({"field": {"metadata.n": 7.9}}).to_json() == {"field": {"metadata.n": 7}}


# --- rule parse errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({}, "object [m1] does not contain any fields"),
        ({"foo": {}}, "field [foo] is not recognised in object [m1]"),
        ({"except": {"field": {"a": 1}}}, "field [except] is not allowed within [m1]"),
        ({"any": [{"except": {"field": {"a": 1}}}]}, "field [except] is not allowed within [any]"),
        (
            {"all": [{"except": {"except": {"field": {"a": 1}}}}]},
            "field [except] is not allowed within [except]",
        ),
        ({"any": {"field": {"a": 1}}}, "field [any] requires an array"),
        ({"any": ["x"]}, "expected [any] to be an object but found [VALUE_STRING] instead"),
        ({"field": "x"}, "expected an object but found [VALUE_STRING] instead"),
        ({"field": {}}, "object [field] does not contain any fields"),
        ({"field": {"a": 1, "b": 2}}, "object [field] contains multiple fields"),
        ({"field": {"a": {"b": 1}}}, "expected a field value but found [START_OBJECT] instead"),
        ({"field": {"a": [["b"]]}}, "expected a field value but found [START_ARRAY] instead"),
        ({"all": [{"except": []}]}, "expected an object but found [START_ARRAY] instead"),
        (
            {"field": {"a": 1}, "any": []},
            "object [m1] contains multiple fields",
        ),
    ],
)
def test_rules_errors(rules: Any, message: str) -> None:
    error = error_of({"enabled": True, "roles": ["r"], "rules": rules})
    assert error.error_type == "parsing_exception"
    assert error.reason == "[role-mapping] failed to parse field [rules]"
    assert error.caused_by is not None
    assert error.caused_by.error_type == "x_content_parse_exception"
    cause = innermost(error)
    assert cause.error_type == "parse_exception"
    assert cause.reason == "failed to parse rules expression. " + message
    assert error.root_cause() is error  # x_content_parse_exception is not an ES exception


def test_invalid_patterns() -> None:
    bad_slash = error_of({"enabled": True, "roles": ["r"], "rules": {"field": {"u": "/a*"}}})
    assert innermost(bad_slash).error_type == "illegal_argument_exception"
    assert "patterns starting with '/'" in innermost(bad_slash).reason
    bad_regex = error_of({"enabled": True, "roles": ["r"], "rules": {"field": {"u": "/a(/"}}})
    assert "invalid regular expression [/a(/]" in innermost(bad_regex).reason
    empty = error_of({"enabled": True, "roles": ["r"], "rules": {"field": {"u": []}}})
    assert innermost(empty).reason == "null or empty values ([])"
    # `/a` without `*` is a plain string, as in Elasticsearch
    assert parse_rules({"field": {"username": "/a"}}).matches(UserData("/a", "r"))


# --- mapping parse and validation ---------------------------------------------------------


def test_parse_and_to_json() -> None:
    body = {
        "enabled": True,
        "roles": ["user", "admin"],
        "rules": {"field": {"groups": "cn=admins,dc=example,dc=com"}},
        "metadata": {"version": 1},
    }
    mapping = parse_role_mapping("mapping1", body)
    assert mapping == RoleMapping(
        name="mapping1",
        enabled=True,
        rules=parse_rules(body["rules"]),
        roles=("user", "admin"),
        metadata={"version": 1},
    )
    assert mapping.to_json() == body
    assert parse_role_mapping("mapping1", mapping.to_json()) == mapping


def test_to_json_defaults_and_templates() -> None:
    mapping = parse_role_mapping(
        "m",
        {
            "enabled": False,
            "role_templates": [
                {"template": {"source": "{{#tojson}}groups{{/tojson}}"}, "format": "json"}
            ],
            "rules": {"field": {"realm.name": "saml1"}},
        },
    )
    assert mapping.to_json() == {
        "enabled": False,
        "role_templates": [
            {"template": '{"source":"{{#tojson}}groups{{/tojson}}"}', "format": "json"}
        ],
        "rules": {"field": {"realm.name": "saml1"}},
        "metadata": {},
    }
    # the stored form parses back to the same mapping
    assert parse_role_mapping("m", mapping.to_json()) == mapping


def test_lenient_fields() -> None:
    mapping = parse_role_mapping(
        "m",
        {"enabled": "true", "roles": "one", "rules": {"all": []}, "doc_type": "role-mapping"},
    )
    assert mapping.enabled is True
    assert mapping.roles == ("one",)


@pytest.mark.parametrize(
    ("body", "error_type", "reason"),
    [
        (
            {"enabled": True, "rules": {"all": []}},
            "parsing_exception",
            "failed to parse role-mapping [m1]. missing field [roles]",
        ),
        (
            {"enabled": True, "roles": ["r"]},
            "parsing_exception",
            "failed to parse role-mapping [m1]. missing field [rules]",
        ),
        (
            {"roles": ["r"], "rules": {"all": []}},
            "parsing_exception",
            "failed to parse role-mapping [m1]. missing field [enabled]",
        ),
        (
            {"enabled": True, "roles": ["r"], "rules": {"all": []}, "foo": 1},
            "parsing_exception",
            "[role-mapping] unknown field [foo]",
        ),
        (
            {"enabled": True, "roles": ["r"], "rules": "x"},
            "parsing_exception",
            "[role-mapping] rules doesn't support values of type: VALUE_STRING",
        ),
        (
            {"enabled": 1, "roles": ["r"], "rules": {"all": []}},
            "parsing_exception",
            "[role-mapping] enabled doesn't support values of type: VALUE_NUMBER",
        ),
        (
            {"enabled": True, "roles": ["r"], "rules": {"all": []}, "metadata": []},
            "parsing_exception",
            "[role-mapping] metadata doesn't support values of type: START_ARRAY",
        ),
        (
            {"enabled": True, "roles": [], "rules": {"all": []}},
            "action_request_validation_exception",
            "Validation Failed: 1: role-mapping roles or role-templates are missing;",
        ),
        (
            {
                "enabled": True,
                "roles": ["r"],
                "role_templates": [{"template": {"source": "x"}}],
                "rules": {"all": []},
            },
            "action_request_validation_exception",
            "Validation Failed: 1: role-mapping cannot have both roles and role-templates;",
        ),
        (
            {"enabled": True, "roles": ["r"], "rules": {"all": []}, "metadata": {"_x": 1}},
            "action_request_validation_exception",
            "Validation Failed: 1: metadata keys may not start with [_];",
        ),
        (
            [],
            "parsing_exception",
            "[role-mapping] Expected START_OBJECT but was: START_ARRAY",
        ),
    ],
)
def test_mapping_errors(body: Any, error_type: str, reason: str) -> None:
    error = error_of(body)
    assert (error.error_type, error.reason) == (error_type, reason)
    assert error.status == 400
    assert error.error_body()["error"]["type"] == error_type


def test_validation_can_be_skipped_for_stored_documents() -> None:
    mapping = parse_role_mapping(
        "m", {"enabled": True, "roles": [], "rules": {"all": []}}, validate=False
    )
    assert mapping.roles == ()


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ({"format": "json"}, "Required [template]"),
        (
            {"template": {"source": "x"}, "extra": 1},
            "[role-mapping-template] unknown field [extra]",
        ),
        (
            {"template": {"source": "x"}, "format": "xml"},
            "Invalid format [xml] expected one of [json,string]",
        ),
        (
            {"template": 5},
            "[role-mapping-template] template doesn't support values of type: VALUE_NUMBER",
        ),
        ({"template": {"id": "stored"}}, "stored scripts are not supported in role templates"),
        ({"template": {"source": "{{#a}}x"}}, "Improperly closed variable: a"),
    ],
)
def test_template_errors(template: dict[str, Any], reason: str) -> None:
    error = error_of({"enabled": True, "role_templates": [template], "rules": {"all": []}})
    assert error.error_type == "parsing_exception"
    assert error.reason == "[role-mapping] failed to parse field [role_templates]"
    assert innermost(error).reason == reason


# --- templates ----------------------------------------------------------------------------


def template_roles(template: Any, fmt: str = "string", user: UserData = JSMITH) -> set[str]:
    mapping = parse_role_mapping(
        "t",
        {
            "enabled": True,
            "role_templates": [{"template": template, "format": fmt}],
            "rules": {"all": []},
        },
    )
    return resolve_roles([mapping], user)


def test_string_templates() -> None:
    assert template_roles({"source": "_user_{{username}}"}) == {"_user_jsmith"}
    assert template_roles({"source": "realm-{{realm.name}}"}) == {"realm-ldap1"}
    assert template_roles({"source": "{{metadata.cn}}"}) == {"John Smith"}
    assert template_roles({"source": "{{dn}}"}) == {JSMITH.dn}
    # the `_user` object form
    assert template_roles({"source": "{{_user.username}}@{{_user.realm.name}}"}) == {"jsmith@ldap1"}
    assert template_roles({"source": "{{_user.metadata.uid}}"}) == {"1001"}
    # the template as JSON text (what GET returns), and a bare Mustache string
    assert template_roles('{"source":"u-{{username}}"}') == {"u-jsmith"}
    assert template_roles("u-{{username}}") == {"u-jsmith"}
    # params from the script are visible too, user fields win
    assert template_roles(
        {"source": "{{p}}-{{username}}", "params": {"p": "x", "username": "no"}}
    ) == {"x-jsmith"}
    # missing values render empty
    assert template_roles({"source": "a{{nothing}}b"}) == {"ab"}


def test_json_templates() -> None:
    assert template_roles({"source": "{{#tojson}}groups{{/tojson}}"}, "json") == set(JSMITH.groups)
    assert template_roles({"source": "{{#tojson}}metadata.tags{{/tojson}}"}, "json") == {"a", "b"}
    assert template_roles({"source": "{{#tojson}}_user.groups{{/tojson}}"}, "json") == set(
        JSMITH.groups
    )
    assert template_roles({"source": '"{{username}}"'}, "json") == {"jsmith"}
    assert template_roles({"source": '["x", null, "{{username}}"]'}, "json") == {"x", "jsmith"}
    sections = '[{{#groups}}"g-{{.}}",{{/groups}}"last"]'
    assert template_roles({"source": sections}, "json", SAML) == {
        "g-Finance",
        "g-engineering",
        "last",
    }


def test_json_template_errors() -> None:
    with pytest.raises(RoleMappingError, match="must generate a string or an array of strings"):
        template_roles({"source": "{{#tojson}}metadata.uid{{/tojson}}"}, "json")
    with pytest.raises(RoleMappingError, match=r"may only contain strings but found \[java"):
        template_roles({"source": "[1]"}, "json")
    with pytest.raises(RoleMappingError, match="failed to parse role template"):
        template_roles({"source": "not json"}, "json")


def test_mustache_subset() -> None:
    params = {"a": 'x"y', "items": ["p", "q"], "flag": True, "none": None, "obj": {"k": "v"}}
    assert render_mustache("{{a}}", params) == 'x\\"y'  # JSON escaping, as Elasticsearch does
    assert render_mustache("{{{a}}}|{{& a}}", params) == 'x"y|x"y'
    assert render_mustache("{{#items}}[{{.}}]{{/items}}", params) == "[p][q]"
    assert render_mustache("{{#flag}}yes{{/flag}}{{^none}}no{{/none}}", params) == "yesno"
    assert render_mustache("{{#obj}}{{k}}{{/obj}}", params) == "v"
    assert render_mustache("{{items}}|{{items.1}}", params) == "[p, q]|q"
    assert render_mustache("{{#join}}items{{/join}}", params) == "p,q"
    assert render_mustache("a{{! comment }}b", params) == "ab"
    assert json.loads(render_mustache("{{#tojson}}obj{{/tojson}}", params)) == {"k": "v"}
    with pytest.raises(ValueError, match="Mismatched"):
        render_mustache("{{#a}}{{/b}}", params)


# --- resolving roles ----------------------------------------------------------------------


def test_resolve_roles() -> None:
    mappings = [
        parse_role_mapping(
            "admins",
            {
                "enabled": True,
                "roles": ["superuser"],
                "rules": {"field": {"groups": "cn=admin,ou=groups,dc=example,dc=com"}},
            },
        ),
        parse_role_mapping(
            "disabled",
            {"enabled": False, "roles": ["never"], "rules": {"field": {"username": "*"}}},
        ),
        parse_role_mapping(
            "everyone-ldap",
            {
                "enabled": True,
                "role_templates": [
                    {"template": {"source": "{{#tojson}}groups{{/tojson}}"}, "format": "json"},
                    {"template": {"source": "user_{{username}}"}},
                ],
                "rules": {"all": [{"field": {"realm.name": "ldap1"}}]},
            },
        ),
        parse_role_mapping(
            "saml",
            {"enabled": True, "roles": ["saml_user"], "rules": {"field": {"realm.name": "saml*"}}},
        ),
    ]
    assert resolve_roles(mappings, JSMITH) == {"superuser", "user_jsmith", *JSMITH.groups}
    assert resolve_roles(mappings, SAML) == {"saml_user"}
    assert resolve_roles([], JSMITH) == set()


# --- role_mapping.yml ---------------------------------------------------------------------

ROLE_MAPPING_YML = """
# comment
monitoring:
  - "cn=admins,dc=example,dc=com"
user:
  - "cn=users,dc=example,dc=com"
  - "CN=Admins, DC=Example, DC=com"
  - "not a dn"
  - "cn=John Doe,cn=other users,dc=example,dc=com"
empty:
single: "cn=solo,dc=example,dc=com"
"""


def test_parse_role_mapping_file() -> None:
    mapping, problems = parse_role_mapping_file(ROLE_MAPPING_YML)
    assert mapping == {
        "cn=admins,dc=example,dc=com": ["monitoring", "user"],
        "cn=users,dc=example,dc=com": ["user"],
        "cn=john doe,cn=other users,dc=example,dc=com": ["user"],
        "cn=solo,dc=example,dc=com": ["single"],
    }
    assert problems == ["invalid DN [not a dn] for role [user]. skipping..."]


def test_parse_role_mapping_file_bad_documents() -> None:
    assert parse_role_mapping_file("") == ({}, [])
    mapping, problems = parse_role_mapping_file("role: [unclosed")
    assert mapping == {}
    assert problems[0].startswith("could not read role mappings file")
    mapping, problems = parse_role_mapping_file("- a\n- b\n")
    assert mapping == {}
    assert len(problems) == 1
    mapping, problems = parse_role_mapping_file("nested:\n  role: ['cn=x,dc=y']\nbad: [1]\n")
    assert mapping == {"cn=x,dc=y": ["nested.role"]}
    assert problems == ["invalid DN [1] for role [bad]. skipping..."]


def test_roles_for_dn() -> None:
    mapping, _ = parse_role_mapping_file(ROLE_MAPPING_YML)
    assert roles_for_dn(mapping, "CN=Solo,DC=Example,DC=com") == {"single"}
    assert roles_for_dn(
        mapping,
        "cn=jdoe,dc=example,dc=com",
        ["cn=ADMINS, dc=example,dc=com", "not a dn", "cn=nobody,dc=x"],
    ) == {"monitoring", "user"}
    assert roles_for_dn(mapping, None, ["cn=users,dc=example,dc=com"]) == {"user"}
    assert roles_for_dn(mapping, "cn=nobody,dc=x") == set()
