"""Elasticsearch 8's built-in roles, loaded from the package data file."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from bastion.authz.reserved_roles import RESERVED_ROLE_NAMES, RESERVED_ROLES, is_reserved_role
from bastion.authz.role_descriptor import (
    ApplicationPrivileges,
    GlobalPrivilege,
    IndicesPrivileges,
    RemoteClusterPermission,
    RemoteIndicesPrivileges,
    parse_role_descriptor,
)

EXPECTED = {
    "superuser",
    "viewer",
    "editor",
    "kibana_system",
    "kibana_admin",
    "kibana_user",
    "monitoring_user",
    "remote_monitoring_agent",
    "remote_monitoring_collector",
    "ingest_admin",
    "logstash_system",
    "beats_system",
    "apm_system",
    "apm_user",
    "logstash_admin",
    "beats_admin",
    "snapshot_user",
    "enrich_user",
    "reporting_user",
    "machine_learning_admin",
    "machine_learning_user",
    "transform_admin",
    "transform_user",
    "data_frame_transforms_admin",
    "data_frame_transforms_user",
    "rollup_admin",
    "rollup_user",
    "watcher_admin",
    "watcher_user",
    "transport_client",
    "inference_admin",
    "inference_user",
}


def test_every_built_in_role_is_present() -> None:
    assert set(RESERVED_ROLES) == EXPECTED
    assert RESERVED_ROLE_NAMES == EXPECTED


def test_data_file_is_package_data() -> None:
    text = resources.files("bastion.authz").joinpath("reserved_roles.yml").read_text("utf-8")
    assert set(yaml.safe_load(text)) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_role_parses_and_round_trips(name: str) -> None:
    role = RESERVED_ROLES[name]
    assert role.name == name
    assert role.metadata["_reserved"] is True
    # What GET /_security/role shows parses back to the same role.
    again = parse_role_descriptor(name, role.to_json())
    assert again.to_json() == {**role.to_json(), "transient_metadata": {"enabled": True}}


def test_is_reserved_role() -> None:
    assert is_reserved_role("superuser")
    assert is_reserved_role("kibana_system")
    assert not is_reserved_role("my_role")
    assert not is_reserved_role("Superuser")


def test_mapping_is_read_only() -> None:
    with pytest.raises(TypeError):
        RESERVED_ROLES["x"] = RESERVED_ROLES["superuser"]  # type: ignore[index]


def test_superuser() -> None:
    role = RESERVED_ROLES["superuser"]
    assert role.cluster == ("all",)
    assert role.indices == (
        IndicesPrivileges(("*",), ("all",), allow_restricted_indices=False),
        IndicesPrivileges(
            ("*",),
            ("monitor", "read", "view_index_metadata", "read_cross_cluster"),
            allow_restricted_indices=True,
        ),
    )
    assert role.applications == (ApplicationPrivileges("*", ("*",), ("*",)),)
    assert role.run_as == ("*",)
    assert role.metadata == {"_reserved": True}
    assert role.transient_metadata == {}
    assert role.remote_indices == (
        RemoteIndicesPrivileges(IndicesPrivileges(("*",), ("all",)), ("*",)),
        RemoteIndicesPrivileges(
            IndicesPrivileges(
                ("*",),
                ("monitor", "read", "view_index_metadata", "read_cross_cluster"),
                allow_restricted_indices=True,
            ),
            ("*",),
        ),
    )
    assert role.remote_cluster == (
        RemoteClusterPermission(("monitor_enrich", "monitor_stats"), ("*",)),
    )
    assert role.description.startswith("Grants full access to cluster management and data indices.")
    body = role.to_json()
    assert body["transient_metadata"] == {}
    assert list(body) == [
        "cluster",
        "indices",
        "applications",
        "run_as",
        "metadata",
        "transient_metadata",
        "remote_indices",
        "remote_cluster",
        "description",
    ]


def test_kibana_system() -> None:
    role = RESERVED_ROLES["kibana_system"]
    for privilege in (
        "monitor",
        "manage_index_templates",
        "cluster:admin/xpack/monitoring/bulk",
        "manage_saml",
        "manage_token",
        "manage_oidc",
        "manage_pipeline",
        "manage_ilm",
        "grant_api_key",
        "manage_own_api_key",
        "delegate_pki",
        "cluster:admin/xpack/security/profile/activate",
        "cluster:admin/xpack/security/api_key/invalidate",
        "cluster:admin/xpack/security/privilege/builtin/get",
    ):
        assert privilege in role.cluster
    assert role.global_privileges == (
        GlobalPrivilege("application", applications=("kibana-*",)),
        GlobalPrivilege("profile", applications=("kibana*",)),
    )
    assert role.indices[0] == IndicesPrivileges(
        (".kibana*", ".reporting-*"), ("all",), allow_restricted_indices=True
    )
    by_name = {name: entry for entry in role.indices for name in entry.names}
    assert by_name[".monitoring-*"].privileges == ("read", "read_cross_cluster")
    assert by_name[".apm-agent-configuration"].allow_restricted_indices
    assert by_name[".fleet-agents*"].privileges == ("all",)
    assert by_name[".fleet-agents*"].allow_restricted_indices
    assert by_name[".fleet-secrets*"].privileges == ("write", "delete", "create_index")
    assert by_name["*"].privileges == ("view_index_metadata", "monitor")
    assert by_name[".alerts*"].privileges == ("all",)
    assert "indices:admin/mapping/put" in by_name["logs-*"].privileges
    assert "metrics-fleet_server*" in by_name
    assert not role.applications
    assert role.to_json()["global"] == {
        "application": {"manage": {"applications": ["kibana-*"]}},
        "profile": {"write": {"applications": ["kibana*"]}},
        "role": {},
    }


def test_viewer_and_editor() -> None:
    viewer = RESERVED_ROLES["viewer"]
    editor = RESERVED_ROLES["editor"]
    assert viewer.cluster == editor.cluster == ()
    assert viewer.indices[0] == IndicesPrivileges(
        ("/~(([.]|ilm-history-).*)/",), ("read", "view_index_metadata")
    )
    assert viewer.applications == (ApplicationPrivileges("kibana-.kibana", ("read",), ("*",)),)
    assert editor.applications == (ApplicationPrivileges("kibana-.kibana", ("all",), ("*",)),)
    assert not any("write" in entry.privileges for entry in viewer.indices)
    assert any("maintenance" in entry.privileges for entry in editor.indices)


def test_kibana_admin_and_deprecated_kibana_user() -> None:
    admin = RESERVED_ROLES["kibana_admin"]
    user = RESERVED_ROLES["kibana_user"]
    assert (
        admin.applications
        == user.applications
        == (ApplicationPrivileges("kibana-.kibana", ("all",), ("*",)),)
    )
    assert admin.metadata == {"_reserved": True}
    assert user.metadata == {
        "_reserved": True,
        "_deprecated": True,
        "_deprecated_reason": "Please use the [kibana_admin] role instead",
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("kibana_user", "Please use the [kibana_admin] role instead"),
        ("reporting_user", "Please use Kibana feature privileges instead"),
        ("data_frame_transforms_admin", "Please use the [transform_admin] role instead"),
        ("data_frame_transforms_user", "Please use the [transform_user] role instead"),
        (
            "apm_user",
            "This role will be removed in a future major release. Please use editor and viewer "
            "roles instead",
        ),
    ],
)
def test_deprecated_roles(name: str, reason: str) -> None:
    metadata = RESERVED_ROLES[name].metadata
    assert metadata["_deprecated"] is True
    assert metadata["_deprecated_reason"] == reason


def test_not_deprecated_roles_have_plain_reserved_metadata() -> None:
    deprecated = {
        "kibana_user",
        "reporting_user",
        "data_frame_transforms_admin",
        "data_frame_transforms_user",
        "apm_user",
    }
    for name in EXPECTED - deprecated:
        assert RESERVED_ROLES[name].metadata == {"_reserved": True}, name


@pytest.mark.parametrize(
    ("name", "cluster"),
    [
        ("transport_client", ("transport_client",)),
        ("ingest_admin", ("manage_index_templates", "manage_pipeline")),
        ("logstash_system", ("monitor", "cluster:admin/xpack/monitoring/bulk")),
        ("beats_system", ("monitor", "cluster:admin/xpack/monitoring/bulk")),
        ("apm_system", ("monitor", "cluster:admin/xpack/monitoring/bulk")),
        ("rollup_user", ("monitor_rollup",)),
        ("rollup_admin", ("manage_rollup",)),
        ("inference_admin", ("manage_inference",)),
        ("inference_user", ("monitor_inference",)),
        ("machine_learning_user", ("monitor_ml",)),
        ("machine_learning_admin", ("manage_ml",)),
        ("transform_user", ("monitor_transform",)),
        ("transform_admin", ("manage_transform",)),
        ("watcher_user", ("monitor_watcher",)),
        ("watcher_admin", ("manage_watcher",)),
        ("logstash_admin", ("manage_logstash_pipelines",)),
        ("snapshot_user", ("create_snapshot", "cluster:admin/repository/get")),
        ("enrich_user", ("manage_enrich", "manage_ingest_pipelines", "monitor")),
        ("reporting_user", ()),
        ("beats_admin", ()),
        (
            "monitoring_user",
            ("cluster:monitor/main", "cluster:monitor/xpack/info", "cluster:monitor/remote/info"),
        ),
    ],
)
def test_cluster_privileges(name: str, cluster: tuple[str, ...]) -> None:
    assert RESERVED_ROLES[name].cluster == cluster


def test_restricted_index_grants() -> None:
    restricted = {
        name
        for name, role in RESERVED_ROLES.items()
        if any(entry.allow_restricted_indices for entry in role.indices)
    }
    assert restricted == {
        "superuser",
        "kibana_system",
        "remote_monitoring_collector",
        "machine_learning_admin",
        "watcher_admin",
        "watcher_user",
        "logstash_admin",
        "snapshot_user",
        "enrich_user",
    }
    snapshot = RESERVED_ROLES["snapshot_user"].indices
    assert snapshot == (
        IndicesPrivileges(("*",), ("view_index_metadata",), allow_restricted_indices=True),
    )


def test_descriptions() -> None:
    assert RESERVED_ROLES["kibana_admin"].description == "Grants access to all features in Kibana."
    assert RESERVED_ROLES["apm_system"].description.endswith("to Elasticsearch.\n")
    assert RESERVED_ROLES["machine_learning_user"].description.endswith("access to Kibana. ")
    assert RESERVED_ROLES["apm_user"].description == ""
    assert "description" not in RESERVED_ROLES["apm_user"].to_json()
    for name, role in RESERVED_ROLES.items():
        assert "  " not in role.description, name
