"""The engine client: pooled keep-alive HTTP to the OpenSearch or Elasticsearch nodes."""
