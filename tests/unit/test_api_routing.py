"""The v1 routes' shared rules without a server: every instant of an answer in local time, the declared query
parameters of a route."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from api import consumption, targets
from api.routing import V1Route, declared_query, local_instants

CPH = ZoneInfo("Europe/Copenhagen")


class Inner(BaseModel):
    at: datetime
    day: date


class Outer(BaseModel):
    items: list[Inner]
    when: datetime | None


def test_every_instant_however_deep_is_moved_to_local_time() -> None:
    utc = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, before the clocks go back
    answer = {"a": utc, "b": [utc, {"c": (utc, 1)}], "m": Outer(items=[Inner(at=utc, day=date(2026, 1, 1))], when=None),
              "d": date(2026, 10, 25), "s": "2026-10-25T00:30:00Z", "n": None}
    out = local_instants(answer, CPH)
    assert out["a"].isoformat() == "2026-10-25T02:30:00+02:00" and out["a"].timestamp() == utc.timestamp()
    # an hour later the clock shows 02:30 again, now in CET
    assert local_instants(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), CPH).isoformat() == "2026-10-25T02:30:00+01:00"
    assert out["b"][0].utcoffset().total_seconds() == 7200
    assert out["b"][1]["c"][0].isoformat() == "2026-10-25T02:30:00+02:00" and out["b"][1]["c"][1] == 1
    assert out["m"].model_dump(mode="json") == {"items": [{"at": "2026-10-25T02:30:00+02:00", "day": "2026-01-01"}],
                                                "when": None}
    assert (out["d"], out["s"], out["n"]) == (date(2026, 10, 25), "2026-10-25T00:30:00Z", None)  # not instants


def test_routes_know_their_query_parameters() -> None:
    routes = {r.path: r for r in (*targets.router.routes, *consumption.router.routes) if isinstance(r, V1Route)}
    assert declared_query(routes["/api/v1/progress"]) == {"year", "building_id", "target"}
    assert declared_query(routes["/api/v1/consumption"]) == {"building_id", "carrier", "start", "end", "resolution",
                                                              "format"}
    assert declared_query(routes["/api/v1/meters/{meter_id}/consumption"]) == {"start", "end", "resolution", "format"}


def test_every_v1_router_uses_the_shared_rules() -> None:
    from api import admin, alerts, dashboard, imports, readings, registry, reports

    for module in (admin, alerts, consumption, dashboard, imports, readings, registry, reports, targets):
        assert module.router.routes, module.__name__
        for route in module.router.routes:
            assert isinstance(route, V1Route), (module.__name__, route)
            assert route.path.startswith("/api/v1/")
