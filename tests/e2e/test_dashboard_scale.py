"""The portfolio view with more buildings than a page (a synthetic estate, bench/targets_estate.py) in headless
Chromium: one request for the target path across years, the path drawn as the API gives it, the ranking paged and
searchable by building and filterable by type and group, other building tables paged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from bench.targets_estate import generate
from services.db import libpq_dsn
from tests.conftest import reset_database
from tests.e2e.test_dashboard import browser, page, sign_in  # noqa: F401 (fixtures)
from tests.integration.api_helpers import Api, make_token
from tests.stack import Stack

pytest_plugins = ["tests.integration.api_fixtures"]

BUILDINGS = 70


@pytest.fixture(scope="module")
def estate(api: Api, engine: Engine, stack: Stack) -> Iterator[dict[str, Any]]:
    reset_database(engine)
    with psycopg.connect(libpq_dsn(stack.env["ENERGIBLIK_DB__URL"])) as c:
        generate(c, BUILDINGS, datetime.now(UTC))
    with api.client(api.admin_token) as admin:
        team = make_token(admin, "energy_team")
    with api.client(team) as c:
        p = c.get("/api/v1/progress").json()
        path = c.get("/api/v1/progress/path").json()
        buildings = {b["id"]: b for b in c.get("/api/v1/buildings").json()}
    ranked = [b["building_id"] for b in p["buildings"] if b["in_year"] or b["in_baseline"]]
    yield {"team": team, "progress": p, "path": path, "buildings": buildings, "ranked": ranked}


def count_text(total: int, first: int = 1, last: int = 25) -> str:
    return f"{first}\u2013{last} af {total}"  # (an en dash)


def test_one_request_for_the_path_and_the_path_as_the_api_gives_it(page: Any, estate: dict[str, Any]) -> None:  # noqa: F811
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/api/v1/progress" in r.url else None)
    sign_in(page, estate["team"])
    page.wait_for_function("() => Chart.getChart('path-chart') !== undefined")
    paths = [u for u in calls if "/api/v1/progress/path" in u]
    years = [u for u in calls if "/api/v1/progress?" in u or u.endswith("/api/v1/progress")]
    assert len(paths) == 1, calls
    assert len(years) == 1, calls  # the year shown; not one request per year of the path
    drawn = page.evaluate("Chart.getChart('path-chart').data.datasets.map(d => d.data)")
    assert drawn[0] == [y["required_pct"] for y in estate["path"]["years"]]
    assert drawn[1] == [y["reduction_pct"] for y in estate["path"]["years"]]
    assert sum(v is not None for v in drawn[1]) >= 10  # 2015 (0) and every year since with data
    assert page.evaluate("window.energiblik.completeAt") > 0  # the benchmark's "complete" marker is set


def test_the_ranking_is_paged_searchable_and_filtered(page: Any, estate: dict[str, Any]) -> None:  # noqa: F811
    ranked, info = estate["ranked"], estate["buildings"]
    assert len(ranked) > 50
    sign_in(page, estate["team"])
    rows = page.locator("#ranking tbody tr")
    assert rows.count() == 25
    assert page.locator("#ranking-count").inner_text() == count_text(len(ranked))
    assert rows.first.get_attribute("data-building") == ranked[0]
    page.click("#ranking-next")
    assert page.locator("#ranking-count").inner_text() == count_text(len(ranked), 26, 50)
    assert rows.first.locator("td").first.inner_text() == "26"  # the rank in the whole ranking
    assert rows.first.get_attribute("data-building") == ranked[25]
    assert page.locator("#ranking-prev").is_enabled()
    # search by id, then by name
    page.fill("#ranking-search", ranked[40].lower())
    assert rows.count() == 1 and rows.first.get_attribute("data-building") == ranked[40]
    assert rows.first.locator("td").first.inner_text() == "41"
    name = info[ranked[7]]["name"]
    page.fill("#ranking-search", name)
    found = [r.get_attribute("data-building") for r in rows.all()]
    assert ranked[7] in found and all(name.lower() in info[b]["name"].lower() for b in found)
    page.fill("#ranking-search", "no such building")
    assert rows.count() == 0 and page.locator("#ranking-count").inner_text() == "Ingen bygninger matcher."
    page.fill("#ranking-search", "")
    # filter by type, then by group as well
    libraries = [b for b in ranked if info[b]["type"] == "library"]
    page.select_option("#ranking-type", "library")
    assert page.locator("#ranking-count").inner_text() == count_text(len(libraries), 1, len(libraries))
    assert [r.get_attribute("data-building") for r in rows.all()] == libraries
    page.select_option("#ranking-type", "")
    leased = [b for b in ranked if info[b]["building_group"] == "leased"]
    assert leased  # a building that left the municipal group in 2020 is still in the 2015 baseline
    page.select_option("#ranking-group", "leased")
    assert [r.get_attribute("data-building") for r in rows.all()] == leased
    # the other building tables are paged too
    assert page.locator("#labels tbody tr").count() == 25
    assert page.locator("#led tbody tr").count() == 25
