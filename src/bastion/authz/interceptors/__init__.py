"""Request types with special authorization rules, one module each (as in Elasticsearch)."""
