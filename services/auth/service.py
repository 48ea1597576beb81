"""Tokens and the rules of who may do what.

Tokens are `eb_<random>` strings handed out once; the database keeps their SHA-256 only (the tokens are long random
strings, so a plain hash is enough — there is nothing to brute-force). The admin token given in the environment
(`ENERGIBLIK_ADMIN_TOKEN`) lets an operator bootstrap before any token exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from services.auth import repository
from services.auth.schemas import CreatedToken, Principal, Role, TokenIn, TokenOut
from services.db import PgConn
from services.errors import DomainError, NotFoundError, ValidationFailed
from services.registry.repository import existing_building_ids

TOKEN_PREFIX = "eb_"  # noqa: S105 - a prefix that marks Energiblik tokens, not a secret


class Unauthenticated(DomainError):
    """No token, or one that is unknown or revoked."""


class Forbidden(DomainError):
    """The caller's role may not do this."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(conn: PgConn, presented: str | None, admin_token: str | None) -> Principal:
    """The caller behind a bearer token; raises Unauthenticated for a missing, unknown or revoked token."""
    if not presented:
        raise Unauthenticated("a bearer token is required")
    if admin_token and hmac.compare_digest(presented.encode(), admin_token.encode()):
        return Principal(role=Role.admin, name="admin (environment)", token_id=None)
    tok = repository.active_token_by_hash(conn, hash_token(presented))
    if tok is None:
        raise Unauthenticated("the bearer token is unknown or revoked")
    return Principal(role=tok.role, name=tok.name, token_id=tok.id, building_ids=frozenset(tok.building_ids))


def require(allowed: bool, what: str) -> None:
    """Raise Forbidden unless `allowed`; `what` says what was refused."""
    if not allowed:
        raise Forbidden(f"your role may not {what}")


def create_token(conn: PgConn, body: TokenIn) -> CreatedToken:
    """Store a new token for `body` and return it with its secret (the only time the secret is visible)."""
    bids = sorted(set(body.building_ids))
    if body.role == Role.facility_manager:
        if not bids:
            raise ValidationFailed("building_ids", "a facility manager needs at least one building")
        missing = sorted(set(bids) - existing_building_ids(conn, bids))
        if missing:
            raise ValidationFailed("building_ids", f"unknown buildings: {', '.join(missing)}")
    elif bids:
        raise ValidationFailed(
            "building_ids", f"only facility managers are bound to buildings; {body.role.value} sees every building"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    stored = repository.insert_token(conn, body.name, body.role, hash_token(token), bids)
    return CreatedToken(**stored.model_dump(), token=token)


def revoke_token(conn: PgConn, token_id: int) -> TokenOut:
    """Revoke a token at once; revoking twice keeps the first time. Raises NotFoundError for an unknown id."""
    tok = repository.revoke_token(conn, token_id)
    if tok is None:
        raise NotFoundError("token", str(token_id))
    return tok


def list_tokens(conn: PgConn) -> list[TokenOut]:
    """Every token ever issued, revoked ones included, without secrets."""
    return repository.list_tokens(conn)
