"""GET /progress/path (a target's path across years in one answer) and the exact cache of the target answers
(services/targets/cache.py, migration 0014), over real HTTP against a small synthetic estate (bench/targets_estate.py:
monthly rollups written directly, area and heating changes, added and sold buildings, an imported baseline)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy import Engine

from bench.targets_estate import generate
from services.db import libpq_dsn
from services.targets import service
from tests.conftest import reset_database
from tests.integration.api_helpers import Api
from tests.stack import Stack

pytest_plugins = ["tests.integration.api_fixtures"]

TZ = ZoneInfo("Europe/Copenhagen")
THIS_YEAR = datetime.now(TZ).year

# every table the target answers read (services/targets/service.py, reference.py, status.py,
# services/reports/service.py): written down here by hand, so a table left out of migration 0014's triggers fails the
# tests below. Undated ones move the version of every answer; the rollups move the version of the years and months
# their rows concern; the pending rollups move none (the answers read them anew on every request).
UNDATED = (
    "buildings", "building_area_history", "building_group_history", "building_heating_history",
    "building_adjustments", "meters", "meter_parent_history", "meter_exchanges", "baseline_entries",
    "baseline_imports", "degree_day_entries", "degree_day_imports", "settings", "co2_factors", "targets", "luminaires",
    "luminaire_history",
)
DATED = {  # a row in mid-2031 (no estate data there)
    "consumption_monthly": "INSERT INTO consumption_monthly VALUES (999999, '2031-06-01', 1, 1, 0)",
    "consumption_daily": "INSERT INTO consumption_daily VALUES (999999, '2031-06-15', 1, 1, 0)",
    "consumption_gap_steps": "INSERT INTO consumption_gap_steps VALUES (999999, '2031-06-15T10:00Z', "
                             "'2031-06-17T10:00Z', 1)",
    "rollup_dirty": "INSERT INTO rollup_dirty (meter_key, ts_from, ts_to) VALUES (999999, '2031-06-15T10:00Z', "
                    "'2031-06-15T11:00Z')",
}


def dsn(stack: Stack) -> str:
    return libpq_dsn(stack.env["ENERGIBLIK_DB__URL"])


@pytest.fixture(scope="module")
def estate(engine: Engine, stack: Stack) -> Iterator[None]:
    reset_database(engine)
    with psycopg.connect(dsn(stack)) as c:
        generate(c, 30, datetime.now(UTC))
    yield


@pytest.fixture
def admin(api: Api, estate: None) -> Iterator[httpx.Client]:
    with api.client(api.admin_token) as c:
        yield c


def test_the_path_is_each_years_progress_with_the_straight_line(admin: httpx.Client) -> None:
    r = admin.get("/api/v1/progress/path")
    assert r.status_code == 200, r.text
    path = r.json()
    assert (path["baseline_year"], path["target_year"], path["target_pct"]) == (2015, 2025, 15.0)
    years = [y["year"] for y in path["years"]]
    assert years == list(range(2015, max(2025, THIS_YEAR) + 1))
    # T1: -15 % from 2015 to 2025 in a straight line, 1.5 points a year, then 15 % (hand-computed)
    required = {2015: 0.0, 2016: 1.5, 2017: 3.0, 2018: 4.5, 2019: 6.0, 2020: 7.5, 2021: 9.0, 2022: 10.5, 2023: 12.0,
                2024: 13.5, 2025: 15.0, 2026: 15.0, 2027: 15.0}
    for row in path["years"]:
        assert row["required_pct"] == required[row["year"]], row
    base = path["years"][0]
    assert (base["basis"], base["reduction_pct"]) == ("baseline", 0.0)
    measured = 0
    for row in path["years"][1:]:
        if row["year"] > THIS_YEAR:
            assert row["basis"] == "not_started" and row["reduction_pct"] is None
            continue
        p = admin.get("/api/v1/progress", params={"year": row["year"]}).json()
        judged = p["forecast"] or p
        assert row["basis"] == ("forecast" if p["forecast"] else "measured")
        assert row["coverage"] == judged["coverage"] and row["verdict"] == judged["verdict"]
        assert row["reduction_pct"] == (judged["reduction_pct"] if judged["coverage"] > 0 else None)
        assert row["months_measured"] == p["months_measured"]
        measured += row["reduction_pct"] is not None
    assert measured == THIS_YEAR - 2015  # the estate has data every year
    assert path["missing"] == []


def test_path_bounds_and_errors(admin: httpx.Client) -> None:
    r = admin.get("/api/v1/progress/path", params={"from": 2020, "to": 2022})
    assert [y["year"] for y in r.json()["years"]] == [2020, 2021, 2022]
    for params, field in (({"from": 2014}, "from"), ({"from": 2020, "to": 2019}, "to"), ({"target": "T2"}, "target")):
        r = admin.get("/api/v1/progress/path", params=params)
        assert r.status_code == 422, r.text
        assert field in r.text
    assert admin.get("/api/v1/progress/path", params={"target": "nope"}).status_code == 404
    one = admin.get("/api/v1/progress/path", params={"building_id": "TB-0003"})
    assert one.status_code == 200 and one.json()["years"][1]["reduction_pct"] is not None


def month_version(c: psycopg.Connection, month: date) -> int:
    row = c.execute("SELECT coalesce(sum(v), 0) FROM targets_month_version WHERE month = %s", [month]).fetchone()
    assert row is not None
    return int(row[0])


def version(c: psycopg.Connection, year: int | None = None) -> int:
    row = (c.execute("SELECT sum(v) FROM targets_data_version") if year is None else
           c.execute("SELECT coalesce(sum(v), 0) FROM targets_year_version WHERE year = %s", [year])).fetchone()
    assert row is not None
    return int(row[0])


def test_every_table_the_answers_read_moves_the_data_version(stack: Stack, estate: None) -> None:
    with psycopg.connect(dsn(stack), autocommit=True) as c:
        for table in UNDATED:
            before = version(c)
            c.execute(f"DELETE FROM {table} WHERE false")  # a statement changing nothing still counts
            assert version(c) > before, f"{table} does not move the data version"
        months = [date(2031, 5, 1), date(2031, 6, 1), date(2031, 7, 1)]
        for table, insert in DATED.items():
            before, y2031, y2030 = version(c), version(c, 2031), version(c, 2030)
            m2031 = [month_version(c, m) for m in months]
            c.execute(insert)
            if table == "rollup_dirty":  # read anew by every answer that says what is pending: moves nothing
                assert (version(c), version(c, 2030), version(c, 2031)) == (before, y2030, y2031)
            else:
                assert version(c, 2031) > y2031, f"{table} does not move the version of the year its row concerns"
                assert (version(c), version(c, 2030)) == (before, y2030)  # nor anything else
            # the rollups also move the version of the month their rows concern (migration 0016), and no other; the
            # pending rollups do not (progress reads them anew on every request)
            moved = [month_version(c, m) - v for m, v in zip(months, m2031, strict=True)]
            assert moved == ([0, 0, 0] if table == "rollup_dirty" else [0, 1, 0]), (table, moved)
            c.execute(f"DELETE FROM {table} WHERE meter_key = 999999")
            assert version(c, 2031) > y2031 + 1 or table == "rollup_dirty"
            with c.transaction():  # emptying it concerns every year (seen inside the transaction, rolled back)
                c.execute(f"TRUNCATE {table}")
                moved = version(c) > before
                raise psycopg.Rollback
            assert moved, f"TRUNCATE {table} does not move the data version"
        before = version(c)
        with pytest.raises(psycopg.errors.DivisionByZero), c.transaction():
            c.execute("UPDATE settings SET source = source WHERE false")
            c.execute("SELECT 1 / 0")
        assert version(c) == before  # a rolled-back change changes nothing
        # one bump per transaction, and a bump undone with its savepoint is made again by the next change
        y2031 = version(c, 2031)
        with c.transaction():
            with pytest.raises(psycopg.errors.DivisionByZero), c.transaction():
                c.execute("DELETE FROM settings WHERE false")
                c.execute(DATED["consumption_monthly"])
                c.execute("SELECT 1 / 0")
            c.execute("DELETE FROM buildings WHERE false")
            c.execute("DELETE FROM targets WHERE false")
            c.execute(DATED["consumption_monthly"])
            c.execute("DELETE FROM consumption_monthly WHERE meter_key = 999999")
        assert version(c) == before + 1 and version(c, 2031) == y2031 + 1


def test_a_change_in_one_year_leaves_other_years_answers_cached(admin: httpx.Client, stack: Stack) -> None:
    from services.targets import cache

    last = THIS_YEAR - 1
    with psycopg.connect(dsn(stack)) as c:
        before = cache.data_version(c, (2015, last)), cache.data_version(c, (THIS_YEAR,))
        c.execute("UPDATE consumption_monthly SET amount = amount WHERE month = %s",
                  [datetime(THIS_YEAR, 1, 1).date()])  # a rollup of this year's January
        c.commit()
        after = cache.data_version(c, (2015, last)), cache.data_version(c, (THIS_YEAR,))
    assert after[0] == before[0]  # last year's CO2, labels, green accounts, fossil stay cached
    assert after[1] != before[1]  # this year's progress is computed again


def test_cached_answers_follow_every_change(admin: httpx.Client, stack: Stack) -> None:
    last = THIS_YEAR - 1
    first = admin.get("/api/v1/progress", params={"year": last})
    again = admin.get("/api/v1/progress", params={"year": last})
    assert first.content == again.content
    co2 = admin.get("/api/v1/co2", params={"year": last}).json()
    path = admin.get("/api/v1/progress/path").json()
    with psycopg.connect(dsn(stack)) as c:  # a rollup rewrite, as the rollup worker's: last year's kWh halved
        c.execute("UPDATE consumption_monthly SET amount = amount / 2 WHERE month >= %s AND month < %s",
                  [datetime(last, 1, 1).date(), datetime(last + 1, 1, 1).date()])
    after = admin.get("/api/v1/progress", params={"year": last}).json()
    assert after["reduction_pct"] != first.json()["reduction_pct"]
    with psycopg.connect(dsn(stack)) as c:  # the same figures computed afresh, without the cache
        fresh = service._progress(c, year=last, target_id="T1", building_ids=None,
                                  today=datetime.now(TZ).date(), tz=TZ, through=None)
    assert after["reduction_pct"] == fresh["reduction_pct"] and after["actual_normalised_kwh"] == pytest.approx(
        fresh["actual_normalised_kwh"])
    assert admin.get("/api/v1/co2", params={"year": last}).json()["kg_co2"] < co2["kg_co2"]
    row = next(y for y in admin.get("/api/v1/progress/path").json()["years"] if y["year"] == last)
    assert row["reduction_pct"] == after["reduction_pct"] != next(
        y for y in path["years"] if y["year"] == last)["reduction_pct"]


def test_the_hourly_co2_intensity_moves_the_versions_of_its_years(stack: Stack) -> None:
    # /co2 multiplies the hourly rollup by the hour's intensity: a new or corrected intensity must reach it
    with psycopg.connect(dsn(stack), autocommit=True) as c:
        before, y2031, y2030 = version(c), version(c, 2031), version(c, 2030)
        c.execute("INSERT INTO co2_intensity_hourly (area, ts, method, g_per_kwh, source) "
                  "VALUES ('DK2', '2031-06-01T10:00Z', '125%', 100, 'test')")
        assert version(c, 2031) > y2031
        c.execute("UPDATE co2_intensity_hourly SET g_per_kwh = 90 WHERE ts = '2031-06-01T10:00Z'")
        assert version(c, 2031) > y2031 + 1
        assert (version(c), version(c, 2030)) == (before, y2030)  # nothing else
        c.execute("DELETE FROM co2_intensity_hourly WHERE ts = '2031-06-01T10:00Z'")
        assert version(c, 2031) > y2031 + 2


def test_the_running_months_rollups_leave_the_running_years_progress_current(admin: httpx.Client, stack: Stack
                                                                              ) -> None:
    """A live system rewrites the running month's rollups every few seconds: the running year's progress compares
    its complete months only, so it neither reads those rollups (the same answer as reading them) nor is keyed by
    them; a rollup of a complete month is read, and moves its key."""
    today = datetime.now(TZ).date()
    if today.month == 1:
        pytest.skip("in January the running year's progress has no complete month and reads the running one "
                    "(read_months: tests/unit/test_progress.py)")
    this_month, last_month = today.replace(day=1), (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    months, through = service.read_months(2015, today.year, today)
    assert through == this_month and last_month in months and this_month not in months

    def key(c: psycopg.Connection) -> object:
        return service.progress_keyed(c, year=today.year, target_id="T1", building_ids=None, today=today, tz=TZ)[0]

    with psycopg.connect(dsn(stack)) as c:
        # with `through`, no rollup of the running month is read, and not reading it changes no figure
        loaded = service.load_buildings(c, None, None, years=[today.year - 1, today.year], baseline_year=2015, tz=TZ,
                                        through=through)
        assert not [m for b in loaded for months_ in b.data.get(today.year, {}).values() for m in months_
                    if m >= today.month]
        assert any(m == today.month for b in service.load_buildings(
            c, None, None, years=[today.year - 1, today.year], baseline_year=2015, tz=TZ)
            for months_ in b.data.get(today.year, {}).values() for m in months_)  # the estate has data there
        whole = service._progress(c, year=today.year, target_id="T1", building_ids=None, today=today, tz=TZ,
                                  through=None)
        assert service._progress(c, year=today.year, target_id="T1", building_ids=None, today=today, tz=TZ,
                                 through=through) == whole
    before = admin.get("/api/v1/progress")
    with psycopg.connect(dsn(stack)) as c:
        saved = c.execute("SELECT meter_key, month, amount FROM consumption_monthly WHERE month = ANY(%s)",
                          [[this_month, last_month]]).fetchall()
        first = key(c)
        try:
            c.execute("UPDATE consumption_monthly SET amount = amount * 3 WHERE month = %s", [this_month])
            c.commit()
            assert key(c) == first  # its cached figures stay current
            assert admin.get("/api/v1/progress").content == before.content
            c.execute("UPDATE consumption_monthly SET amount = amount * 3 WHERE month = %s", [last_month])
            c.commit()
            assert key(c) != first
            after = admin.get("/api/v1/progress").json()
            assert after["actual_normalised_kwh"] > before.json()["actual_normalised_kwh"]
            assert after["actual_normalised_kwh"] == service._progress(
                c, year=today.year, target_id="T1", building_ids=None, today=today, tz=TZ, through=through)[
                "actual_normalised_kwh"]
        finally:
            c.rollback()
            with c.cursor() as cur:
                cur.executemany("UPDATE consumption_monthly SET amount = %s WHERE meter_key = %s AND month = %s",
                                [(amount, mkey, month) for mkey, month, amount in saved])
            c.commit()


def test_progress_is_pending_only_for_readings_of_the_periods_it_compares(admin: httpx.Client, stack: Stack) -> None:
    """Readings waiting for the rollups make the figures uncertain where they fall into the months compared; the
    running month's (what a live system always has) do not."""
    today = datetime.now(TZ).date()
    if today.month == 1:
        pytest.skip("in January the running year's progress compares the running month")
    now = datetime.now(UTC)
    with psycopg.connect(dsn(stack)) as c:
        row = c.execute("SELECT m.key, m.building_id FROM meters m WHERE m.carrier = 'electricity' AND "
                        "m.parent_meter_id IS NULL ORDER BY m.key LIMIT 1").fetchone()
        assert row is not None
        key, building = row
        c.execute("INSERT INTO rollup_dirty (meter_key, ts_from, ts_to) VALUES (%s, %s, %s)",
                  [key, max(now - timedelta(minutes=15), datetime.combine(today.replace(day=1), datetime.min.time(),
                                                                          TZ)), now])
        c.commit()
        try:
            p = admin.get("/api/v1/progress").json()
            assert p["computed_through"] is None and p["pending_buildings"] == []
            assert not any("not yet computed" in r for r in p["uncertain_because"])
            c.execute("INSERT INTO rollup_dirty (meter_key, ts_from, ts_to) VALUES (%s, %s, %s)",
                      [key, datetime(today.year, 1, 10, tzinfo=TZ), datetime(today.year, 1, 10, 1, tzinfo=TZ)])
            c.commit()
            p = admin.get("/api/v1/progress").json()
            assert p["pending_buildings"] == [building] and p["verdict"] == "uncertain"
            assert datetime.fromisoformat(p["computed_through"]) <= datetime(today.year, 1, 10, tzinfo=TZ)
            assert [r["pending"] for r in p["buildings"] if r["building_id"] == building] == [True]
            assert any("not yet computed" in r for r in p["forecast"]["uncertain_because"])
            path = admin.get("/api/v1/progress/path").json()
            assert next(y for y in path["years"] if y["year"] == today.year)["verdict"] == "uncertain"
        finally:
            c.execute("DELETE FROM rollup_dirty WHERE meter_key = %s", [key])
            c.commit()
        p = admin.get("/api/v1/progress").json()
        assert p["computed_through"] is None and p["pending_buildings"] == []


def test_reports_say_what_is_pending_without_being_computed_again(admin: httpx.Client, stack: Stack) -> None:
    """CO2, labels and the green accounts read whether readings wait for the rollups on every request: a pending
    range moves no data version (their figures stay cached) yet each answer names it, and stops as it goes."""
    from services.targets import cache

    last = THIS_YEAR - 1
    params = {"year": last}
    paths = ("/api/v1/co2", "/api/v1/labels", "/api/v1/green-accounts")
    before = {p: admin.get(p, params=params).json() for p in paths}
    assert all(b["computed_through"] is None for b in before.values())
    with psycopg.connect(dsn(stack)) as c:
        row = c.execute("SELECT m.key, m.building_id FROM meters m WHERE m.carrier = 'electricity' AND "
                        "m.parent_meter_id IS NULL ORDER BY m.key LIMIT 1").fetchone()
        assert row is not None
        key, building = row
        version = cache.data_version(c, (2015, last))
        c.execute("INSERT INTO rollup_dirty (meter_key, ts_from, ts_to) VALUES (%s, %s, %s)",
                  [key, datetime(last, 6, 1, tzinfo=TZ), datetime(last, 6, 1, 1, tzinfo=TZ)])
        c.commit()
        try:
            assert cache.data_version(c, (2015, last)) == version
            for p in paths:
                r = admin.get(p, params=params).json()
                assert r["pending_buildings"] == [building], p
                assert datetime.fromisoformat(r["computed_through"]) <= datetime(last, 6, 1, tzinfo=TZ), p
                assert {**r, "computed_through": None, "pending_buildings": []} == before[p], p
            csv = admin.get("/api/v1/green-accounts", params={**params, "format": "csv"})
            assert "X-Energiblik-Computed-Through" in csv.headers
        finally:
            c.execute("DELETE FROM rollup_dirty WHERE meter_key = %s", [key])
            c.commit()
    assert all(admin.get(p, params=params).json() == before[p] for p in paths)
    assert "X-Energiblik-Computed-Through" not in admin.get(
        "/api/v1/green-accounts", params={**params, "format": "csv"}).headers
