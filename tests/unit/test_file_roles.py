"""`roles.yml` in Elasticsearch's format: bad roles are skipped and reported, others load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion.authz.file_roles import RolesFileError, parse_roles_text, read_file_roles
from bastion.authz.role_descriptor import FieldSecurity, IndicesPrivileges

GOOD_AND_BAD = """\
# Roles for the test cluster
admin:
  cluster: [all]
  indices:
    - names: ['*']
      privileges: [all]

  # a comment inside a role
bad_field:
  cluster: [monitor]
  foo: bar

reader:
  indices:
    - names: [logs-*, metrics-*]
      privileges: [read, view_index_metadata]
      field_security:
        grant: ['*']
        except: [secret]
      query: '{"term": {"team": "a"}}'
  run_as: [other]
  metadata:
    version: 1
  description: Reads logs and metrics

superuser:
  cluster: [all]

broken_yaml:
  cluster: [all
  indices: ]]

no_body:

bad_cluster:
  cluster: all

bad_app:
  applications:
    - application: app
      privileges: [read]
      resources: ['*']
      extra: 1

legacy_fields:
  indices:
    - names: [a]
      privileges: [read]
      fields: [f1, f2]
"""


def load(tmp_path: Path, text: str, **checks: object) -> tuple[dict[str, object], list[str]]:
    path = tmp_path / "roles.yml"
    path.write_text(text, encoding="utf-8")
    loaded = read_file_roles(path, **checks)  # type: ignore[arg-type]
    assert loaded is not None
    roles, problems = loaded
    return dict(roles), problems


def test_bad_roles_are_skipped_and_good_ones_load(tmp_path: Path) -> None:
    path = tmp_path / "roles.yml"
    path.write_text(GOOD_AND_BAD, encoding="utf-8")
    loaded = read_file_roles(path)
    assert loaded is not None
    roles, problems = loaded
    assert sorted(roles) == ["admin", "legacy_fields", "reader"]
    where = f"in roles file [{path.absolute()}]"
    assert (
        problems[0] == "failed to parse role [bad_field]. unexpected field [foo]. skipping role..."
    )
    assert problems[1] == (
        f"invalid role definition [superuser] {where}. invalid role name - Role [superuser] is "
        "reserved and may not be used.. skipping role..."
    )
    assert problems[2].startswith(
        f"invalid role definition [broken_yaml] in roles file [{path}]. skipping role... "
        "caused by: "
    )
    assert problems[3] == f"invalid role definition [no_body] {where}. skipping role..."
    assert problems[4] == (
        "failed to parse role [bad_cluster]. skipping role... caused by: could not parse "
        "[cluster] field. expected a string array but found [VALUE_STRING] value instead"
    )
    assert problems[5] == (
        f"invalid role definition [bad_app] in roles file [{path}]. skipping role... caused by: "
        "[application] unknown field [extra]"
    )
    assert len(problems) == 6

    reader = roles["reader"]
    assert reader.indices == (
        IndicesPrivileges(
            ("logs-*", "metrics-*"),
            ("read", "view_index_metadata"),
            FieldSecurity(("*",), ("secret",)),
            '{"term": {"team": "a"}}',
        ),
    )
    assert reader.run_as == ("other",)
    assert reader.metadata == {"version": 1}
    assert reader.description == "Reads logs and metrics"
    assert roles["admin"].cluster == ("all",)
    # roles.yml still accepts the 2.x `fields` format.
    assert roles["legacy_fields"].indices[0].field_security == FieldSecurity(("f1", "f2"), None)


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_file_roles(tmp_path / "roles.yml") is None


def test_empty_and_comment_only_files(tmp_path: Path) -> None:
    assert load(tmp_path, "") == ({}, [])
    assert load(tmp_path, "# nothing here\n\n   \n") == ({}, [])


def test_unreadable_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "roles.yml"
    path.write_bytes(b"admin:\n  cluster: [\xff\xfe]\n")
    with pytest.raises(RolesFileError, match=r"failed to read roles file \["):
        read_file_roles(path)
    directory = tmp_path / "dir.yml"
    directory.mkdir()
    with pytest.raises(RolesFileError):
        read_file_roles(directory)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_raises(tmp_path: Path) -> None:
    path = tmp_path / "roles.yml"
    path.write_text("admin:\n  cluster: [all]\n", encoding="utf-8")
    path.chmod(0)
    with pytest.raises(RolesFileError):
        read_file_roles(path)


def test_malformed_yaml_never_raises(tmp_path: Path) -> None:
    # The tab-indented line continues the `- - -` segment, as in Elasticsearch.
    roles, problems = load(tmp_path, "::: [\n- - -\n\t{{{\nok:\n  cluster: [monitor]\n")
    assert list(roles) == ["ok"]
    assert len(problems) == 2
    assert problems[0].startswith("invalid role definition [null] in roles file [")
    assert all("skipping role..." in problem for problem in problems)


def test_binary_garbage_is_reported_not_raised(tmp_path: Path) -> None:
    roles, problems = load(tmp_path, "\x00\x01 garbage: [\nvalid:\n  run_as: [x]\n")
    assert list(roles) == ["valid"]
    assert len(problems) == 1


def test_later_definition_wins(tmp_path: Path) -> None:
    roles, problems = load(tmp_path, "r:\n  cluster: [a]\nr:\n  cluster: [b]\n")
    assert problems == []
    assert roles["r"].cluster == ("b",)  # type: ignore[attr-defined]


def test_flow_style_and_quoted_names(tmp_path: Path) -> None:
    text = "\"my role\": {cluster: [monitor]}\n'other': {run_as: ['*']}\n"
    roles, problems = load(tmp_path, text)
    assert problems == []
    assert sorted(roles) == ["my role", "other"]


def test_yaml_is_read_like_elasticsearch(tmp_path: Path) -> None:
    # Keys stay text (`yes` is a role name, not a boolean); only true/false are booleans;
    # dates are strings.
    text = (
        "yes:\n"
        "  indices:\n"
        "    - names: 2020-01-01\n"
        "      privileges: [read]\n"
        "      allow_restricted_indices: true\n"
        "on:\n"
        "  indices:\n"
        "    - names: [a]\n"
        "      privileges: [read]\n"
        "      allow_restricted_indices: yes\n"
    )
    roles, problems = load(tmp_path, text)
    assert list(roles) == ["yes"]
    assert roles["yes"].indices[0].names == ("2020-01-01",)  # type: ignore[attr-defined]
    assert problems == [
        "failed to parse indices privileges for role [on]. expected field "
        "[allow_restricted_indices] value to be a boolean, but found [VALUE_STRING] instead. "
        "skipping role..."
    ]


def test_invalid_role_name(tmp_path: Path) -> None:
    path = tmp_path / "roles.yml"
    roles, problems = load(tmp_path, "' spaced':\n  cluster: [all]\n")
    assert roles == {}
    assert problems == [
        f"invalid role definition [ spaced] in roles file [{path.absolute()}]. invalid role name "
        "- Role names must be at least 1 and no more than 1024 characters. They can contain "
        "alphanumeric characters (a-z, A-Z, 0-9), spaces, punctuation, and printable symbols in "
        "the Basic Latin (ASCII) block. Leading or trailing whitespace is not allowed.. skipping "
        "role..."
    ]


@pytest.mark.parametrize("name", ["kibana_system", "viewer", "apm_user"])
def test_reserved_names_are_skipped(tmp_path: Path, name: str) -> None:
    roles, problems = load(tmp_path, f"{name}:\n  cluster: [all]\nmine:\n  cluster: [all]\n")
    assert list(roles) == ["mine"]
    assert len(problems) == 1
    assert f"Role [{name}] is reserved and may not be used." in problems[0]


def test_description_too_long(tmp_path: Path) -> None:
    path = tmp_path / "roles.yml"
    roles, problems = load(tmp_path, f"r:\n  description: {'x' * 1001}\n")
    assert roles == {}
    assert problems == [
        f"invalid role definition [r] in roles file [{path.absolute()}]. invalid description - "
        "Role description must be less than 1000 characters.. skipping role..."
    ]


def test_optional_privilege_checks(tmp_path: Path) -> None:
    def cluster_check(name: str) -> str | None:
        return None if name == "monitor" else f"unknown cluster privilege [{name}]"

    def index_check(name: str) -> str | None:
        return None if name == "read" else f"unknown index privilege [{name}]"

    text = (
        "ok:\n  cluster: [monitor]\n  indices:\n    - {names: [a], privileges: [read]}\n"
        "typo:\n  cluster: [monitr]\n  indices:\n    - {names: [a], privileges: [raed]}\n"
    )
    path = tmp_path / "roles.yml"
    roles, problems = load(tmp_path, text, cluster_check=cluster_check, index_check=index_check)
    assert list(roles) == ["ok"]
    assert problems == [
        f"invalid role definition [typo] in roles file [{path.absolute()}]. unknown cluster "
        "privilege [monitr]; unknown index privilege [raed]. skipping role..."
    ]
    # Without checks, unknown names load (Elasticsearch only fails when the role is used).
    roles, problems = load(tmp_path, text)
    assert sorted(roles) == ["ok", "typo"]
    assert problems == []


def test_lines_before_the_first_role_and_crlf(tmp_path: Path) -> None:
    text = "  stray: indented\r\nr:\r\n  cluster: [all]\r\n"
    roles, problems = parse_roles_text(text, tmp_path / "roles.yml")
    assert list(roles) == ["r"]
    assert problems == []


def test_reading_again_sees_changes(tmp_path: Path) -> None:
    path = tmp_path / "roles.yml"
    path.write_text("a:\n  cluster: [all]\n", encoding="utf-8")
    first = read_file_roles(path)
    path.write_text("b:\n  cluster: [all]\n", encoding="utf-8")
    second = read_file_roles(path)
    assert first is not None
    assert second is not None
    assert list(first[0]) == ["a"]
    assert list(second[0]) == ["b"]


def test_duplicate_keys_inside_a_role_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "roles.yml"
    roles, problems = load(tmp_path, "r:\n  cluster: [a]\n  cluster: [b]\nok: {}\n")
    assert list(roles) == ["ok"]
    assert problems == [
        f"invalid role definition [r] in roles file [{path}]. skipping role... caused by: "
        "Duplicate field 'cluster'"
    ]
