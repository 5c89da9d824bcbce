"""Role descriptor parsing, validation and rendering, against Elasticsearch 8's messages."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.authz.role_descriptor import (
    ApplicationPrivileges,
    FieldSecurity,
    GlobalPrivilege,
    IndicesPrivileges,
    RemoteClusterPermission,
    RoleDescriptor,
    RoleDescriptorError,
    application_name_error,
    field_security_error,
    parse_role_descriptor,
    privilege_errors,
    query_text,
    read_string_array,
    validate_privileges,
)


def error_of(body: Any, name: str = "r", **options: bool) -> RoleDescriptorError:
    with pytest.raises(RoleDescriptorError) as caught:
        parse_role_descriptor(name, body, **options)
    return caught.value


# --- valid descriptors --------------------------------------------------------------------


def test_empty_role() -> None:
    role = parse_role_descriptor("r", {})
    assert role == RoleDescriptor("r")
    assert role.is_empty
    assert role.to_json() == {
        "cluster": [],
        "indices": [],
        "applications": [],
        "run_as": [],
        "metadata": {},
        "transient_metadata": {"enabled": True},
    }


def test_full_role() -> None:
    role = parse_role_descriptor(
        "test",
        {
            "cluster": ["a", "b"],
            "run_as": ["m", "n"],
            "index": [
                {"names": "idx1", "privileges": ["p1", "p2"]},
                {
                    "names": "idx2",
                    "allow_restricted_indices": True,
                    "privileges": ["p3"],
                    "field_security": {"grant": ["f1", "f2"]},
                },
                {
                    "names": ["idx2", "idx3"],
                    "privileges": ["p3"],
                    "field_security": {"grant": ["f*"], "except": ["f2"]},
                    "query": {"match_all": {}},
                },
            ],
            "applications": [
                {"resources": ["object-123"], "privileges": ["read"], "application": "app1"}
            ],
            "metadata": {"foo": "bar"},
            "description": "Lorem ipsum",
        },
    )
    assert role.cluster == ("a", "b")
    assert role.run_as == ("m", "n")
    assert role.indices[0] == IndicesPrivileges(("idx1",), ("p1", "p2"))
    assert role.indices[1].allow_restricted_indices
    assert role.indices[1].field_security == FieldSecurity(("f1", "f2"), None)
    assert role.indices[2].field_security == FieldSecurity(("f*",), ("f2",))
    assert role.indices[2].query == {"match_all": {}}
    assert role.applications == (ApplicationPrivileges("app1", ("read",), ("object-123",)),)
    assert role.metadata == {"foo": "bar"}
    assert role.description == "Lorem ipsum"
    assert role.uses_document_or_field_level_security


def test_to_json_shape_and_order() -> None:
    role = parse_role_descriptor(
        "r",
        {
            "description": "d",
            "remote_cluster": [{"privileges": ["monitor_enrich"], "clusters": ["one"]}],
            "remote_indices": [{"names": "i", "privileges": ["read"], "clusters": ["c*"]}],
            "metadata": {"k": 1},
            "run_as": ["u"],
            "applications": [{"application": "app", "privileges": ["p"], "resources": ["*"]}],
            "indices": [
                {
                    "names": ["a"],
                    "privileges": ["read"],
                    "query": {"term": {"x": "y"}},
                    "field_security": {"grant": ["*"], "except": ["secret"]},
                }
            ],
            "global": {"application": {"manage": {"applications": ["kibana-*"]}}},
            "cluster": ["monitor"],
        },
    )
    body = role.to_json()
    assert list(body) == [
        "cluster",
        "global",
        "indices",
        "applications",
        "run_as",
        "metadata",
        "transient_metadata",
        "remote_indices",
        "remote_cluster",
        "description",
    ]
    assert body["global"] == {
        "application": {"manage": {"applications": ["kibana-*"]}},
        "profile": {},
        "role": {},
    }
    assert body["indices"] == [
        {
            "names": ["a"],
            "privileges": ["read"],
            "field_security": {"grant": ["*"], "except": ["secret"]},
            "query": '{"term":{"x":"y"}}',  # Elasticsearch shows the query as a string
            "allow_restricted_indices": False,
        }
    ]
    assert body["remote_indices"] == [
        {
            "names": ["i"],
            "privileges": ["read"],
            "allow_restricted_indices": False,
            "clusters": ["c*"],
        }
    ]
    assert body["remote_cluster"] == [{"privileges": ["monitor_enrich"], "clusters": ["one"]}]
    assert body["transient_metadata"] == {"enabled": True}
    stored = role.to_json(doc_creation=True)
    assert "transient_metadata" not in stored
    assert stored["type"] == "role"


def test_index_key_names_are_aliases_and_last_wins() -> None:
    role = parse_role_descriptor(
        "r",
        {
            "index": [{"names": "a", "privileges": ["read"]}],
            "indices": [{"names": "b", "privileges": ["read"]}],
        },
    )
    assert [entry.names for entry in role.indices] == [("b",)]
    role = parse_role_descriptor(
        "r", {"application": [{"application": "app", "privileges": "p", "resources": "*"}]}
    )
    assert role.applications == (ApplicationPrivileges("app", ("p",), ("*",)),)


@pytest.mark.parametrize("query", ["", None])
def test_empty_or_null_query_means_none(query: str | None) -> None:
    role = parse_role_descriptor(
        "r", {"indices": [{"names": ["a"], "privileges": ["read"], "query": query}]}
    )
    assert role.indices[0].query is None
    assert "query" not in role.indices[0].to_json()


def test_string_query_kept_verbatim() -> None:
    text = '{"match": {"a": 1}}'
    role = parse_role_descriptor(
        "r", {"indices": [{"names": ["a"], "privileges": ["read"], "query": text}]}
    )
    assert role.indices[0].query == text
    assert role.indices[0].to_json()["query"] == text
    assert query_text({"a": "é"}) == '{"a":"é"}'


def test_null_cluster_and_run_as_are_empty() -> None:
    role = parse_role_descriptor("r", {"cluster": None, "run_as": None})
    assert role.cluster == ()
    assert role.run_as == ()


def test_transient_metadata_and_type_are_dropped() -> None:
    role = parse_role_descriptor(
        "r",
        {
            "cluster": ["all"],
            "transient_metadata": {"enabled": False},
            "type": "role",
            "metadata_flattened": {"x": 1},
            "indices": [{"names": "a", "privileges": ["read"], "transient_metadata": {"a": 1}}],
        },
    )
    assert role.transient_metadata == {"enabled": True}
    assert role.metadata == {}


def test_global_privileges() -> None:
    role = parse_role_descriptor(
        "r",
        {
            "global": {
                "profile": {"write": {"applications": ["", "kibana-*"]}},
                "role": {"manage": {"indices": [{"names": ["x-*"], "privileges": ["read"]}]}},
                "application": {"manage": {"applications": ["apm*", "kibana-1"]}},
            }
        },
    )
    assert role.global_privileges == (
        GlobalPrivilege("application", applications=("apm*", "kibana-1")),
        GlobalPrivilege("profile", applications=("", "kibana-*")),
        GlobalPrivilege("role", indices=((("x-*",), ("read",)),)),
    )
    assert role.to_json()["global"] == {
        "application": {"manage": {"applications": ["apm*", "kibana-1"]}},
        "profile": {"write": {"applications": ["", "kibana-*"]}},
        "role": {"manage": {"indices": [{"names": ["x-*"], "privileges": ["read"]}]}},
    }


def test_remote_cluster() -> None:
    role = parse_role_descriptor(
        "r",
        {
            "remote_cluster": [
                {"privileges": ["monitor_enrich"], "clusters": ["one"]},
                {"privileges": ["monitor_stats"], "clusters": ["two", "three"]},
            ]
        },
    )
    assert role.remote_cluster == (
        RemoteClusterPermission(("monitor_enrich",), ("one",)),
        RemoteClusterPermission(("monitor_stats",), ("two", "three")),
    )
    assert parse_role_descriptor("r", {"remote_cluster": []}).remote_cluster == ()


def test_restriction_only_when_allowed() -> None:
    body = {"restriction": {"workflows": ["search_application_query"]}}
    role = parse_role_descriptor("r", body, allow_restriction=True)
    assert role.restriction_workflows == ("search_application_query",)
    assert role.to_json()["restriction"] == {"workflows": ["search_application_query"]}
    assert parse_role_descriptor("r", {"restriction": {}}, allow_restriction=True).is_empty
    error = error_of(body, "test_role_with_restriction")
    assert error.reason == (
        "failed to parse role [test_role_with_restriction]. unexpected field [restriction]"
    )


def test_description_only_when_allowed() -> None:
    error = error_of({"description": "Lorem ipsum"}, "d", allow_description=False)
    assert error.reason == "failed to parse role [d]. unexpected field [description]"
    assert parse_role_descriptor("d", {"description": 12}).description == "12"
    assert parse_role_descriptor("d", {"description": True}).description == "true"


def test_2x_fields_format_only_in_files() -> None:
    body = {"indices": [{"names": "a", "privileges": ["read"], "fields": ["f1"]}]}
    role = parse_role_descriptor("r", body, allow_2x_format=True)
    assert role.indices[0].field_security == FieldSecurity(("f1",), None)
    error = error_of(body)
    assert error.error_type == "parse_exception"
    assert error.reason == (
        '["fields": [...]] format has changed for field permissions in role [r], use '
        '["field_security": {"grant":[...],"except":[...]}] instead'
    )


def test_grant_star_alone_is_not_field_level_security() -> None:
    role = parse_role_descriptor(
        "r",
        {"indices": [{"names": "a", "privileges": ["read"], "field_security": {"grant": ["*"]}}]},
    )
    assert not role.indices[0].uses_field_level_security
    assert not role.uses_document_or_field_level_security


# --- invalid descriptors: exact Elasticsearch messages -------------------------------------


INVALID: list[tuple[Any, str, str]] = [
    (
        [],
        "parse_exception",
        "failed to parse role [r]. expected an object but found [START_ARRAY] instead",
    ),
    (
        "x",
        "parse_exception",
        "failed to parse role [r]. expected an object but found [VALUE_STRING] instead",
    ),
    (
        None,
        "parse_exception",
        "failed to parse role [r]. expected an object but found [VALUE_NULL] instead",
    ),
    ({"foo": 1}, "parse_exception", "failed to parse role [r]. unexpected field [foo]"),
    (
        {"transient_metadata": 1},
        "parse_exception",
        "failed to parse role [r]. unexpected field [transient_metadata]",
    ),
    ({"cluster": "all"}, "parse_exception", "failed to parse role [r]"),
    (
        {"metadata": "x"},
        "parse_exception",
        "expected field [metadata] to be of type object, but found [VALUE_STRING] instead",
    ),
    (
        {"metadata": None},
        "parse_exception",
        "expected field [metadata] to be of type object, but found [VALUE_NULL] instead",
    ),
    (
        {"indices": {}},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. expected field [indices] value to "
            "be an array, but found [START_OBJECT] instead"
        ),
    ),
    (
        {"index": None},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. expected field [index] value to be "
            "an array, but found [VALUE_NULL] instead"
        ),
    ),
    (
        {"indices": ["a"]},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. expected field [null] value to be "
            "an array of objects, but found an array element of type [VALUE_STRING]"
        ),
    ),
    (
        {"indices": [{"privileges": ["read"]}]},
        "parse_exception",
        "failed to parse indices privileges for role [r]. missing required [names] field",
    ),
    (
        {"indices": [{"names": ["a"]}]},
        "parse_exception",
        "failed to parse indices privileges for role [r]. missing required [privileges] field",
    ),
    (
        {"indices": [{"names": ["a"], "privileges": None}]},
        "parse_exception",
        "failed to parse indices privileges for role [r]. missing required [privileges] field",
    ),
    (
        {"indices": [{"names": [], "privileges": ["read"]}]},
        "parse_exception",
        "failed to parse indices privileges for role [r]. [names] cannot be an empty array",
    ),
    (
        {"indices": [{"names": 5, "privileges": ["read"]}]},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. expected field [names] value to be "
            "a string or an array of strings, but found [VALUE_NUMBER] instead"
        ),
    ),
    (
        {"indices": [{"names": None, "privileges": ["read"]}]},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. expected field [names] value to be "
            "a string or an array of strings, but found [VALUE_NULL] instead"
        ),
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "foo": 1}]},
        "parse_exception",
        "failed to parse indices privileges for role [r]. unexpected field [foo]",
    ),
    (
        {"indices": [{"names": "a", "privileges": ["all"], "clusters": ["remote"]}]},
        "parse_exception",
        "failed to parse indices privileges for role [r]. unexpected field [clusters]",
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "allow_restricted_indices": "true"}]},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. expected field "
            "[allow_restricted_indices] value to be a boolean, but found [VALUE_STRING] instead"
        ),
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "query": 1}]},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. expected field [query] value to be "
            "null, a string, an array, or an object, but found [VALUE_NUMBER] instead"
        ),
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "query": []}]},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. expected field [query] value to be "
            "null, a string, an array, or an object, but found [START_ARRAY] instead"
        ),
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "field_security": []}]},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. expected START_OBJECT but got "
            'START_ARRAY in "field_security".'
        ),
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "field_security": {}}]},
        "parse_exception",
        'failed to parse indices privileges for role [r]. "field_security" must not be empty.',
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "field_security": {"grant": None}}]},
        "parse_exception",
        "failed to parse indices privileges for role [r]. grant must not be null.",
    ),
    (
        {
            "indices": [
                {
                    "names": "a",
                    "privileges": ["read"],
                    "field_security": {"grant": ["a"], "except": None},
                }
            ]
        },
        "parse_exception",
        "failed to parse indices privileges for role [r]. except must not be null.",
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "field_security": {"allow": ["a"]}}]},
        "parse_exception",
        (
            'failed to parse indices privileges for role [r]. "field_security" only accepts '
            "options grant and except, but got: allow"
        ),
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "field_security": {"except": ["a"]}}]},
        "parse_exception",
        (
            "failed to parse indices privileges for role [r]. field_security requires grant if "
            "except is given"
        ),
    ),
    (
        {
            "indices": [
                {
                    "names": "a",
                    "privileges": ["read"],
                    "field_security": {"grant": ["f1", "f2"], "except": ["f3"]},
                }
            ]
        },
        "parse_exception",
        (
            "failed to parse indices privileges for role [r] - Exceptions for field permissions "
            "must be a subset of the granted fields but f3 is not a subset of f1,f2"
        ),
    ),
    (
        {"indices": [{"names": "a", "privileges": ["read"], "transient_metadata": []}]},
        "parse_exception",
        (
            "failed to parse transient metadata for role [r]. expected START_OBJECT but got "
            'START_ARRAY in "transient_metadata".'
        ),
    ),
    (
        {"indices": [{"names": "a", "privileges": []}]},
        "illegal_argument_exception",
        "indices privileges must define at least one privilege",
    ),
    (
        {"remote_indices": [{"names": ["a"], "privileges": ["all"]}]},
        "parse_exception",
        "failed to parse remote indices privileges for role [r]. missing required [clusters] field",
    ),
    (
        {"remote_indices": "x"},
        "parse_exception",
        (
            "failed to parse remote indices privileges for role [r]. expected field "
            "[remote_indices] value to be an array, but found [VALUE_STRING] instead"
        ),
    ),
    (
        {"applications": {}},
        "parse_exception",
        (
            "failed to parse application privileges for role [r]. expected field [applications] "
            "value to be an array, but found [START_OBJECT] instead"
        ),
    ),
    (
        {"applications": [1]},
        "parse_exception",
        (
            "failed to parse application privileges for role [r]. expected field [null] value to "
            "be an array of objects, but found an array element of type [VALUE_NUMBER]"
        ),
    ),
    (
        {"applications": [{"application": "a", "privileges": ["p"]}]},
        "parse_exception",
        "failed to parse application privileges for role [r]. missing required [resources] field",
    ),
    (
        {"applications": [{"application": "a", "resources": ["*"]}]},
        "parse_exception",
        "failed to parse application privileges for role [r]. missing required [privileges] field",
    ),
    (
        {
            "applications": [
                {"not_supported": True, "resources": ["*"], "privileges": ["my-app:login"]}
            ]
        },
        "x_content_parse_exception",
        "[application] unknown field [not_supported]",
    ),
    (
        {"applications": [{"application": ["a"], "resources": ["*"], "privileges": ["p"]}]},
        "x_content_parse_exception",
        "[application] application doesn't support values of type: START_ARRAY",
    ),
    (
        {"applications": [{"application": "a", "resources": 1, "privileges": ["p"]}]},
        "x_content_parse_exception",
        "[application] resources doesn't support values of type: VALUE_NUMBER",
    ),
    (
        {"applications": [{"application": "a", "resources": ["*"], "privileges": [None]}]},
        "x_content_parse_exception",
        "[application] failed to parse field [privileges]",
    ),
    (
        {"applications": [{"resources": ["*"], "privileges": ["p"]}]},
        "illegal_argument_exception",
        "application privileges must have an application name",
    ),
    (
        {"applications": [{"application": "a", "resources": ["*"], "privileges": []}]},
        "illegal_argument_exception",
        "application privileges must define at least one privilege",
    ),
    (
        {"applications": [{"application": "a", "resources": [], "privileges": ["p"]}]},
        "illegal_argument_exception",
        "application privileges must refer to at least one resource",
    ),
    (
        {"global": []},
        "x_content_parse_exception",
        "failed to parse privilege. expected [START_OBJECT] but found [START_ARRAY] instead",
    ),
    (
        {"global": {"cluster": {}}},
        "x_content_parse_exception",
        (
            "failed to parse privilege. expected one of [application,profile,role] but found "
            "[cluster] instead"
        ),
    ),
    (
        {"global": {"application": {"write": {}}}},
        "x_content_parse_exception",
        "failed to parse privilege. expected field name [manage] but found [write] instead",
    ),
    (
        {"global": {"application": {"manage": {"apps": []}}}},
        "x_content_parse_exception",
        "failed to parse privilege. expected field name [applications] but found [apps] instead",
    ),
    (
        {"global": {"profile": {"write": {"applications": "x"}}}},
        "x_content_parse_exception",
        "failed to parse privilege. expected [START_ARRAY] but found [VALUE_STRING] instead",
    ),
    (
        {"global": {"profile": {"write": {"applications": [1]}}}},
        "parse_exception",
        (
            "could not parse [null] field. expected a string array but one of the value in the "
            "array is [VALUE_NUMBER]"
        ),
    ),
    (
        {"global": {"profile": {"write": {"applications": [], "x": 1}}}},
        "x_content_parse_exception",
        "failed to parse privilege. expected [END_OBJECT] but found [FIELD_NAME] instead",
    ),
    (
        {"remote_cluster": [{"privileges": ["monitor_enrich"]}]},
        "parse_exception",
        (
            "failed to parse remote_cluster for role [r]. [clusters] must be defined when "
            "[privileges] are defined "
        ),
    ),
    (
        {"remote_cluster": [{"clusters": ["two", "three"]}]},
        "parse_exception",
        (
            "failed to parse remote_cluster for role [r]. [privileges] must be defined when "
            "[clusters] are defined "
        ),
    ),
    (
        {"remote_cluster": [{}]},
        "illegal_argument_exception",
        "remote cluster groups must not be null or empty",
    ),
    (
        {"remote_cluster": [{"privileges": ["monitor_stats", "read_pipeline"], "clusters": ["*"]}]},
        "parse_exception",
        (
            "failed to parse remote_cluster for role [r]. [monitor_enrich, monitor_stats] are "
            "the only values allowed for [privileges] within [remote_cluster]. Found "
            "[monitor_stats, read_pipeline]"
        ),
    ),
    (
        {"remote_cluster": [{"privileges": ["monitor_enrich"], "clusters": ["*"], "x": 1}]},
        "parse_exception",
        "failed to parse remote_cluster for role [r]. unexpected field [x]",
    ),
    ({"description": None}, "illegal_argument_exception", "Expected text but found VALUE_NULL"),
]


@pytest.mark.parametrize(("body", "error_type", "reason"), INVALID)
def test_invalid_bodies(body: Any, error_type: str, reason: str) -> None:
    error = error_of(body)
    assert (error.error_type, error.reason) == (error_type, reason)
    assert error.status == 400


def test_string_array_errors_are_wrapped_with_the_role_name() -> None:
    error = error_of({"cluster": "all"})
    assert error.reason == "failed to parse role [r]"
    assert error.caused_by is not None
    assert error.caused_by.reason == (
        "could not parse [cluster] field. expected a string array but found [VALUE_STRING] "
        "value instead"
    )
    assert error.error_body() == {
        "error": {
            "root_cause": [{"type": "parse_exception", "reason": error.caused_by.reason}],
            "type": "parse_exception",
            "reason": "failed to parse role [r]",
            "caused_by": {"type": "parse_exception", "reason": error.caused_by.reason},
        },
        "status": 400,
    }
    nested = error_of({"run_as": ["a", 1]})
    assert nested.caused_by is not None
    assert nested.caused_by.reason == (
        "could not parse [null] field. expected a string array but one of the value in the "
        "array is [VALUE_NUMBER]"
    )
    null_clusters = error_of(
        {"remote_indices": [{"names": "a", "privileges": ["read"], "clusters": None}]}
    )
    assert null_clusters.caused_by is not None
    assert null_clusters.caused_by.reason == (
        "could not parse [clusters] field. expected a string array but found null value instead"
    )


def test_restriction_errors() -> None:
    error = error_of(
        {"restriction": {"workflows": None}}, "test_null_workflows", allow_restriction=True
    )
    assert error.reason == (
        "failed to parse restriction for role [test_null_workflows]. could not parse [workflows] "
        "field. expected a string array but found null value instead"
    )
    error = error_of({"restriction": {"workflows": []}}, "w", allow_restriction=True)
    assert (
        error.reason
        == "failed to parse restriction for role [w]. [workflows] cannot be an empty array"
    )
    error = error_of({"restriction": {"x": []}}, "w", allow_restriction=True)
    assert error.reason == "failed to parse restriction for role [w]. unexpected field [x]"
    error = error_of({"restriction": []}, "w", allow_restriction=True)
    assert error.reason == (
        "failed to parse restriction for role [w]. expected field [restriction] value to be an "
        "object, but found an element of type [START_ARRAY]"
    )


def test_first_problem_in_document_order_wins() -> None:
    assert (
        error_of({"foo": 1, "cluster": "x"}).reason
        == "failed to parse role [r]. unexpected field [foo]"
    )
    assert error_of({"cluster": "x", "foo": 1}).reason == "failed to parse role [r]"


@pytest.mark.parametrize("name", ["", " lead", "trail ", "tab\there", "é", "x" * 1025])
def test_invalid_role_names(name: str) -> None:
    error = error_of({}, name)
    assert error.error_type == "validation_exception"
    assert error.reason == (
        "Validation Failed: 1: Role names must be at least 1 and no more than 1024 characters. "
        "They can contain alphanumeric characters (a-z, A-Z, 0-9), spaces, punctuation, and "
        "printable symbols in the Basic Latin (ASCII) block. Leading or trailing whitespace is "
        "not allowed.;"
    )


def test_reserved_names_parse() -> None:
    # The parser allows reserved names; the roles API and roles.yml reject them separately.
    assert parse_role_descriptor("superuser", {"cluster": ["all"]}).name == "superuser"


def test_name_validation_can_be_skipped() -> None:
    assert parse_role_descriptor("", {}, validate_name=False).name == ""


# --- field level security subset check ------------------------------------------------------


@pytest.mark.parametrize(
    ("grant", "except_", "ok"),
    [
        (["*"], ["_fx", "f8"], True),
        (["f1", "f2"], ["f1"], True),
        (["f1", "f2"], ["f3"], False),
        (["field*"], ["field1", "field2*"], True),
        (["field*"], ["_field3"], False),
        (["field*"], ["*_field3"], False),
        (["field*"], ["_id"], False),
        (["a.*", "b"], ["a.b.c", "a.?"], True),
        (["a?c"], ["abc", "a*c"], False),
        (["a*", "*b"], ["a*b", "ab*"], True),
        (["f\\*"], ["f*"], False),
        (["f\\*", "f?"], ["f\\*"], True),
        (["/f.*/"], ["g"], True),  # regex patterns are not compared
        (["f1"], [], True),
        ([], ["f1"], False),
    ],
)
def test_field_security_subset(grant: list[str], except_: list[str], ok: bool) -> None:
    assert (field_security_error(grant, except_) is None) is ok


def test_field_security_message() -> None:
    assert field_security_error(["f1", "f2"], ["f3", "f4"]) == (
        "Exceptions for field permissions must be a subset of the granted fields but f3,f4 is "
        "not a subset of f1,f2"
    )


# --- request validation hook ---------------------------------------------------------------


def cluster_check(name: str) -> str | None:
    return None if name in ("all", "monitor") else f"unknown cluster privilege [{name}]"


def index_check(name: str) -> str | None:
    return None if name in ("all", "read") else f"unknown index privilege [{name}]"


def test_validate_privileges_accepts_known_names() -> None:
    role = parse_role_descriptor(
        "r",
        {
            "cluster": ["monitor"],
            "indices": [{"names": "a", "privileges": ["read"]}],
            "applications": [
                {"application": "kibana-.kibana", "privileges": ["all"], "resources": ["*"]}
            ],
            "metadata": {"team": "x"},
        },
    )
    validate_privileges(role, cluster_check, index_check)
    assert privilege_errors(role, cluster_check, index_check) == []


def test_validate_privileges_lists_every_problem() -> None:
    role = parse_role_descriptor(
        "r",
        {
            "cluster": ["monitor", "bogus"],
            "indices": [
                {"names": "a", "privileges": ["read", "nope", "nada"]},
                {"names": "b", "privileges": ["read", "read"]},
            ],
            "remote_indices": [{"names": "c", "privileges": ["zip"], "clusters": [""]}],
            "applications": [
                {"application": "ab", "privileges": ["has space"], "resources": ["*"]}
            ],
            "metadata": {"_reserved": True},
            "description": "x" * 1001,
        },
    )
    with pytest.raises(RoleDescriptorError) as caught:
        validate_privileges(role, cluster_check, index_check)
    assert caught.value.error_type == "action_request_validation_exception"
    assert caught.value.reason == (
        "Validation Failed: "
        "1: unknown cluster privilege [bogus];"
        "2: unknown index privilege [nope];"
        "3: duplicate element: read;"
        "4: remote index cluster alias cannot be an empty string;"
        "5: unknown index privilege [zip];"
        "6: An application name prefix must be at least 3 characters long (found 'ab');"
        "7: Application privilege names and actions must match the pattern ^\\p{Graph}*$ "
        "(found 'has space');"
        "8: role descriptor metadata keys may not start with [_];"
        "9: Role description must be less than 1000 characters.;"
    )
    assert privilege_errors(role, cluster_check, index_check) == [
        "unknown cluster privilege [bogus]",
        "unknown index privilege [nope]",
        "duplicate element: read",
        "unknown index privilege [zip]",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("kibana-.kibana", None),
        ("*", None),
        ("kibana-*", None),
        ("app*", None),
        ("myapp_x", None),
        ("", "Application names cannot be blank"),
        ("a*b", "Application name patterns only support trailing wildcards (found 'a*b')"),
        ("my app", "Application names may not contain whitespace (found 'my app')"),
        (
            "Myapp",
            "An application name prefix must match the pattern ^[a-z][A-Za-z0-9]*$ (found 'Myapp')",
        ),
        ("ab", "An application name prefix must be at least 3 characters long (found 'ab')"),
        (
            "app-a/b",
            (
                "An application name suffix may not contain any of the characters '\\/*?\"<>| ,' "
                "(found 'a/b')"
            ),
        ),
    ],
)
def test_application_names(name: str, message: str | None) -> None:
    assert application_name_error(name) == message


def test_read_string_array() -> None:
    assert read_string_array("f", ["a", "b"], allow_null=False) == ("a", "b")
    assert read_string_array("f", None, allow_null=True) is None
    with pytest.raises(RoleDescriptorError) as caught:
        read_string_array("f", None, allow_null=False)
    assert caught.value.reason == (
        "could not parse [f] field. expected a string array but found null value instead"
    )


def test_descriptors_are_hashable() -> None:
    body = {
        "indices": [{"names": "a", "privileges": ["read"], "query": {"match_all": {}}}],
        "metadata": {"k": [1]},
    }
    first = parse_role_descriptor("r", body)
    second = parse_role_descriptor("r", body)
    assert first == second
    assert len({first, second}) == 1
    assert first != parse_role_descriptor("r", {**body, "metadata": {"k": [2]}})
