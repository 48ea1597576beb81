"""Alembic environment: the database URL comes from Energiblik's settings (ENERGIBLIK_DB__URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from services.config import get_settings

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("url") or get_settings().db.url
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: hypertables need a live TimescaleDB")
run_migrations_online()
