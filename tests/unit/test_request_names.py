"""Every action Bastion audits has Elasticsearch's `request.name`."""

from __future__ import annotations

import pytest

from bastion.audit.request_names import request_name
from bastion.rest.routes import ROUTES, Route


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.methods[0]} {route.path}")
def test_every_route_action_has_a_request_name(route: Route) -> None:
    for action in (route.action, route.index_action, *route.also):
        if action and "bastion" not in action:  # Bastion's own actions have no ES request
            assert request_name(action), action


@pytest.mark.parametrize(
    ("action", "name"),
    [
        ("indices:data/read/search", "SearchRequest"),
        ("indices:data/write/bulk[s]", "BulkShardRequest"),
        ("cluster:admin/xpack/security/user/put", "PutUserRequest"),
        ("indices:admin/index_template/put", "Request"),
        ("indices:admin/index_template/simulate_index", "SimulateIndexTemplateRequest"),
        ("cluster:admin/bastion/unknown_route", None),
    ],
)
def test_names(action: str, name: str | None) -> None:
    assert request_name(action) == name
