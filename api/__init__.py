"""The HTTP API (FastAPI): a thin edge over `services`. Each request owns its transaction."""
