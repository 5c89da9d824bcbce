"""The route table: method + path → Elasticsearch action and targets (pure, table driven)."""

from __future__ import annotations

import timeit

import pytest

from bastion.rest import routes
from bastion.rest.routes import (
    CREATE_ITEM,
    INDEX_ITEM,
    ROUTES,
    BodyParser,
    IndexSource,
    Route,
    RouteTable,
    is_cluster_action,
    match,
    match_raw,
)

PATH, BODY, NONE = IndexSource.PATH, IndexSource.BODY, IndexSource.NONE
SEC = "cluster:admin/xpack/security/"
ML = "cluster:monitor/xpack/ml/"

# (method, raw path, action, where the targets are, the path's index expression)
CASES: list[tuple[str, str, str, IndexSource, str | None]] = [
    # main
    ("GET", "/", "cluster:monitor/main", NONE, None),
    ("HEAD", "/", "cluster:monitor/main", NONE, None),
    # documents
    ("PUT", "/idx/_doc/1", "indices:data/write/index", PATH, "idx"),
    ("POST", "/idx/_doc/1", "indices:data/write/index", PATH, "idx"),
    ("POST", "/idx/_doc", "indices:data/write/index", PATH, "idx"),
    ("PUT", "/idx/_create/1", "indices:data/write/index", PATH, "idx"),
    ("POST", "/idx/_create/1", "indices:data/write/index", PATH, "idx"),
    ("GET", "/idx/_doc/1", "indices:data/read/get", PATH, "idx"),
    ("HEAD", "/idx/_doc/1", "indices:data/read/get", PATH, "idx"),
    ("GET", "/idx/_source/1", "indices:data/read/get", PATH, "idx"),
    ("HEAD", "/idx/_source/1", "indices:data/read/get", PATH, "idx"),
    ("DELETE", "/idx/_doc/1", "indices:data/write/delete", PATH, "idx"),
    ("POST", "/idx/_update/1", "indices:data/write/update", PATH, "idx"),
    ("POST", "/_bulk", "indices:data/write/bulk", BODY, None),
    ("PUT", "/_bulk", "indices:data/write/bulk", BODY, None),
    ("POST", "/idx/_bulk", "indices:data/write/bulk", BODY, "idx"),
    ("GET", "/_mget", "indices:data/read/mget", BODY, None),
    ("POST", "/idx/_mget", "indices:data/read/mget", BODY, "idx"),
    ("GET", "/idx/_termvectors/1", "indices:data/read/tv", PATH, "idx"),
    ("POST", "/idx/_termvectors", "indices:data/read/tv", PATH, "idx"),
    ("POST", "/_mtermvectors", "indices:data/read/mtv", BODY, None),
    ("GET", "/idx/_mtermvectors", "indices:data/read/mtv", BODY, "idx"),
    ("PUT", "/idx/_doc/a%2Fb", "indices:data/write/index", PATH, "idx"),
    ("GET", "/idx/_doc/_search", "indices:data/read/get", PATH, "idx"),  # an id, types are gone
    # search
    ("GET", "/_search", "indices:data/read/search", PATH, "_all"),
    ("POST", "/_search", "indices:data/read/search", PATH, "_all"),
    ("GET", "/logs-*/_search", "indices:data/read/search", PATH, "logs-*"),
    ("GET", "/a,b/_search", "indices:data/read/search", PATH, "a,b"),
    ("GET", "/-x,*/_search", "indices:data/read/search", PATH, "-x,*"),
    ("GET", "/*,-logs-old/_search", "indices:data/read/search", PATH, "*,-logs-old"),
    ("GET", "/_all/_search", "indices:data/read/search", PATH, "_all"),
    ("GET", "/.kibana/_search", "indices:data/read/search", PATH, ".kibana"),
    ("GET", "/remote:logs/_search", "indices:data/read/search", PATH, "remote:logs"),
    (
        "GET",
        "/%3Clogs-%7Bnow%2Fd%7D%3E/_search",
        "indices:data/read/search",
        PATH,
        "<logs-{now/d}>",
    ),
    ("GET", "/idx/_search/", "indices:data/read/search", PATH, "idx"),
    ("GET", "/idx/_search?q=a:b&size=1", "indices:data/read/search", PATH, "idx"),
    ("GET", "/idx/_search/?pretty", "indices:data/read/search", PATH, "idx"),
    ("GET", "/_msearch", "indices:data/read/msearch", BODY, None),
    ("POST", "/idx/_msearch", "indices:data/read/msearch", BODY, "idx"),
    ("GET", "/_count", "indices:data/read/search", PATH, "_all"),
    ("POST", "/a,b/_count", "indices:data/read/search", PATH, "a,b"),
    ("GET", "/_search/scroll", "indices:data/read/scroll", NONE, None),
    ("POST", "/_search/scroll", "indices:data/read/scroll", NONE, None),
    ("GET", "/_search/scroll/DXF1ZXJ5QW5k", "indices:data/read/scroll", NONE, None),
    ("DELETE", "/_search/scroll", "indices:data/read/scroll/clear", NONE, None),
    ("DELETE", "/_search/scroll/_all", "indices:data/read/scroll/clear", NONE, None),
    ("POST", "/idx/_pit", "indices:data/read/open_point_in_time", PATH, "idx"),
    ("DELETE", "/_pit", "indices:data/read/close_point_in_time", NONE, None),
    ("POST", "/idx/_search/point_in_time", "indices:data/read/open_point_in_time", PATH, "idx"),
    ("DELETE", "/_search/point_in_time", "indices:data/read/close_point_in_time", NONE, None),
    ("GET", "/idx/_explain/1", "indices:data/read/explain", PATH, "idx"),
    ("POST", "/idx/_explain/1", "indices:data/read/explain", PATH, "idx"),
    ("GET", "/_validate/query", "indices:admin/validate/query", PATH, "_all"),
    ("POST", "/idx/_validate/query", "indices:admin/validate/query", PATH, "idx"),
    ("GET", "/_field_caps", "indices:data/read/field_caps", PATH, "_all"),
    ("POST", "/logs-*/_field_caps", "indices:data/read/field_caps", PATH, "logs-*"),
    ("POST", "/idx/_terms_enum", "indices:data/read/xpack/termsenum/list", PATH, "idx"),
    ("GET", "/_search/template", "indices:data/read/search/template", PATH, "_all"),
    ("POST", "/idx/_search/template", "indices:data/read/search/template", PATH, "idx"),
    ("GET", "/_msearch/template", "indices:data/read/msearch/template", BODY, None),
    ("POST", "/idx/_msearch/template", "indices:data/read/msearch/template", BODY, "idx"),
    ("GET", "/_render/template", "indices:data/read/search/template", NONE, None),
    ("POST", "/_render/template/my-tpl", "indices:data/read/search/template", NONE, None),
    ("GET", "/idx/_search_shards", "indices:admin/shards/search_shards", PATH, "idx"),
    ("POST", "/_search_shards", "indices:admin/shards/search_shards", PATH, "_all"),
    # by query, reindex
    ("POST", "/_reindex", "indices:data/write/reindex", BODY, None),
    ("POST", "/idx/_update_by_query", "indices:data/write/update/byquery", PATH, "idx"),
    ("POST", "/idx/_delete_by_query", "indices:data/write/delete/byquery", PATH, "idx"),
    ("POST", "/_reindex/n1:42/_rethrottle", "cluster:admin/reindex/rethrottle", NONE, None),
    ("POST", "/_update_by_query/n1:42/_rethrottle", "cluster:admin/reindex/rethrottle", NONE, None),
    ("POST", "/_delete_by_query/n1:42/_rethrottle", "cluster:admin/reindex/rethrottle", NONE, None),
    # index administration
    ("PUT", "/idx", "indices:admin/create", PATH, "idx"),
    ("PUT", "/%3Clogs-%7Bnow%2Fd%7D%3E", "indices:admin/create", PATH, "<logs-{now/d}>"),
    ("DELETE", "/idx", "indices:admin/delete", PATH, "idx"),
    ("DELETE", "/a,b", "indices:admin/delete", PATH, "a,b"),
    ("GET", "/idx", "indices:admin/get", PATH, "idx"),
    ("HEAD", "/idx", "indices:admin/get", PATH, "idx"),
    ("GET", "/_all", "indices:admin/get", PATH, "_all"),
    ("GET", "/_settings", "indices:monitor/settings/get", PATH, "_all"),
    ("GET", "/_settings/index.number_*", "indices:monitor/settings/get", PATH, "_all"),
    ("GET", "/idx/_settings", "indices:monitor/settings/get", PATH, "idx"),
    ("GET", "/idx/_settings/index.blocks*", "indices:monitor/settings/get", PATH, "idx"),
    ("PUT", "/_settings", "indices:admin/settings/update", PATH, "_all"),
    ("PUT", "/idx/_settings", "indices:admin/settings/update", PATH, "idx"),
    ("GET", "/_mapping", "indices:admin/mappings/get", PATH, "_all"),
    ("GET", "/idx/_mapping", "indices:admin/mappings/get", PATH, "idx"),
    ("GET", "/_mapping/field/user.*", "indices:admin/mappings/fields/get", PATH, "_all"),
    ("GET", "/idx/_mapping/field/a,b", "indices:admin/mappings/fields/get", PATH, "idx"),
    ("PUT", "/idx/_mapping", "indices:admin/mapping/put", PATH, "idx"),
    ("POST", "/idx/_mapping", "indices:admin/mapping/put", PATH, "idx"),
    ("GET", "/_alias", "indices:admin/aliases/get", PATH, "_all"),
    ("GET", "/_alias/al", "indices:admin/aliases/get", PATH, "_all"),
    ("HEAD", "/_alias/al", "indices:admin/aliases/get", PATH, "_all"),
    ("GET", "/idx/_alias", "indices:admin/aliases/get", PATH, "idx"),
    ("GET", "/idx/_alias/al", "indices:admin/aliases/get", PATH, "idx"),
    ("HEAD", "/idx/_alias/al", "indices:admin/aliases/get", PATH, "idx"),
    ("GET", "/_aliases", "indices:admin/aliases/get", PATH, "_all"),
    ("GET", "/idx/_aliases", "indices:admin/aliases/get", PATH, "idx"),
    ("PUT", "/idx/_alias/al", "indices:admin/aliases", PATH, "idx"),
    ("POST", "/idx/_alias/al", "indices:admin/aliases", PATH, "idx"),
    ("PUT", "/idx/_aliases/al", "indices:admin/aliases", PATH, "idx"),
    ("DELETE", "/idx/_alias/al", "indices:admin/aliases", PATH, "idx"),
    ("DELETE", "/idx/_aliases/al", "indices:admin/aliases", PATH, "idx"),
    ("POST", "/_aliases", "indices:admin/aliases", BODY, None),
    ("POST", "/idx/_open", "indices:admin/open", PATH, "idx"),
    ("POST", "/idx/_close", "indices:admin/close", PATH, "idx"),
    ("PUT", "/idx/_block/write", "indices:admin/block/add", PATH, "idx"),
    ("POST", "/_refresh", "indices:admin/refresh", PATH, "_all"),
    ("GET", "/idx/_refresh", "indices:admin/refresh", PATH, "idx"),
    ("POST", "/_flush", "indices:admin/flush", PATH, "_all"),
    ("POST", "/idx/_flush", "indices:admin/flush", PATH, "idx"),
    ("POST", "/_forcemerge", "indices:admin/forcemerge", PATH, "_all"),
    ("POST", "/idx/_forcemerge", "indices:admin/forcemerge", PATH, "idx"),
    ("POST", "/logs/_rollover", "indices:admin/rollover", PATH, "logs"),
    ("POST", "/logs/_rollover/logs-000002", "indices:admin/rollover", PATH, "logs"),
    ("PUT", "/src/_shrink/dst", "indices:admin/resize", PATH, "src"),
    ("POST", "/src/_split/dst", "indices:admin/resize", PATH, "src"),
    ("PUT", "/src/_clone/dst", "indices:admin/resize", PATH, "src"),
    ("GET", "/_stats", "indices:monitor/stats", PATH, "_all"),
    ("GET", "/_stats/docs", "indices:monitor/stats", PATH, "_all"),
    ("GET", "/idx/_stats", "indices:monitor/stats", PATH, "idx"),
    ("GET", "/idx/_stats/docs,store", "indices:monitor/stats", PATH, "idx"),
    ("GET", "/_segments", "indices:monitor/segments", PATH, "_all"),
    ("GET", "/idx/_segments", "indices:monitor/segments", PATH, "idx"),
    ("GET", "/_recovery", "indices:monitor/recovery", PATH, "_all"),
    ("GET", "/idx/_recovery", "indices:monitor/recovery", PATH, "idx"),
    ("GET", "/_shard_stores", "indices:monitor/shard_stores", PATH, "_all"),
    ("GET", "/idx/_shard_stores", "indices:monitor/shard_stores", PATH, "idx"),
    ("POST", "/_cache/clear", "indices:admin/cache/clear", PATH, "_all"),
    ("POST", "/idx/_cache/clear", "indices:admin/cache/clear", PATH, "idx"),
    ("GET", "/_analyze", "indices:admin/analyze", NONE, None),
    ("POST", "/idx/_analyze", "indices:admin/analyze", PATH, "idx"),
    ("POST", "/idx/_reload_search_analyzers", "indices:admin/reload_analyzers", PATH, "idx"),
    ("GET", "/_resolve/index/logs-*", "indices:admin/resolve/index", PATH, "logs-*"),
    # templates
    ("GET", "/_template", "indices:admin/template/get", NONE, None),
    ("GET", "/_template/t1", "indices:admin/template/get", NONE, None),
    ("HEAD", "/_template/t1", "indices:admin/template/get", NONE, None),
    ("PUT", "/_template/t1", "indices:admin/template/put", NONE, None),
    ("DELETE", "/_template/t1", "indices:admin/template/delete", NONE, None),
    ("GET", "/_index_template", "indices:admin/index_template/get", NONE, None),
    ("HEAD", "/_index_template/t1", "indices:admin/index_template/get", NONE, None),
    ("PUT", "/_index_template/t1", "indices:admin/index_template/put", NONE, None),
    ("POST", "/_index_template/t1", "indices:admin/index_template/put", NONE, None),
    ("DELETE", "/_index_template/t1", "indices:admin/index_template/delete", NONE, None),
    ("POST", "/_index_template/_simulate", "indices:admin/index_template/simulate", NONE, None),
    ("POST", "/_index_template/_simulate/t1", "indices:admin/index_template/simulate", NONE, None),
    (
        "POST",
        "/_index_template/_simulate_index/logs-1",
        "indices:admin/index_template/simulate_index",
        NONE,
        None,
    ),
    ("GET", "/_component_template", "cluster:admin/component_template/get", NONE, None),
    ("GET", "/_component_template/c1", "cluster:admin/component_template/get", NONE, None),
    ("PUT", "/_component_template/c1", "cluster:admin/component_template/put", NONE, None),
    ("DELETE", "/_component_template/c1", "cluster:admin/component_template/delete", NONE, None),
    # data streams
    ("GET", "/_data_stream", "indices:admin/data_stream/get", PATH, "_all"),
    ("GET", "/_data_stream/logs-*", "indices:admin/data_stream/get", PATH, "logs-*"),
    ("PUT", "/_data_stream/logs-app", "indices:admin/data_stream/create", PATH, "logs-app"),
    ("DELETE", "/_data_stream/logs-app", "indices:admin/data_stream/delete", PATH, "logs-app"),
    ("GET", "/_data_stream/_stats", "indices:monitor/data_stream/stats", PATH, "_all"),
    ("GET", "/_data_stream/logs-*/_stats", "indices:monitor/data_stream/stats", PATH, "logs-*"),
    ("POST", "/_data_stream/_migrate/logs", "indices:admin/data_stream/migrate", PATH, "logs"),
    ("POST", "/_data_stream/_promote/logs", "indices:admin/data_stream/promote", PATH, "logs"),
    ("POST", "/_data_stream/_modify", "indices:admin/data_stream/modify", BODY, None),
    # ingest
    ("GET", "/_ingest/pipeline", "cluster:admin/ingest/pipeline/get", NONE, None),
    ("GET", "/_ingest/pipeline/p1", "cluster:admin/ingest/pipeline/get", NONE, None),
    ("PUT", "/_ingest/pipeline/p1", "cluster:admin/ingest/pipeline/put", NONE, None),
    ("DELETE", "/_ingest/pipeline/p1", "cluster:admin/ingest/pipeline/delete", NONE, None),
    ("POST", "/_ingest/pipeline/_simulate", "cluster:admin/ingest/pipeline/simulate", NONE, None),
    ("GET", "/_ingest/pipeline/_simulate", "cluster:admin/ingest/pipeline/simulate", NONE, None),
    (
        "POST",
        "/_ingest/pipeline/p1/_simulate",
        "cluster:admin/ingest/pipeline/simulate",
        NONE,
        None,
    ),
    ("GET", "/_ingest/processor/grok", "cluster:admin/ingest/processor/grok/get", NONE, None),
    # cluster
    ("GET", "/_cluster/health", "cluster:monitor/health", NONE, None),
    ("GET", "/_cluster/health/logs-*", "cluster:monitor/health", NONE, None),
    ("GET", "/_cluster/state", "cluster:monitor/state", NONE, None),
    ("GET", "/_cluster/state/metadata", "cluster:monitor/state", NONE, None),
    ("GET", "/_cluster/state/metadata/idx", "cluster:monitor/state", NONE, None),
    ("GET", "/_cluster/stats", "cluster:monitor/stats", NONE, None),
    ("GET", "/_cluster/stats/nodes/n1", "cluster:monitor/stats", NONE, None),
    ("GET", "/_cluster/settings", "cluster:monitor/settings", NONE, None),
    ("PUT", "/_cluster/settings", "cluster:admin/settings/update", NONE, None),
    ("POST", "/_cluster/reroute", "cluster:admin/reroute", NONE, None),
    ("GET", "/_cluster/allocation/explain", "cluster:monitor/allocation/explain", NONE, None),
    ("POST", "/_cluster/allocation/explain", "cluster:monitor/allocation/explain", NONE, None),
    ("GET", "/_cluster/pending_tasks", "cluster:monitor/task", NONE, None),
    (
        "POST",
        "/_cluster/voting_config_exclusions",
        "cluster:admin/voting_config/add_exclusions",
        NONE,
        None,
    ),
    (
        "DELETE",
        "/_cluster/voting_config_exclusions",
        "cluster:admin/voting_config/clear_exclusions",
        NONE,
        None,
    ),
    ("GET", "/_remote/info", "cluster:monitor/remote/info", NONE, None),
    # nodes
    ("GET", "/_nodes", "cluster:monitor/nodes/info", NONE, None),
    ("GET", "/_nodes/n1", "cluster:monitor/nodes/info", NONE, None),
    ("GET", "/_nodes/n1/jvm", "cluster:monitor/nodes/info", NONE, None),
    ("GET", "/_nodes/stats", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_nodes/stats/jvm", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_nodes/stats/indices/fielddata", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_nodes/n1/stats", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_nodes/n1/stats/jvm", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_nodes/n1/stats/indices/docs", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_nodes/hot_threads", "cluster:monitor/nodes/hot_threads", NONE, None),
    ("GET", "/_nodes/n1/hot_threads", "cluster:monitor/nodes/hot_threads", NONE, None),
    (
        "POST",
        "/_nodes/reload_secure_settings",
        "cluster:admin/nodes/reload_secure_settings",
        NONE,
        None,
    ),
    (
        "POST",
        "/_nodes/n1/reload_secure_settings",
        "cluster:admin/nodes/reload_secure_settings",
        NONE,
        None,
    ),
    ("GET", "/_nodes/usage", "cluster:monitor/nodes/usage", NONE, None),
    ("GET", "/_nodes/usage/rest_actions", "cluster:monitor/nodes/usage", NONE, None),
    ("GET", "/_nodes/n1/usage", "cluster:monitor/nodes/usage", NONE, None),
    ("GET", "/_nodes/n1/usage/rest_actions", "cluster:monitor/nodes/usage", NONE, None),
    # tasks
    ("GET", "/_tasks", "cluster:monitor/tasks/lists", NONE, None),
    ("GET", "/_tasks/n1:42", "cluster:monitor/task/get", NONE, None),
    ("POST", "/_tasks/_cancel", "cluster:admin/tasks/cancel", NONE, None),
    ("POST", "/_tasks/n1:42/_cancel", "cluster:admin/tasks/cancel", NONE, None),
    # snapshots
    ("GET", "/_snapshot", "cluster:admin/repository/get", NONE, None),
    ("GET", "/_snapshot/repo", "cluster:admin/repository/get", NONE, None),
    ("PUT", "/_snapshot/repo", "cluster:admin/repository/put", NONE, None),
    ("DELETE", "/_snapshot/repo", "cluster:admin/repository/delete", NONE, None),
    ("POST", "/_snapshot/repo/_verify", "cluster:admin/repository/verify", NONE, None),
    ("POST", "/_snapshot/repo/_cleanup", "cluster:admin/repository/_cleanup", NONE, None),
    ("PUT", "/_snapshot/repo/snap1", "cluster:admin/snapshot/create", NONE, None),
    ("GET", "/_snapshot/repo/snap1", "cluster:admin/snapshot/get", NONE, None),
    ("DELETE", "/_snapshot/repo/snap1", "cluster:admin/snapshot/delete", NONE, None),
    ("POST", "/_snapshot/repo/snap1/_restore", "cluster:admin/snapshot/restore", NONE, None),
    ("PUT", "/_snapshot/repo/snap1/_clone/snap2", "cluster:admin/snapshot/clone", NONE, None),
    ("GET", "/_snapshot/_status", "cluster:admin/snapshot/status", NONE, None),
    ("GET", "/_snapshot/repo/_status", "cluster:admin/snapshot/status", NONE, None),
    ("GET", "/_snapshot/repo/snap1/_status", "cluster:admin/snapshot/status", NONE, None),
    # scripts
    ("GET", "/_scripts/s1", "cluster:admin/script/get", NONE, None),
    ("PUT", "/_scripts/s1", "cluster:admin/script/put", NONE, None),
    ("POST", "/_scripts/s1/score", "cluster:admin/script/put", NONE, None),
    ("DELETE", "/_scripts/s1", "cluster:admin/script/delete", NONE, None),
    ("GET", "/_script_context", "cluster:admin/script_context/get", NONE, None),
    ("GET", "/_script_language", "cluster:admin/script_language/get", NONE, None),
    ("POST", "/_scripts/painless/_execute", "cluster:admin/scripts/painless/execute", NONE, None),
    ("GET", "/_scripts/painless/_context", "cluster:admin/scripts/painless/context", NONE, None),
    # _cat
    ("GET", "/_cat", "cluster:monitor/main", NONE, None),
    ("GET", "/_cat/aliases", "indices:admin/aliases/get", PATH, "_all"),
    ("GET", "/_cat/aliases/al*", "indices:admin/aliases/get", PATH, "_all"),
    ("GET", "/_cat/allocation", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/allocation/n1", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/circuit_breaker", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_cat/circuit_breaker/request", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_cat/component_templates", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/component_templates/c*", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/count", "indices:data/read/search", PATH, "_all"),
    ("GET", "/_cat/count/logs-*", "indices:data/read/search", PATH, "logs-*"),
    ("GET", "/_cat/fielddata", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_cat/fielddata/f1,f2", "cluster:monitor/nodes/stats", NONE, None),
    ("GET", "/_cat/health", "cluster:monitor/health", NONE, None),
    ("GET", "/_cat/indices", "indices:monitor/settings/get", PATH, "_all"),
    ("GET", "/_cat/indices/logs-*", "indices:monitor/settings/get", PATH, "logs-*"),
    ("GET", "/_cat/indices?v&s=index", "indices:monitor/settings/get", PATH, "_all"),
    ("GET", "/_cat/master", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/nodeattrs", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/nodes", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/pending_tasks", "cluster:monitor/task", NONE, None),
    ("GET", "/_cat/plugins", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/recovery", "indices:monitor/recovery", PATH, "_all"),
    ("GET", "/_cat/recovery/idx", "indices:monitor/recovery", PATH, "idx"),
    ("GET", "/_cat/repositories", "cluster:admin/repository/get", NONE, None),
    ("GET", "/_cat/segments", "indices:monitor/segments", PATH, "_all"),
    ("GET", "/_cat/segments/idx", "indices:monitor/segments", PATH, "idx"),
    ("GET", "/_cat/shards", "indices:monitor/stats", PATH, "_all"),
    ("GET", "/_cat/shards/idx", "indices:monitor/stats", PATH, "idx"),
    ("GET", "/_cat/snapshots", "cluster:admin/snapshot/get", NONE, None),
    ("GET", "/_cat/snapshots/repo", "cluster:admin/snapshot/get", NONE, None),
    ("GET", "/_cat/tasks", "cluster:monitor/tasks/lists", NONE, None),
    ("GET", "/_cat/templates", "indices:admin/template/get", NONE, None),
    ("GET", "/_cat/templates/t*", "indices:admin/template/get", NONE, None),
    ("GET", "/_cat/thread_pool", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/thread_pool/search", "cluster:monitor/state", NONE, None),
    ("GET", "/_cat/ml/anomaly_detectors", "cluster:monitor/xpack/ml/job/stats/get", NONE, None),
    ("GET", "/_cat/ml/anomaly_detectors/j1", ML + "job/stats/get", NONE, None),
    ("GET", "/_cat/ml/datafeeds", ML + "datafeeds/stats/get", NONE, None),
    ("GET", "/_cat/ml/datafeeds/d1", ML + "datafeeds/stats/get", NONE, None),
    ("GET", "/_cat/ml/data_frame/analytics", ML + "data_frame/analytics/get", NONE, None),
    ("GET", "/_cat/ml/data_frame/analytics/a1", ML + "data_frame/analytics/get", NONE, None),
    ("GET", "/_cat/ml/trained_models", ML + "inference/get", NONE, None),
    ("GET", "/_cat/ml/trained_models/m1", ML + "inference/get", NONE, None),
    ("GET", "/_cat/transforms", "cluster:monitor/transform/get", NONE, None),
    ("GET", "/_cat/transforms/t1", "cluster:monitor/transform/get", NONE, None),
    # x-pack info
    ("GET", "/_xpack", "cluster:monitor/xpack/info", NONE, None),
    ("GET", "/_xpack/usage", "cluster:monitor/xpack/usage", NONE, None),
    ("GET", "/_license", "cluster:monitor/xpack/license/get", NONE, None),
    ("GET", "/_ssl/certificates", "cluster:monitor/xpack/ssl/certificates/get", NONE, None),
    # Bastion's own API: no Elasticsearch action, a name of Bastion's
    ("GET", "/_bastion/stats", "cluster:monitor/bastion/stats", NONE, None),
    # security
    ("GET", "/_security/_authenticate", SEC + "user/authenticate", NONE, None),
    ("GET", "/_security/user", SEC + "user/get", NONE, None),
    ("GET", "/_security/user/jdoe", SEC + "user/get", NONE, None),
    ("GET", "/_security/user/jdoe,jane", SEC + "user/get", NONE, None),
    ("PUT", "/_security/user/jdoe", SEC + "user/put", NONE, None),
    ("POST", "/_security/user/jdoe", SEC + "user/put", NONE, None),
    ("DELETE", "/_security/user/jdoe", SEC + "user/delete", NONE, None),
    ("PUT", "/_security/user/_password", SEC + "user/change_password", NONE, None),
    ("POST", "/_security/user/jdoe/_password", SEC + "user/change_password", NONE, None),
    ("PUT", "/_security/user/jdoe/_enable", SEC + "user/set_enabled", NONE, None),
    ("PUT", "/_security/user/jdoe/_disable", SEC + "user/set_enabled", NONE, None),
    ("GET", "/_security/user/_privileges", SEC + "user/list_privileges", NONE, None),
    ("GET", "/_security/user/_has_privileges", SEC + "user/has_privileges", NONE, None),
    ("POST", "/_security/user/_has_privileges", SEC + "user/has_privileges", NONE, None),
    ("POST", "/_security/user/jdoe/_has_privileges", SEC + "user/has_privileges", NONE, None),
    ("POST", "/_security/_query/user", SEC + "user/query", NONE, None),
    ("GET", "/_security/role", SEC + "role/get", NONE, None),
    ("GET", "/_security/role/admin", SEC + "role/get", NONE, None),
    ("PUT", "/_security/role/admin", SEC + "role/put", NONE, None),
    ("DELETE", "/_security/role/admin", SEC + "role/delete", NONE, None),
    ("POST", "/_security/role", SEC + "role/bulk_put", NONE, None),
    ("DELETE", "/_security/role", SEC + "role/bulk_delete", NONE, None),
    ("POST", "/_security/role/admin/_clear_cache", SEC + "roles/cache/clear", NONE, None),
    ("POST", "/_security/role/*/_clear_cache", SEC + "roles/cache/clear", NONE, None),
    ("GET", "/_security/_query/role", SEC + "role/query", NONE, None),
    ("GET", "/_security/role_mapping", SEC + "role_mapping/get", NONE, None),
    ("GET", "/_security/role_mapping/m1", SEC + "role_mapping/get", NONE, None),
    ("PUT", "/_security/role_mapping/m1", SEC + "role_mapping/put", NONE, None),
    ("DELETE", "/_security/role_mapping/m1", SEC + "role_mapping/delete", NONE, None),
    ("GET", "/_security/privilege", SEC + "privilege/get", NONE, None),
    ("GET", "/_security/privilege/myapp", SEC + "privilege/get", NONE, None),
    ("GET", "/_security/privilege/myapp/read", SEC + "privilege/get", NONE, None),
    ("PUT", "/_security/privilege/", SEC + "privilege/put", NONE, None),
    ("POST", "/_security/privilege", SEC + "privilege/put", NONE, None),
    ("DELETE", "/_security/privilege/myapp/read", SEC + "privilege/delete", NONE, None),
    ("GET", "/_security/privilege/_builtin", SEC + "privilege/builtin/get", NONE, None),
    ("POST", "/_security/privilege/myapp/_clear_cache", SEC + "privilege/cache/clear", NONE, None),
    ("POST", "/_security/api_key", SEC + "api_key/create", NONE, None),
    ("PUT", "/_security/api_key", SEC + "api_key/create", NONE, None),
    ("GET", "/_security/api_key", SEC + "api_key/get", NONE, None),
    ("DELETE", "/_security/api_key", SEC + "api_key/invalidate", NONE, None),
    ("POST", "/_security/api_key/grant", SEC + "api_key/grant", NONE, None),
    ("PUT", "/_security/api_key/VuaCfGcBCdbkQm", SEC + "api_key/update", NONE, None),
    ("POST", "/_security/api_key/_bulk_update", SEC + "api_key/bulk_update", NONE, None),
    ("POST", "/_security/api_key/k1,k2/_clear_cache", SEC + "cache/clear", NONE, None),
    ("POST", "/_security/_query/api_key", SEC + "api_key/query", NONE, None),
    ("POST", "/_security/cross_cluster/api_key", SEC + "cross_cluster/api_key/create", NONE, None),
    (
        "PUT",
        "/_security/cross_cluster/api_key/k1",
        SEC + "cross_cluster/api_key/update",
        NONE,
        None,
    ),
    ("POST", "/_security/oauth2/token", SEC + "token/create", NONE, None),
    ("DELETE", "/_security/oauth2/token", SEC + "token/invalidate", NONE, None),
    ("GET", "/_security/service", SEC + "service_account/get", NONE, None),
    ("GET", "/_security/service/elastic", SEC + "service_account/get", NONE, None),
    ("GET", "/_security/service/elastic/fleet-server", SEC + "service_account/get", NONE, None),
    (
        "GET",
        "/_security/service/elastic/fleet-server/credential",
        SEC + "service_account/credential/get",
        NONE,
        None,
    ),
    (
        "POST",
        "/_security/service/elastic/fleet-server/credential/token",
        SEC + "service_account/token/create",
        NONE,
        None,
    ),
    (
        "PUT",
        "/_security/service/elastic/fleet-server/credential/token/t1",
        SEC + "service_account/token/create",
        NONE,
        None,
    ),
    (
        "DELETE",
        "/_security/service/elastic/fleet-server/credential/token/t1",
        SEC + "service_account/token/delete",
        NONE,
        None,
    ),
    (
        "POST",
        "/_security/service/elastic/fleet-server/credential/token/t1/_clear_cache",
        SEC + "cache/clear",
        NONE,
        None,
    ),
    ("POST", "/_security/realm/file1/_clear_cache", SEC + "realm/cache/clear", NONE, None),
    ("POST", "/_security/realm/*/_clear_cache", SEC + "realm/cache/clear", NONE, None),
    ("POST", "/_security/saml/prepare", SEC + "saml/prepare", NONE, None),
    ("POST", "/_security/saml/authenticate", SEC + "saml/authenticate", NONE, None),
    ("POST", "/_security/saml/logout", SEC + "saml/logout", NONE, None),
    ("POST", "/_security/saml/invalidate", SEC + "saml/invalidate", NONE, None),
    ("POST", "/_security/saml/complete_logout", SEC + "saml/complete_logout", NONE, None),
    (
        "GET",
        "/_security/saml/metadata/saml1",
        "cluster:monitor/xpack/security/saml/metadata",
        NONE,
        None,
    ),
    ("POST", "/_security/oidc/authenticate", SEC + "oidc/authenticate", NONE, None),
    ("POST", "/_security/oidc/prepare", SEC + "oidc/prepare", NONE, None),
    ("POST", "/_security/oidc/logout", SEC + "oidc/logout", NONE, None),
    ("POST", "/_security/delegate_pki", SEC + "delegate_pki", NONE, None),
    ("POST", "/_security/profile/_activate", SEC + "profile/activate", NONE, None),
    ("GET", "/_security/profile/u_1", SEC + "profile/get", NONE, None),
    ("POST", "/_security/profile/_has_privileges", SEC + "profile/has_privileges", NONE, None),
    ("POST", "/_security/profile/_suggest", SEC + "profile/suggest", NONE, None),
    ("PUT", "/_security/profile/u_1/_data", SEC + "profile/put/data", NONE, None),
    ("POST", "/_security/profile/u_1/_enable", SEC + "profile/set_enabled", NONE, None),
    ("POST", "/_security/profile/u_1/_disable", SEC + "profile/set_enabled", NONE, None),
    ("GET", "/_security/settings", SEC + "settings/get", NONE, None),
    ("PUT", "/_security/settings", SEC + "settings/update", NONE, None),
    ("GET", "/_security/enroll/kibana", SEC + "enroll/kibana", NONE, None),
    ("GET", "/_security/enroll/node", SEC + "enroll/node", NONE, None),
    # lower-case methods are normalised
    ("get", "/_search", "indices:data/read/search", PATH, "_all"),
    ("put", "/idx/_doc/1", "indices:data/write/index", PATH, "idx"),
    ("Delete", "/idx", "indices:admin/delete", PATH, "idx"),
]

# Requests no route answers: the caller must treat them as needing the `all` privilege.
UNROUTED: list[tuple[str, str]] = [
    ("GET", "/_foo"),
    ("GET", "/_foo/_search"),  # `_foo` is no index name
    ("GET", "/idx,_foo/_search"),
    ("GET", "/idx/-_foo/_search"),
    ("GET", "/_plugins/_security/api/roles"),
    ("PUT", "/_plugins/_security/api/internalusers/admin"),
    ("GET", "/_plugins"),
    ("DELETE", "/_opendistro"),
    ("GET", "/_opendistro/_security/authinfo"),
    ("GET", "/_cat/pit_segments"),
    ("GET", "/_cat/cluster_manager"),
    ("GET", "/_search/point_in_time/_all"),
    ("DELETE", "/_search/point_in_time/_all"),
    ("POST", "/idx/_upgrade"),
    ("GET", "/idx/_upgrade"),
    ("GET", "//idx//_search"),
    ("GET", "//_search"),
    ("GET", "/idx//_search"),
    ("GET", "/idx/_doc/"),  # `/idx/_doc`: GET needs an id
    ("GET", "/%5Fsearch"),  # an encoded `_` is not the literal segment `_search`
    ("GET", "/%5Ffoo/_search"),
    ("GET", "/idx/_doc/%zz"),  # bad percent-encoding: the engine would refuse it too
    ("GET", "/idx/_doc/%C3%28"),  # not UTF-8
    ("POST", "/idx"),  # index creation is PUT only
    ("PATCH", "/idx/_doc/1"),
    ("OPTIONS", "/_search"),
    ("DELETE", "/_search"),
    ("GET", "/idx/_update/1"),
    ("GET", "/idx/_bulk"),
    ("PUT", "/_cluster/health"),
    ("GET", "/_cluster"),
    ("GET", "/_security"),
    ("GET", "/_security/user/jdoe/_password"),
    ("GET", "idx/_search"),  # no leading slash
    ("GET", "/idx/_doc/a/b"),  # a decoded `%2F`, as in `request.path`
]


def _route_for(method: str, raw_path: str) -> Route:
    found = match_raw(method, raw_path)
    assert found is not None, f"{method} {raw_path} matched nothing"
    return found.route


def test_table_is_big_and_builds() -> None:
    assert len(CASES) >= 150
    assert len(ROUTES) >= 250
    RouteTable()  # a second table from the same rows builds too


@pytest.mark.parametrize(("method", "raw_path", "action", "source", "expression"), CASES)
def test_route(
    method: str, raw_path: str, action: str, source: IndexSource, expression: str | None
) -> None:
    found = match_raw(method, raw_path)
    assert found is not None, f"{method} {raw_path} matched nothing"
    assert found.action == action
    assert found.route.indices is source
    assert found.index_expression == expression
    assert found.route.kind == ("cluster" if is_cluster_action(action) else "index")


@pytest.mark.parametrize(("method", "raw_path", "action", "source", "expression"), CASES)
def test_decoded_paths_match_alike(
    method: str, raw_path: str, action: str, source: IndexSource, expression: str | None
) -> None:
    """`match` on aiohttp's decoded `request.path` agrees, where decoding keeps the segments."""
    path = raw_path.split("?", 1)[0]
    if "%2F" in path:
        path = path.replace("%2F", "/")
        if "%3C" not in path:  # a decoded `/` outside date math splits the segment
            assert match(method, path) is None
            return
    path = path.replace("%3C", "<").replace("%7B", "{").replace("%7D", "}").replace("%3E", ">")
    found = match(method, path)
    assert found is not None
    assert found.action == action
    assert found.index_expression == expression


@pytest.mark.parametrize(("method", "raw_path"), UNROUTED)
def test_unrouted_requests_fail_closed(method: str, raw_path: str) -> None:
    assert match_raw(method, raw_path) is None


def test_encoded_slash_stays_in_the_id() -> None:
    found = match_raw("GET", "/idx/_doc/a%2Fb")
    assert found is not None
    assert found.action == "indices:data/read/get"
    assert found.params == {"index": "idx", "id": "a/b"}
    assert match("GET", "/idx/_doc/a/b") is None  # what `request.path` would give


def test_plus_is_not_a_space() -> None:
    found = match_raw("GET", "/idx/_doc/a+b%20c")
    assert found is not None
    assert found.params["id"] == "a+b c"


def test_date_math_in_a_decoded_path() -> None:
    found = match("GET", "/<logs-{now/d}>,<metrics-{now/M{yyyy.MM}}>/_search")
    assert found is not None
    assert found.index_names == ("<logs-{now/d}>", "<metrics-{now/M{yyyy.MM}}>")
    # an unclosed `<` is no date math: the path splits at every `/`
    plain = match("GET", "/<logs-{now/_search")
    assert plain is not None
    assert plain.index_expression == "<logs-{now"
    assert match("GET", "/<logs-{now/d/_search") is None


def test_index_names() -> None:
    found = match_raw("GET", "/a,-b,c*/_search")
    assert found is not None
    assert found.index_names == ("a", "-b", "c*")
    everything = match_raw("GET", "/_search")
    assert everything is not None
    assert everything.index_names == ("_all",)
    scroll = match_raw("GET", "/_search/scroll")
    assert scroll is not None
    assert scroll.index_names == ()


def test_params() -> None:
    found = match_raw("POST", "/logs/_rollover/logs-000002")
    assert found is not None
    assert found.params == {"alias": "logs", "new_index": "logs-000002"}
    assert found.route.related_params == ("new_index",)
    nodes = match_raw("GET", "/_nodes/n1/stats/indices/docs")
    assert nodes is not None
    assert nodes.params == {"node_id": "n1", "metric": "indices", "index_metric": "docs"}


@pytest.mark.parametrize(
    ("method", "raw_path", "related"),
    [
        ("PUT", "/src/_shrink/dst", ("target",)),
        ("PUT", "/src/_split/dst", ("target",)),
        ("PUT", "/src/_clone/dst", ("target",)),
        ("PUT", "/idx/_alias/al", ("name",)),
        ("DELETE", "/idx/_aliases/al", ("name",)),
        ("GET", "/idx/_alias/al", ()),  # reading aliases filters them; nothing more to check
    ],
)
def test_related_params(method: str, raw_path: str, related: tuple[str, ...]) -> None:
    assert _route_for(method, raw_path).related_params == related


def test_related_index_params_must_be_index_names() -> None:
    assert match_raw("PUT", "/idx/_alias/_bad") is None
    assert match_raw("PUT", "/idx/_shrink/_bad") is None
    assert match_raw("PUT", "/idx/_alias/good") is not None


@pytest.mark.parametrize(
    ("method", "raw_path", "body"),
    [
        ("POST", "/_bulk", BodyParser.BULK),
        ("POST", "/idx/_bulk", BodyParser.BULK),
        ("GET", "/_mget", BodyParser.MGET),
        ("GET", "/_msearch", BodyParser.MSEARCH),
        ("GET", "/idx/_msearch/template", BodyParser.MSEARCH),
        ("POST", "/_mtermvectors", BodyParser.MTERMVECTORS),
        ("POST", "/_reindex", BodyParser.REINDEX),
        ("POST", "/_aliases", BodyParser.ALIASES),
        ("POST", "/_data_stream/_modify", BodyParser.MODIFY_DATA_STREAM),
        ("GET", "/idx/_search", None),
    ],
)
def test_body_parsers(method: str, raw_path: str, body: BodyParser | None) -> None:
    assert _route_for(method, raw_path).body is body


@pytest.mark.parametrize(
    ("method", "raw_path", "index_action", "composite"),
    [
        ("POST", "/_bulk", "indices:data/write/bulk[s]", True),
        ("PUT", "/idx/_doc/1", INDEX_ITEM, True),
        ("POST", "/idx/_doc", CREATE_ITEM, True),  # auto ids default to op_type create
        ("PUT", "/idx/_create/1", CREATE_ITEM, True),
        ("DELETE", "/idx/_doc/1", "indices:data/write/delete", True),
        ("POST", "/idx/_update/1", "indices:data/write/update", False),
        ("GET", "/_mget", "indices:data/read/mget[shard]", True),
        ("GET", "/_mtermvectors", "indices:data/read/mtv[shard]", True),
        ("GET", "/_msearch", "indices:data/read/search", True),
        ("GET", "/_msearch/template", "indices:data/read/search", True),
        ("GET", "/idx/_search/template", "indices:data/read/search", True),
        ("GET", "/_render/template", "indices:data/read/search/template", True),
        ("POST", "/_reindex", "indices:data/write/reindex", True),
        ("GET", "/idx/_search", "indices:data/read/search", False),
        ("GET", "/idx/_doc/1", "indices:data/read/get", False),
    ],
)
def test_index_actions(method: str, raw_path: str, index_action: str, composite: bool) -> None:
    route = _route_for(method, raw_path)
    assert route.index_action == index_action
    assert route.composite is composite


def test_op_type_chooses_the_item_action() -> None:
    put = _route_for("PUT", "/idx/_doc/1")
    assert put.item_action() == INDEX_ITEM
    assert put.item_action("create") == CREATE_ITEM
    auto_id = _route_for("POST", "/idx/_doc")
    assert auto_id.item_action() == CREATE_ITEM
    assert auto_id.item_action("index") == INDEX_ITEM
    create = _route_for("PUT", "/idx/_create/1")
    assert create.item_action("index") == CREATE_ITEM  # `_create` is always a create
    assert _route_for("GET", "/idx/_doc/1").item_action("create") == "indices:data/read/get"


@pytest.mark.parametrize(
    ("method", "raw_path", "writes"),
    [
        ("PUT", "/idx/_doc/1", True),
        ("DELETE", "/idx/_doc/1", True),
        ("POST", "/idx/_update/1", True),
        ("POST", "/_bulk", True),
        ("POST", "/idx/_delete_by_query", True),
        ("POST", "/_reindex", True),
        ("GET", "/idx/_doc/1", False),
        ("GET", "/_search", False),
        ("PUT", "/idx", False),  # index administration is not a document write
    ],
)
def test_writes(method: str, raw_path: str, writes: bool) -> None:
    assert _route_for(method, raw_path).writes is writes


def test_cat_apis_list_their_further_actions() -> None:
    indices = _route_for("GET", "/_cat/indices")
    assert indices.also == (
        "indices:monitor/stats",
        "cluster:monitor/state",
        "cluster:monitor/health",
    )
    assert _route_for("GET", "/_cat/shards").also == ("cluster:monitor/state",)
    assert _route_for("GET", "/_cat/health").also == ()


def test_local_routes_are_the_security_apis_and_main() -> None:
    local = {route.path for route in ROUTES if route.local}
    assert "/" in local
    assert all(
        path == "/"
        or path.startswith(("/_security/", "/_ssl/", "/_bastion/"))
        or path.endswith("/reload_secure_settings")
        for path in local
    )
    assert all(route.local for route in ROUTES if route.path.startswith("/_security/"))


def test_kinds() -> None:
    # templates are cluster actions although their names start with `indices:`
    assert _route_for("PUT", "/_index_template/t").kind == "cluster"
    assert _route_for("PUT", "/_template/t").kind == "cluster"
    assert _route_for("PUT", "/idx").kind == "index"
    assert _route_for("GET", "/_cluster/health/idx").kind == "cluster"
    # cluster routes never carry index targets
    assert all(r.indices is IndexSource.NONE for r in ROUTES if r.kind == "cluster")


def test_literal_segments_win_but_backtrack_by_method() -> None:
    # `_simulate` is a literal for POST; a GET of a template named `_simulate` is still a get
    assert _route_for("POST", "/_index_template/_simulate").action.endswith("/simulate")
    assert _route_for("GET", "/_index_template/_simulate").action.endswith("/get")
    # `DELETE /_security/user/_password` can only be a user named `_password`
    assert _route_for("DELETE", "/_security/user/_password").action == SEC + "user/delete"


def test_invalid_routes_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        RouteTable((Route(("GET",), "/_x", "cluster:a"), Route(("GET",), "/_x", "cluster:b")))
    with pytest.raises(ValueError, match="no path parameter"):
        Route(("GET",), "/_x", "indices:a", IndexSource.PATH, index_param="index")
    with pytest.raises(ValueError, match="upper case"):
        Route(("get",), "/_x", "cluster:a")
    with pytest.raises(ValueError, match="not authorized per index"):
        Route(("GET",), "/{index}/_x", "cluster:a", IndexSource.PATH, index_param="index")
    with pytest.raises(ValueError, match="body parser"):
        Route(("GET",), "/_x", "indices:a", IndexSource.BODY)
    with pytest.raises(ValueError, match="must start"):
        Route(("GET",), "/_x/", "cluster:a")


def test_every_route_matches_itself() -> None:
    """Each template, with sample values, comes back to its own route for each method."""
    for route in ROUTES:
        path = route.path
        for name in route.param_names:
            path = path.replace("{" + name + "}", "v1", 1)
        for method in route.methods:
            found = match_raw(method, path)
            assert found is not None, f"{method} {route.path}"
            assert found.route is route, f"{method} {route.path} → {found.route.path}"


def test_matching_is_fast() -> None:
    samples = [
        ("GET", "/logs-2024.06.01/_search?size=10"),
        ("PUT", "/idx/_doc/1?refresh=true"),
        ("POST", "/_bulk"),
        ("GET", "/_cluster/health"),
        ("GET", "/_security/_authenticate"),
        ("GET", "/_nodes/n1/stats/indices/docs"),
        ("GET", "/_cat/indices/logs-*?v"),
        ("GET", "/_foo"),  # a miss searches the whole trie
    ]
    table = routes.RouteTable()

    def run() -> None:
        for method, path in samples:
            table.match_raw(method, path)

    rounds = 2000
    best = min(timeit.repeat(run, number=rounds, repeat=5))  # the least disturbed run
    assert best / (rounds * len(samples)) < 10e-6


@pytest.mark.parametrize(
    ("method", "raw_path", "position"),
    [
        ("GET", "/_search", 0),
        ("PUT", "/_settings", 0),
        ("GET", "/_alias/al", 0),
        ("GET", "/_mapping/field/f", 0),
        ("GET", "/_data_stream", 1),
        ("GET", "/_data_stream/_stats", 1),
        ("GET", "/_cat/indices", 2),
        ("GET", "/_cat/count", 2),
        ("GET", "/_cat/aliases", None),  # its parameter names aliases, not indices
        ("GET", "/idx/_search", None),  # names its targets already
        ("GET", "/_cluster/health", None),
    ],
)
def test_target_position(method: str, raw_path: str, position: int | None) -> None:
    assert _route_for(method, raw_path).target_position == position


def test_param_position() -> None:
    route = _route_for("POST", "/logs/_rollover/new")
    assert route.param_position("alias") == 0
    assert route.param_position("new_index") == 2
    assert route.param_position("index") is None
    assert route.param_position(None) is None
    assert _route_for("GET", "/_cat/indices/x").param_position("index") == 2


def test_every_all_indices_route_can_be_narrowed() -> None:
    """Bastion narrows `GET /_search` to the authorized names by inserting them where the
    same API's `{index}` form has them: every such route needs that form."""
    unnarrowable = {
        route.path
        for route in ROUTES
        if route.default_all and route.index_param is None and route.target_position is None
    }
    assert unnarrowable == {"/_cat/aliases", "/_cat/aliases/{name}"}
