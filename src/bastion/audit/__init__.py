"""The audit trail (issue #7): security events in Elasticsearch's logfile schema, filters,
a tamper-evident log file. See docs/audit.md.

For REST handlers: `config_change(request, "put_user", {"put": {"user": {...}}})` audits a
`security_config_change` within the request's audit (same `request.id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.audit.trail import AuditTrail, RequestAudit
from bastion.transport.http import Request

AUDIT_KEY = "audit"  # request[AUDIT_KEY]: the RequestAudit of the request, set by the pipeline

__all__ = ["AUDIT_KEY", "AuditTrail", "RequestAudit", "config_change"]


def config_change(request: Request, action: str, change: Mapping[str, Any]) -> None:
    """Audit a security configuration change made by `request`. `action` is Elasticsearch's
    `event.action` (put_user, create_apikey, ...); `change` its object without any secret."""
    audit: RequestAudit | None = request.get(AUDIT_KEY)
    if audit is not None:
        audit.config_change(request.get("authentication"), action, change)
