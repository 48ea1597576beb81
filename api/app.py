"""The FastAPI application: routers by domain under /api/v1, OpenAPI at /api/v1/openapi.json, docs at /docs."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api import (
    admin,
    alerts,
    connectors,
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
from api.hardening import Hardening, too_large_description
from api.metrics import RequestMetrics
from services.db import get_engine


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    get_engine().dispose()  # close pooled connections on shutdown


NODE_MODULES = Path(__file__).resolve().parent / "web" / "node_modules"
OPENAPI_URL = "/api/v1/openapi.json"


def _install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) with its scripts and styles from the npm install in api/web (deploy/stack.sh setup),
    pinned by its package-lock: no CDN, nothing fetched from elsewhere at run time. (No ReDoc: its bundle loads a
    logo from its vendor's CDN and needs a hundred npm packages; Swagger UI and the OpenAPI document suffice.)"""
    app.mount("/docs-assets/swagger-ui", StaticFiles(directory=NODE_MODULES / "swagger-ui-dist", check_dir=False),
              name="swagger-ui")

    page = get_swagger_ui_html(openapi_url=OPENAPI_URL, title="Energiblik API",
                               swagger_js_url="/docs-assets/swagger-ui/swagger-ui-bundle.js",
                               swagger_css_url="/docs-assets/swagger-ui/swagger-ui.css",
                               swagger_favicon_url="/docs-assets/swagger-ui/favicon-32x32.png")
    csp = docs_csp(bytes(page.body).decode())

    @app.get("/docs", include_in_schema=False)
    def _swagger() -> HTMLResponse:
        return HTMLResponse(page.body, headers={"Content-Security-Policy": csp})


def docs_csp(html: str) -> str:
    """/docs' Content-Security-Policy: scripts from the API itself plus the page's inline init script, allowed by its
    hash (no 'unsafe-inline' for scripts); Swagger UI sets styles inline and draws icons from data: URLs."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
                      for body in re.findall(r"<script>(.*?)</script>", html, flags=re.S))
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _document_413(app: FastAPI) -> None:
    """Every operation that takes a body may be answered 413 by the body limit (api/hardening.py), before the route
    runs: the document says so on each, with that operation's limit."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()  # made once and kept by FastAPI; adding is idempotent
        for path, ops in spec.get("paths", {}).items():
            for op in ops.values():
                if not isinstance(op, dict) or "requestBody" not in op:
                    continue
                given = op.setdefault("responses", {}).get("413")
                if given is None:
                    op["responses"]["413"] = {
                        "description": too_large_description(path),
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
                elif not re.search(r"\d", given.get("description", "")):
                    given["description"] = too_large_description(path)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


# What every field description takes for granted (issue 14), said once at the top of the OpenAPI document.
API_CONVENTIONS = (
    "Every instant is RFC 3339 with an offset, written in the installation's local time (ENERGIBLIK_TIMEZONE, "
    "Europe/Copenhagen by default); days, months and years are local periods (a day can have 23 or 25 hours) and a "
    "period's end is exclusive. Energy is in kWh, water in m3, CO2 in kg, areas in m²; power and other units are "
    "named in the field (`_w`, `_kw`, `_m2`). Fields ending in `_pct` are percent; shares (coverage, "
    "estimated_share, `a`) are 0-1. Where a field can be null, its description says what null means."
)


def create_app() -> FastAPI:
    app = FastAPI(
        title="Energiblik",
        summary="Energy use of a municipality's buildings against its climate targets",
        version="1",
        description=API_CONVENTIONS,
        openapi_url=OPENAPI_URL,
        docs_url=None,  # served below from local assets: no CDN, works offline like the dashboard
        redoc_url=None,
        lifespan=_lifespan,
    )
    errors.install(app)
    for r in (registry.router, readings.router, consumption.router, imports.router, admin.router, targets.router,
              reports.router, alerts.router, sync.router, connectors.router):
        app.include_router(r, responses=errors.RESPONSES)
    app.include_router(health.router)
    dashboard.install(app)
    _install_docs(app)
    _document_413(app)
    app.add_middleware(Hardening)
    app.add_middleware(RequestMetrics)  # outermost: it times and counts every answer, the 413s of Hardening too
    return app
