"""All SQL of access control. Only a token's SHA-256 is stored, never the token."""

from __future__ import annotations

from sqlalchemy import Connection, text

from services.auth.schemas import Role, TokenOut


def insert_token(conn: Connection, name: str, role: Role, token_sha256: str, building_ids: list[str]) -> TokenOut:
    row = (
        conn.execute(
            text("""
            INSERT INTO api_tokens (name, role, token_sha256, building_ids)
            VALUES (:name, :role, :sha, CAST(:bids AS text[]))
            RETURNING id, name, role, building_ids, created_at, revoked_at
        """),
            {"name": name, "role": role.value, "sha": token_sha256, "bids": building_ids},
        )
        .mappings()
        .one()
    )
    return TokenOut.model_validate(dict(row))


def active_token_by_hash(conn: Connection, token_sha256: str) -> TokenOut | None:
    row = (
        conn.execute(
            text("""
            SELECT id, name, role, building_ids, created_at, revoked_at FROM api_tokens
            WHERE token_sha256 = :sha AND revoked_at IS NULL
        """),
            {"sha": token_sha256},
        )
        .mappings()
        .first()
    )
    return None if row is None else TokenOut.model_validate(dict(row))


def revoke_token(conn: Connection, token_id: int) -> TokenOut | None:
    """Mark a token revoked (keeping the first revocation time); None when no such token."""
    row = (
        conn.execute(
            text("""
            UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id
            RETURNING id, name, role, building_ids, created_at, revoked_at
        """),
            {"id": token_id},
        )
        .mappings()
        .first()
    )
    return None if row is None else TokenOut.model_validate(dict(row))


def list_tokens(conn: Connection) -> list[TokenOut]:
    rows = conn.execute(
        text("SELECT id, name, role, building_ids, created_at, revoked_at FROM api_tokens ORDER BY id")
    ).mappings()
    return [TokenOut.model_validate(dict(r)) for r in rows]
