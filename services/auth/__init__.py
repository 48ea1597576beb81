"""Access control: API tokens, roles and building scopes."""
