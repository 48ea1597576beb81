"""Target and report answers served from the exact cache (services/targets/cache.py): the bytes FastAPI would have
sent, computed once per data version and key."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from fastapi import Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from api.routing import _tz, local_instants
from services.db import PgConn
from services.targets import cache


def json_bytes(answer: Any, model: type[Any] | None = None) -> bytes:
    """The body FastAPI sends for `answer` returned by a route (validated by its response model, when it has
    one), instants in local time (api/routing.py)."""
    answer = local_instants(answer, _tz())
    if model is not None:
        adapter = TypeAdapter(model)
        answer = adapter.dump_python(adapter.validate_python(answer), mode="json", by_alias=True)
    return bytes(JSONResponse(jsonable_encoder(answer)).body)


def answer(conn: PgConn, key: Hashable, compute: Callable[[], tuple[bytes, str, Mapping[str, str]]]) -> Response:
    """The cached (body, media type, headers) for `key` at the current data version, or computed now and kept.
    The version is read before `compute` reads anything."""
    full = (key, cache.data_version(conn))
    hit = cache.responses.get(full)
    if hit is None:
        hit = compute()
        cache.responses.put(full, hit)
    body, media_type, headers = hit
    return Response(content=body, media_type=media_type, headers=dict(headers))


def json_answer(conn: PgConn, key: Hashable, compute: Callable[[], Any], model: type[Any] | None = None) -> Response:
    return answer(conn, key, lambda: (json_bytes(compute(), model), "application/json", {}))
