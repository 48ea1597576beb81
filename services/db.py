"""Engine and connection helpers. The caller at the edge (request, batch) owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url

from services.config import get_settings

# psycopg connections as used here: tuple rows, untyped values.
PgConn = psycopg.Connection[Any]


@lru_cache(maxsize=4)
def engine_for(url: str, pool_size: int = 5) -> Engine:
    return create_engine(url, pool_size=pool_size, pool_pre_ping=True, future=True)


def get_engine() -> Engine:
    s = get_settings()
    return engine_for(s.db.url, s.db.pool_size)


def libpq_dsn(url: str | None = None) -> str:
    """The SQLAlchemy URL as a plain libpq connection string, for direct psycopg connections (COPY)."""
    u = make_url(url or get_settings().db.url)
    parts = [f"host={u.host or '127.0.0.1'}", f"port={u.port or 5432}", f"dbname={u.database}"]
    if u.username:
        parts.append(f"user={u.username}")
    if u.password:
        parts.append(f"password={u.password}")
    return " ".join(parts)


def driver(sa: Connection) -> PgConn:
    """The psycopg connection under a SQLAlchemy one, for repositories that take psycopg (one kind of connection)."""
    return cast(PgConn, sa.connection.driver_connection)


@contextmanager
def pg(eng: Engine, *, write: bool = False) -> Iterator[PgConn]:
    """The one connection kind repositories take: a pooled psycopg connection, inside a transaction that commits
    at the end when `write` (and is rolled back otherwise, or on any error). For every caller at the edge: API
    requests (through api.deps), the CLI, simulators and batch processes."""
    with eng.begin() if write else eng.connect() as sa:
        yield driver(sa)


@contextmanager
def raw_connection(url: str | None = None) -> Iterator[PgConn]:
    """A psycopg connection outside the pool, for long-lived consumers such as the ingest worker."""
    conn = psycopg.connect(libpq_dsn(url), autocommit=False)
    try:
        yield conn
    finally:
        conn.close()


def connection_lost(conn: PgConn, exc: BaseException) -> bool:
    """An error that says nothing about the data being handled: the connection is gone (server down, restarting,
    network). The caller retries later; any other error belongs to the item it was working on."""
    return conn.closed or bool(conn.broken) or isinstance(
        exc, psycopg.errors.AdminShutdown | psycopg.errors.CannotConnectNow)
