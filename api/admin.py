"""Operator endpoints: dead letters, quarantine, the ingest share group, API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from api.deps import EngineDep, Operator, SettingsDep, TimezoneDep, TokenAdmin, instant_query, pg
from api.routing import v1_router
from services.auth import service as auth
from services.auth.schemas import CreatedToken, TokenIn, TokenOut
from services.localtime import parse_instant
from services.operations import service as operations
from services.operations.schemas import DeadLetter, IngestOverview, ProcessingError, QuarantinedMessage

router = v1_router(tags=["operations"])


@router.get("/dead-letters")
def get_dead_letters(
    _: Operator,
    engine: EngineDep,
    tz: TimezoneDep,
    since: Annotated[str | None, instant_query("received at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="the most dead letters answered (newest first)")] = 100,
) -> list[DeadLetter]:
    """Rejected payloads with topic, reason and the raw bytes, newest first (admin and energy team only)."""
    since_ts = parse_instant(since, "since", tz) if since else None
    with pg(engine) as conn:
        return operations.dead_letters(conn, since_ts, limit)


@router.get("/processing-errors")
def get_processing_errors(
    _: Operator,
    engine: EngineDep,
    tz: TimezoneDep,
    since: Annotated[str | None, instant_query("occurred at or after")] = None,
    process: Annotated[str | None, Query(max_length=64, description="only this loop: rollups, alerts, …")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="the most errors answered")] = 100,
) -> list[ProcessingError]:
    """Items (a meter's rollups, an alert rule for a building) that a maintenance process failed on, recorded and
    skipped while it went on with the others; a failed rollup range is retried later (admin and energy team)."""
    since_ts = parse_instant(since, "since", tz) if since else None
    with pg(engine) as conn:
        return operations.processing_errors(conn, since_ts, process, limit)


@router.get("/quarantine")
def get_quarantine(
    _: Operator, engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="the most messages answered (oldest first)")] = 1000
) -> list[QuarantinedMessage]:
    """Messages of devices not registered yet, oldest first; replayed when the device is registered."""
    with pg(engine) as conn:
        return operations.pending_quarantine(conn, limit)


@router.get("/operations/ingest")
def get_ingest_members(_: Operator, engine: EngineDep, s: SettingsDep) -> IngestOverview:
    """The ingest workers of every share group with their state, and the stranded ones: members whose process is gone
    while the broker keeps their session, and with it their share of the readings, until it expires. Run
    `energiblik ingest reclaim CLIENT_ID` for each (deploy/README.md). `broker` holds Mosquitto's $SYS totals as a
    running worker last saw them (no per-session queue length: Mosquitto does not publish one)."""
    with pg(engine) as conn:
        return operations.ingest_overview(conn, s.members.stale_after_s)


@router.post("/tokens", status_code=201)
def create_token(body: TokenIn, _: TokenAdmin, engine: EngineDep) -> CreatedToken:
    """Issue a token (admin only). The `token` is shown only in this answer."""
    with pg(engine, write=True) as conn:
        return auth.create_token(conn, body)


@router.get("/tokens")
def list_tokens(_: TokenAdmin, engine: EngineDep) -> list[TokenOut]:
    """Every token issued, revoked ones included; never the secrets."""
    with pg(engine) as conn:
        return auth.list_tokens(conn)


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="the token's id (GET /tokens)")],
                 _: TokenAdmin, engine: EngineDep) -> TokenOut:
    """Revoke a token at once."""
    with pg(engine, write=True) as conn:
        return auth.revoke_token(conn, token_id)
