"""Bulk imports from CSV bodies."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.deps import EngineDep, RegistryWriter, SettingsDep, pg
from api.errors import error_body
from api.routing import v1_router
from services.auth.schemas import Principal
from services.config import Settings
from services.registry.csv_import import VIA, ImportResult, Kind, after_import, columns, import_csv
from services.registry.service import Actor
from services.validation import FieldError

router = v1_router(prefix="/api/v1/imports", tags=["imports"])

MAX_CSV_BYTES = 20 * 1024 * 1024
# A registry file is all rows or none, in one transaction: a cap keeps one upload from holding the registry's locks
# for minutes (200,000 rows took 11 minutes). 50,000 rows is 25 meters or luminaires for each of 2,000 buildings.
MAX_REGISTRY_ROWS = 50_000


class RowErrorOut(BaseModel):
    line: int = Field(description="the file's line (1 is the header)")
    field: str = Field(description="the column the problem is in (or row, header)")
    message: str = Field(description="what is wrong")


class RegistryImportOut(BaseModel):
    accepted: int = Field(description="rows stored")
    rejected: list[RowErrorOut] = Field(description="empty on success: a file with any wrong row stores nothing")
    created: int = Field(description="new buildings, meters or luminaires")
    updated: int = Field(description="existing ones changed")
    replayed_quarantined: int | None = Field(description="parked messages of newly registered devices replayed")

_CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "id,name,type,heated_area_m2,heating\nrh-01,Rådhuset,town_hall,5400,district_heating\n",
            }
        },
        "description": "header: `id` plus the PUT body's fields ("
        + "; ".join(f"{k.value}: {', '.join(columns(k)[0])}" for k in Kind)
        + "); empty cell = null; `opening_hours` as JSON",
    },
    "responses": {422: {"description": "nothing imported; `rejected` lists (line, field, message)"},
                  413: {"description": f"over {MAX_CSV_BYTES} bytes or {MAX_REGISTRY_ROWS} rows; split the file"}},
}


def _reject(detail: str, field: str, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(detail, [FieldError(field, detail)], **extra), status_code=422)


def _run(engine: Engine, settings: Settings, kind: Kind, text: str, caller: Principal
         ) -> tuple[ImportResult, int | None]:
    with pg(engine, write=True) as conn:
        result = import_csv(conn, kind, text, actor=Actor(caller.name, caller.role.value, VIA),
                            tz=ZoneInfo(settings.timezone))
    return result, after_import(engine, settings, result)


async def read_csv_text(request: Request) -> str | JSONResponse:
    """The request body as text, or the 4xx answer to send: too large, or not UTF-8."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_CSV_BYTES:
            return JSONResponse(
                error_body(
                    f"the body exceeds {MAX_CSV_BYTES} bytes; split the file", [FieldError("body", "too large")]
                ),
                status_code=413,
            )
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as e:
        return _reject(f"the body is not UTF-8 text (byte {e.start})", "body", accepted=0, rejected=[])


@router.post("/registry/{kind}", openapi_extra=_CSV_BODY, response_model=RegistryImportOut)
async def import_registry(
    kind: Annotated[Kind, Path(description="what the file holds")],
    request: Request,
    caller: RegistryWriter,
    engine: EngineDep,
    settings: SettingsDep,
) -> RegistryImportOut | JSONResponse:
    """Import buildings, meters or luminaires from CSV: every row, or none if any row is wrong. A `valid_from`
    column dates each row's changes (as the PUT body's field); every row is audit-logged with the caller."""
    text = await read_csv_text(request)
    if isinstance(text, JSONResponse):
        return text
    rows = text.count("\n")  # an upper bound of the records (a quoted cell may span lines), counted before any work
    if rows > MAX_REGISTRY_ROWS + 1:
        msg = (f"the file has more than {MAX_REGISTRY_ROWS} rows; split it (each file is stored whole or not at "
               "all, in one transaction)")
        return JSONResponse(error_body(msg, [FieldError("body", msg)], accepted=0, rejected=[]), status_code=413)
    result, replayed = await run_in_threadpool(_run, engine, settings, kind, text, caller)
    rejected = [{"line": e.line, "field": e.field, "message": e.message} for e in result.rejected]
    if rejected:
        detail = f"nothing imported: {len(rejected)} problem(s) in the file"
        errors = [FieldError(e.field, f"line {e.line}: {e.message}") for e in result.rejected]
        return JSONResponse(error_body(detail, errors, accepted=0, rejected=rejected), status_code=422)
    return RegistryImportOut(accepted=result.accepted, rejected=[], created=len(result.created),
                             updated=len(result.updated), replayed_quarantined=replayed)
