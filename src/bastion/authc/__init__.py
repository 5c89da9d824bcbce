"""Authentication: realms, credentials, users, caches."""
