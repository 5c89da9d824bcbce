"""Local handlers of the `_security` REST API."""
