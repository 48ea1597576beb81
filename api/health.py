"""Liveness with a database check, for load balancers and `deploy/stack.sh status`; it also says how far the
consumption rollups are behind the stored readings (the answers of /consumption and /progress mark what is pending)."""

from __future__ import annotations

import logging

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep, pg
from services.consumption import repository as consumption_repo

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/health")
def health(engine: EngineDep) -> JSONResponse:
    """200 `{"status": "ok", "rollups": {"pending_ranges", "failed_ranges", "lag_s"}}` when the database answers,
    else 503. `lag_s` is the age of the oldest reading range whose rollups are not recomputed yet (0: none); a lag
    does not make the API unhealthy."""
    try:
        with pg(engine) as conn:
            pending, failed, lag = consumption_repo.rollup_backlog(conn)
    except (SQLAlchemyError, psycopg.Error) as e:
        log.warning("health check: database unreachable: %s", e)
        return JSONResponse({"status": "unavailable", "detail": "database unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "rollups": {"pending_ranges": pending, "failed_ranges": failed,
                                                     "lag_s": round(max(0.0, lag or 0.0), 1)}})
