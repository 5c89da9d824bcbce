"""The managed engine: OpenSearch resolved from Maven Central and run as child processes."""
