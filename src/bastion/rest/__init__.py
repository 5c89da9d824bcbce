"""The REST layer: Elasticsearch-shaped errors, local handlers and forwarding to the engine."""
