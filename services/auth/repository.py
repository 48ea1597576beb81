"""All SQL of access control. Only a token's SHA-256 is stored, never the token."""

from __future__ import annotations

from psycopg.rows import dict_row

from services.auth.schemas import Role, TokenOut
from services.db import PgConn


def insert_token(conn: PgConn, name: str, role: Role, token_sha256: str, building_ids: list[str]) -> TokenOut:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            INSERT INTO api_tokens (name, role, token_sha256, building_ids)
            VALUES (%(name)s, %(role)s, %(sha)s, CAST(%(bids)s AS text[]))
            RETURNING id, name, role, building_ids, created_at, revoked_at
            """,
            {"name": name, "role": role.value, "sha": token_sha256, "bids": building_ids},
        )
        row = cur.fetchone()
    assert row is not None  # INSERT ... RETURNING gives the row
    return TokenOut.model_validate(row)


def active_token_by_hash(conn: PgConn, token_sha256: str) -> TokenOut | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT id, name, role, building_ids, created_at, revoked_at FROM api_tokens
            WHERE token_sha256 = %s AND revoked_at IS NULL
            """,
            [token_sha256],
        )
        row = cur.fetchone()
    return None if row is None else TokenOut.model_validate(row)


def revoke_token(conn: PgConn, token_id: int) -> TokenOut | None:
    """Mark a token revoked (keeping the first revocation time); None when no such token."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s
            RETURNING id, name, role, building_ids, created_at, revoked_at
            """,
            [token_id],
        )
        row = cur.fetchone()
    return None if row is None else TokenOut.model_validate(row)


def list_tokens(conn: PgConn) -> list[TokenOut]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT id, name, role, building_ids, created_at, revoked_at FROM api_tokens ORDER BY id")
        return [TokenOut.model_validate(r) for r in cur.fetchall()]
