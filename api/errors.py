"""Every 4xx answer is `{"detail": "...", "errors": [{"field": "...", "message": "..."}]}`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from services.auth.service import Forbidden, Unauthenticated
from services.errors import NotFoundError, ValidationFailed
from services.validation import FieldError, FieldErrors, field_errors

log = logging.getLogger(__name__)


class FieldErrorOut(BaseModel):
    field: str = Field(description="where the problem is: a body field (dotted path), a query or path "
                                   "parameter, body, authorization, ...")
    message: str = Field(description="what is wrong with it")


class ErrorOut(BaseModel):
    """The shape of every 4xx answer."""

    detail: str = Field(description="what went wrong, in one line")
    errors: list[FieldErrorOut] = Field(description="one per problem found, each naming where it is")


# Documented on every route; FastAPI would otherwise describe its own 422 shape, which this API does not use.
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no token, or an unknown or revoked one"},
    403: {"model": ErrorOut, "description": "the caller's role may not do this"},
    404: {"model": ErrorOut, "description": "not found, or outside the caller's buildings"},
    422: {"model": ErrorOut, "description": "invalid input; `errors` names each field"},
}


def error_body(detail: str, errors: Sequence[FieldError], **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "errors": [{"field": e.field, "message": e.message} for e in errors], **extra}


def _json(
    status: int, detail: str, errors: Sequence[FieldError], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(detail, errors), status_code=status, headers=headers)


def _summary(errors: Sequence[FieldError]) -> str:
    return "invalid input: " + "; ".join(f"{e.field}: {e.message}" for e in errors)


# At most this many field errors in an answer: a body of a million unknown keys must not be answered with a
# million errors (the first ones say what is wrong; the count says how much)
MAX_ERRORS = 50


async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = field_errors(exc.errors())
    if len(errors) > MAX_ERRORS:
        errors = [*errors[:MAX_ERRORS],
                  FieldError("body", f"and {len(errors) - MAX_ERRORS} more errors (the first {MAX_ERRORS} shown)")]
    ctype = request.headers.get("content-type", "")
    if request.method in ("PUT", "POST") and any(e.field == "body" for e in errors) and "json" not in ctype:
        # curl -d sends a form content type: say what is wrong instead of "not a dictionary".
        errors = [FieldError(field="body", message=f"expected a JSON object with Content-Type: application/json "
                                                   f"(got {ctype or 'no content type'!r})")]
    return _json(422, _summary(errors), errors)


async def _validation_failed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationFailed)
    errors = exc.errors if isinstance(exc, FieldErrors) else [FieldError(exc.field, exc.message)]
    return _json(422, _summary(errors), errors)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFoundError)
    return _json(404, str(exc), [FieldError(f"{exc.kind}_id", str(exc))])


async def _unauthenticated(_: Request, exc: Exception) -> JSONResponse:
    return _json(401, str(exc), [FieldError("authorization", str(exc))], {"WWW-Authenticate": "Bearer"})


async def _forbidden(_: Request, exc: Exception) -> JSONResponse:
    return _json(403, str(exc), [FieldError("authorization", str(exc))])


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI's "error parsing the body" (bytes that are not UTF-8 JSON): bad input like any other, a 422
        # naming the body, as documented for every route
        msg = "the body is not valid JSON in UTF-8"
        return _json(422, msg, [FieldError("body", msg)])
    field = {404: "path", 405: "method"}.get(exc.status_code, "request")
    return _json(exc.status_code, str(exc.detail), [FieldError(field, str(exc.detail))], exc.headers)


async def _integrity(_: Request, exc: Exception) -> JSONResponse:
    # The rules are checked before writing; a constraint can still trip when two requests race for the same id.
    log.warning("integrity error answered with 409: %s", exc)
    msg = "the change conflicts with a concurrent one; repeat the request"
    return _json(409, msg, [FieldError("body", msg)])


# Data exceptions that only a caller's value can cause (SQLSTATE class 22): a character the database cannot store,
# a number or an instant beyond its types. Any other (division by zero, an invalid parameter in our own SQL) is a
# server bug and stays a 500.
_INPUT_DATA_ERRORS = {"22P05", "22021", "22003", "22008", "22009"}


async def _data_error(request: Request, exc: Exception) -> Response:
    orig = getattr(exc, "orig", exc)  # SQLAlchemy wraps the driver's exception
    sqlstate = getattr(orig, "sqlstate", None)
    nul = sqlstate is None and "NUL" in str(orig)  # psycopg refuses NUL before sending
    if not nul and sqlstate not in _INPUT_DATA_ERRORS:
        log.error("data error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal server error", "errors": []}, status_code=500)
    log.warning("data error answered with 422: %s", exc)
    msg = ("text must not contain a NUL character (0x00)" if nul or sqlstate in ("22P05", "22021") else
           "a number or an instant lies beyond what can be stored; see the documented ranges")
    return _json(422, msg, [FieldError("body", msg)])


async def _db_down(_: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable: %s", exc)
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly", "errors": []},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationFailed, _validation_failed)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(psycopg.IntegrityError, _integrity)  # repositories on psycopg: not wrapped
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(psycopg.DataError, _data_error)
    app.add_exception_handler(OperationalError, _db_down)
    app.add_exception_handler(psycopg.OperationalError, _db_down)
