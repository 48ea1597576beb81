"""What every route under /api/v1 shares, done once: unknown query parameters are refused (422 naming them), and
every instant in an answer leaves in local time (ISO 8601 with a ±HH:MM offset, Europe/Copenhagen by default).

Each api module makes its router with `v1_router(...)`; the route class and the dependency below then apply to every
route it declares. /docs, /api/v1/openapi.json, /health and the dashboard's static files are not such routes.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.deps import Caller
from services.config import get_settings
from services.localtime import to_local
from services.validation import FieldError, FieldErrors


def local_instants(value: Any, tz: ZoneInfo) -> Any:
    """`value` with every aware datetime in it (in dicts, lists, tuples and pydantic models, however deep) moved to
    local time `tz`: the same instants, written with the local offset. Dates and everything else are left alone.

    Dicts, lists and models are changed in place (an answer is built for its request; moving an instant to local
    time keeps it equal, so even a shared object would only be rewritten into the same instants): 100,000 readings
    take about 0.1 s instead of the 1 s copying them would."""
    if isinstance(value, datetime):
        return to_local(value, tz)
    if isinstance(value, BaseModel):
        _local_in_place(value.__dict__, tz)
    elif isinstance(value, dict):
        _local_in_place(value, tz)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, _CONTAINERS):
                value[i] = local_instants(v, tz)
    elif isinstance(value, tuple):
        return [local_instants(v, tz) for v in value]
    return value


_CONTAINERS = (datetime, BaseModel, dict, list, tuple)


def _local_in_place(fields: dict[Any, Any], tz: ZoneInfo) -> None:
    for k, v in fields.items():
        if isinstance(v, _CONTAINERS):
            fields[k] = local_instants(v, tz)


def answer_tz() -> ZoneInfo:
    """The time zone every instant of an answer is written in (ENERGIBLIK_TIMEZONE)."""
    return ZoneInfo(get_settings().timezone)


def _in_local_time(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, its answer's instants in local time. `functools.wraps` keeps its signature (FastAPI reads the
    parameters and the return annotation through `__wrapped__`); a `Response` it returns is passed on as it is."""
    if getattr(endpoint, "_local_instants", False):
        return endpoint
    if inspect.iscoroutinefunction(endpoint):
        @functools.wraps(endpoint)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            return local_instants(await endpoint(*args, **kwargs), answer_tz())

        run: Callable[..., Any] = run_async
    else:
        @functools.wraps(endpoint)
        def run_sync(*args: Any, **kwargs: Any) -> Any:
            return local_instants(endpoint(*args, **kwargs), answer_tz())

        run = run_sync
    run._local_instants = True  # type: ignore[attr-defined]
    return run


class V1Route(APIRoute):
    """A route of the v1 API: its answer's instants are given in local time."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _in_local_time(endpoint), **kwargs)


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _repeatable_names(dependant: Dependant) -> set[str]:
    """The query parameters declared as lists (`?year=2015&year=2025`)."""
    names = {p.alias for p in dependant.query_params
             if typing.get_origin(p.field_info.annotation) in (list, tuple, set)
             or any(typing.get_origin(a) in (list, tuple, set) for a in typing.get_args(p.field_info.annotation))}
    for sub in dependant.dependencies:
        names |= _repeatable_names(sub)
    return names


def declared_query(route: APIRoute) -> frozenset[str]:
    """The query parameters a route declares, its dependencies' included (by the name a caller writes); worked out
    once per route."""
    names: frozenset[str] | None = getattr(route, "_declared_query", None)
    if names is None:
        names = frozenset(_query_names(route.dependant))
        route._declared_query = names  # type: ignore[attr-defined]
    return names


async def known_query_only(request: Request, _: Caller) -> None:
    """Refuse a query parameter the route does not declare: `?buildng_id=x` must not silently answer for the whole
    portfolio. 422 with one error per unknown parameter, in the API's error shape.

    It depends on the caller (every v1 route authenticates; FastAPI computes the caller once per request), so that
    a request without a valid token is a 401 first, as with any other invalid parameter. (async: no I/O of its own,
    so it runs on the event loop instead of taking a thread.)"""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = declared_query(route)
    unknown = [k for k in dict.fromkeys(request.query_params.keys()) if k not in allowed]
    if not unknown:
        _check_values(request, route)
        return
    takes = f"this endpoint takes {', '.join(sorted(allowed))}" if allowed else "this endpoint takes none"
    errors = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(allowed), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        errors.append(FieldError(name, f"unknown query parameter; {hint}{takes}"))
    raise FieldErrors(errors)


def v1_router(*, tags: list[str], prefix: str = "/api/v1") -> APIRouter:
    """The router of one api module under /api/v1: unknown query parameters refused, instants in local time."""
    return APIRouter(prefix=prefix, tags=list(tags), route_class=V1Route, dependencies=[Depends(known_query_only)])


def _check_values(request: Request, route: APIRoute) -> None:
    """A parameter given twice that takes one value (`?building_id=a&building_id=b` would silently answer for b),
    and a NUL character (no text the database stores can hold it), are refused naming the parameter."""
    repeatable: frozenset[str] | None = getattr(route, "_repeatable_query", None)
    if repeatable is None:
        repeatable = frozenset(_repeatable_names(route.dependant))
        route._repeatable_query = repeatable  # type: ignore[attr-defined]
    errors = []
    for name in dict.fromkeys(request.query_params.keys()):
        values = request.query_params.getlist(name)
        if len(values) > 1 and name not in repeatable:
            errors.append(FieldError(name, f"given {len(values)} times; this parameter takes one value"))
        elif any("\x00" in v for v in values):
            errors.append(FieldError(name, "must not contain a NUL character"))
    if errors:
        raise FieldErrors(errors)
