"""Authorization: privileges, roles, the RBAC engine and request interceptors."""
