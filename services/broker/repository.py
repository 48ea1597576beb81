"""The broker slice's SQL: the buildings whose credentials the broker's files hold, and the lock that orders writers."""

from __future__ import annotations

from services.db import PgConn


def building_ids(conn: PgConn) -> list[str]:
    """Every registered building's id (each gets a broker user `building-<id>`)."""
    return [r[0] for r in conn.execute("SELECT id FROM buildings ORDER BY id")]


def lock_files(conn: PgConn) -> None:
    """Wait for, then hold until the transaction ends, the lock that orders writers of the broker's files across
    processes."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('energiblik.broker-sync'))")
