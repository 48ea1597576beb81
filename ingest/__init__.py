"""Entry point: the MQTT ingest worker."""
