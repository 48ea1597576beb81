"""Target and report answers served from the exact cache (services/targets/cache.py): the bytes FastAPI would have
sent, computed once per data version and key."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from fastapi import Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from api.routing import answer_tz, local_instants
from services.db import PgConn
from services.targets import cache


def json_bytes(answer: Any, model: type[Any] | None = None) -> bytes:
    """The body FastAPI sends for `answer` returned by a route (validated by its response model, when it has
    one), instants in local time (api/routing.py)."""
    answer = local_instants(answer, answer_tz())
    if model is not None:
        adapter = TypeAdapter(model)
        answer = adapter.dump_python(adapter.validate_python(answer), mode="json", by_alias=True)
    return bytes(JSONResponse(jsonable_encoder(answer)).body)


def answer(conn: PgConn, key: Hashable, compute: Callable[[], tuple[bytes, str, Mapping[str, str]]],
           years: Iterable[int] = (), keep: Callable[[], bool] = lambda: True) -> Response:
    """The cached (body, media type, headers) for `key` at the current data version of `years` (every year whose
    rollups the answer reads), or computed now and kept (unless `keep()`, asked after computing, says no). The
    version is read before `compute` reads anything."""
    ys = tuple(sorted(set(years)))
    full = (key, ys, cache.data_version(conn, ys))
    hit = cache.responses.get(full)
    if hit is None:
        hit = compute()
        if keep():
            cache.responses.put(full, hit)
    body, media_type, headers = hit
    return Response(content=body, media_type=media_type, headers=dict(headers))


def json_answer(conn: PgConn, key: Hashable, compute: Callable[[], Any], model: type[Any] | None = None, *,
                years: Iterable[int] = (), keep: Callable[[Any], bool] = lambda _a: True) -> Response:
    computed: list[Any] = []

    def run() -> tuple[bytes, str, Mapping[str, str]]:
        computed.append(compute())
        return json_bytes(computed[0], model), "application/json", {}

    return answer(conn, key, run, years, lambda: keep(computed[0]))


def keyed(key: Hashable, compute: Callable[[], tuple[bytes, str, Mapping[str, str]]]) -> Response:
    """The (body, media type, headers) `compute()` gives, kept under `key`, which the caller makes equal exactly for
    equal answers (e.g. services.targets.service.progress_keyed's key: the data version and what was read anew)."""
    hit = cache.responses.get(("keyed", key))
    if hit is None:
        hit = compute()
        cache.responses.put(("keyed", key), hit)
    body, media_type, headers = hit
    return Response(content=body, media_type=media_type, headers=dict(headers))


def keyed_json(key: Hashable, answer: Callable[[], Any], model: type[Any] | None = None) -> Response:
    """`keyed` for a JSON answer validated by `model`."""
    return keyed(key, lambda: (json_bytes(answer(), model), "application/json", {}))
