"""Named privileges → action patterns, checked against Elasticsearch 8's behaviour."""

from __future__ import annotations

import time

import pytest

from bastion.authz.privileges import (
    CLUSTER_PRIVILEGES,
    INDEX_PRIVILEGES,
    Kind,
    UnknownPrivilegeError,
    access_order,
    builtin_privileges,
    compile_cluster,
    compile_index,
    implies,
    is_cluster_action,
    is_index_action,
    is_valid,
    privilege_error,
    privilege_errors,
    privileges_granting,
)

# The names the task asked for, plus the two that Elasticsearch 8.17/8.18 also defines
# (`monitor_data_stream_global_retention`, `read_connector_secrets`).
EXPECTED_CLUSTER = {
    *[
        "all",
        "none",
        "cancel_task",
        "create_snapshot",
        "cross_cluster_replication",
        "cross_cluster_search",
        "delegate_pki",
        "grant_api_key",
        "manage",
        "manage_api_key",
        "manage_autoscaling",
        "manage_behavioral_analytics",
        "manage_ccr",
        "manage_connector",
        "manage_data_frame_transforms",
        "manage_data_stream_global_retention",
        "manage_enrich",
        "manage_ilm",
        "manage_index_templates",
        "manage_inference",
        "manage_ingest_pipelines",
        "manage_logstash_pipelines",
        "manage_ml",
        "manage_oidc",
        "manage_own_api_key",
        "manage_pipeline",
        "manage_rollup",
        "manage_saml",
        "manage_search_application",
        "manage_search_query_rules",
        "manage_search_synonyms",
        "manage_security",
        "manage_service_account",
        "manage_slm",
        "manage_token",
        "manage_transform",
        "manage_user_profile",
        "manage_watcher",
        "monitor",
        "monitor_connector",
        "monitor_data_frame_transforms",
        "monitor_enrich",
        "monitor_inference",
        "monitor_ml",
        "monitor_rollup",
        "monitor_snapshot",
        "monitor_stats",
        "monitor_text_structure",
        "monitor_transform",
        "monitor_watcher",
        "post_behavioral_analytics_event",
        "read_ccr",
        "read_fleet_secrets",
        "read_ilm",
        "read_pipeline",
        "read_security",
        "read_slm",
        "transport_client",
        "write_connector_secrets",
        "write_fleet_secrets",
    ],
    "monitor_data_stream_global_retention",
    "read_connector_secrets",
}
EXPECTED_INDEX = set(
    [
        "all",
        "none",
        "auto_configure",
        "create",
        "create_doc",
        "create_index",
        "cross_cluster_replication",
        "cross_cluster_replication_internal",
        "delete",
        "delete_index",
        "index",
        "maintenance",
        "manage",
        "manage_data_stream_lifecycle",
        "manage_follow_index",
        "manage_ilm",
        "manage_leader_index",
        "monitor",
        "read",
        "read_cross_cluster",
        "view_index_metadata",
        "write",
    ]
)

# The name list of Elasticsearch's "unknown cluster privilege" message as its docs print it
# (bulk-create-roles example), which omits the two deprecated *_data_frame_transforms aliases.
ES_CLUSTER_ORDER = [
    "manage_own_api_key",
    "manage_data_stream_global_retention",
    "monitor_data_stream_global_retention",
    "none",
    "cancel_task",
    "cross_cluster_replication",
    "cross_cluster_search",
    "delegate_pki",
    "grant_api_key",
    "manage_autoscaling",
    "manage_index_templates",
    "manage_logstash_pipelines",
    "manage_oidc",
    "manage_saml",
    "manage_search_application",
    "manage_search_query_rules",
    "manage_search_synonyms",
    "manage_service_account",
    "manage_token",
    "manage_user_profile",
    "monitor_connector",
    "monitor_enrich",
    "monitor_inference",
    "monitor_ml",
    "monitor_rollup",
    "monitor_snapshot",
    "monitor_stats",
    "monitor_text_structure",
    "monitor_watcher",
    "post_behavioral_analytics_event",
    "read_ccr",
    "read_connector_secrets",
    "read_fleet_secrets",
    "read_ilm",
    "read_pipeline",
    "read_security",
    "read_slm",
    "transport_client",
    "write_connector_secrets",
    "write_fleet_secrets",
    "create_snapshot",
    "manage_behavioral_analytics",
    "manage_ccr",
    "manage_connector",
    "manage_enrich",
    "manage_ilm",
    "manage_inference",
    "manage_ml",
    "manage_rollup",
    "manage_slm",
    "manage_watcher",
    "monitor_transform",
    "manage_api_key",
    "manage_ingest_pipelines",
    "manage_pipeline",
    "manage_transform",
    "manage_security",
    "monitor",
    "manage",
    "all",
]


def test_tables_hold_every_elasticsearch_name() -> None:
    assert set(CLUSTER_PRIVILEGES) == EXPECTED_CLUSTER
    assert set(INDEX_PRIVILEGES) == EXPECTED_INDEX
    assert all(name == p.name for name, p in {**CLUSTER_PRIVILEGES, **INDEX_PRIVILEGES}.items())


def test_builtin_body() -> None:
    body = builtin_privileges()
    assert body["cluster"] == sorted(EXPECTED_CLUSTER)
    assert body["index"] == sorted(EXPECTED_INDEX)
    assert body["remote_cluster"] == ["monitor_enrich", "monitor_stats"]


# ---- what grants what --------------------------------------------------------------------------

# (action, exactly the named privileges that grant it, in Elasticsearch's order). The first six
# rows are Elasticsearch's own IndexPrivilegeTests expectations.
INDEX_GRANTS = [
    ("indices:data/read/search", ["read", "all"]),
    ("indices:data/write/index", ["create_doc", "create", "index", "write", "all"]),
    ("indices:data/write/update", ["index", "write", "all"]),
    ("indices:data/write/delete", ["delete", "write", "all"]),
    ("indices:monitor/stats", ["monitor", "cross_cluster_replication", "manage", "all"]),
    ("indices:admin/refresh", ["maintenance", "manage", "all"]),
    # Since 8.0 write-type privileges do not grant explicit mapping updates, only dynamic ones.
    ("indices:admin/mapping/put", ["manage", "all"]),
    ("indices:admin/mapping/auto_put", ["auto_configure", "manage", "write", "all"]),
    ("indices:admin/auto_create", ["auto_configure", "create_index", "manage", "all"]),
    ("indices:admin/create", ["create_index", "manage", "all"]),
    ("indices:admin/delete", ["delete_index", "manage", "all"]),
    ("indices:data/write/bulk[s]", ["create_doc", "create", "delete", "index", "write", "all"]),
    ("indices:admin/get", ["view_index_metadata", "manage", "all"]),
    ("indices:admin/resolve/index", ["view_index_metadata", "manage", "read", "all"]),
    ("indices:admin/ilm/explain", ["manage_ilm", "view_index_metadata", "manage", "all"]),
    ("indices:admin/data_stream/lifecycle/put", ["manage_data_stream_lifecycle", "manage", "all"]),
    ("indices:admin/close", ["manage_follow_index", "manage", "all"]),
    ("indices:admin/xpack/ccr/forget_follower", ["manage_leader_index", "manage", "all"]),
    ("internal:transport/proxy/indices:data/read/search", ["read_cross_cluster", "all"]),
    (
        "indices:internal/admin/ccr/restore/session/put",
        ["cross_cluster_replication_internal", "all"],
    ),
    ("indices:data/write/index:op_type/index", ["create", "index", "write", "all"]),
    ("cluster:monitor/health", []),
]

CLUSTER_GRANTS = [
    ("cluster:monitor/health", ["monitor", "manage", "all"]),
    ("cluster:monitor/stats", ["monitor_stats", "monitor", "manage", "all"]),
    ("cluster:admin/xpack/security/user/put", ["manage_security", "all"]),
    ("cluster:admin/xpack/security/user/get", ["read_security", "manage_security", "all"]),
    ("cluster:admin/xpack/security/delegate_pki", ["delegate_pki", "all"]),
    (
        "cluster:admin/xpack/security/api_key/grant",
        ["grant_api_key", "manage_api_key", "manage_security", "all"],
    ),
    (
        "cluster:admin/xpack/security/token/invalidate",
        ["delegate_pki", "manage_saml", "manage_token", "manage_security", "all"],
    ),
    ("cluster:admin/xpack/connector/secret/get", ["read_connector_secrets", "manage", "all"]),
    ("cluster:admin/xpack/connector/put", ["manage_connector", "manage", "all"]),
    ("indices:admin/template/put", ["manage_index_templates", "manage", "all"]),
    ("indices:admin/index_template/get", ["manage_index_templates", "monitor", "manage", "all"]),
    (
        "cluster:admin/ingest/pipeline/put",
        ["manage_ingest_pipelines", "manage_pipeline", "manage", "all"],
    ),
    (
        "cluster:monitor/xpack/ml/job/get",
        ["monitor_ml", "manage_ml", "monitor", "manage", "all"],
    ),
    (
        "cluster:admin/ilm/operation_mode/get",
        ["read_ilm", "read_slm", "manage_ilm", "manage_slm", "manage", "all"],
    ),
    ("cluster:admin/tasks/cancel", ["cancel_task", "manage", "all"]),
    ("cluster:admin/snapshot/create", ["create_snapshot", "manage", "all"]),
    ("indices:data/read/search", []),
]


@pytest.mark.parametrize(("action", "expected"), INDEX_GRANTS)
def test_index_privileges_granting(action: str, expected: list[str]) -> None:
    assert privileges_granting(action, "index") == expected
    for name in INDEX_PRIVILEGES:
        assert compile_index([name])(action) is (name in expected), name


@pytest.mark.parametrize(("action", "expected"), CLUSTER_GRANTS)
def test_cluster_privileges_granting(action: str, expected: list[str]) -> None:
    assert privileges_granting(action, "cluster") == expected
    for name in CLUSTER_PRIVILEGES:
        if name != "manage_own_api_key":
            assert compile_cluster([name])(action) is (name in expected), name


def test_manage_own_api_key_is_listed_only_for_own_keys() -> None:
    action = "cluster:admin/xpack/security/api_key/create"
    assert privileges_granting(action, "cluster") == ["manage_api_key", "manage_security", "all"]
    assert privileges_granting(action, "cluster", own_api_key=True) == [
        "manage_own_api_key",
        "manage_api_key",
        "manage_security",
        "all",
    ]


# ---- orderings ---------------------------------------------------------------------------------


def test_cluster_order_matches_elasticsearch() -> None:
    order = access_order("cluster")
    assert set(order) == EXPECTED_CLUSTER
    deprecated = {"monitor_data_frame_transforms", "manage_data_frame_transforms"}
    assert [name for name in order if name not in deprecated] == ES_CLUSTER_ORDER
    # Aliases sort next to their twins.
    assert order.index("monitor_data_frame_transforms") + 1 == order.index("monitor_transform")
    assert order.index("manage_data_frame_transforms") + 1 == order.index("manage_transform")


def test_index_order_least_privileged_first() -> None:
    order = access_order("index")
    assert set(order) == EXPECTED_INDEX
    at = order.index
    assert at("none") == 0
    assert at("all") == len(order) - 1
    # Elasticsearch's IndexPrivilegeTests.testOrderingOfPrivilegeNames.
    assert at("read") < at("all")
    assert at("manage") < at("all")
    assert at("monitor") < at("manage")
    assert at("write") < at("all")
    assert at("index") < at("write")
    assert at("create_doc") < at("index")
    assert at("delete") < at("write")
    assert at("view_index_metadata") < at("manage")


# ---- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("cluster", "monitor"),
        ("cluster", "MANAGE_Security"),
        ("cluster", "cluster:*"),
        ("cluster", "cluster:monitor/health"),
        ("cluster", "cluster:admin/xpack/security/user/*"),
        ("cluster", "indices:admin/template/put"),
        ("cluster", "indices:admin/index_template/*"),
        ("cluster", "cluster:monitor/?ealth"),
        ("index", "read"),
        ("index", "Read"),
        ("index", "indices:*"),
        ("index", "indices:data/read/search"),
        ("index", "indices:data/write/*"),
        ("index", "internal:transport/proxy/indices:data/read/*"),
        ("index", "indices:admin/template/put"),
    ],
)
def test_valid_privilege_strings(kind: Kind, name: str) -> None:
    assert is_valid(kind, name)
    assert privilege_error(kind, name) is None


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("cluster", "foo"),
        ("cluster", "read"),
        ("cluster", "indices:data/read/*"),
        ("cluster", "*"),
        ("cluster", ""),
        ("index", "foo"),
        ("index", "monitor_ml"),
        ("index", "cluster:monitor/*"),
        ("index", "data/read/*"),
    ],
)
def test_invalid_privilege_strings(kind: Kind, name: str) -> None:
    assert not is_valid(kind, name)
    with pytest.raises(UnknownPrivilegeError):
        (compile_cluster if kind == "cluster" else compile_index)(["all", name])


def test_unknown_cluster_message() -> None:
    message = privilege_error("cluster", "Foo")
    assert message == (
        "unknown cluster privilege [foo]. a privilege must be either one of the predefined "
        f"cluster privilege names [{','.join(access_order('cluster'))}] "
        "or a pattern over one of the available cluster actions"
    )
    assert message.startswith(
        "unknown cluster privilege [foo]. a privilege must be either one of the predefined "
        "cluster privilege names [manage_own_api_key,manage_data_stream_global_retention,"
    )
    assert message.endswith(
        ",monitor,manage,all] or a pattern over one of the available cluster actions"
    )


def test_unknown_index_message() -> None:
    message = privilege_error("index", "bogus")
    assert message is not None
    assert message.startswith(
        "unknown index privilege [bogus]. a privilege must be either one of the predefined fixed "
        "indices privileges [none=[none],create_doc=[create_doc],"
    )
    assert message.endswith(
        ",write=[write],all=[all]] or a pattern over one of the available index actions"
    )


def test_privilege_errors_one_per_bad_name() -> None:
    errors = privilege_errors("cluster", ["monitor", "foo", "bar", "foo", "cluster:x"])
    assert len(errors) == 2
    assert errors[0].startswith("unknown cluster privilege [foo]")
    assert errors[1].startswith("unknown cluster privilege [bar]")
    assert privilege_errors("index", ["read", "indices:data/read/*"]) == []


def test_compile_error_carries_the_message() -> None:
    with pytest.raises(UnknownPrivilegeError) as raised:
        compile_index(["read", "reed"])
    assert str(raised.value) == privilege_error("index", "reed")


def test_action_kinds() -> None:
    assert is_cluster_action("cluster:monitor/health")
    assert is_cluster_action("indices:admin/template/put")
    assert not is_cluster_action("indices:data/read/search")
    assert is_index_action("indices:data/read/search")
    assert is_index_action("internal:transport/proxy/indices:data/read/search")
    assert not is_index_action("cluster:monitor/health")


# ---- compiled predicates -----------------------------------------------------------------------


def test_raw_patterns_grant_their_action_and_its_suffixes() -> None:
    predicate = compile_index(["indices:data/read/search"])
    assert predicate("indices:data/read/search")
    assert predicate("indices:data/read/search[phase/query]")  # Elasticsearch appends `*`
    assert not predicate("indices:data/read/get")
    assert compile_index(["INDICES:DATA/READ/*"])("indices:data/read/get")  # lowercased
    wildcard = compile_cluster(["cluster:monitor/?ealth"])
    assert wildcard("cluster:monitor/health")
    assert not wildcard("cluster:monitor/state")


def test_raw_patterns_mix_with_names() -> None:
    predicate = compile_index(["read", "indices:admin/mapping/put"])
    assert predicate("indices:data/read/search")
    assert predicate("indices:admin/mapping/put")
    assert not predicate("indices:admin/delete")


def test_excludes() -> None:
    manage = compile_cluster(["manage"])
    assert manage("cluster:monitor/health")
    assert manage("cluster:admin/settings/update")
    assert manage("indices:admin/template/put")
    assert not manage("cluster:admin/xpack/security/user/put")
    assert not manage("cluster:admin/xpack/security/role/get")
    security = compile_cluster(["manage_security"])
    assert security("cluster:admin/xpack/security/user/put")
    assert not security("cluster:admin/xpack/security/delegate_pki")
    both = compile_cluster(["manage", "manage_security"])
    assert both("cluster:admin/xpack/security/user/put")
    assert both("cluster:monitor/health")
    assert not both("cluster:admin/xpack/security/delegate_pki")  # excluded from both
    assert compile_cluster(["manage_security", "delegate_pki"])(
        "cluster:admin/xpack/security/delegate_pki"
    )
    connector = compile_cluster(["manage_connector"])
    assert connector("cluster:admin/xpack/connector/put")
    assert not connector("cluster:admin/xpack/connector/secret/get")


def test_nothing_granted() -> None:
    for predicate in (
        compile_cluster([]),
        compile_cluster(["none"]),
        compile_cluster(["manage_data_stream_global_retention"]),
        compile_index([]),
        compile_index(["none"]),
    ):
        assert not predicate("cluster:monitor/health")
        assert not predicate("indices:data/read/search")
        assert not predicate("")


def test_all_index_and_all_cluster() -> None:
    assert compile_index(["all"])("indices:anything/at/all")
    assert compile_index(["all"])("internal:transport/proxy/indices:data/read/search")
    assert not compile_index(["all"])("cluster:monitor/health")
    assert compile_cluster(["all"])("cluster:admin/xpack/security/delegate_pki")
    assert not compile_cluster(["all"])("indices:data/read/search")


def test_compiled_predicates_are_cached_by_set() -> None:
    assert compile_index(["read", "write"]) is compile_index(("write", "read", "read"))
    assert compile_cluster({"monitor"}) is compile_cluster(["monitor"])
    assert compile_index(["read"]) is not compile_index(["read", "write"])


def test_own_api_key_flag() -> None:
    own = compile_cluster(["manage_own_api_key", "monitor"])
    assert own.own_api_keys
    assert not own("cluster:admin/xpack/security/api_key/create")  # needs the ownership check
    assert own.own_api_key_action("cluster:admin/xpack/security/api_key/create")
    assert not own.own_api_key_action("cluster:admin/xpack/security/user/put")
    assert not own.own_api_key_action("cluster:monitor/health")
    # With read_security, key reads are granted outright; only the rest needs ownership.
    reads = compile_cluster(["manage_own_api_key", "read_security"])
    assert reads("cluster:admin/xpack/security/api_key/get")
    assert not reads.own_api_key_action("cluster:admin/xpack/security/api_key/get")
    assert reads.own_api_key_action("cluster:admin/xpack/security/api_key/invalidate")
    # A grant of every key action makes the flag moot.
    for broader in ("manage_api_key", "manage_security", "all", "cluster:admin/xpack/security/*"):
        assert not compile_cluster(["manage_own_api_key", broader]).own_api_keys
    assert not compile_cluster(["monitor"]).own_api_keys


def test_predicate_speed() -> None:
    index = compile_index(sorted(INDEX_PRIVILEGES.keys() - {"all"}))
    cluster = compile_cluster(sorted(CLUSTER_PRIVILEGES.keys() - {"all", "manage"}))
    actions = [
        "indices:data/read/search",
        "indices:data/write/bulk[s]",
        "indices:admin/mapping/put",
        "indices:zzz/not/a/real/action/but/a/long/one",
        "cluster:monitor/health",
        "cluster:admin/xpack/security/user/put",
        "cluster:admin/xpack/ml/job/put",
        "cluster:zzz/not/a/real/action/but/a/long/one",
    ]
    rounds = 5_000
    start = time.perf_counter()
    for _ in range(rounds):
        for action in actions:
            index(action)
            cluster(action)
    average = (time.perf_counter() - start) / (rounds * len(actions) * 2)
    assert average < 5e-6, f"{average * 1e6:.2f} µs per call"


# ---- implication (_has_privileges) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "held", "wanted", "expected"),
    [
        ("cluster", ["all"], ["manage_security", "monitor", "cluster:whatever"], True),
        ("cluster", ["manage"], ["monitor", "manage_ml", "cluster:monitor/*"], True),
        ("cluster", ["manage"], ["manage_security"], False),
        ("cluster", ["manage"], ["read_security"], False),
        ("cluster", ["manage_security"], ["read_security", "manage_api_key"], True),
        ("cluster", ["manage_security"], ["delegate_pki"], False),
        ("cluster", ["manage_api_key"], ["manage_own_api_key"], True),
        ("cluster", ["manage_own_api_key"], ["manage_own_api_key"], True),
        ("cluster", ["manage_own_api_key"], ["manage_api_key"], False),
        ("cluster", ["monitor_transform"], ["monitor_data_frame_transforms"], True),
        ("cluster", ["monitor"], ["monitor_stats", "cluster:monitor/health"], True),
        ("cluster", ["monitor"], ["cluster:monitor/*", "cluster:admin/*"], False),
        ("cluster", ["manage", "manage_security"], ["all"], False),  # delegate_pki is in neither
        ("cluster", ["manage", "manage_security", "delegate_pki"], ["all"], True),
        ("cluster", ["none"], ["none"], True),
        ("index", ["all"], ["read", "write", "manage"], True),
        ("index", ["write"], ["create_doc", "create", "index", "delete"], True),
        ("index", ["write"], ["auto_configure"], False),
        ("index", ["write", "create_index"], ["auto_configure"], True),
        ("index", ["read"], ["indices:data/read/search"], True),
        ("index", ["read"], ["read_cross_cluster"], False),
        ("index", ["manage"], ["monitor", "view_index_metadata", "maintenance"], True),
        ("index", ["indices:data/*"], ["read", "write"], False),  # write has auto_put mapping
        # read also covers indices:admin/resolve/{index,cluster}, outside indices:data/*
        ("index", ["indices:data/*", "auto_configure"], ["read", "write"], False),
        ("index", ["indices:data/*", "auto_configure", "indices:admin/resolve/*"], ["read"], True),
    ],
)
def test_implies(kind: Kind, held: list[str], wanted: list[str], expected: bool) -> None:
    assert implies(kind, held, wanted) is expected


def test_implies_rejects_unknown_names() -> None:
    with pytest.raises(UnknownPrivilegeError):
        implies("index", ["read"], ["reed"])
    with pytest.raises(UnknownPrivilegeError):
        implies("cluster", ["monitr"], ["monitor"])
