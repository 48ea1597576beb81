"""The FastAPI application: routers by domain under /api/v1, OpenAPI at /api/v1/openapi.json, docs at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import (
    admin,
    alerts,
    consumption,
    dashboard,
    errors,
    health,
    imports,
    readings,
    registry,
    reports,
    sync,
    targets,
)
from api.hardening import Hardening
from services.db import get_engine


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    get_engine().dispose()  # close pooled connections on shutdown


def create_app() -> FastAPI:
    app = FastAPI(
        title="Energiblik",
        summary="Energy use of a municipality's buildings against its climate targets",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    errors.install(app)
    for r in (registry.router, readings.router, consumption.router, imports.router, admin.router, targets.router,
              reports.router, alerts.router, sync.router):
        app.include_router(r, responses=errors.RESPONSES)
    app.include_router(health.router)
    dashboard.install(app)
    app.add_middleware(Hardening)
    return app
