"""Liveness with a database check, for load balancers and `deploy/stack.sh status`."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/health")
def health(engine: EngineDep) -> JSONResponse:
    """200 `{"status": "ok"}` when the database answers, else 503."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        log.warning("health check: database unreachable: %s", e)
        return JSONResponse({"status": "unavailable", "detail": "database unreachable"}, status_code=503)
    return JSONResponse({"status": "ok"})
