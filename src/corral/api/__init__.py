"""The resource framework: one declaration per type yields schema, OpenAPI, JSON and validation."""
