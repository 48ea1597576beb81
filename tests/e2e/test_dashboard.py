"""The dashboard in a real headless browser (Debian's chromium driven by Playwright) against the real API and the
test stack: sign-in, a facility manager's scope, the progress figure against the API's, the language switch, charts
with data points, alerts handled from the page, a clear message where data is missing. Screenshots go to
test-artifacts/dashboard/."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.conftest import reset_database
from tests.integration.api_helpers import Api, building_body, luminaire_body, make_token, meter_body, put_ok
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
TZ = ZoneInfo("Europe/Copenhagen")
DH_2015 = [25000, 22000, 19000, 12000, 7000, 4000, 3500, 3500, 6000, 11000, 17000, 23000]


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def register_readings(db: Engine, meter_id: str, start: str, end: str, kw: float, seasonal_kw: float = 0.0) -> None:
    """Hourly register readings from `start` to `end` of a load of `kw` plus a seasonal swing of `seasonal_kw`
    (largest mid-January): the register is the integral of the load, so it never decreases."""
    period_h = 8766.0
    with db.begin() as c:
        c.execute(text(
            "INSERT INTO readings (meter_key, ts, value) SELECT m.key, g, "
            " :kw * h + :amp * :p / (2 * pi()) * (sin(2 * pi() * (h - 336) / :p) - sin(2 * pi() * -336 / :p)) "
            "FROM meters m, generate_series(CAST(:s AS timestamptz), CAST(:e AS timestamptz), interval '1 hour') g, "
            "LATERAL (SELECT extract(epoch FROM g - CAST(:s AS timestamptz)) / 3600 AS h) x WHERE m.id = :id"),
            {"s": start, "e": end, "kw": kw, "amp": seasonal_kw, "p": period_h, "id": meter_id})


def csv_post(client: httpx.Client, path: str, body: str) -> None:
    r = client.post(path, content=body.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def world(api: Api, engine: Engine, stack: Stack) -> Iterator[dict[str, str]]:
    """Two buildings with two years of readings, a 2015 baseline, degree days, luminaires and alerts; tokens for a
    facility manager of the school and for the energy team."""
    reset_database(engine)
    with api.client(api.admin_token) as admin:
        put_ok(admin, "/api/v1/buildings/skole", building_body(name="Skovlunde Skole", energy_label="C"))
        # the school's gas boiler (since always) was replaced by district heating on 2021-06-01, declared back-dated
        put_ok(admin, "/api/v1/buildings/skole", building_body(name="Skovlunde Skole", energy_label="C",
                                                                heating="natural_gas", valid_from="2015-01-01"))
        put_ok(admin, "/api/v1/buildings/skole", building_body(name="Skovlunde Skole", energy_label="C",
                                                                valid_from="2021-06-01"))
        put_ok(admin, "/api/v1/buildings/raadhus", building_body(name="Ballerup Rådhus", heating="natural_gas",
                                                                  heated_area_m2=8000.0))
        # installed when its readings begin (2025-01-01 local midnight); the district-heating meter since always
        put_ok(admin, "/api/v1/meters/skole-el", meter_body("skole", active_from="2025-01-01"))
        put_ok(admin, "/api/v1/meters/skole-fv", meter_body("skole", carrier="district_heating"))
        put_ok(admin, "/api/v1/meters/raadhus-el", meter_body("raadhus"))
        for i in range(10):
            put_ok(admin, f"/api/v1/luminaires/skole-l{i}",
                   luminaire_body("skole", technology="led" if i < 6 else "fluorescent", rated_power_w=20.0))
        with engine.connect() as c:
            now = c.execute(text("SELECT date_trunc('hour', now())")).scalar_one()
        register_readings(engine, "skole-el", "2024-12-31T23:00:00Z", str(now), kw=3.0)
        register_readings(engine, "skole-fv", "2024-12-31T23:00:00Z", str(now), kw=18.0, seasonal_kw=14.0)
        register_readings(engine, "raadhus-el", "2024-12-31T23:00:00Z", "2026-11-01T00:00:00Z", kw=2.0)
        subprocess.run([sys.executable, "-m", "services.cli", "rollups", "rebuild"], cwd=REPO, env=stack.env,
                       check=True, stdout=subprocess.DEVNULL)
        rows = ["building_id,carrier,month,kwh,source"]
        for m in range(1, 13):
            rows += [f"skole,electricity,2015-{m:02d},2500,invoice 2015",
                     f"skole,district_heating,2015-{m:02d},{DH_2015[m - 1]},invoice 2015",
                     f"raadhus,electricity,2015-{m:02d},1600,invoice 2015"]
        csv_post(admin, "/api/v1/imports/baseline", "\n".join(rows) + "\n")
        normal = admin.get("/api/v1/settings/normal-year").json()["degree_days"]
        gd = ["month,degree_days,source"] + [f"{y}-{m:02d},{normal[m - 1] * f:.1f},DMI (test)" for y, f in
                                             ((2015, 1.05), (2025, 0.9), (2026, 0.95)) for m in range(1, 13)
                                             if (y, m) < (2026, 11)]
        csv_post(admin, "/api/v1/imports/degree-days", "\n".join(gd) + "\n")
        with engine.begin() as c:
            c.execute(text("INSERT INTO alerts (rule, building_id, subject, title, severity) VALUES "
                           "('night_baseload', 'skole', 'skole-el', 'Høj natlast på el', 'warning'), "
                           "('meter_silent', 'raadhus', 'raadhus-el', 'Måler raadhus-el er tavs', 'critical')"))
        yield {"fm": make_token(admin, "facility_manager", ["skole"]), "team": make_token(admin, "energy_team"),
               "admin": api.admin_token}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (deploy/stack.sh setup does it); the dashboard "
                    "tests need a real browser and Playwright cannot download one here")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, api: Api) -> Iterator[Any]:
    """A fresh tablet-sized page (landscape iPad) that fails the test on any JavaScript error or failed request, and
    on anything the Content-Security-Policy refused (api/hardening.py: the dashboard runs under the real one, so the
    tests' `wait_for_function` take functions: a bare expression is run by eval, which the policy refuses)."""
    ctx = browser.new_context(viewport={"width": 1180, "height": 820}, base_url=api.base_url)
    violations: list[str] = []
    ctx.expose_function("energiblikCspViolation", lambda v: violations.append(str(v)))
    ctx.add_init_script("document.addEventListener('securitypolicyviolation', e => window.energiblikCspViolation("
                        "`${e.documentURI}: ${e.effectiveDirective} refused ${e.blockedURI || 'inline'}`))")
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # (the browser logs the 401 of a rejected token as an error: that one is expected)
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 401" not in m.text else None)
    pg.set_default_timeout(15_000)
    yield pg
    pg.wait_for_timeout(100)  # a violation is reported asynchronously
    ctx.close()
    assert violations == [], violations
    assert errors == [], errors


def sign_in(page: Any, token: str) -> None:
    page.goto("/")
    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_function("() => window.energiblik && window.energiblik.ready === true")


def chart_points(page: Any, canvas_id: str) -> list[int]:
    """Finite data points per dataset of the Chart.js chart drawn on the canvas."""
    counts: list[int] = page.evaluate(
        "id => { const c = Chart.getChart(id); return c ? c.data.datasets.map(d => d.data.filter("
        "v => v !== null && Number.isFinite(v)).length) : []; }", canvas_id)
    return counts


def test_facility_manager_signs_in_and_sees_only_their_building(page: Any, world: dict[str, str]) -> None:
    page.goto("/")
    assert page.url.endswith("/dashboard/")
    assert page.locator("html").get_attribute("lang") == "da"
    page.fill("#token", "eb_not_a_token")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('Tokenet blev ikke godkendt')")
    sign_in(page, world["fm"])
    assert page.locator("#tab-portfolio").is_hidden()
    assert page.locator("#who").inner_text().endswith("(driftsleder)")
    options = page.locator("#building-select option").all_inner_texts()
    assert len(options) == 1 and options[0].startswith("Skovlunde Skole (skole)")
    assert "Rådhus" not in page.content() and "raadhus" not in page.content()
    # the default view is this year by month against last year and 2015: three series with points
    page.wait_for_function("() => Chart.getChart('consumption-chart') !== undefined")
    this_year, last_year, base = chart_points(page, "consumption-chart")
    assert this_year >= 10 and last_year == 12 and base == 12
    assert page.locator("#chart-notes").inner_text().count("Ingen data") == 0
    meters = page.locator("tr[data-meter]").all_inner_texts()
    assert [m.split("\t")[0] for m in meters] == ["skole-el", "skole-fv"]
    assert all(m.endswith("100\xa0%") for m in meters), meters  # Intl puts a no-break space before %
    assert page.locator("tr[data-meter=skole-el] td[data-span]").inner_text() == "fra 1. jan. 2025"
    assert page.locator("tr[data-meter=skole-fv] td[data-span]").inner_text() == "altid"
    assert page.locator("#led-share").inner_text() == "60\xa0%"
    shot(page, "facility-manager-building")
    # the open alert: acknowledge, then resolve
    alert = page.locator("tr[data-alert]")
    assert alert.count() == 1 and "Høj natlast på el" in alert.inner_text() and "åben" in alert.inner_text()
    page.click("tr[data-alert] button[data-action=acknowledge]")
    page.wait_for_selector("tr[data-alert]:has-text('kvitteret')")
    page.click("tr[data-alert] button[data-action=resolve]")
    page.wait_for_selector("#alerts-title + p:has-text('Ingen åbne alarmer')")


def test_day_week_month_and_weather_correction(page: Any, world: dict[str, str]) -> None:
    sign_in(page, world["fm"])
    for res, buckets in (("day", 24), ("week", 7), ("month", None)):
        page.click(f"button[data-res={res}]")
        page.wait_for_function(f"() => document.querySelector('button[data-res={res}]').getAttribute('aria-pressed')"
                               " === 'true' && Chart.getChart('consumption-chart') !== undefined")
        points = chart_points(page, "consumption-chart")
        assert points[0] > 0, (res, points)
        if buckets:
            assert points[1] == buckets, (res, points)  # last year's same period is complete
    # weather correction on the heat carrier changes the figures and says how
    page.click("button[data-res=year]")
    page.select_option("#chart-carrier", "district_heating")
    page.wait_for_function("() => Chart.getChart('consumption-chart') !== undefined")
    raw = page.evaluate("Chart.getChart('consumption-chart').data.datasets[1].data")
    page.check("#chart-weather")
    page.wait_for_selector("#chart-notes:has-text('graddagemetoden')")
    corrected = page.evaluate("Chart.getChart('consumption-chart').data.datasets[1].data")
    assert corrected[0] != raw[0] and corrected[0] > raw[0]  # January 2025 was warmer than normal (0.9)
    shot(page, "facility-manager-weather-corrected")
    # the month view draws the days the server corrected (GET /consumption/weather-corrected): last year's days
    # each by its month's factor (2025 was warmer than normal), the same for every day of the month
    page.click("button[data-res=month]")
    page.wait_for_function("() => document.querySelector('button[data-res=month]').getAttribute('aria-pressed')"
                           " === 'true'"
                           " && document.querySelector('#chart-notes').textContent.includes('graddagemetoden')"
                           " && Chart.getChart('consumption-chart') !== undefined")
    corrected_days = page.evaluate("Chart.getChart('consumption-chart').data.datasets[1].data")
    page.uncheck("#chart-weather")
    page.wait_for_function("() => !document.querySelector('#chart-notes').textContent.includes('graddagemetoden')"
                           " && Chart.getChart('consumption-chart') !== undefined")
    raw_days = page.evaluate("Chart.getChart('consumption-chart').data.datasets[1].data")
    ratios = {round(c / r, 3) for c, r in zip(corrected_days, raw_days, strict=True) if r}
    assert len(raw_days) >= 28 and len(ratios) == 1 and ratios.pop() > 1, (corrected_days, raw_days)
    # a period without any data: a message, not an empty chart
    page.uncheck("#chart-weather")
    page.click("button[data-res=day]")
    page.fill("#chart-date", "2024-06-12")
    page.dispatch_event("#chart-date", "change")
    page.wait_for_selector("#chart-notes .notice.empty:has-text('Ingen måledata')")
    assert page.locator("#consumption-chart").is_hidden()
    shot(page, "facility-manager-no-data")


def test_portfolio_progress_equals_the_api(page: Any, api: Api, world: dict[str, str]) -> None:
    with api.client(world["team"]) as team:
        p = team.get("/api/v1/progress").json()
        assert team.get("/api/v1/me").json()["portfolio"] is True
    assert p["reduction_pct"] is not None and p["forecast"] is not None
    sign_in(page, world["team"])
    fig = page.locator("#progress-reduction")
    assert float(fig.get_attribute("data-value")) == p["reduction_pct"]
    shown = fig.inner_text()  # Danish format: 12,3 %
    assert re.fullmatch(r"-?\d+,\d %", shown), shown
    assert math.isclose(float(shown.replace(" %", "").replace(",", ".")), p["reduction_pct"], abs_tol=0.05)
    assert page.locator("#progress-verdict").inner_text() in ("På rette spor", "Ikke på rette spor", "Usikker")
    # this year is running: beside the months measured so far, the whole-year forecast and its own verdict
    assert float(page.locator("#progress-forecast").get_attribute("data-value")) == p["forecast"]["reduction_pct"]
    verdicts = {"on_track": "På rette spor", "off_track": "Ikke på rette spor", "uncertain": "Usikker"}
    assert page.locator("#progress-forecast-verdict").inner_text() == verdicts[p["forecast"]["verdict"]]
    assert f"{p['months_measured']} hele måned(er)" in page.locator("#progress").inner_text()
    # the path to 2025: the required straight line and the actual reductions, this year's forecast included
    page.wait_for_function("() => Chart.getChart('path-chart') !== undefined")
    required, actual = chart_points(page, "path-chart")
    assert required == 12 and actual >= 3  # 2015..2026; 2015 (0), 2025 and the 2026 forecast
    assert page.locator("#ranking tbody tr").count() == 2
    assert "Ballerup Rådhus" in page.locator("#ranking").inner_text()
    # every active alert of the portfolio, with its building's name (the town hall's silent meter is never handled)
    assert "Ballerup Rådhus (raadhus)" in page.locator("#alerts").inner_text()
    assert "Måler raadhus-el er tavs" in page.locator("#alerts").inner_text()
    assert "raadhus" in page.locator("#fossil").inner_text()
    # the school's boiler replacement shows as a lifecycle: gas until 2021-06-01, district heating since
    converted = page.locator("#fossil-converted tbody tr")
    assert converted.count() == 1
    assert converted.first.inner_text().split("\t") == ["skole", "Naturgas", "Fjernvarme", "2021-06-01"]
    assert page.locator("#led-portfolio").inner_text() == "60\xa0%"
    assert page.locator("#labels tbody tr").count() == 2
    assert page.locator("#co2-kg").inner_text() != "\u2013"  # (the dash shown for a missing figure)
    # labels and CO2 of the year the API answers by default (the last complete one), shown as the answer says it
    with api.client(world["team"]) as team:
        default_year = team.get("/api/v1/co2").json()["year"]
        assert team.get("/api/v1/labels").json()["year"] == default_year
    assert f"({default_year})" in page.locator("#labels").inner_text()
    assert str(default_year) in page.locator("#co2").inner_text()
    with page.expect_download() as dl:
        page.click("#ga-csv")
    assert dl.value.suggested_filename == f"green-accounts-{default_year}.csv"
    assert Path(dl.value.path()).read_text().startswith("building_id,name,carrier")
    # another year from the picker equals the API's answer for that year
    page.select_option("#progress-year", "2025")
    page.wait_for_selector("#progress-h:has-text('2025')")
    with api.client(world["team"]) as team:
        p25 = team.get("/api/v1/progress", params={"year": 2025}).json()
    assert float(page.locator("#progress-reduction").get_attribute("data-value")) == p25["reduction_pct"]
    assert page.locator("#progress-forecast").count() == 0  # a finished year has no forecast
    shot(page, "energy-team-portfolio")


def test_language_switch(page: Any, world: dict[str, str]) -> None:
    sign_in(page, world["team"])
    assert page.locator("#tab-portfolio").inner_text() == "Portefølje"
    assert page.locator("#view-portfolio h1").inner_text() == "Porteføljen"
    page.click("#lang")
    page.wait_for_selector("#view-portfolio h1:has-text('The portfolio')")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#tab-buildings").inner_text() == "Buildings"
    assert page.locator("#signout").inner_text() == "Sign out"
    shown = page.locator("#progress-reduction").inner_text()
    assert re.fullmatch(r"-?\d+\.\d %", shown), shown  # English number format
    page.click("#tab-buildings")
    page.wait_for_selector("button[data-res=year]:has-text('Year')")
    page.wait_for_function("() => window.energiblik.ready === true")
    assert "Ballerup Rådhus" in page.locator("#building-select").inner_text()  # the team sees every building
    shot(page, "energy-team-building-english")
    page.reload()  # the choice is remembered
    page.wait_for_function("() => window.energiblik && window.energiblik.ready === true")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("#lang")
    page.wait_for_selector("button[data-res=year]:has-text('År')")
    assert page.locator("html").get_attribute("lang") == "da"


def test_keyboard_sign_in(page: Any, world: dict[str, str]) -> None:
    page.goto("/dashboard/")
    assert page.evaluate("document.activeElement.id") == "token"  # the token field has the focus at once
    assert page.locator("a.skip").get_attribute("href") == "#main"
    page.keyboard.type(world["fm"])
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.energiblik.ready === true")
    page.focus("#building-select")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.res") == "day"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('button[data-res=day]').getAttribute('aria-pressed')"
                           " === 'true'")


def test_pending_figures_are_said_and_never_drawn_as_zero(page: Any, engine: Engine, world: dict[str, str]) -> None:
    """Readings stored but not yet in the rollups (a dirty range, as ingest records it): the building chart leaves the
    month out and says how far the figures are computed; the portfolio says the same beside the progress."""
    from services.consumption import repository as repo

    with engine.begin() as c:
        key, last = c.execute(text("SELECT m.key, max(r.ts) FROM meters m JOIN readings r ON r.meter_key = m.key "
                                   "WHERE m.id = 'skole-el' GROUP BY m.key")).one()
        repo.mark_dirty(c.connection.driver_connection, [(key, last, last)])
    try:
        sign_in(page, world["fm"])  # the building's year view, by month
        page.wait_for_selector("#chart-notes .notice.pending:has-text('Tallene er beregnet til og med')")
        page.wait_for_function("() => Chart.getChart('consumption-chart') !== undefined")
        month = int(page.evaluate("new Intl.DateTimeFormat('en-CA', {timeZone: 'Europe/Copenhagen', month: "
                                  "'numeric'}).format(new Date())"))
        this_year = page.evaluate("Chart.getChart('consumption-chart').data.datasets[0].data")
        assert this_year[month - 1] is None  # not 0
        assert all(v is not None and v > 0 for v in this_year[:month - 1])
        shot(page, "pending-building")
        page.click("#signout")
        sign_in(page, world["team"])
        page.wait_for_selector("#progress-verdict")
        if month > 1:  # the running month is not compared by the running year's progress: nothing it reads waits
            assert page.locator("#progress-pending").count() == 0
        with engine.begin() as c:  # a reading of January waits too: a month the progress compares
            first = c.execute(text("SELECT min(ts) FROM readings WHERE meter_key = :k AND ts >= :jan"),
                              {"k": key, "jan": datetime(last.astimezone(TZ).year, 1, 1, tzinfo=TZ)}).scalar_one()
            repo.mark_dirty(c.connection.driver_connection, [(key, first, first)])
        page.click("#signout")
        sign_in(page, world["team"])
        page.wait_for_selector("#progress-pending:has-text('Tallene er beregnet til og med')")
        assert page.locator("#progress-verdict").inner_text() == "Usikker"
        shot(page, "pending-portfolio")
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM rollup_dirty"))


def test_api_docs_work_offline_from_local_assets(page: Any, api: Api) -> None:
    # Swagger UI loads its scripts from the API itself: every request stays on the API's origin (a CDN would fail
    # on an offline machine, and is not pinned)
    origins: list[str] = []
    page.on("request", lambda r: origins.append(r.url.split("/", 3)[2]))
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 40  # the operations of /api/v1
    host = api.base_url.split("/", 3)[2]
    assert origins and set(origins) == {host}, set(origins)


def test_data_sources_card_shows_each_connector(page: Any, engine: Engine, world: dict[str, str]) -> None:
    # what GET /api/v1/sync says, as the card shows it: a failed Eloverblik run with its message, an unmapped
    # metering point, a DMI run that went well, and sources never run
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO sync_runs (source, trigger, actor, finished_at, status, stored, message) VALUES "
            "('eloverblik', 'schedule', 'scheduler', now(), 'failed', 0, "
            "'Eloverblik refused the refresh token (401): renew it on eloverblik.dk'), "
            "('dmi', 'cli', 'cli:root', now(), 'ok', 53, NULL)"))
        c.execute(text("INSERT INTO sync_unmapped (source, external_id) VALUES ('eloverblik', '571313100000000099')"))
    try:
        sign_in(page, world["team"])
        rows = page.locator("#sources tbody tr")
        assert rows.count() == 4  # eloverblik, utility, dmi, energidataservice
        elo = page.locator("#sources tr[data-source=eloverblik]")
        assert elo.get_attribute("data-status") == "failed"
        cells = elo.locator("td").all_inner_texts()
        assert cells[0] == "Fejlet" and cells[-1] == "1"  # failed; one metering point without a meter
        assert "renew it on eloverblik.dk" in page.locator("#sources [data-problem=eloverblik]").inner_text()
        dmi = page.locator("#sources tr[data-source=dmi]").locator("td").all_inner_texts()
        assert dmi[0] == "OK" and dmi[2] == "53"
        assert page.locator("#sources tr[data-source=utility] td").first.inner_text() == "Ikke slået til"
        assert "kører ikke" in page.locator("#sources-no-scheduler").inner_text()  # no scheduler in this test
        shot(page, "data-sources")
    finally:
        with engine.begin() as c:
            c.execute(text("TRUNCATE sync_runs, sync_unmapped"))
