"""What the ingest could not store: dead letters (rejected payloads) and quarantine (devices not yet registered)."""
