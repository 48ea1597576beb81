"""The DMI and Energi Data Service sources over real HTTP against their fake servers (simulators/fake_dmi.py,
simulators/fake_energidataservice.py) and the test stack: what is stored, re-runs change nothing, a correction makes a
new version with an audit entry, errors give a clear message and lose nothing, and /co2 names its methods."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, text

from services.config import Settings, get_settings
from services.connectors import service
from services.connectors.service import SyncOptions
from simulators.fake_dmi import FakeDmi, daily_degree_days
from simulators.fake_energidataservice import FakeEds, intensity
from simulators.fake_http import serve
from tests.integration.api_helpers import Api, building_body, meter_body, put_ok
from tests.integration.harness import free_port, scalar, wait_for
from tests.integration.test_api_targets import hourly_register, rebuild
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # 06:00 local, when the DMI source is scheduled


class Fake:
    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.server = serve(fake.state, fake.route, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def control(self, **body: Any) -> None:
        httpx.post(f"{self.url}/_control", json=body, timeout=5).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_requests", timeout=5).json())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_dmi() -> Iterator[Fake]:
    f = Fake(FakeDmi())
    f.control(now=NOW.isoformat())
    yield f
    f.close()


@pytest.fixture
def fake_eds() -> Iterator[Fake]:
    f = Fake(FakeEds(datetime(2025, 7, 1, tzinfo=UTC), timedelta(days=9)))
    f.control(now=datetime(2026, 1, 20, 6, tzinfo=UTC).isoformat())
    yield f
    f.close()


def settings_for(dmi: Fake | None = None, eds: Fake | None = None, **over: Any) -> Settings:
    s = get_settings().model_copy(deep=True)
    s.sync.dmi.backoff_s = s.sync.energidataservice.backoff_s = 0.01
    if dmi is not None:
        s.sync.dmi.base_url = f"{dmi.url}/v2/climateData"
    if eds is not None:
        s.sync.energidataservice.base_url = eds.url
    for key, value in over.items():
        src, field = key.split("__")
        setattr(getattr(s.sync, src), field, value)
    return s


def run(name: str, settings: Settings, now: datetime, **options: Any) -> Any:
    return service.run_source(name, settings=settings, trigger="cli", actor="test", now=now,
                              options=SyncOptions(**options))


def current_months(db: Engine) -> dict[str, tuple[float, str, int]]:
    with db.connect() as c:
        return {r[0].isoformat()[:7]: (r[1], r[2], r[3]) for r in c.execute(text(
            "SELECT month, degree_days, source, import_id FROM degree_days_current ORDER BY month"))}


def fake_month(m: date) -> float:
    nxt = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return round(sum(daily_degree_days("0151", m + timedelta(days=i)) for i in range((nxt - m).days)), 1)


# ---- DMI -----------------------------------------------------------------------------------------------------------

def test_dmi_stores_complete_periods_and_a_rerun_changes_nothing(db: Engine, fake_dmi: Fake) -> None:
    s = settings_for(dmi=fake_dmi)
    out = run("dmi", s, NOW)
    assert out.status == "ok", out.message
    months = current_months(db)
    # 13 months back from November 2026; November itself is running (partial): not stored
    assert sorted(months) == [f"{y}-{m:02d}" for y, m in [(2025, 10), (2025, 11), (2025, 12)]
                              + [(2026, m) for m in range(1, 11)]]
    assert out.detail["partial_months"] == ["2026-11"]
    assert months["2026-01"][0] == fake_month(date(2026, 1, 1))
    assert months["2026-01"][1] == ("DMI Climate Data API municipalityValue acc_heating_degree_days_17, "
                                    "municipality 0151 (Ballerup), retrieved 2026-11-30")
    assert scalar(db, "SELECT count(*) FROM degree_day_imports") == 1
    # days: 40 back, complete ones only (today, 30 November, is running)
    with db.connect() as c:
        days = dict(c.execute(text("SELECT day, degree_days FROM degree_days_daily ORDER BY day")).all())
    assert min(days) == date(2026, 10, 21) and max(days) == date(2026, 11, 29)
    assert days[date(2026, 11, 29)] == daily_degree_days("0151", date(2026, 11, 29))
    assert out.stored == 13 + 40
    audit = scalar(db, "SELECT detail FROM audit_log WHERE action = 'import' AND subject = 'degree_days'")
    assert audit["changed"]["2026-01"] == {"old": None, "new": months["2026-01"][0]}
    assert "municipality 0151" in audit["source"]

    again = run("dmi", s, NOW + timedelta(hours=1))
    assert again.status == "ok", again.message
    assert (again.stored, again.revised) == (0, 0)
    assert again.duplicate == 13 + 40
    assert scalar(db, "SELECT count(*) FROM degree_day_imports") == 1  # no new version
    assert current_months(db) == months


def test_dmi_correction_makes_a_new_version_with_an_audit_entry(db: Engine, fake_dmi: Fake) -> None:
    s = settings_for(dmi=fake_dmi)
    assert run("dmi", s, NOW).status == "ok"
    before = current_months(db)
    fake_dmi.control(override={"month:2026-03": 401.5, "day:2026-11-02": 9.9},
                     now=(NOW + timedelta(days=1)).isoformat())
    out = run("dmi", s, NOW + timedelta(days=1))
    assert out.status == "ok", out.message
    after = current_months(db)
    assert after["2026-03"][0] == 401.5
    assert after["2026-03"][2] != before["2026-03"][2]  # a new import version holds it
    assert {k: v for k, v in after.items() if k not in ("2026-03", "2026-11")} == {
        k: v for k, v in before.items() if k != "2026-03"}
    # November completed meanwhile (now is 1 December): stored as the month it now is
    assert after["2026-11"][0] == fake_month(date(2026, 11, 1))
    assert scalar(db, "SELECT count(*) FROM degree_day_imports") == 2
    detail = scalar(db, "SELECT detail FROM audit_log WHERE subject = 'degree_days' ORDER BY id DESC LIMIT 1")
    assert detail["changed"]["2026-03"] == {"old": before["2026-03"][0], "new": 401.5}
    assert detail["changed"]["2026-11"]["old"] is None
    day = scalar(db, "SELECT detail FROM audit_log WHERE subject = 'degree_days_daily' ORDER BY id DESC LIMIT 1")
    assert day["changed"]["2026-11-02"] == {"old": daily_degree_days("0151", date(2026, 11, 2)), "new": 9.9}
    assert scalar(db, "SELECT degree_days FROM degree_days_daily WHERE day = '2026-11-02'") == 9.9
    # the previous version stays
    assert scalar(db, "SELECT degree_days FROM degree_day_entries WHERE month = '2026-03-01' AND import_id = :i",
                  i=before["2026-03"][2]) == before["2026-03"][0]


def test_dmi_retries_then_fails_clearly_and_loses_nothing(db: Engine, fake_dmi: Fake) -> None:
    s = settings_for(dmi=fake_dmi, dmi__max_attempts=3)
    fake_dmi.control(fail=[{"status": 429, "retry_after": 0}, {"status": 503, "retry_after": 0}])
    ok = run("dmi", s, NOW)
    assert ok.status == "ok", ok.message
    assert ok.detail["http_retries"] == 2
    # months answer, days keep failing: the months stay stored, the run says what failed
    fake_dmi.control(override={"month:2026-02": 380.0},
                     fail=[{"status": 503, "retry_after": 0, "match": {"timeResolution": "day"}, "times": 5}])
    bad = run("dmi", s, NOW + timedelta(hours=2))
    assert bad.status == "failed"
    assert "DMI Climate Data API" in (bad.message or "") and "503" in (bad.message or "")
    assert "/collections/municipalityValue/items" in (bad.message or "")
    assert current_months(db)["2026-02"][0] == 380.0  # committed before the days failed
    assert scalar(db, "SELECT count(*) FROM degree_days_daily") == 40


def test_dmi_api_key_from_a_file_travels_in_the_header_only(db: Engine, tmp_path: Path) -> None:
    key = "k-" + "7" * 30
    fake = Fake(FakeDmi(require_key=key))
    try:
        fake.control(now=NOW.isoformat())
        refused = run("dmi", settings_for(dmi=fake), NOW)
        assert refused.status == "failed" and "401" in (refused.message or "")
        secret = tmp_path / "dmi-key"
        secret.write_text(key + "\n")
        out = run("dmi", settings_for(dmi=fake, dmi__api_key_file=secret), NOW)
        assert out.status == "ok", out.message
        assert key not in json.dumps(out.model_dump(mode="json"))
        assert all("api-key" not in r["query"] for r in fake.requests())
    finally:
        fake.close()


def test_dmi_backfill_pages_through_years(db: Engine, fake_dmi: Fake) -> None:
    out = run("dmi", settings_for(dmi=fake_dmi), NOW, backfill=True)
    assert out.status == "ok", out.message
    months = current_months(db)
    assert min(months) == "2015-01" and max(months) == "2026-10" and len(months) == 11 * 12 + 10
    assert scalar(db, "SELECT count(*) FROM degree_days_daily") == (date(2026, 11, 30) - date(2015, 1, 1)).days
    offsets = [int(r["query"]["offset"]) for r in fake_dmi.requests() if r["query"].get("timeResolution") == "day"]
    assert offsets == [0, 1000, 2000, 3000, 4000]


def test_fake_dmi_runs_as_a_program() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "simulators.fake_dmi", "--port", str(port), "--now",
                             NOW.isoformat()], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def answer() -> Any:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/v2/climateData/collections/municipalityValue/items",
                                 params={"municipalityId": "0151", "parameterId": "acc_heating_degree_days_17",
                                         "timeResolution": "month", "limit": "2"}, timeout=2).json()
            except httpx.TransportError:
                return None
        doc = wait_for(answer, timeout=20, what="fake DMI answering")
        assert doc["numberReturned"] == 2 and any(link["rel"] == "next" for link in doc["links"])
    finally:
        proc.terminate()
        proc.wait(10)


# ---- Energi Data Service -------------------------------------------------------------------------------------------

EDS_NOW = datetime(2026, 1, 20, 6, tzinfo=UTC)


def stored_hours(db: Engine, area: str = "DK2") -> dict[datetime, float]:
    with db.connect() as c:
        return dict(c.execute(text("SELECT ts, g_per_kwh FROM co2_intensity_hourly WHERE area = :a AND method = '125%' "
                                   "ORDER BY ts"), {"a": area}).all())


def test_eds_backfill_incremental_idempotent_and_corrections(db: Engine, fake_eds: Fake) -> None:
    s = settings_for(eds=fake_eds, energidataservice__page_limit=1000, energidataservice__chunk_days=60)
    out = run("energidataservice", s, EDS_NOW, backfill=True)
    assert out.status == "ok", out.message
    hours = stored_hours(db)
    # the dataset starts 2025-07-01 (nothing before it, though the backfill asks from 2015); published 9 days back
    first, last = datetime(2025, 7, 1, tzinfo=UTC), datetime(2026, 1, 11, 6, tzinfo=UTC)
    assert min(hours) == first and max(hours) == last - timedelta(hours=1)
    n = int((last - first).total_seconds() // 3600)
    assert len(hours) == n and len(stored_hours(db, "DK1")) == n
    assert hours[datetime(2025, 12, 24, 18, tzinfo=UTC)] == intensity("DK2", "125%", datetime(2025, 12, 24, 18,
                                                                                                tzinfo=UTC))
    assert out.stored == 2 * n
    cursor = scalar(db, "SELECT cursor FROM sync_cursors WHERE source = 'energidataservice'")
    assert cursor == last
    assert any(int(r["query"]["offset"]) > 0 for r in fake_eds.requests())  # paged

    again = run("energidataservice", s, EDS_NOW + timedelta(hours=1))
    assert again.status == "ok", again.message
    assert (again.stored, again.revised) == (0, 0) and again.duplicate > 0

    # a later correction of an hour inside the re-read window, and a day more published
    fake_eds.control(override={"DK2|125%|2026-01-05T12:00": 55.5},
                     now=(EDS_NOW + timedelta(days=1)).isoformat())
    later = run("energidataservice", s, EDS_NOW + timedelta(days=1))
    assert later.status == "ok", later.message
    assert later.revised == 1 and later.stored == 2 * 24
    assert stored_hours(db)[datetime(2026, 1, 5, 12, tzinfo=UTC)] == 55.5
    rev = scalar(db, "SELECT row_to_json(r) FROM co2_intensity_revisions r")
    assert rev["new_g_per_kwh"] == 55.5
    assert rev["old_g_per_kwh"] == intensity("DK2", "125%", datetime(2026, 1, 5, 12, tzinfo=UTC))


def test_eds_failure_keeps_the_chunks_stored_and_says_so(db: Engine, fake_eds: Fake) -> None:
    s = settings_for(eds=fake_eds, energidataservice__chunk_days=30, energidataservice__max_attempts=2)
    fake_eds.control(fail=[{"status": 503, "retry_after": 0, "match": {"start": "2025-08-29T22:00"},
                            "times": 5}])
    out = run("energidataservice", s, EDS_NOW, since=date(2025, 7, 1))
    assert out.status == "failed"
    assert "Energi Data Service DeclarationGridEmission" in (out.message or "") and "503" in (out.message or "")
    hours = stored_hours(db)
    assert max(hours) < datetime(2025, 8, 29, 22, tzinfo=UTC) <= max(hours) + timedelta(hours=1)
    # the next run goes on from the cursor (the failing chunk answers again)
    fake_eds.control(reset=True)
    fake_eds.control(now=EDS_NOW.isoformat())
    assert run("energidataservice", s, EDS_NOW).status == "ok"
    assert max(stored_hours(db)) == datetime(2026, 1, 11, 5, tzinfo=UTC)


# ---- /co2 ----------------------------------------------------------------------------------------------------------

def test_co2_names_the_hourly_and_the_annual_method(api: Api, admin: httpx.Client, db: Engine, stack: Stack,
                                                    fake_eds: Fake) -> None:
    put_ok(admin, "/api/v1/buildings/E1", building_body())
    put_ok(admin, "/api/v1/meters/e1", meter_body("E1", carrier="electricity", unit="kWh", mode="register"))
    hourly_register(db, "e1", 1.0)  # 1 kWh in every hour of local 2025
    rebuild(stack)
    assert run("energidataservice", settings_for(eds=fake_eds), EDS_NOW, backfill=True).status == "ok"

    co2 = admin.get("/api/v1/co2", params={"year": 2025}).json()
    assert co2["kg_co2"] == pytest.approx(8760 * 0.135, abs=0.06)  # the annual factor, as before
    assert co2["method"].startswith("annual_declaration_factor")
    row = next(r for r in co2["rows"] if r["year"] == 2025 and r["carrier"] == "electricity")
    assert row["method"].startswith("annual_declaration_factor (2025")
    h = row["hourly"]
    assert h["method"] == "hourly_location_based (Energi Data Service DeclarationGridEmission, DK2, 125%)"
    # intensity from 2025-07-01 00:00 UTC to the end of local 2025 (2025-12-31 23:00 UTC): 184 days less one hour
    hours = [datetime(2025, 7, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(184 * 24 - 1)]
    grams = sum(intensity("DK2", "125%", t) for t in hours)
    assert h["kwh_hourly"] == pytest.approx(len(hours), abs=0.06)
    assert h["coverage"] == pytest.approx(len(hours) / 8760, abs=1e-4)
    assert h["fallback_kwh"] == pytest.approx(8760 - len(hours), abs=0.06)
    assert h["fallback_method"].startswith("annual_declaration_factor (2025")
    assert h["kg_co2"] == pytest.approx(grams / 1000 + (8760 - len(hours)) * 0.135, abs=0.06)
    total = co2["electricity_hourly"]
    assert total["method"] == h["method"] and total["area"] == "DK2"
    assert total["year"]["hourly_coverage"] == pytest.approx(len(hours) / 8760, abs=1e-4)
    assert total["year"]["kg_co2_hourly"] == pytest.approx(h["kg_co2"], abs=0.06)
    # the baseline year has no hourly intensity: all of it by the annual factor, said so
    assert total["baseline"]["hourly_coverage"] in (0.0, None)


def test_degree_days_over_the_api_after_a_dmi_sync(api: Api, admin: httpx.Client, db: Engine, fake_dmi: Fake) -> None:
    assert run("dmi", settings_for(dmi=fake_dmi), NOW).status == "ok"
    daily = admin.get("/api/v1/degree-days/daily", params={"start": "2026-11-01", "end": "2026-11-30"})
    assert daily.status_code == 200, daily.text
    rows = daily.json()
    # the running day (30 November) is not stored
    assert [r["day"] for r in rows] == [f"2026-11-{d:02d}" for d in range(1, 30)]
    assert rows[0]["degree_days"] == daily_degree_days("0151", date(2026, 11, 1))
    assert "municipality 0151 (Ballerup)" in rows[0]["source"]
    bad = admin.get("/api/v1/degree-days/daily", params={"start": "2026-11-30", "end": "2026-11-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "start"
    months = {m["month"]: m for m in admin.get("/api/v1/degree-days", params={"year": 2026}).json()}
    assert sorted(months) == [f"2026-{m:02d}" for m in range(1, 11)]
    assert months["2026-01"]["source"].startswith("DMI Climate Data API")
    sources = {s["source"]: s for s in admin.get("/api/v1/sync").json()["sources"]}
    assert sources["dmi"]["last_run"]["status"] == "ok"
    assert "energidataservice" in sources


def test_dmi_one_bad_value_is_skipped_and_a_dry_run_stores_nothing(db: Engine, fake_dmi: Fake) -> None:
    s = settings_for(dmi=fake_dmi)
    dry = run("dmi", s, NOW, dry_run=True)
    assert dry.status == "ok" and dry.stored == 13 + 40
    assert scalar(db, "SELECT count(*) FROM degree_day_imports") == 0
    assert scalar(db, "SELECT count(*) FROM degree_days_daily") == 0
    fake_dmi.control(override={"month:2026-04": 5000.0})  # not a degree-day value: DMI never sends it
    out = run("dmi", s, NOW)
    assert out.status == "partial"
    assert out.errors == 1
    assert "properties.value 5000" in out.detail["item_errors"][0]["error"]
    months = current_months(db)
    assert "2026-04" not in months and len(months) == 12
