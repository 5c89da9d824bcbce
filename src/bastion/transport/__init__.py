"""The transport layer: the HTTP server of one gateway worker."""
