"""Stored series over real HTTP: readings, revisions, telemetry; windows in local dates and instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.integration.api_helpers import building_body, luminaire_body, meter_body, put_ok

# The real API in a subprocess, and an admin client on a clean database (fixtures `api`, `admin`).
pytest_plugins = ["tests.integration.api_fixtures"]


def instant(s: str) -> datetime:
    ts = datetime.fromisoformat(s)
    assert ts.tzinfo is not None, f"{s} carries no offset"
    return ts


@pytest.fixture
def meter(admin: httpx.Client, db: Engine) -> int:
    """Meter m1 (kWh register) in building b1; returns its key."""
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/meters/m1", meter_body("b1"))
    with db.connect() as conn:
        return int(conn.execute(text("SELECT key FROM meters WHERE id = 'm1'")).scalar_one())


def insert_readings(db: Engine, key: int, rows: list[tuple[str, float]], **cols: str) -> None:
    quality, source = cols.get("quality", "measured"), cols.get("source", "mqtt")
    with db.begin() as conn:
        for ts, value in rows:
            conn.execute(
                text(
                    "INSERT INTO readings (meter_key, ts, value, quality, source) "
                    "VALUES (:k, :ts, :v, CAST(:q AS reading_quality), CAST(:s AS reading_source))"
                ),
                {"k": key, "ts": ts, "v": value, "q": quality, "s": source},
            )


# Around the spring DST switch: 29 March 2026 is a 23-hour day in Copenhagen (+01:00 -> +02:00).
DST_ROWS = [
    ("2026-03-28T22:59:00Z", 1.0),  # 23:59 on the 28th, local
    ("2026-03-28T23:00:00Z", 2.0),  # 00:00 on the 29th, local
    ("2026-03-29T21:59:00Z", 3.0),  # 23:59 on the 29th, local (+02:00)
    ("2026-03-29T22:00:00Z", 4.0),  # 00:00 on the 30th, local
]


def test_readings_by_local_dates_are_copenhagen_midnights(admin: httpx.Client, db: Engine, meter: int) -> None:
    insert_readings(db, meter, DST_ROWS)
    r = admin.get("/api/v1/meters/m1/readings", params={"start": "2026-03-29", "end": "2026-03-30"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [instant(x["ts"]) for x in page["readings"]] == [
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 21, 59, tzinfo=UTC),
    ]
    assert [x["value"] for x in page["readings"]] == [2.0, 3.0]
    assert instant(page["start"]) == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert instant(page["end"]) == datetime(2026, 3, 29, 22, tzinfo=UTC)
    assert page["unit"] == "kWh" and page["truncated"] is False
    first = page["readings"][0]
    assert (first["unit"], first["quality"], first["source"], first["revised"]) == ("kWh", "measured", "mqtt", False)


def test_readings_by_instants_with_end_exclusive(admin: httpx.Client, db: Engine, meter: int) -> None:
    insert_readings(db, meter, DST_ROWS)
    r = admin.get(
        "/api/v1/meters/m1/readings", params={"start": "2026-03-29T00:00:00+01:00", "end": "2026-03-29T23:59:00+02:00"}
    )
    assert [x["value"] for x in r.json()["readings"]] == [2.0]
    r = admin.get("/api/v1/meters/m1/readings", params={"start": "2026-03-28T22:59:00Z", "end": "2026-03-30"})
    assert [x["value"] for x in r.json()["readings"]] == [1.0, 2.0, 3.0]
    # An unencoded "+" in a query string arrives as a space; the offset is still understood.
    r = admin.get("/api/v1/meters/m1/readings?start=2026-03-29T00:00:00+01:00&end=2026-03-30T00:00:00+02:00")
    assert r.status_code == 200, r.text
    assert [x["value"] for x in r.json()["readings"]] == [2.0, 3.0]


def test_quality_source_and_revised_flags(admin: httpx.Client, db: Engine, meter: int) -> None:
    insert_readings(db, meter, [("2026-01-01T00:00:00Z", 10.0)], quality="estimated", source="import")
    insert_readings(db, meter, [("2026-01-01T01:00:00Z", 11.0)], quality="revised")
    with db.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO reading_revisions (meter_key, ts, old_value, new_value, old_quality, new_quality, source)
            VALUES (:k, '2026-01-01T01:00:00Z', 12.5, 11.0, 'measured', 'revised', 'mqtt')
        """),
            {"k": meter},
        )
    page = admin.get("/api/v1/meters/m1/readings", params={"start": "2026-01-01", "end": "2026-01-02"}).json()
    assert [(x["quality"], x["source"], x["revised"]) for x in page["readings"]] == [
        ("estimated", "import", False),
        ("revised", "mqtt", True),
    ]
    revs = admin.get("/api/v1/meters/m1/revisions").json()
    assert [(x["old_value"], x["new_value"], x["new_quality"]) for x in revs["revisions"]] == [(12.5, 11.0, "revised")]
    assert instant(revs["revisions"][0]["ts"]) == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert admin.get("/api/v1/meters/m1/revisions", params={"start": "2026-01-02"}).json()["revisions"] == []


def test_limit_truncates_and_points_to_the_next_start(admin: httpx.Client, db: Engine, meter: int) -> None:
    insert_readings(db, meter, [(f"2026-02-01T0{h}:00:00Z", float(h)) for h in range(5)])
    page = admin.get(
        "/api/v1/meters/m1/readings", params={"start": "2026-02-01", "end": "2026-02-02", "limit": 2}
    ).json()
    assert [x["value"] for x in page["readings"]] == [0.0, 1.0]
    assert page["truncated"] is True
    assert instant(page["next_start"]) == datetime(2026, 2, 1, 2, tzinfo=UTC)
    rest = admin.get(
        "/api/v1/meters/m1/readings", params={"start": page["next_start"], "end": "2026-02-02", "limit": 10}
    ).json()
    assert [x["value"] for x in rest["readings"]] == [2.0, 3.0, 4.0]
    assert rest["truncated"] is False and rest["next_start"] is None


def test_default_window_is_the_last_week(admin: httpx.Client, db: Engine, meter: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    insert_readings(
        db,
        meter,
        [
            ((now - timedelta(days=8)).isoformat(), 1.0),
            ((now - timedelta(hours=1)).isoformat(), 2.0),
            ((now + timedelta(days=1)).isoformat(), 3.0),
        ],
    )
    page = admin.get("/api/v1/meters/m1/readings").json()
    assert [x["value"] for x in page["readings"]] == [2.0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-02-30"}, "start"),
        ({"start": "2026-03-01T00:00:00"}, "start"),  # naive
        ({"end": "2026-13-01"}, "end"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "end"),
        ({"start": "0001-01-01"}, "start"),
        ({"limit": 0}, "limit"),
        ({"limit": 100_001}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_bad_window_parameters_are_422_naming_the_field(
    admin: httpx.Client, meter: int, params: dict[str, object], field: str
) -> None:
    for path in ("/api/v1/meters/m1/readings", "/api/v1/meters/m1/revisions"):
        r = admin.get(path, params=params)
        assert r.status_code == 422, (path, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field]


def test_luminaire_telemetry(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/luminaires/l1", luminaire_body("b1", technology="led", rated_power_w=20))
    with db.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO luminaire_telemetry (luminaire_key, ts, power_w, energy_wh, dim_pct, is_on, burn_hours, failure)
            SELECT key, ts, 18.5, 1000, 80, true, 12.5, false FROM luminaires,
                   unnest(ARRAY['2026-03-28T22:59:00Z', '2026-03-28T23:00:00Z']::timestamptz[]) AS ts
            WHERE id = 'l1'
        """)
        )
    r = admin.get("/api/v1/luminaires/l1/telemetry", params={"start": "2026-03-29", "end": "2026-03-30"})
    assert r.status_code == 200, r.text
    points = r.json()["telemetry"]
    assert len(points) == 1
    p = points[0]
    assert instant(p["ts"]) == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert (p["power_w"], p["energy_wh"], p["dim_pct"], p["on"], p["burn_hours"], p["failure"]) == (
        18.5,
        1000.0,
        80.0,
        True,
        12.5,
        False,
    )
    r = admin.get("/api/v1/luminaires/l1/telemetry", params={"start": "not a date"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "start"
